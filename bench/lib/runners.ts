// The contenders: our `save` command (or, while it is not there, a core on a Unix socket read
// with undici) and `skopeo copy … docker-archive:`; and the checks on what they wrote.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { Client } from 'undici';
import { timedRun, TreeRss } from './measure.ts';
import { cleanEnv, collectOutput, delay, run, stopProcess, type Cleanup } from './util.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
// The bin, as users run it: the compiled build (npm run build) with its memory settings.
export const CLI = join(REPO_ROOT, 'bin/image-passthrough.js');

export type Mode = 'save' | 'socket';

export interface ToolResult {
  tool: 'ours' | 'skopeo';
  mode: Mode | 'skopeo';
  wallS: number;
  ttfbS: number | null;
  peakRssMB: number;
  /** Which processes made up the peak RSS, in MiB each. */
  atPeak: string;
  file: string;
  archiveBytes: number;
  /** Extra timings (seconds) worth a line in the table. */
  detail: Record<string, number>;
}

const ms = (v: number) => v / 1000;

/** Whether `save` exists (its --help works), and whether it takes --progress. */
export async function probeSave(): Promise<{ ok: boolean; progressFlag: boolean }> {
  try {
    const { stdout } = await run(process.execPath, [CLI, 'save', '--help'], { cwd: REPO_ROOT, env: cleanEnv() });
    const ok = /\bsave\b/.test(stdout) && /--output|-o\b/.test(stdout);
    return { ok, progressFlag: /--progress\b/.test(stdout) };
  } catch {
    return { ok: false, progressFlag: false };
  }
}

export async function runOursSave(cleanup: Cleanup, ref: string, outDir: string, workDir: string, progressFlag: boolean): Promise<ToolResult> {
  const file = join(outDir, 'big.tar');
  const args = [CLI, 'save', ref, '-o', file, ...(progressFlag ? ['--no-progress'] : [])];
  const r = await timedRun(cleanup, process.execPath, args, { cwd: REPO_ROOT, env: cleanEnv({ CACHE_DIR: join(workDir, 'cache') }), outDir });
  if (r.code !== 0) throw new Error(`save exited with ${r.code}:\n${r.output}`);
  return commandResult('ours', 'save', r, file);
}

export async function runSkopeo(cleanup: Cleanup, ref: string, outDir: string, workDir: string): Promise<ToolResult> {
  const file = join(outDir, 'big.tar');
  const args = ['copy', '--src-tls-verify=false', `docker://${ref}`, `docker-archive:${file}:bench/big:1`];
  // skopeo stages big files in TMPDIR (else /var/tmp): keep that out of the watched output dir and inside ours.
  const r = await timedRun(cleanup, 'skopeo', args, { env: cleanEnv({ TMPDIR: workDir }), outDir });
  if (r.code !== 0) throw new Error(`skopeo exited with ${r.code}:\n${r.output}`);
  return commandResult('skopeo', 'skopeo', r, file);
}

/** What a whole-command run (ours via `save`, or skopeo) measured. */
function commandResult(tool: ToolResult['tool'], mode: ToolResult['mode'], r: Awaited<ReturnType<typeof timedRun>>, file: string): ToolResult {
  return {
    tool,
    mode,
    wallS: ms(r.wallMs),
    ttfbS: r.firstByteMs === undefined ? null : ms(r.firstByteMs),
    peakRssMB: r.peakRssMiB,
    atPeak: r.atPeak,
    file,
    archiveBytes: statSync(file).size,
    detail: {},
  };
}

interface Core {
  child: ChildProcess;
  client: Client;
  output(): string;
  stop(): Promise<void>;
}

/** Spawns `image-passthrough core --socket` in its own process group; `ready` resolves once /health answers. */
function spawnCore(cleanup: Cleanup, workDir: string): Core & { ready: Promise<void> } {
  mkdirSync(workDir, { recursive: true });
  const socketPath = join(workDir, 'core.sock');
  const child = cleanup.track(
    spawn(process.execPath, [CLI, 'core', '--socket', socketPath], { cwd: REPO_ROOT, env: cleanEnv({ CACHE_DIR: join(workDir, 'cache') }), stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
  );
  const output = collectOutput(child);
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const client = new Client('http://core', { socketPath, headersTimeout: 10 * 60_000, bodyTimeout: 0 });
  const ready = (async () => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (spawnError) throw new Error(`cannot start the core: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        await delay(100); // let its last output arrive
        throw new Error(`the core exited (${child.exitCode ?? child.signalCode}) before answering`);
      }
      try {
        const res = await client.request({ path: '/health', method: 'GET' });
        await res.body.dump();
        if (res.statusCode === 200) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error('the core did not answer /health within 15 s');
      await delay(10);
    }
  })();
  const stop = async () => {
    await client.close().catch(() => undefined);
    await stopProcess(child);
  };
  return { child, client, output, stop, ready };
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The socket fallback: wall time from spawning the core to the file being closed (core startup
 * included, like the other commands); time to first byte from the request (a client's view of
 * a running core). Peak RSS is the core's tree; the bench process (the client) is not counted.
 */
export async function runOursSocket(cleanup: Cleanup, ref: string, outDir: string, workDir: string): Promise<ToolResult & { contentLength: number }> {
  const file = join(outDir, 'big.tar');
  const t0 = performance.now();
  const core = spawnCore(cleanup, workDir);
  const rss = new TreeRss(core.child.pid!);
  try {
    await core.ready;
    const tReady = performance.now();
    const res = await core.client.request({ path: `/save/${ref}`, method: 'GET' });
    const tHeaders = performance.now();
    if (res.statusCode !== 200) throw new Error(`GET /save/${ref}: HTTP ${res.statusCode} ${await res.body.text()}`);
    const contentLength = Number(header(res.headers['content-length']));
    let tFirst: number | undefined;
    const firstChunk = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        tFirst ??= performance.now();
        callback(null, chunk);
      },
    });
    await pipeline(res.body, firstChunk, createWriteStream(file));
    const tDone = performance.now();
    const { peakMiB, atPeak } = rss.stop();
    return {
      tool: 'ours',
      mode: 'socket',
      wallS: ms(tDone - t0),
      ttfbS: tFirst === undefined ? null : ms(tFirst - tReady),
      peakRssMB: peakMiB,
      atPeak,
      file,
      archiveBytes: statSync(file).size,
      contentLength,
      detail: { 'core ready': ms(tReady - t0), 'response headers': ms(tHeaders - tReady), 'first body chunk': ms((tFirst ?? tDone) - tReady), 'request to last byte': ms(tDone - tReady) },
    };
  } catch (err) {
    throw new Error(`${(err as Error).message}\ncore output:\n${core.output()}`);
  } finally {
    rss.stop();
    await core.stop();
  }
}

/** The archive size the core plans for `ref` (Content-Length of HEAD /save), from a private core. */
export async function plannedSize(cleanup: Cleanup, ref: string, workDir: string): Promise<number> {
  const core = spawnCore(cleanup, workDir);
  try {
    await core.ready;
    const res = await core.client.request({ path: `/save/${ref}`, method: 'HEAD' });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`HEAD /save/${ref}: HTTP ${res.statusCode}`);
    return Number(header(res.headers['content-length']));
  } catch (err) {
    throw new Error(`${(err as Error).message}\ncore output:\n${core.output()}`);
  } finally {
    await core.stop();
  }
}

/** Member names of a tar file. */
export async function listTar(file: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tf', file]);
  return stdout.split('\n').filter((l) => l !== '');
}

/** Our archive: exactly the planned size, a manifest.json, and one layer.tar per layer. */
export async function verifyOurs(file: string, expectedBytes: number, layers: number): Promise<string[]> {
  const problems: string[] = [];
  const size = statSync(file).size;
  if (size !== expectedBytes) problems.push(`size ${size} differs from the planned ${expectedBytes}`);
  const names = await listTar(file);
  const layerTars = names.filter((n) => /(^|\/)layer\.tar$/.test(n)).length;
  if (layerTars !== layers) problems.push(`${layerTars} layer.tar entries, expected ${layers}`);
  if (!names.includes('manifest.json')) problems.push('no manifest.json');
  return problems;
}
