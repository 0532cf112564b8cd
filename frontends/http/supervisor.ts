// The front end's own core: spawned on a Unix socket in a private 0700 directory, restarted if
// it dies (downloads in flight on it fail cleanly: their connections break), stopped last.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreClient } from '../../protocol/client.ts';
import type { HealthResult } from '../../protocol/routes.ts';
import { coreSpawn } from '../../protocol/spawn.ts';

const MAX_BACKOFF_MS = 10_000;

export interface CoreHandle {
  client: CoreClient;
  /** From now on an exit is expected (a terminal's Ctrl-C reaches the core too): do not restart. */
  expectExit(): void;
  health(): Promise<HealthResult | undefined>;
  stop(): Promise<void>;
  /** How many times the core was restarted after dying. */
  restarts(): number;
  pid(): number | undefined;
}

/** A core someone else runs: just a client. */
export function externalCore(socketPath: string): CoreHandle {
  const client = new CoreClient({ socketPath });
  return {
    client,
    health: () => client.health().catch(() => undefined),
    expectExit: () => undefined,
    stop: () => client.close(),
    restarts: () => 0,
    pid: () => undefined,
  };
}

export async function superviseCore(args: string[], env: Record<string, string>, log: (msg: string, fields?: Record<string, unknown>) => void): Promise<CoreHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'image-passthrough-'));
  const socketPath = join(dir, 'core.sock');
  const client = new CoreClient({ socketPath });
  let child: ChildProcess | undefined;
  let stopping = false;
  let restarts = 0;
  let backoff = 250;

  const waitReady = async (proc: ChildProcess) => {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`the core exited with ${proc.exitCode} while starting`);
      try {
        await client.health();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('the core did not start within 15 s');
  };

  const launch = () => {
    // The core's stdin is a pipe nobody writes: when this process dies, however hard, the pipe
    // closes and --exit-with-stdin makes the core go too.
    const command = coreSpawn(['--socket', socketPath, '--exit-with-stdin', ...args]);
    const proc = spawn(command.command, command.args, { env: { ...command.env, ...env }, stdio: ['pipe', 'inherit', 'inherit'] });
    child = proc;
    proc.once('exit', (code, signal) => {
      if (stopping) return;
      log('core exited; restarting', { code, signal, inMs: backoff });
      restarts++;
      setTimeout(() => {
        if (stopping) return;
        waitReady(launch()).then(
          () => (backoff = 250),
          (err: Error) => log('core restart failed', { error: err.message }),
        );
      }, backoff);
      backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
    });
    return proc;
  };

  await waitReady(launch());
  return {
    client,
    health: () => client.health().catch(() => undefined),
    expectExit: () => {
      stopping = true;
    },
    restarts: () => restarts,
    pid: () => child?.pid,
    async stop() {
      stopping = true;
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        try {
          await client.quit();
        } catch {
          proc.kill('SIGTERM');
        }
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      client.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
