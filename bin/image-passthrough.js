#!/usr/bin/env node
// Runs the compiled build (dist/, made by `npm run build`, which `npm ci` runs) when there is one,
// else the TypeScript sources directly (Node 24 strips types). `core` goes straight to the
// daemon's lean entry, without yargs or the front ends: it is the long-lived process.
import { existsSync } from 'node:fs';

// Streaming allocates a buffer per chunk; with V8's default 16 MiB young generation up to
// ~65 MiB of dead ones wait for collection, and glibc keeps an arena per thread-pool thread.
// Both are set at process start only, so the process replaces itself once with them
// (process.execve: no second process): peak RSS of `save` 162 -> 95 MiB (bench/README.md).
const TUNED = '--max-semi-space-size=1';
if (!process.execArgv.some((a) => a.startsWith('--max-semi-space-size')) && typeof process.execve === 'function' && !process.env.IMAGE_PASSTHROUGH_NO_REEXEC) {
  process.execve(process.execPath, [process.execPath, TUNED, ...process.execArgv, ...process.argv.slice(1)], { MALLOC_ARENA_MAX: '1', ...process.env, IMAGE_PASSTHROUGH_NO_REEXEC: '1' });
}

const root = new URL('../', import.meta.url);
const base = existsSync(new URL('dist/frontends/cli/main.js', root)) ? new URL('dist/', root) : root;
const ext = base === root ? 'ts' : 'js';
const args = process.argv.slice(2);

if (args[0] === 'core' && !args.some((a) => a === '--help' || a === '-h' || a === '--version')) {
  const { coreMain } = await import(new URL(`core/cli.${ext}`, base).href);
  process.exit(await coreMain(args.slice(1)));
} else {
  const { main } = await import(new URL(`frontends/cli/main.${ext}`, base).href);
  await main(args);
}
