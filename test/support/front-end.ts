// Starts the real HTTP front end (`image-passthrough http`, with its own core) on a free
// loopback port, and stops it in teardown. Its URL is read from its "listening" log line.
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, cleanEnv } from './core.ts';
import type { T } from './tools.ts';

export interface RunningFrontEnd {
  url: string;
  port: number;
  process: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export async function startFrontEnd(t: T, options: { args?: string[]; env?: Record<string, string> } = {}): Promise<RunningFrontEnd> {
  const child = spawn(process.execPath, [CLI, 'http', '--port', '0', '--host', '127.0.0.1', ...(options.args ?? [])], {
    env: cleanEnv(options.env),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };
  t.teardown(stop);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`front end did not start within 20 s:\n${stderr}`)), 20_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      const m = /"msg":"front end listening","url":"([^"]+)"/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`front end exited with ${code} before listening:\n${stderr}`));
    });
  });
  return { url, port: Number(new URL(url).port), process: child, output: () => stderr, exited, stop };
}
