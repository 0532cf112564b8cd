// What the benchmark measures: peak RSS of a process tree (sampled from /proc), the moment an
// output directory first holds a byte, and a timed run of a command with both.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { collectOutput, exitOf, MiB, type Cleanup } from './util.ts';

const RSS_INTERVAL_MS = 50;
const FIRST_BYTE_INTERVAL_MS = 10;

/** pid → [ppid, pgrp, command name] for every process. */
function processTable(): Map<number, [number, number, string]> {
  const table = new Map<number, [number, number, string]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses.
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      table.set(Number(name), [Number(fields[1]), Number(fields[2]), stat.slice(stat.indexOf('(') + 1, close)]);
    } catch {
      // Gone meanwhile.
    }
  }
  return table;
}

/** A short label for a process: program and first two arguments, e.g. "node main.ts core". */
function label(pid: number, comm: string): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    if (argv.length > 0) return argv.slice(0, 3).map((a) => basename(a)).join(' ');
  } catch {
    // Gone meanwhile.
  }
  return comm;
}

function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples the summed VmRSS of a process, all its descendants and every member of its process
 * group (which catches children that were re-parented) every 50 ms, keeping the maximum.
 */
export class TreeRss {
  readonly #root: number;
  readonly #timer: NodeJS.Timeout;
  #peakKiB = 0;
  #atPeak: Array<{ name: string; kib: number }> = [];

  constructor(rootPid: number) {
    this.#root = rootPid;
    this.sample();
    this.#timer = setInterval(() => this.sample(), RSS_INTERVAL_MS);
  }

  sample(): void {
    const table = processTable();
    const members = new Set<number>();
    for (const [pid, [, pgrp]] of table) if (pid === this.#root || pgrp === this.#root) members.add(pid);
    // Descendants: repeat until no process joins (the table is small).
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, [ppid]] of table) {
        if (!members.has(pid) && members.has(ppid)) {
          members.add(pid);
          grew = true;
        }
      }
    }
    const each = [...members].map((pid) => ({ pid, kib: rssKiB(pid) })).filter((p) => p.kib > 0);
    const sum = each.reduce((s, p) => s + p.kib, 0);
    if (sum > this.#peakKiB) {
      this.#peakKiB = sum;
      // Labels only for a new peak: reading cmdline on every sample would be wasted work.
      this.#atPeak = each.map((p) => ({ name: label(p.pid, table.get(p.pid)?.[2] ?? '?'), kib: p.kib }));
    }
  }

  /** Stops sampling; the peak in MiB and, for that sample, each process's share ("node 61.2 + node 180.4"). */
  stop(): { peakMiB: number; atPeak: string } {
    clearInterval(this.#timer);
    const atPeak = this.#atPeak.map((p) => `${p.name} ${(p.kib / 1024).toFixed(1)}`).join(' + ');
    return { peakMiB: (this.#peakKiB * 1024) / MiB, atPeak };
  }
}

/** Polls `dir` every 10 ms until some file in it is non-empty; reports ms since `t0`. */
export class FirstByte {
  readonly #dir: string;
  readonly #t0: number;
  readonly #timer: NodeJS.Timeout;
  #at: number | undefined;

  constructor(dir: string, t0: number) {
    this.#dir = dir;
    this.#t0 = t0;
    this.#timer = setInterval(() => this.check(), FIRST_BYTE_INTERVAL_MS);
  }

  check(): void {
    if (this.#at !== undefined) return;
    let names: string[];
    try {
      names = readdirSync(this.#dir);
    } catch {
      return;
    }
    for (const name of names) {
      try {
        if (statSync(join(this.#dir, name)).size > 0) {
          this.#at = performance.now() - this.#t0;
          clearInterval(this.#timer);
          return;
        }
      } catch {
        // Renamed or removed between readdir and stat.
      }
    }
  }

  /** Milliseconds from t0 to the first byte, if one was seen. */
  stop(): number | undefined {
    clearInterval(this.#timer);
    this.check();
    return this.#at;
  }
}

export interface TimedRun {
  code: number;
  wallMs: number;
  /** Until a file in the output directory first held a byte. */
  firstByteMs: number | undefined;
  peakRssMiB: number;
  /** The processes making up the peak, with their RSS in MiB. */
  atPeak: string;
  output: string;
}

/** Runs a command (in its own process group) and measures wall time, first byte and peak RSS. */
export async function timedRun(cleanup: Cleanup, cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv; outDir: string }): Promise<TimedRun> {
  const t0 = performance.now();
  const child = cleanup.track(spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
  const output = collectOutput(child);
  if (child.pid === undefined) await exitOf(child); // rejects with the spawn error
  const rss = new TreeRss(child.pid!);
  const firstByte = new FirstByte(opts.outDir, t0);
  let code: number;
  try {
    code = await exitOf(child);
  } finally {
    rss.stop();
    firstByte.stop();
  }
  const wallMs = performance.now() - t0;
  const { peakMiB, atPeak } = rss.stop();
  return { code, wallMs, firstByteMs: firstByte.stop(), peakRssMiB: peakMiB, atPeak, output: output() };
}
