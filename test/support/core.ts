// Starts a real core process (the CLI, as users run it) on a Unix socket in a temporary
// directory, and hands back a CoreClient for it. Stopped in teardown, also when a test fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreClient } from '../../protocol/client.ts';
import { tempDir, type T } from './tools.ts';

export const CLI = fileURLToPath(new URL('../../frontends/cli/main.ts', import.meta.url));

export interface RunningCore {
  client: CoreClient;
  socketPath: string;
  process: ChildProcess;
  /** Everything the core wrote to stderr (its log), to assert that no secret was logged. */
  output(): string;
  /** Resolves with the exit code once the process is gone. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface CoreStartOptions {
  args?: string[];
  /** Added to a clean environment: REGISTRY_* variables of the developer's shell never leak in. */
  env?: Record<string, string>;
}

/** The environment a test core runs with: the parent's, minus anything that configures us. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(REGISTRY_|PLATFORM$|LISTEN_|OTEL_|RUST_LOG$|LOG_LEVEL$|CACHE_)/.test(k)) env[k] = v;
  }
  return { ...env, LOG_LEVEL: 'debug', ...extra };
}

export async function startCore(t: T, options: CoreStartOptions = {}): Promise<RunningCore> {
  const dir = tempDir(t, 'core-');
  const socketPath = join(dir, 'core.sock');
  const child = spawn(process.execPath, [CLI, 'core', '--socket', socketPath, ...(options.args ?? [])], {
    env: cleanEnv(options.env),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const client = new CoreClient({ socketPath });
  const stop = async () => {
    client.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
  };
  t.teardown(stop);
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`core exited with ${child.exitCode} before listening:\n${stderr}`);
    if (existsSync(socketPath)) {
      try {
        await client.health();
        break;
      } catch {
        // Not accepting yet.
      }
    }
    if (Date.now() > deadline) throw new Error(`core did not start within 15 s:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { client, socketPath, process: child, output: () => stderr, exited, stop };
}
