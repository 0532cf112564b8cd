// A private core for one command: spawned with one half of a socketpair as fd 3 (libuv makes
// extra 'pipe' stdio entries socketpairs), so no socket file and no port is ever exposed.
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { CoreClient } from '../../protocol/client.ts';
import { coreSpawn } from '../../protocol/spawn.ts';

export interface PrivateCore {
  client: CoreClient;
  /** Asks the core to quit and waits for it. */
  close(): Promise<void>;
  kill(): void;
}

export function spawnCore(args: string[]): PrivateCore {
  const launch = coreSpawn(['--sockfd', '3', ...args]);
  const child = spawn(launch.command, launch.args, { env: launch.env, stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const client = new CoreClient({ socket: child.stdio[3] as Socket });
  return {
    client,
    async close() {
      try {
        await client.quit();
      } catch {
        child.kill('SIGTERM');
      }
      client.destroy();
      await exited;
    },
    kill() {
      client.destroy();
      child.kill('SIGKILL');
    },
  };
}

/** Flags the private core takes from the command's own. */
export function coreArgs(argv: { platform?: string | undefined; insecureRegistry?: string[] | undefined; logLevel?: string | undefined }): string[] {
  const out: string[] = [];
  if (argv.platform) out.push('--platform', argv.platform);
  for (const host of argv.insecureRegistry ?? []) out.push('--insecure-registry', host);
  out.push('--log-level', argv.logLevel ?? 'warn');
  return out;
}
