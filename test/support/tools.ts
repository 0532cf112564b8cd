// Small helpers every test needs: external tools, loopback ports, temporary directories.
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { spawn } from 'node:child_process';
import type { Test } from 'tap';

/** The tap test object as the tests receive it. */
export type T = Test;

/** CI must never skip silently: a missing tool there is a broken CI image, not a choice. */
export function inCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/** True when `name` is an executable file on PATH (or, if it contains a slash, at that path). */
export function haveTool(name: string): boolean {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, name));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/**
 * Returns true when the tool is there. Otherwise a developer's machine skips the test (saying
 * which tool is missing) and CI fails it; either way the caller should return at once.
 * Call it before the first assertion: a skip is expressed as `plan(0, reason)`.
 */
export function requireTool(t: T, name: string): boolean {
  if (haveTool(name)) return true;
  const why = `${name} is not installed (not found on PATH)`;
  if (inCI()) t.fail(`${why}; CI must provide it`);
  else t.plan(0, why);
  return false;
}

/**
 * A port that was free a moment ago. Another process may take it before the caller binds it,
 * so callers that spawn servers should retry on "address already in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('unexpected server address'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** A fresh directory under the OS temp dir, removed when the test ends (pass or fail). */
export function tempDir(t: T, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `image-passthrough-${prefix}`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const COMMAND_TIMEOUT_MS = 120_000;

export interface CommandResult {
  /** Exit code; null when the command was killed (timeout or signal). */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  /** Written to the command's stdin. */
  input?: Buffer | string;
  /** Killed after this long (default 120 s); the result then has code null. */
  timeoutMs?: number;
}

/** Runs a command to its end, collecting its output; never rejects (a spawn error is in stderr). */
export function runCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, opts: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs ?? COMMAND_TIMEOUT_MS} ms]`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? COMMAND_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}\n${err.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // a command that does not read its stdin
    child.stdin.end(opts.input);
  });
}
