// Small helpers for the benchmark: a cleanup list that also runs on signals, temporary
// directories, loopback ports, tools on PATH, numbers and formatting.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export const MiB = 1024 * 1024;

/**
 * Everything the benchmark started or created. Processes are always stopped; directories are
 * removed unless `keep`. Runs once, from `finally`, from a signal handler, or (synchronously,
 * as a last resort) from the process's 'exit' event.
 */
export class Cleanup {
  keep = false;
  readonly #dirs: string[] = [];
  readonly #children = new Set<ChildProcess>();
  #done: Promise<void> | undefined;

  constructor() {
    const onSignal = (signal: NodeJS.Signals) => {
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      void this.run().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('SIGHUP', onSignal);
    process.once('exit', () => this.#runSync());
  }

  /** A fresh temporary directory, removed at cleanup unless kept. */
  tempDir(prefix: string, parent: string = tmpdir()): string {
    const dir = mkdtempSync(join(parent, `bench-${prefix}`));
    this.#dirs.push(dir);
    return dir;
  }

  /** A process that must not outlive the benchmark. Spawn it with `detached: true` so its group can be signalled. */
  track(child: ChildProcess): ChildProcess {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Stops every tracked process (SIGTERM, then SIGKILL after 3 s) and removes the directories. */
  run(): Promise<void> {
    this.#done ??= (async () => {
      await Promise.all([...this.#children].map((c) => stopProcess(c)));
      if (this.keep) {
        if (this.#dirs.length > 0) process.stderr.write(`bench: kept ${this.#dirs.join(' ')}\n`);
        return;
      }
      for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    })();
    return this.#done;
  }

  #runSync(): void {
    for (const child of this.#children) signalGroup(child, 'SIGKILL');
    if (!this.keep) for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/** Signals the child's process group (it was spawned detached), or the child alone. */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

export async function stopProcess(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Resolves with the exit code (or 128 + signal number) once the child has exited. */
export function exitOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    if (child.signalCode !== null) return resolve(128);
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Collects the last `limit` characters a child writes to stdout and stderr. */
export function collectOutput(child: ChildProcess, limit = 16 * 1024): () => string {
  let out = '';
  const add = (chunk: Buffer) => {
    out = (out + chunk.toString('utf8')).slice(-limit);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => out;
}

/** Runs a command to completion; rejects on a non-zero exit unless `okCodes` allows it. */
export async function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; okCodes?: number[] } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-16 * 1024)));
  const code = await exitOf(child);
  if (!(opts.okCodes ?? [0]).includes(code)) throw new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${stderr}`);
  return { code, stdout, stderr };
}

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function haveTool(name: string): boolean {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return statSync(join(dir, name)).isFile();
      } catch {
        return false;
      }
    });
}

/** The environment for a tool under test: ours minus anything that configures the core or the registry. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(REGISTRY_|PLATFORM$|LISTEN_|OTEL_|RUST_LOG$|LOG_LEVEL$|CACHE_)/.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}
