// Small helpers every test needs: external tools, loopback ports, temporary directories.
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
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
