// Benchmark: our `docker save` archive streamed from a registry versus `skopeo copy` to a
// docker-archive, on a big realistic image in a local registry. See bench/README.md.
//
//   node bench/save-vs-skopeo.ts [--layers 3] [--size-mb 1300] [--runs 1] [--keep] [--mode auto|save|socket]
//
// Progress goes to stderr; the table and, last, one JSON line go to stdout.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { buildImage, SOURCE_ROOTS, type BuiltImage } from './lib/image.ts';
import { pushImage, startRegistry } from './lib/registry.ts';
import { listTar, plannedSize, probeSave, runOursSave, runOursSocket, runSkopeo, verifyOurs, type Mode, type ToolResult } from './lib/runners.ts';
import { Cleanup, haveTool, log, median, MiB, round } from './lib/util.ts';

const GOAL = { ratio: 0.35, ttfbS: 1, peakRssMB: 150 };
const REPO = 'bench/big';
const TAG = '1';

const USAGE = `usage: node bench/save-vs-skopeo.ts [options]
  --layers N     gzip layers in the test image (default 3)
  --size-mb N    uncompressed image size in MiB (default 1300)
  --runs N       measure N times, alternating which tool goes first; report medians (default 1)
  --keep         keep the image, registry storage and archives (processes are still stopped)
  --mode M       how to run ours: auto (save if it works, else a core on a socket), save, socket
`;

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} takes a positive integer, not ${JSON.stringify(value)}`);
  return n;
}

function options() {
  const { values } = parseArgs({
    options: {
      layers: { type: 'string', default: '3' },
      'size-mb': { type: 'string', default: '1300' },
      runs: { type: 'string', default: '1' },
      keep: { type: 'boolean', default: false },
      mode: { type: 'string', default: 'auto' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (!['auto', 'save', 'socket'].includes(values.mode)) throw new Error(`--mode takes auto, save or socket, not ${values.mode}`);
  return {
    layers: positiveInt('layers', values.layers),
    sizeMiB: positiveInt('size-mb', values['size-mb']),
    runs: positiveInt('runs', values.runs),
    keep: values.keep,
    mode: values.mode as 'auto' | Mode,
  };
}

interface RunRecord {
  run: number;
  ours: ToolResult;
  skopeo: ToolResult;
  skopeoLayerEntries: number;
}

const f = (v: number | null, digits: number) => (v === null ? '-' : v.toFixed(digits));

function summarize(results: ToolResult[]) {
  const ttfbs = results.map((r) => r.ttfbS).filter((v): v is number => v !== null);
  return {
    wallS: round(median(results.map((r) => r.wallS)), 3),
    ttfbS: ttfbs.length > 0 ? round(median(ttfbs), 3) : null,
    peakRssMB: round(median(results.map((r) => r.peakRssMB)), 1),
  };
}

function printTable(image: BuiltImage, registryHost: string, mode: Mode, records: RunRecord[]) {
  const ours = summarize(records.map((r) => r.ours));
  const skopeo = summarize(records.map((r) => r.skopeo));
  const uncompressed = image.layers.reduce((s, l) => s + l.uncompressedSize, 0);
  const compressed = image.layers.reduce((s, l) => s + l.size, 0);
  const lines: string[] = [];
  lines.push(
    `image ${registryHost}/${REPO}:${TAG}: ${image.layers.length} layers, ${(uncompressed / MiB).toFixed(1)} MiB uncompressed, ` +
      `${(compressed / MiB).toFixed(1)} MiB ${image.compressor} -6 (files from ${SOURCE_ROOTS.join(' ')})`,
  );
  for (const [i, l] of image.layers.entries()) {
    lines.push(`  layer ${i + 1}: ${l.entries} entries, ${(l.uncompressedSize / MiB).toFixed(1)} MiB → ${(l.size / MiB).toFixed(1)} MiB  ${l.digest.slice(0, 19)}…`);
  }
  lines.push(`ours measured with: ${mode === 'save' ? '`bin/image-passthrough.js save … -o FILE`' : 'a core on a Unix socket, GET /save/… with undici (the `save` command was not usable)'}`);
  lines.push('');
  const row = (cols: string[]) => lines.push(cols.map((c, i) => (i < 2 ? c.padEnd(8) : c.padStart(i === 5 ? 15 : 13))).join(' '));
  row(['run', 'tool', 'wall s', 'ttfb s', 'peak RSS MiB', 'archive bytes']);
  for (const r of records) {
    for (const t of [r.ours, r.skopeo]) {
      row([String(r.run), t.tool, f(t.wallS, 2), f(t.ttfbS, 3), f(t.peakRssMB, 1), String(t.archiveBytes)]);
      const detail = Object.entries(t.detail).map(([k, v]) => `${k} ${v.toFixed(3)} s`);
      if (detail.length > 0) lines.push(`${''.padEnd(18)}(${detail.join(', ')})`);
      if (t.atPeak !== '') lines.push(`${''.padEnd(18)}(RSS at peak, MiB: ${t.atPeak})`);
    }
  }
  if (records.length > 1) {
    row(['median', 'ours', f(ours.wallS, 2), f(ours.ttfbS, 3), f(ours.peakRssMB, 1), '']);
    row(['median', 'skopeo', f(skopeo.wallS, 2), f(skopeo.ttfbS, 3), f(skopeo.peakRssMB, 1), '']);
  }
  const ratio = round(ours.wallS / skopeo.wallS, 3);
  const met = {
    ratio: ratio <= GOAL.ratio,
    ttfbS: ours.ttfbS !== null && ours.ttfbS <= GOAL.ttfbS,
    peakRssMB: ours.peakRssMB <= GOAL.peakRssMB,
  };
  const yes = (b: boolean) => (b ? 'met' : 'NOT met');
  row(['goal', 'ours', `≤ ${GOAL.ratio} × sk`, `≤ ${GOAL.ttfbS}`, `≤ ${GOAL.peakRssMB}`, '']);
  lines.push('');
  lines.push(`wall ratio ours/skopeo ${ratio.toFixed(3)} (goal ≤ ${GOAL.ratio}: ${yes(met.ratio)}); ttfb ${f(ours.ttfbS, 3)} s (goal ≤ ${GOAL.ttfbS} s: ${yes(met.ttfbS)}); peak RSS ${f(ours.peakRssMB, 1)} MiB (goal ≤ ${GOAL.peakRssMB} MiB: ${yes(met.peakRssMB)})`);
  process.stdout.write(`${lines.join('\n')}\n`);
  const last = records[records.length - 1]!;
  return {
    ours,
    skopeo,
    ratio,
    goal: GOAL,
    met,
    mode,
    runs: records.length,
    image: { layers: image.layers.length, uncompressedBytes: uncompressed, compressedBytes: compressed },
    archiveBytes: { ours: last.ours.archiveBytes, skopeo: last.skopeo.archiveBytes },
  };
}

async function main(): Promise<void> {
  const opts = options();
  const missing = ['tar', 'gzip', 'docker-registry', 'skopeo'].filter((t) => !haveTool(t));
  if (missing.length > 0) throw new Error(`missing tools: ${missing.join(', ')} (Debian: apt-get install ${missing.join(' ')})`);

  const cleanup = new Cleanup();
  cleanup.keep = opts.keep;
  try {
    const base = cleanup.tempDir('save-vs-skopeo-');
    log(`working in ${base}`);

    let t = performance.now();
    const imageDir = join(base, 'image');
    mkdirSync(imageDir);
    log(`building a ${opts.sizeMiB} MiB image in ${opts.layers} layers…`);
    const image = await buildImage(cleanup, imageDir, { targetBytes: opts.sizeMiB * MiB, layers: opts.layers });
    log(`built in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    t = performance.now();
    const registry = await startRegistry(cleanup, join(base, 'registry'));
    await pushImage(registry, REPO, TAG, image);
    const ref = `${registry.host}/${REPO}:${TAG}`;
    log(`pushed ${ref} in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    let mode: Mode = opts.mode === 'auto' ? 'save' : opts.mode;
    let progressFlag = false;
    if (mode === 'save') {
      const probe = await probeSave();
      progressFlag = probe.progressFlag;
      if (!probe.ok) {
        if (opts.mode === 'save') throw new Error('`image-passthrough save --help` failed');
        log('`save --help` failed: measuring through a core on a Unix socket instead');
        mode = 'socket';
      }
    }

    const records: RunRecord[] = [];
    for (let run = 1; run <= opts.runs; run++) {
      const order: Array<'ours' | 'skopeo'> = run % 2 === 1 ? ['ours', 'skopeo'] : ['skopeo', 'ours'];
      const got: Partial<Record<'ours' | 'skopeo', ToolResult>> = {};
      let expected = 0;
      for (const tool of order) {
        const runDir = join(base, `run${run}-${tool}`);
        const outDir = join(runDir, 'out');
        const workDir = join(runDir, 'work');
        mkdirSync(outDir, { recursive: true });
        mkdirSync(workDir, { recursive: true });
        log(`run ${run}: ${tool}…`);
        if (tool === 'skopeo') {
          got.skopeo = await runSkopeo(cleanup, ref, outDir, workDir);
        } else if (mode === 'socket') {
          const r = await runOursSocket(cleanup, ref, outDir, workDir);
          expected = r.contentLength;
          got.ours = r;
        } else {
          got.ours = await runOursSave(cleanup, ref, outDir, workDir, progressFlag);
          expected = await plannedSize(cleanup, ref, join(runDir, 'plan'));
        }
        log(`run ${run}: ${tool} took ${got[tool]!.wallS.toFixed(2)} s`);
      }
      const problems = await verifyOurs(got.ours!.file, expected, image.layers.length);
      if (problems.length > 0) throw new Error(`our archive is wrong: ${problems.join('; ')}`);
      const skopeoLayerEntries = (await listTar(got.skopeo!.file)).filter((n) => /\.tar$/.test(n)).length;
      records.push({ run, ours: got.ours!, skopeo: got.skopeo!, skopeoLayerEntries });
      log(`run ${run}: our archive verified (${expected} bytes as planned, ${image.layers.length} layer.tar); skopeo's has ${skopeoLayerEntries} .tar members`);
      if (!opts.keep) {
        rmSync(join(base, `run${run}-ours`), { recursive: true, force: true });
        rmSync(join(base, `run${run}-skopeo`), { recursive: true, force: true });
      }
    }

    const summary = printTable(image, registry.host, mode, records);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    await cleanup.run();
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
}
