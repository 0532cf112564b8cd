// GET /save against a registry that misbehaves on demand. After the status line a failure must
// destroy the connection (the client's read rejects, with fewer bytes than Content-Length);
// before it, a failure is an error answer. Layer sizes from untrustworthy sources (a registry
// that ignores Range, a gzip trailer that tells only part of the story, eStargz, zstd frames
// without a content size) still give a correct archive.
import { createHash } from 'node:crypto';
import { createZstdCompress, gzipSync, zstdCompressSync } from 'node:zlib';
import t from 'tap';
import { extract } from 'tar-stream';
import { zstdContentSize } from '../core/archive/layer-sizes.ts';
import type { CoreClient, StreamResponse } from '../protocol/client.ts';
import { CoreError } from '../protocol/errors.ts';
import type { ArchiveFormat } from '../protocol/routes.ts';
import { startCore } from './support/core.ts';
import { startFakeRegistry, type RecordedRequest } from './support/fake-registry.ts';
import { MediaTypes, buildImage, buildIndex, buildTar, sha256, type BuiltImage, type BuiltLayer, type LayerSpec, type Platform } from './support/images.ts';
import type { T } from './support/tools.ts';

function header(res: StreamResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Deterministic bytes that do not compress, then as many zeros: gzip halves them, no more. */
function noise(size: number, seed: string): Buffer {
  const chunks: Buffer[] = [];
  for (let i = 0, made = 0; made < size / 2; i++, made += 32) chunks.push(createHash('sha256').update(`${seed}:${i}`).digest());
  return Buffer.concat([Buffer.concat(chunks).subarray(0, size / 2), Buffer.alloc(size - size / 2)]);
}

interface Outcome {
  data: Buffer;
  error: unknown;
}

/** Reads a body to its end or until it fails, keeping what arrived. */
async function readOutcome(res: StreamResponse): Promise<Outcome> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) chunks.push(chunk);
    return { data: Buffer.concat(chunks), error: undefined };
  } catch (error) {
    return { data: Buffer.concat(chunks), error };
  }
}

/** The core under test, and its log for the messages of failed assertions. */
interface Core {
  client: CoreClient;
  output(): string;
}

/** A save whose status line left (200 and a length) and whose body must then fail. */
async function expectBrokenStream(t: T, core: Core, ref: string, format: ArchiveFormat, what: string): Promise<number> {
  const res = await core.client.save(ref, { format });
  t.equal(res.statusCode, 200, `${what}: the status line had left`);
  const length = Number(header(res, 'content-length'));
  t.ok(length > 0, `${what}: a Content-Length was promised`);
  const { data, error } = await readOutcome(res);
  t.ok(error instanceof Error, `${what}: reading the body rejects (connection destroyed)`, { received: data.length, length });
  t.ok(data.length < length, `${what}: fewer bytes than Content-Length arrived (${data.length} < ${length})`);
  t.ok(data.length > 0, `${what}: the archive had started`);
  return length;
}

/** All entries of a tar, read by tar-stream (an independent parser). */
async function readTar(data: Buffer): Promise<Map<string, Buffer>> {
  const ex = extract();
  const entries = new Map<string, Buffer>();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
      entries.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  ex.end(data);
  await done;
  return entries;
}

/** A complete save in format docker, checked against the image: config, and every layer.tar against its diff_id. */
async function expectGoodDockerArchive(t: T, core: Core, ref: string, image: BuiltImage, what: string): Promise<Buffer> {
  let res: StreamResponse;
  try {
    res = await core.client.save(ref);
  } catch (err) {
    t.fail(`${what}: the save was answered`, { error: String(err), log: core.output().slice(-3000) });
    return Buffer.alloc(0);
  }
  t.equal(res.statusCode, 200, `${what}: 200`);
  const { data, error } = await readOutcome(res);
  t.equal(error, undefined, `${what}: the body reads to its end`, { error: String(error), log: core.output().slice(-3000) });
  if (error !== undefined) return data;
  t.equal(header(res, 'content-length'), String(data.length), `${what}: Content-Length is the archive's length`);
  const entries = await readTar(data);
  const manifestJson = entries.get('manifest.json');
  t.ok(manifestJson, `${what}: has manifest.json`);
  if (!manifestJson) return data;
  const manifest = JSON.parse(manifestJson.toString('utf8')) as Array<{ Config: string; Layers: string[] }>;
  const config = entries.get(manifest[0]?.Config ?? '');
  t.equal(config && sha256(config), image.configDigest, `${what}: the config entry is the image's config`);
  const layers = manifest[0]?.Layers ?? [];
  t.equal(layers.length, image.layers.length, `${what}: one layer.tar per layer`);
  layers.forEach((name, i) => {
    const body = entries.get(name);
    const expected = image.layers[i];
    t.equal(body?.length, expected?.uncompressedSize, `${what}: layer ${i + 1} has its uncompressed size`);
    t.equal(body && sha256(body), expected?.diffId, `${what}: layer ${i + 1} matches its diff_id`);
  });
  return data;
}

interface HandLayer {
  blob: Buffer;
  tar: Buffer;
  mediaType: string;
  annotations?: Record<string, string>;
}

/** An OCI image around hand-made layer blobs (whatever bytes the case needs). */
function handMadeImage(layers: HandLayer[], platform: Platform = { os: 'linux', architecture: 'amd64' }): BuiltImage {
  const config = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      created: '1970-01-01T00:00:00Z',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l.tar)) },
    }),
  );
  const built: BuiltLayer[] = layers.map((l) => ({
    blob: l.blob,
    digest: sha256(l.blob),
    size: l.blob.length,
    diffId: sha256(l.tar),
    uncompressedSize: l.tar.length,
    mediaType: l.mediaType,
    compression: l.mediaType.endsWith('+zstd') ? 'zstd' : l.mediaType.endsWith('+gzip') ? 'gzip' : 'none',
    tar: l.tar,
  }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, size: config.length, digest: sha256(config) },
      layers: layers.map((l, i) => ({ mediaType: l.mediaType, size: built[i]!.size, digest: built[i]!.digest, ...(l.annotations ? { annotations: l.annotations } : {}) })),
    }),
  );
  return {
    manifest,
    manifestDigest: sha256(manifest),
    manifestMediaType: MediaTypes.ociManifest,
    config,
    configDigest: sha256(config),
    configMediaType: MediaTypes.ociConfig,
    layers: built,
    platform,
  };
}

/** Whole-blob downloads of `digest` (not the small ranged reads for sizes). */
const wholeBlob = (digest: string) => (r: RecordedRequest) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`) && r.headers.range === undefined;

async function zstdStreaming(data: Buffer): Promise<Buffer> {
  const z = createZstdCompress();
  const chunks: Buffer[] = [];
  z.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    z.once('end', resolve);
    z.once('error', reject);
  });
  // Several writes and no pledged size: the encoder cannot know the total when it writes the header.
  for (let i = 0; i < data.length; i += 4096) z.write(data.subarray(i, i + 4096));
  z.end();
  await ended;
  return Buffer.concat(chunks);
}

t.test('save against a misbehaving registry', async (t) => {
  const fake = await startFakeRegistry(t);
  const ref = (repoAndTag: string) => `${fake.host}/${repoAndTag}`;

  /** A core per case: a core that dies in one case must not take the others with it. */
  const coreFor = async (t: T) => {
    const core = await startCore(t);
    const healthy = async (t: T, what: string) => {
      const status = await core.client.health().then(
        (h) => h.status,
        (err: unknown) => `no answer (${String(err)})`,
      );
      // A dead core explains itself: its exit code and the end of its log.
      const diagnostics = status === 'ok' ? {} : { exitCode: core.process.exitCode, signal: core.process.signalCode, log: core.output().slice(-3000) };
      t.equal(status, 'ok', `${what}: the core still answers /health`, diagnostics);
    };
    // If the core died, say how: its exit code and the end of its log.
    t.teardown(() => {
      if (core.process.exitCode !== null || core.process.signalCode !== null) {
        console.error(`core exited (${core.process.exitCode ?? core.process.signalCode}) during "${t.name}":\n${core.output().slice(-3000)}`);
      }
    });
    return { client: core.client, output: core.output, healthy };
  };

  /** Each case its own layers: sizes the core learns in one case must not help another. */
  const imageWith = (seed: string, layers: LayerSpec[]) =>
    buildImage({ mediaTypes: 'oci', layers: [...layers, { compression: 'none', files: { '/after.txt': `after ${seed}\n` } }] });

  await t.test('(a) a layer truncated mid-body: the read rejects, short of Content-Length', async (t) => {
    for (const format of ['docker', 'oci'] as const) {
      for (const ahead of [false, true]) {
        const what = `${format}, ${ahead ? 'a layer opened ahead while an earlier one streams' : 'the layer being streamed'}`;
        const seed = `truncate-${format}-${ahead ? 'ahead' : 'first'}`;
        const core = await coreFor(t);
        const truncated: LayerSpec = { compression: 'gzip', files: { '/noise.bin': noise(256 * 1024, seed) } };
        // Ahead: a first layer of some MB keeps the writer busy while the broken one downloads.
        const layers = ahead ? [{ compression: 'gzip', files: { '/big.bin': noise(4 << 20, `${seed}-big`) } } satisfies LayerSpec, truncated] : [truncated];
        const image = await imageWith(seed, layers);
        const layer = image.layers[layers.length - 1]!;
        fake.serveImage(`faults/${seed}`, 'v1', image);
        const fault = fake.fault(wholeBlob(layer.digest), { truncateAfter: Math.floor(layer.size / 2) });
        await expectBrokenStream(t, core, ref(`faults/${seed}:v1`), format, what);
        t.ok(fault.hits > 0, `${what}: the truncated blob was requested`);
        fault.remove();
        await core.healthy(t, what);
      }
    }
  });

  await t.test('(b) a layer with wrong bytes of the right length: the read rejects, short of Content-Length', async (t) => {
    const cases = [
      { format: 'oci', compression: 'gzip' },
      { format: 'docker', compression: 'gzip' },
      { format: 'docker', compression: 'none' },
    ] as const;
    for (const { format, compression } of cases) {
      const what = `${format}, ${compression} layer`;
      const seed = `wrong-${format}-${compression}`;
      const core = await coreFor(t);
      const image = await imageWith(seed, [{ compression, files: { '/noise.bin': noise(256 * 1024, seed) } }]);
      const layer = image.layers[0]!;
      fake.serveImage(`faults/${seed}`, 'v1', image);
      // One byte changed in the middle: same length, so only the digest can tell.
      const wrong = Buffer.from(layer.blob);
      const at = compression === 'none' ? 512 + 1000 : Math.floor(wrong.length / 2);
      wrong[at] = wrong[at]! ^ 0xff;
      const fault = fake.fault(wholeBlob(layer.digest), { wrongBody: wrong });
      await expectBrokenStream(t, core, ref(`faults/${seed}:v1`), format, what);
      t.ok(fault.hits > 0, `${what}: the wrong bytes were served`);
      fault.remove();
      await core.healthy(t, what);
    }
  });

  await t.test('(c) a registry that ignores Range: the layer is counted, the archive is right', async (t) => {
    const core = await coreFor(t);
    const image = await imageWith('ignore-range', [
      { compression: 'gzip', files: { '/seed.txt': 'ignore-range\n' } },
      { compression: 'gzip', files: { '/noise.bin': noise(64 * 1024, 'ignore-range'), '/etc/x': 'x\n' } },
    ]);
    const layer = image.layers[1]!;
    fake.serveImage('faults/ignore-range', 'v1', image);
    const fault = fake.fault((r) => r.path.endsWith(`/blobs/${layer.digest}`), { ignoreRange: true });
    await expectGoodDockerArchive(t, core, ref('faults/ignore-range:v1'), image, 'ignored Range');
    const ranged = fake.requestsTo((r) => r.path.endsWith(`/blobs/${layer.digest}`) && r.headers.range !== undefined);
    t.ok(ranged.length > 0, 'the core asked for the gzip trailer with a Range (and got the whole blob)');
    t.ok(fault.hits > 0, 'the fault was hit');
    fault.remove();
    await core.healthy(t, 'ignored Range');
  });

  await t.test('(d) a gzip trailer whose ISIZE is only the last member: first save fails mid-stream, the second is right', async (t) => {
    const core = await coreFor(t);
    const tar = await buildTar({ '/big.txt': 'a'.repeat(20_000), '/small.txt': 'the last member\n' });
    const split = tar.length - 2048;
    t.equal(split % 512, 0, 'the split is on a block boundary');
    const blob = Buffer.concat([gzipSync(tar.subarray(0, split)), gzipSync(tar.subarray(split))]);
    t.equal(blob.readUInt32LE(blob.length - 4), 2048, 'ISIZE says 2048: plausible (a multiple of 512, at least 1024)');
    t.ok(blob.length < 2048, 'and larger than the blob itself, so nothing hints it is wrong');
    t.ok(tar.length > 2048, 'while the real tar is larger');
    const image = handMadeImage([{ blob, tar, mediaType: MediaTypes.ociLayerGzip }]);
    fake.serveImage('faults/two-members', 'v1', image);
    const name = ref('faults/two-members:v1');

    const firstLength = await expectBrokenStream(t, core, name, 'docker', 'first save');
    const data = await expectGoodDockerArchive(t, core, name, image, 'second save');
    t.ok(data.length > firstLength, 'the second archive is longer: the core learned the true size');
    await core.healthy(t, 'two gzip members');
  });

  await t.test('(e) an eStargz-style layer (empty closing gzip member, ISIZE 0)', async (t) => {
    const core = await coreFor(t);
    const plainTar = await buildTar({ '/estargz.txt': 'b'.repeat(5000) });
    const annotatedTar = await buildTar({ '/annotated.txt': 'c'.repeat(7000) });
    const stargz = (tar: Buffer) => Buffer.concat([gzipSync(tar), gzipSync(Buffer.alloc(0))]);
    const plain = stargz(plainTar);
    t.equal(plain.readUInt32LE(plain.length - 4), 0, 'the trailer says 0');
    const image = handMadeImage([
      { blob: plain, tar: plainTar, mediaType: MediaTypes.ociLayerGzip },
      {
        blob: stargz(annotatedTar),
        tar: annotatedTar,
        mediaType: MediaTypes.ociLayerGzip,
        annotations: { 'containerd.io/snapshot/stargz/toc.digest': sha256('toc'), 'io.containers.estargz.uncompressed-size': '1' },
      },
    ]);
    fake.serveImage('faults/estargz', 'v1', image);
    await expectGoodDockerArchive(t, core, ref('faults/estargz:v1'), image, 'eStargz');
    await core.healthy(t, 'eStargz');
  });

  await t.test('(f) a zstd layer without a frame content size', async (t) => {
    const core = await coreFor(t);
    const tar = await buildTar({ '/zstd.txt': 'd'.repeat(30_000) });
    const blob = await zstdStreaming(tar);
    t.equal(zstdContentSize(blob.subarray(0, 18)), undefined, 'the frame header has no content size');
    const image = handMadeImage([{ blob, tar, mediaType: MediaTypes.ociLayerZstd }]);
    fake.serveImage('faults/zstd-no-size', 'v1', image);
    await expectGoodDockerArchive(t, core, ref('faults/zstd-no-size:v1'), image, 'no content size');
    await core.healthy(t, 'zstd without content size');
  });

  await t.test('(f2) a zstd layer of two frames, the first declaring only its own size', async (t) => {
    const core = await coreFor(t);
    // Concatenated frames are one valid zstd stream (RFC 8878 §3.1; zstd:chunked layers are many frames).
    const tar2 = await buildTar({ '/zstd2.txt': 'e'.repeat(30_000) });
    const split = 4096;
    const twoFrames = Buffer.concat([zstdCompressSync(tar2.subarray(0, split)), zstdCompressSync(tar2.subarray(split))]);
    t.equal(zstdContentSize(twoFrames.subarray(0, 18)), split, 'the first frame says 4096');
    const image2 = handMadeImage([{ blob: twoFrames, tar: tar2, mediaType: MediaTypes.ociLayerZstd }]);
    fake.serveImage('faults/zstd-two-frames', 'v1', image2);
    const name = ref('faults/zstd-two-frames:v1');
    await expectBrokenStream(t, core, name, 'docker', 'two frames, first save');
    await expectGoodDockerArchive(t, core, name, image2, 'two frames, second save');
    await core.healthy(t, 'zstd with two frames');
  });

  await t.test('(g) errors before the status line', async (t) => {
    const core = await coreFor(t);
    const refuse = async (name: string, options: { platform?: string; format?: ArchiveFormat }, status: number, code: string | undefined, what: string) => {
      const err = await core.client.save(name, options).then(
        async (res) => {
          await res.body.resume();
          return undefined;
        },
        (e: unknown) => e,
      );
      t.type(err, CoreError, `${what}: an error answer, not an archive`);
      if (err instanceof CoreError) {
        t.equal(err.status, status, `${what}: ${status}`);
        if (code !== undefined) t.equal(err.code, code, `${what}: ${code}`);
      }
      await core.healthy(t, what);
    };

    const image = await imageWith('errors', [{ compression: 'gzip', files: { '/e.txt': 'e\n' } }]);
    fake.serveImage('faults/errors', 'v1', image);
    await refuse(ref('faults/errors:no-such-tag'), {}, 404, 'MANIFEST_UNKNOWN', 'unknown tag');
    await refuse(ref('faults/no-such-repo:v1'), {}, 404, undefined, 'unknown repository');
    await refuse(ref('faults/errors:v1'), { platform: 'linux/s390x' }, 404, 'PLATFORM_UNKNOWN', 'single-platform image, other platform');

    const arm = await buildImage({ layers: [{ files: { '/arm': 'arm\n' } }], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    fake.serveImage('faults/multi', 'v1', buildIndex([image, arm]));
    await refuse(ref('faults/multi:v1'), { platform: 'linux/riscv64' }, 404, 'PLATFORM_UNKNOWN', 'index without the platform');

    const layerTar = await buildTar({ '/foo': 'foo\n' });
    const odd = handMadeImage([{ blob: gzipSync(layerTar), tar: layerTar, mediaType: 'application/vnd.example.foo' }]);
    fake.serveImage('faults/odd-type', 'v1', odd);
    for (const format of ['docker', 'oci'] as const) {
      await refuse(ref('faults/odd-type:v1'), { format }, 415, 'UNSUPPORTED', `unknown layer media type, ${format}`);
    }
    t.equal(fake.requestsTo(`/blobs/${odd.layers[0]!.digest}`).length, 0, 'the odd layer was never downloaded');

    // A layer the registry does not have: format docker finds out while sizing, before the status line.
    const missingTar = await buildTar({ '/missing': 'missing\n' });
    const missingBlob = gzipSync(missingTar);
    const missing = handMadeImage([{ blob: missingBlob, tar: missingTar, mediaType: MediaTypes.ociLayerGzip }]);
    fake.serveBlob('faults/missing-blob', missing.config, missing.configDigest);
    fake.serveManifest('faults/missing-blob', 'v1', missing.manifest, missing.manifestMediaType);
    await refuse(ref('faults/missing-blob:v1'), {}, 404, undefined, 'missing layer blob');
  });
});
