// A realistic big image: real system files (binaries, libraries, data) split into N gzip layers
// built with GNU tar and gzip/pigz, plus a minimal config and a Docker schema 2 manifest.
import { spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { accessSync, constants, createWriteStream, readdirSync, readlinkSync, lstatSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, posix } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { collectOutput, exitOf, haveTool, type Cleanup } from './util.ts';

export const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
export const CONFIG_TYPE = 'application/vnd.docker.container.image.v1+json';
export const LAYER_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** Where the files come from, in this order (the walk stops once the target is reached). */
export const SOURCE_ROOTS = ['/usr/bin', '/usr/libexec', '/usr/share', '/usr/lib'];

export interface BlobFile {
  file: string;
  digest: string;
  size: number;
}

export interface BuiltLayer extends BlobFile {
  diffId: string;
  uncompressedSize: number;
  entries: number;
}

export interface BuiltImage {
  layers: BuiltLayer[];
  config: BlobFile;
  manifest: Buffer;
  compressor: string;
}

type Entry = { path: string; bytes: number };

const BLOCK = 512;
const blocks = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

/** Bytes an entry takes in a GNU tar: header, data, and the long-name records when needed. */
function tarBytes(path: string, dataBytes: number, linkTarget = ''): number {
  let n = BLOCK + blocks(dataBytes);
  if (Buffer.byteLength(path) >= 100) n += BLOCK + blocks(Buffer.byteLength(path) + 1);
  if (Buffer.byteLength(linkTarget) >= 100) n += BLOCK + blocks(Buffer.byteLength(linkTarget) + 1);
  return n;
}

/**
 * Regular files and symlinks under `roots` (relative to /, sorted by name within each root)
 * until their tar size reaches `targetBytes` (within 1 %). Sockets, FIFOs, devices, unreadable
 * files and names with a newline are skipped; symlinks are kept as symlinks, never followed.
 */
export function selectFiles(roots: string[], targetBytes: number): { entries: Entry[]; bytes: number } {
  const entries: Entry[] = [];
  let bytes = 0;
  // A file that would overshoot the target by more than this is passed over (a 280 MB browser
  // binary found near the end would otherwise add 20 % to a 1.3 GB image).
  const slack = Math.max(targetBytes / 100, 1024 * 1024);
  const add = (path: string, n: number) => {
    if (bytes + n > targetBytes + slack) return;
    entries.push({ path, bytes: n });
    bytes += n;
  };
  const walk = (dir: string): boolean => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return false; // unreadable directory
    }
    for (const name of names) {
      if (bytes >= targetBytes) return true;
      const full = join(dir, name);
      if (full.includes('\n')) continue;
      let st;
      try {
        st = lstatSync(full);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        if (walk(full)) return true;
      } else if (st.isSymbolicLink()) {
        let target: string;
        try {
          target = readlinkSync(full);
        } catch {
          continue;
        }
        add(full.slice(1), tarBytes(full.slice(1), 0, target));
      } else if (st.isFile()) {
        try {
          accessSync(full, constants.R_OK);
        } catch {
          continue;
        }
        add(full.slice(1), tarBytes(full.slice(1), st.size));
      }
    }
    return bytes >= targetBytes;
  };
  for (const root of roots) if (walk(root)) break;
  return { entries, bytes };
}

/** Splits the entries, in order, into `n` groups of roughly equal tar size. */
export function splitEvenly(entries: Entry[], n: number): Entry[][] {
  const total = entries.reduce((s, e) => s + e.bytes, 0);
  const groups: Entry[][] = Array.from({ length: n }, () => []);
  let acc = 0;
  for (const e of entries) {
    // The group whose share of the total this entry's midpoint falls into.
    const g = Math.min(n - 1, Math.floor(((acc + e.bytes / 2) / total) * n));
    groups[g]!.push(e);
    acc += e.bytes;
  }
  return groups.filter((g) => g.length > 0);
}

/** The layer's tar member list: its files plus their parent directories, sorted by name. */
function memberList(group: Entry[]): string[] {
  const names = new Set<string>();
  for (const e of group) {
    names.add(e.path);
    for (let d = posix.dirname(e.path); d !== '.' && d !== '/' && !names.has(d); d = posix.dirname(d)) names.add(d);
  }
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

function hashing(hash: Hash, counter: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      hash.update(chunk);
      counter.bytes += chunk.length;
      callback(null, chunk);
    },
  });
}

/** tar | gzip into `out`, hashing both streams on the way. */
async function buildLayer(cleanup: Cleanup, members: string[], listFile: string, out: string, compressor: string[]): Promise<BuiltLayer> {
  writeFileSync(listFile, members.map((m) => `${m}\0`).join(''));
  const tar = cleanup.track(spawn(
    'tar',
    ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--no-recursion', '-C', '/', '--null', '-T', listFile, '-cf', '-'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  ));
  const gz = cleanup.track(spawn(compressor[0]!, compressor.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] }));
  const tarOutput = collectOutput(tar);
  const gzOutput = collectOutput(gz);
  const diff = createHash('sha256');
  const digest = createHash('sha256');
  const raw = { bytes: 0 };
  const packed = { bytes: 0 };
  const [tarCode, gzCode] = await Promise.all([
    exitOf(tar),
    exitOf(gz),
    pipeline(tar.stdout!, hashing(diff, raw), gz.stdin!),
    pipeline(gz.stdout!, hashing(digest, packed), createWriteStream(out)),
  ]);
  // GNU tar exits 1 when a file changed while it was read: the layer is still a valid tar.
  if (tarCode > 1) throw new Error(`tar exited with ${tarCode}:\n${tarOutput()}`);
  if (tarCode === 1) process.stderr.write(`bench: tar warned while building ${out}:\n${tarOutput()}\n`);
  if (gzCode !== 0) throw new Error(`${compressor[0]} exited with ${gzCode}:\n${gzOutput()}`);
  return {
    file: out,
    digest: `sha256:${digest.digest('hex')}`,
    size: packed.bytes,
    diffId: `sha256:${diff.digest('hex')}`,
    uncompressedSize: raw.bytes,
    entries: members.length,
  };
}

/** Runs `tasks` with at most `limit` in flight, keeping their order in the result. */
async function limited<R>(tasks: Array<() => Promise<R>>, limit: number): Promise<R[]> {
  const results: R[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

export async function buildImage(cleanup: Cleanup, dir: string, opts: { targetBytes: number; layers: number }): Promise<BuiltImage> {
  const { entries } = selectFiles(SOURCE_ROOTS, opts.targetBytes);
  if (entries.length === 0) throw new Error(`no files found under ${SOURCE_ROOTS.join(', ')}`);
  const groups = splitEvenly(entries, opts.layers);
  const cpus = availableParallelism();
  // pigz uses every CPU for one layer; gzip uses one, so layers are built side by side.
  const pigz = haveTool('pigz');
  const compressor = pigz ? ['pigz', '-6', '-n', '-c'] : ['gzip', '-6', '-n', '-c'];
  const layers = await limited(
    groups.map((g, i) => () => buildLayer(cleanup, memberList(g), join(dir, `layer${i + 1}.list`), join(dir, `layer${i + 1}.tar.gz`), compressor)),
    pigz ? 1 : cpus,
  );

  const configJson = {
    architecture: 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  const configBytes = Buffer.from(JSON.stringify(configJson));
  const config: BlobFile = { file: join(dir, 'config.json'), digest: `sha256:${createHash('sha256').update(configBytes).digest('hex')}`, size: configBytes.length };
  writeFileSync(config.file, configBytes);

  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: { mediaType: CONFIG_TYPE, size: config.size, digest: config.digest },
      layers: layers.map((l) => ({ mediaType: LAYER_TYPE, size: l.size, digest: l.digest })),
    }),
  );
  writeFileSync(join(dir, 'manifest.json'), manifest);
  return { layers, config, manifest, compressor: compressor[0]! };
}
