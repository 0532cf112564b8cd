// How a parent launches a core process: the lean daemon entry (sources or compiled build, as the
// parent itself runs) with the memory settings measured in bench/README.md. Only a path and
// flags: nothing of the core is imported here.
import { fileURLToPath } from 'node:url';

const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';

export const CORE_ENTRY = fileURLToPath(new URL(`../core/cli.${ext}`, import.meta.url));

/**
 * V8 collects dead buffers sooner with a small young generation, and glibc keeps one arena
 * instead of one per zlib thread-pool thread: 150 → 104 MiB peak RSS for the compiled core on
 * the 1.3 GB benchmark, no slower (bench/README.md).
 */
export const CORE_NODE_FLAGS = ['--max-semi-space-size=1'];

export function coreSpawn(args: string[]): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  return {
    command: process.execPath,
    args: [...CORE_NODE_FLAGS, CORE_ENTRY, ...args],
    env: { MALLOC_ARENA_MAX: '1', ...process.env },
  };
}
