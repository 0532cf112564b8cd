// The core daemon's entry point: wires the registry client to the server on one transport.
import { SizeBook } from './archive/layer-sizes.ts';
import { Authenticator } from './registry/auth.ts';
import { RegistryClient } from './registry/client.ts';
import { Endpoints } from './registry/endpoint.ts';
import { resolveCoreConfig, type CoreSettings } from './config.ts';
import type { CoreContext } from './server/context.ts';
import { createHandler } from './server/handler.ts';
import { serve, type RunningServer, type Transport } from './server/serve.ts';

export type { CoreSettings } from './config.ts';
export type { Transport } from './server/serve.ts';
export { listenFdsFromEnv } from './server/serve.ts';

export function createRegistryClient(settings: CoreSettings, env: NodeJS.ProcessEnv = process.env): { client: RegistryClient; config: ReturnType<typeof resolveCoreConfig> } {
  const config = resolveCoreConfig(settings, env);
  const endpoints = new Endpoints(config.insecureHosts);
  if (config.registry.scheme !== undefined) endpoints.prefer(config.registry.host, config.registry.scheme);
  return { client: new RegistryClient(endpoints, new Authenticator(config.staticAuth)), config };
}

/** Starts the core; the returned server's `done` settles with the exit code. */
export async function startCore(settings: CoreSettings, transport: Transport): Promise<RunningServer> {
  const { client, config } = createRegistryClient(settings);
  let running: RunningServer | undefined;
  const ctx: CoreContext = {
    registry: client,
    sizes: new SizeBook(),
    defaultPlatform: config.platform,
    startedAt: Date.now(),
    onQuit: () => running?.shutdown(),
    ...(config.defaultImage ? { defaultImage: config.defaultImage } : {}),
  };
  running = await serve(createHandler(ctx), transport);
  const stop = () => running?.shutdown();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return running;
}
