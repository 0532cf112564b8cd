export * from './client.ts';
export * from './codec.ts';
export * from './errors.ts';
export * from './reference.ts';
export * from './routes.ts';
