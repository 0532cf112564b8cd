export * from './client.ts';
export * from './codec.ts';
export * from './errors.ts';
export * from './reference.ts';
export * from './routes.ts';
export * from './version.ts';
export * from './spawn.ts';
export * from './basic-auth.ts';
