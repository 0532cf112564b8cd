// Archives from GET /save loaded by the real consumers: `docker load` + `docker run` against a
// private dockerd, `skopeo copy`, `podman load`. Also what makes an archive resumable: byte
// determinism, ETag, Content-Length, HEAD and Range.
// One registry, one core and one dockerd serve every case: a vfs dockerd is slow to fill.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import t from 'tap';
import type { CoreClient, StreamResponse } from '../protocol/client.ts';
import { CoreError } from '../protocol/errors.ts';
import type { ArchiveFormat } from '../protocol/routes.ts';
import { startCore } from './support/core.ts';
import { startDockerd, type Dockerd } from './support/dockerd.ts';
import { buildImage, buildIndex, busyboxLayer, pushImage, pushIndex, type BuiltImage, type LayerSpec } from './support/images.ts';
import { startRegistry, type RegistryInstance } from './support/registry.ts';
import { haveTool, requireTool, runCommand, tempDir, type T } from './support/tools.ts';

const HELLO = 'hello from layer 2';
const ZSTD_TEXT = 'from the zstd layer\n';
const PLAIN_TEXT = 'from the uncompressed layer\n';

/** busybox (gzip), the hello file (gzip), a zstd layer and an uncompressed one. */
const helloLayers = (): LayerSpec[] => [
  busyboxLayer('gzip'),
  { compression: 'gzip', files: { '/hello.txt': HELLO } },
  { compression: 'zstd', files: { '/etc/zstd.txt': ZSTD_TEXT } },
  { compression: 'none', files: { '/etc/plain.txt': PLAIN_TEXT } },
];

/** The same without the zstd layer, for Docker 20.10 loading OCI archives. */
const gzipLayers = (): LayerSpec[] => helloLayers().filter((l) => l.compression !== 'zstd');

const hex = (digest: string) => digest.slice(digest.indexOf(':') + 1);
const sha256hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function header(res: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

interface Saved {
  file: string;
  statusCode: number;
  headers: StreamResponse['headers'];
  contentLength: number | undefined;
  size: number;
  sha256: string;
}

type SaveOptions = { format?: ArchiveFormat; platform?: string; tag?: string; headers?: Record<string, string> };

/** One GET /save streamed to a file. */
async function saveTo(client: CoreClient, ref: string, file: string, options: SaveOptions = {}): Promise<Saved> {
  const res = await client.save(ref, options);
  await pipeline(res.body, createWriteStream(file));
  const data = readFileSync(file);
  const length = header(res, 'content-length');
  return {
    file,
    statusCode: res.statusCode,
    headers: res.headers,
    contentLength: length === undefined ? undefined : Number(length),
    size: data.length,
    sha256: sha256hex(data),
  };
}

interface TarEntry {
  name: string;
  size: number;
  header: number;
  body: number;
}

/** The entries of a plain ustar archive, with the offsets of their headers and bodies. */
function tarEntries(data: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  while (offset + 512 <= data.length) {
    const block = data.subarray(offset, offset + 512);
    if (block.every((b) => b === 0)) break;
    const cstring = (from: number, to: number) => {
      const s = block.subarray(from, to);
      const nul = s.indexOf(0);
      return s.subarray(0, nul === -1 ? s.length : nul).toString('utf8');
    };
    const prefix = cstring(345, 500);
    const name = prefix ? `${prefix}/${cstring(0, 100)}` : cstring(0, 100);
    const size = parseInt(cstring(124, 136).trim() || '0', 8);
    entries.push({ name, size, header: offset, body: offset + 512 });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

function entry(data: Buffer, name: string): Buffer {
  const e = tarEntries(data).find((x) => x.name === name);
  if (!e) throw new Error(`archive has no ${name}`);
  return data.subarray(e.body, e.body + e.size);
}

async function readAll(res: StreamResponse): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res.body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Size, length header and status every full save must have. */
function checkWhole(t: T, saved: Saved, what: string): void {
  t.equal(saved.statusCode, 200, `${what}: 200`);
  t.equal(saved.contentLength, saved.size, `${what}: Content-Length is the file size`);
  t.equal(header(saved, 'content-type'), 'application/x-tar', `${what}: content type`);
}

t.test('archives from /save load in real consumers', async (t) => {
  if (!requireTool(t, 'docker-registry')) return;
  const registry: RegistryInstance = await startRegistry(t);
  const core = await startCore(t);
  const client = core.client;
  const dir = tempDir(t, 'archives-');
  const file = (name: string) => join(dir, name);
  const ref = (repoAndTag: string) => `${registry.host}/${repoAndTag}`;

  const dockerTypes = await buildImage({ layers: helloLayers(), mediaTypes: 'docker', cmd: ['/bin/cat', '/hello.txt'] });
  // A label keeps the configs (image IDs) of the two variants apart.
  const ociTypes = await buildImage({ layers: helloLayers(), mediaTypes: 'oci', cmd: ['/bin/cat', '/hello.txt'], labels: { variant: 'oci' } });
  await pushImage(registry, 'consumers/docker-types', 'v1', dockerTypes);
  await pushImage(registry, 'consumers/oci-types', 'v1', ociTypes);

  /** A dockerd shared by the docker cases, started on first use (and only if installed). */
  let dockerd: Promise<Dockerd | undefined> | undefined;
  const getDockerd = (st: T): Promise<Dockerd | undefined> => {
    if (!requireTool(st, 'dockerd') || !requireTool(st, 'docker')) return Promise.resolve(undefined);
    dockerd ??= startDockerd(t);
    return dockerd;
  };

  /**
   * `docker load` into an empty daemon: every earlier image is removed first, so no layer of the
   * archive can be skipped as already present and each load really applies every layer.
   */
  const dockerLoad = async (t: T, d: Dockerd, archive: string, image: BuiltImage, what: string): Promise<string> => {
    const ids = (await d.docker(['images', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await d.docker(['rmi', '-f', ...new Set(ids)]);
    t.equal((await d.docker(['images', '-aq'])).stdout.trim(), '', `${what}: the daemon holds no image before the load`);
    const load = await d.docker(['load', '-i', archive]);
    t.equal(load.code, 0, `${what}: docker load succeeds`, { stderr: load.stderr, stdout: load.stdout });
    const id = await d.docker(['image', 'inspect', '--format', '{{.Id}}', image.configDigest]);
    t.equal(id.stdout.trim(), image.configDigest, `${what}: the loaded image has the config's ID`, { stderr: id.stderr });
    return load.stdout;
  };

  const dockerRun = async (t: T, d: Dockerd, image: string, args: string[] = []) => {
    const run = await d.docker(['run', '--rm', '--network', 'none', image, ...args]);
    t.equal(run.code, 0, `docker run ${image} exits 0`, { stderr: run.stderr });
    return run.stdout;
  };

  const repoTagsOf = async (d: Dockerd, image: BuiltImage): Promise<unknown> =>
    JSON.parse((await d.docker(['image', 'inspect', '--format', '{{json .RepoTags}}', image.configDigest])).stdout || 'null');

  await t.test('(a) docker media types, format docker: docker load and run', async (t) => {
    const d = await getDockerd(t);
    if (!d) return;
    const name = ref('consumers/docker-types:v1');
    const saved = await saveTo(client, name, file('a.tar'));
    checkWhole(t, saved, 'save');
    const manifest = JSON.parse(entry(readFileSync(saved.file), 'manifest.json').toString('utf8')) as Array<{ RepoTags: string[]; Layers: string[] }>;
    t.same(manifest[0]?.RepoTags, [name], 'manifest.json names the registry reference');
    t.equal(manifest[0]?.Layers.length, 4, 'four layers');

    const out = await dockerLoad(t, d, saved.file, dockerTypes, 'docker types');
    t.match(out, `Loaded image: ${name}`, 'docker load names the image');
    t.same(await repoTagsOf(d, dockerTypes), [name], 'the loaded repo tag is 127.0.0.1:PORT/repo:tag');
    t.equal(await dockerRun(t, d, name), HELLO, 'the command prints the file of layer 2');
    t.equal(await dockerRun(t, d, name, ['/bin/cat', '/etc/zstd.txt', '/etc/plain.txt']), ZSTD_TEXT + PLAIN_TEXT, 'the zstd and uncompressed layers are there too');

    const renamed = 'passthrough/renamed:v9';
    const tagged = await saveTo(client, name, file('a-tagged.tar'), { tag: renamed });
    checkWhole(t, tagged, 'save with tag=');
    const outTagged = await dockerLoad(t, d, tagged.file, dockerTypes, 'tag=');
    t.match(outTagged, `Loaded image: ${renamed}`, 'docker load uses the tag= name');
    t.same(await repoTagsOf(d, dockerTypes), [renamed], 'only the tag= name is recorded');
    t.equal(await dockerRun(t, d, renamed), HELLO, 'runs under the given name');
  });

  await t.test('(b) OCI media types, format docker: docker load and run', async (t) => {
    const d = await getDockerd(t);
    if (!d) return;
    const name = ref('consumers/oci-types:v1');
    const saved = await saveTo(client, name, file('b.tar'));
    checkWhole(t, saved, 'save');
    const out = await dockerLoad(t, d, saved.file, ociTypes, 'oci types');
    t.match(out, `Loaded image: ${name}`);
    t.same(await repoTagsOf(d, ociTypes), [name]);
    t.equal(await dockerRun(t, d, name), HELLO);
  });

  // Docker 20.10 cannot decompress zstd layers at all (`docker import` of a zstd tarball fails
  // with "ApplyLayer ... unexpected EOF" too), so it loads OCI archives of gzip and plain
  // layers only; skopeo takes the zstd ones.
  const dockerTypesGz = await buildImage({ layers: gzipLayers(), mediaTypes: 'docker', cmd: ['/bin/cat', '/hello.txt'], labels: { variant: 'docker-gz' } });
  const ociTypesGz = await buildImage({ layers: gzipLayers(), mediaTypes: 'oci', cmd: ['/bin/cat', '/hello.txt'], labels: { variant: 'oci-gz' } });
  await pushImage(registry, 'consumers/docker-types-gz', 'v1', dockerTypesGz);
  await pushImage(registry, 'consumers/oci-types-gz', 'v1', ociTypesGz);

  await t.test('(c) format oci: skopeo copies the layout and docker 20.10 loads it', async (t) => {
    for (const [what, image, repo, dockerLoads] of [
      ['docker types', dockerTypes, 'consumers/docker-types:v1', false],
      ['oci types', ociTypes, 'consumers/oci-types:v1', false],
      ['docker types, no zstd', dockerTypesGz, 'consumers/docker-types-gz:v1', true],
      ['oci types, no zstd', ociTypesGz, 'consumers/oci-types-gz:v1', true],
    ] as const) {
      const name = ref(repo);
      const saved = await saveTo(client, name, file(`c-${image.configDigest.slice(7, 19)}.tar`), { format: 'oci' });
      checkWhole(t, saved, `${what}: save`);
      const data = readFileSync(saved.file);
      const names = tarEntries(data).map((e) => e.name);
      for (const n of ['oci-layout', 'index.json', 'manifest.json']) t.ok(names.includes(n), `${what}: ${n} present`);
      for (const layer of image.layers) {
        t.equal(sha256hex(entry(data, `blobs/sha256/${hex(layer.digest)}`)), hex(layer.digest), `${what}: ${layer.compression} blob stored as the registry has it`);
      }

      await t.test(`${what}: skopeo copy oci-archive: → oci:`, async (t) => {
        if (!requireTool(t, 'skopeo')) return;
        const out = join(dir, `c-oci-${image.configDigest.slice(7, 19)}`);
        const copy = await runCommand('skopeo', ['--insecure-policy', 'copy', `oci-archive:${saved.file}`, `oci:${out}`], { ...process.env, TMPDIR: dir });
        t.equal(copy.code, 0, 'skopeo copy succeeds', { stderr: copy.stderr });
        if (copy.code === 0) checkOciLayout(t, out, image, what, { sameConfig: true });
      });

      if (!dockerLoads) continue;
      await t.test(`${what}: docker load and run`, async (t) => {
        const d = await getDockerd(t);
        if (!d) return;
        const loaded = await dockerLoad(t, d, saved.file, image, `${what}: oci archive`);
        t.match(loaded, `Loaded image: ${name}`, 'docker load reads manifest.json');
        t.equal(await dockerRun(t, d, name), HELLO, 'runs');
      });
    }
  });

  await t.test('(d) format docker: skopeo copy docker-archive: → oci: verifies every layer', async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    for (const [what, image, repo] of [
      ['docker types', dockerTypes, 'consumers/docker-types:v1'],
      ['oci types', ociTypes, 'consumers/oci-types:v1'],
    ] as const) {
      const saved = await saveTo(client, ref(repo), file(`d-${image.configDigest.slice(7, 19)}.tar`));
      checkWhole(t, saved, `${what}: save`);
      const out = join(dir, `d-oci-${image.configDigest.slice(7, 19)}`);
      const copy = await runCommand('skopeo', ['--insecure-policy', 'copy', `docker-archive:${saved.file}`, `oci:${out}`], { ...process.env, TMPDIR: dir });
      t.equal(copy.code, 0, `${what}: skopeo copy succeeds`, { stderr: copy.stderr });
      if (copy.code === 0) checkOciLayout(t, out, image, what, { sameConfig: false });
    }
  });

  await t.test('(e) podman load takes both formats', async (t) => {
    if (!requireTool(t, 'podman')) return;
    const name = ref('consumers/docker-types:v1');
    for (const format of ['docker', 'oci'] as const) {
      // A private, empty store per format: nothing of one load can help the other.
      const root = tempDir(t, `podman-${format}-`);
      const podman = (args: string[]) =>
        runCommand('podman', [
          '--root', join(root, 'root'),
          '--runroot', join(root, 'run'),
          '--tmpdir', join(root, 'tmp'),
          '--storage-driver', 'vfs',
          '--events-backend', 'file',
          ...args,
        ], { ...process.env, TMPDIR: root });
      const saved = await saveTo(client, name, file(`e-${format}.tar`), { format });
      checkWhole(t, saved, `${format}: save`);
      const load = await podman(['load', '-i', saved.file]);
      t.equal(load.code, 0, `${format}: podman load succeeds`, { stderr: load.stderr, stdout: load.stdout });
      const id = await podman(['image', 'inspect', '--format', '{{.Id}}', hex(dockerTypes.configDigest)]);
      t.equal(id.stdout.trim(), hex(dockerTypes.configDigest), `${format}: podman has the image under its config ID`, { stderr: id.stderr });
      const layers = await podman(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', hex(dockerTypes.configDigest)]);
      t.same(JSON.parse(layers.stdout || 'null'), dockerTypes.layers.map((l) => l.diffId), `${format}: with every layer`, { stderr: layers.stderr });
      if (format === 'docker') t.match(load.stdout, `Loaded image: ${name}`, 'podman names it as the archive says');
    }
  });

  await t.test('(f) multi-platform index, platform=linux/arm64: the arm64 child is saved', async (t) => {
    const d = await getDockerd(t);
    if (!d) return;
    const amd64 = await buildImage({ layers: [{ files: { '/arch.txt': 'amd64\n' } }], cmd: ['/bin/cat', '/arch.txt'] });
    const arm64 = await buildImage({
      layers: [{ compression: 'zstd', files: { '/arch.txt': 'arm64\n', '/only-on-arm.txt': 'yes\n' } }],
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      cmd: ['/bin/cat', '/arch.txt'],
    });
    await pushIndex(registry, 'consumers/multi', 'v1', buildIndex([amd64, arm64]));
    const name = ref('consumers/multi:v1');
    const saved = await saveTo(client, name, file('f.tar'), { platform: 'linux/arm64' });
    checkWhole(t, saved, 'save');
    t.equal(header(saved, 'image-platform'), 'linux/arm64/v8', 'the core says which platform it chose');
    t.equal(header(saved, 'manifest-digest'), arm64.manifestDigest, 'the arm64 child manifest');
    const out = await dockerLoad(t, d, saved.file, arm64, 'arm64 child');
    t.match(out, `Loaded image: ${name}`);
    const arch = await d.docker(['image', 'inspect', '--format', '{{.Architecture}}', name]);
    t.equal(arch.stdout.trim(), 'arm64', 'docker sees an arm64 image', { stderr: arch.stderr });
    const amdThere = await d.docker(['image', 'inspect', amd64.configDigest]);
    t.not(amdThere.code, 0, 'the amd64 child was not loaded');
  });

  // gzip and plain layers only, so Docker 20.10 can load the OCI archive too.
  await t.test('(g) 12 layers with an empty one and one repeated', async (t) => {
    const d = await getDockerd(t);
    if (!d) return;
    const repeated: LayerSpec = { compression: 'gzip', files: { '/repeated.txt': 'twice\n' } };
    const layers: LayerSpec[] = [
      busyboxLayer('gzip'),
      { compression: 'gzip', files: { '/l1.txt': 'one\n' } },
      { compression: 'gzip', files: {} },
      repeated,
      { compression: 'gzip', files: { '/l4.txt': 'four\n' } },
      { compression: 'none', files: { '/l5.txt': 'five\n' } },
      { compression: 'gzip', files: { '/l1.txt': 'one, overwritten\n' } },
      repeated,
      { compression: 'none', files: { '/dir/l8.txt': 'eight\n' } },
      { compression: 'none', files: { '/l9.txt': 'nine\n' } },
      { compression: 'gzip', files: { '/.wh.l5.txt': '' } },
      { compression: 'gzip', files: { '/l11.txt': 'eleven\n' } },
    ];
    const image = await buildImage({ layers, cmd: ['/bin/sh', '-c', 'cat /l1.txt /repeated.txt /dir/l8.txt /l11.txt; ls /l5.txt 2>/dev/null || echo no-l5'] });
    t.equal(image.layers.length, 12);
    t.equal(image.layers[3]?.digest, image.layers[7]?.digest, 'the repeated layer is the same blob');
    await pushImage(registry, 'consumers/many', 'v1', image);
    const name = ref('consumers/many:v1');
    const expected = 'one, overwritten\ntwice\neight\neleven\nno-l5\n';
    for (const format of ['docker', 'oci'] as const) {
      const saved = await saveTo(client, name, file(`g-${format}.tar`), { format });
      checkWhole(t, saved, `${format}: save`);
      const manifest = JSON.parse(entry(readFileSync(saved.file), 'manifest.json').toString('utf8')) as Array<{ Layers: string[] }>;
      t.equal(manifest[0]?.Layers.length, 12, `${format}: manifest.json lists 12 layers`);
      const out = await dockerLoad(t, d, saved.file, image, format);
      t.match(out, `Loaded image: ${name}`);
      t.equal(await dockerRun(t, d, name), expected, `${format}: the layers stack in order (overwrite, whiteout)`);
    }
  });

  await t.test('(h) digest-pinned references', async (t) => {
    const d = await getDockerd(t);
    if (!d) return;
    const image = await buildImage({ layers: helloLayers(), cmd: ['/bin/cat', '/hello.txt'], labels: { variant: 'pinned' } });
    await pushImage(registry, 'consumers/pinned', 'v1', image);

    const byDigest = ref(`consumers/pinned@${image.manifestDigest}`);
    const saved = await saveTo(client, byDigest, file('h-digest.tar'));
    checkWhole(t, saved, 'repo@digest: save');
    const manifest = JSON.parse(entry(readFileSync(saved.file), 'manifest.json').toString('utf8')) as Array<{ RepoTags: string[] }>;
    t.same(manifest[0]?.RepoTags, [], 'no tag: RepoTags is empty');
    const out = await dockerLoad(t, d, saved.file, image, 'repo@digest');
    t.match(out, `Loaded image ID: ${image.configDigest}`, 'docker load reports the image ID');
    t.same(await repoTagsOf(d, image), [], 'the image has no tag');
    t.equal(await dockerRun(t, d, image.configDigest), HELLO, 'runs by ID');

    const tagAndDigest = ref(`consumers/pinned:v1@${image.manifestDigest}`);
    const saved2 = await saveTo(client, tagAndDigest, file('h-both.tar'));
    checkWhole(t, saved2, 'repo:tag@digest: save');
    t.equal(header(saved2, 'manifest-digest'), image.manifestDigest);
    const out2 = await dockerLoad(t, d, saved2.file, image, 'repo:tag@digest');
    t.match(out2, `Loaded image: ${ref('consumers/pinned:v1')}`, 'the tag is recorded');
    t.equal(await dockerRun(t, d, ref('consumers/pinned:v1')), HELLO);
  });

  await t.test('(i) byte determinism and ETag', async (t) => {
    const name = ref('consumers/docker-types:v1');
    const shas: Record<string, string> = {};
    const etags: Record<string, string | undefined> = {};
    for (const format of ['docker', 'oci'] as const) {
      const first = await saveTo(client, name, file(`i-${format}-1.tar`), { format });
      const second = await saveTo(client, name, file(`i-${format}-2.tar`), { format });
      checkWhole(t, first, `${format} first`);
      checkWhole(t, second, `${format} second`);
      t.equal(second.sha256, first.sha256, `${format}: two saves are byte-identical`);
      const etag = header(first, 'etag');
      t.ok(etag, `${format}: has an ETag`);
      t.equal(header(second, 'etag'), etag, `${format}: same ETag`);
      shas[format] = first.sha256;
      etags[format] = etag;
    }
    t.not(etags.docker, etags.oci, 'the two formats have different ETags');

    // A fresh core has learned nothing: sizes come from the registry again, the bytes must not change.
    const fresh = await startCore(t);
    for (const format of ['docker', 'oci'] as const) {
      const again = await saveTo(fresh.client, name, file(`i-${format}-fresh.tar`), { format });
      t.equal(again.sha256, shas[format], `${format}: a fresh core gives the same bytes`);
      t.equal(header(again, 'etag'), etags[format], `${format}: and the same ETag`);
    }
    await fresh.stop();
  });

  await t.test('(j) Content-Length and HEAD', async (t) => {
    const name = ref('consumers/oci-types:v1');
    for (const format of ['docker', 'oci'] as const) {
      const saved = await saveTo(client, name, file(`j-${format}.tar`), { format });
      checkWhole(t, saved, format);
      t.equal(statSync(saved.file).size, saved.contentLength, `${format}: the file on disk is Content-Length bytes`);
      const head = await client.save(name, { format, method: 'HEAD' });
      t.equal(head.statusCode, 200, `${format}: HEAD 200`);
      t.equal(header(head, 'content-length'), String(saved.size), `${format}: HEAD gives the same Content-Length`);
      t.equal(header(head, 'etag'), header(saved, 'etag'), `${format}: HEAD gives the same ETag`);
      t.equal((await readAll(head)).length, 0, `${format}: HEAD has no body`);
    }
    // /inspect predicts the archive sizes from the same plan: what a page or device is told
    // before the download must be what the download is.
    const info = await client.inspect(name);
    const docker = await saveTo(client, name, file('j-inspect-docker.tar'), { format: 'docker' });
    const oci = await saveTo(client, name, file('j-inspect-oci.tar'), { format: 'oci' });
    t.equal(info.archiveSize, docker.size, '/inspect archiveSize is the docker archive\'s Content-Length');
    t.equal(info.ociArchiveSize, oci.size, '/inspect ociArchiveSize is the OCI archive\'s Content-Length');
  });

  await t.test('(k) Range, If-Range and 416', async (t) => {
    const name = ref('consumers/docker-types:v1');
    for (const format of ['docker', 'oci'] as const) {
      const whole = await saveTo(client, name, file(`k-${format}.tar`), { format });
      checkWhole(t, whole, `${format}: whole`);
      const data = readFileSync(whole.file);
      const etag = header(whole, 'etag') ?? '';
      const entries = tarEntries(data);
      // The biggest layer body (busybox): start in its middle.
      const layerName = format === 'docker' ? /\/layer\.tar$/ : new RegExp(`^blobs/sha256/${hex(dockerTypes.layers[0]!.digest)}$`);
      const biggest = entries.filter((e) => layerName.test(e.name)).sort((a, b) => b.size - a.size)[0];
      t.ok(biggest && biggest.size > 100_000, `${format}: found the busybox layer entry`);
      if (!biggest) continue;
      const manifestEntry = entries.find((e) => e.name === 'manifest.json');
      if (!manifestEntry) throw new Error('no manifest.json');
      const starts: Array<[string, number]> = [
        ['inside a layer body', biggest.body + Math.floor(biggest.size / 2) + 7],
        ['inside the metadata', manifestEntry.body + 3],
        ['inside a tar header', 100],
      ];
      for (const [where, n] of starts) {
        const res = await client.save(name, { format, headers: { range: `bytes=${n}-` } });
        t.equal(res.statusCode, 206, `${format}, ${where}: 206`);
        t.equal(header(res, 'content-range'), `bytes ${n}-${data.length - 1}/${data.length}`, `${format}, ${where}: Content-Range`);
        t.equal(header(res, 'content-length'), String(data.length - n), `${format}, ${where}: Content-Length of the part`);
        const part = await readAll(res);
        t.equal(part.length, data.length - n, `${format}, ${where}: length of the tail`);
        t.ok(part.equals(data.subarray(n)), `${format}, ${where}: bytes equal the tail of the archive`);
      }

      // A bounded range in the middle of the layer, and If-Range with the right ETag.
      const from = biggest.body + 1000;
      const to = biggest.body + 70_000;
      const mid = await client.save(name, { format, headers: { range: `bytes=${from}-${to}`, 'if-range': etag } });
      t.equal(mid.statusCode, 206, `${format}: If-Range with the right ETag honours the range`);
      t.ok((await readAll(mid)).equals(data.subarray(from, to + 1)), `${format}: bounded range bytes`);

      const stale = await client.save(name, { format, headers: { range: `bytes=${from}-`, 'if-range': '"not-the-etag"' } });
      t.equal(stale.statusCode, 200, `${format}: If-Range with a wrong ETag answers 200`);
      t.equal(header(stale, 'content-length'), String(data.length), `${format}: with the whole length`);
      t.equal(sha256hex(await readAll(stale)), whole.sha256, `${format}: and the whole archive`);

      const past = await client.save(name, { format, headers: { range: `bytes=${data.length}-` } }).then(
        () => undefined,
        (err: unknown) => err,
      );
      t.type(past, CoreError, `${format}: a range past the end is refused`);
      if (past instanceof CoreError) {
        t.equal(past.status, 416, `${format}: 416`);
        t.equal(past.code, 'RANGE_INVALID', `${format}: RANGE_INVALID`);
      }
    }
    t.ok((await client.health()).status === 'ok', 'the core is fine after all the ranges');
  });
});


/** The uncompressed tar of a layout blob, by its media type. */
function uncompressed(blob: Buffer, mediaType: string): Buffer {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.gzip')) return gunzipSync(blob);
  if (mediaType.endsWith('+zstd')) return zstdDecompressSync(blob);
  return blob;
}

/**
 * An OCI layout written by skopeo holds the image: one manifest, a config with the image's
 * diff_ids, and one blob per layer that matches its digest and uncompresses to its diff_id
 * (skopeo may compress layers that were stored uncompressed).
 */
function checkOciLayout(t: T, layoutDir: string, image: BuiltImage, what: string, opts: { sameConfig: boolean }): void {
  const blob = (digest: string) => readFileSync(join(layoutDir, 'blobs', 'sha256', hex(digest)));
  const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  t.equal(index.manifests.length, 1, `${what}: one image in the layout`);
  const top = index.manifests[0];
  if (!top) return;
  const manifestBytes = blob(top.digest);
  t.equal(sha256hex(manifestBytes), hex(top.digest), `${what}: manifest blob matches its digest`);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string; mediaType: string }> };
  const config = blob(manifest.config.digest);
  t.equal(sha256hex(config), hex(manifest.config.digest), `${what}: config blob matches its digest`);
  if (opts.sameConfig) t.equal(manifest.config.digest, image.configDigest, `${what}: the config is the image's own`);
  const diffIds = (JSON.parse(config.toString('utf8')) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
  t.same(diffIds, image.layers.map((l) => l.diffId), `${what}: the config lists the image's diff_ids`);
  t.equal(manifest.layers.length, image.layers.length, `${what}: every layer copied`);
  manifest.layers.forEach((layer, i) => {
    const data = blob(layer.digest);
    t.equal(sha256hex(data), hex(layer.digest), `${what}: layer ${i + 1} matches its digest`);
    t.equal(`sha256:${sha256hex(uncompressed(data, layer.mediaType))}`, image.layers[i]?.diffId, `${what}: layer ${i + 1} uncompresses to its diff_id`);
  });
}
