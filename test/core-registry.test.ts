// The core process (the real CLI on a Unix socket) against a real distribution registry:
// manifests, platform choice, configs, inspect, blobs, errors, MessagePack, credentials, quit.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { CoreError } from '../protocol/errors.ts';
import { blobPath, imagePath, Route, type InspectResult } from '../protocol/routes.ts';
import type { StreamResponse } from '../protocol/client.ts';
import { startCore } from './support/core.ts';
import { buildImage, buildIndex, MediaTypes, pushImage, pushIndex, sha256, type BuiltImage, type Platform } from './support/images.ts';
import { startRegistry } from './support/registry.ts';
import { requireTool, type T } from './support/tools.ts';
import t from 'tap';

/** Deterministic incompressible bytes, so layers are more than one chunk on the wire. */
function noise(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let off = 0, i = 0; off < length; i++) off += createHash('sha256').update(`${seed}:${i}`).digest().copy(out, off);
  return out;
}

async function readBody(res: StreamResponse): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res.body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

/** The CoreError a call rejects with; undefined if it succeeds. Anything else is rethrown. */
async function rejection(p: Promise<unknown>): Promise<CoreError | undefined> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CoreError) return err;
    throw err;
  }
  return undefined;
}

async function expectError(t: T, p: Promise<unknown>, status: number, code: string, what: string): Promise<CoreError | undefined> {
  const err = await rejection(p);
  t.type(err, CoreError, `${what}: rejects with a CoreError`);
  t.equal(err?.status, status, `${what}: status ${status}`);
  t.equal(err?.code, code, `${what}: code ${code}`);
  return err;
}

const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
const ARM64: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };

function platformImage(platform: Platform, family: 'docker' | 'oci'): Promise<BuiltImage> {
  return buildImage({
    mediaTypes: family,
    platform,
    layers: [{ compression: 'gzip', files: { '/etc/arch': `${platform.architecture}\n`, '/data': noise(`${family}-${platform.architecture}`, 4096) } }],
  });
}

t.test('core against a real registry', async (t) => {
  if (!requireTool(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const host = registry.host;

  const dockerImage = await buildImage({
    mediaTypes: 'docker',
    layers: [
      { compression: 'gzip', files: { '/data/a.bin': noise('docker-a', 200_000) } },
      { compression: 'none', files: { '/etc/hello': 'hello\n', '/data/b.bin': noise('docker-b', 50_000) } },
      { compression: 'zstd', files: { '/data/c.bin': noise('docker-c', 100_000) } },
    ],
    cmd: ['/bin/sh'],
  });
  const ociImage = await buildImage({
    mediaTypes: 'oci',
    layers: [
      { compression: 'zstd', files: { '/data/d.bin': noise('oci-d', 150_000) } },
      { compression: 'gzip', files: { '/data/e.bin': noise('oci-e', 120_000) } },
      { compression: 'none', files: { '/data/f.bin': noise('oci-f', 30_000) } },
    ],
  });
  const ociIndex = buildIndex([await platformImage(AMD64, 'oci'), await platformImage(ARM64, 'oci')], 'oci');
  const dockerList = buildIndex([await platformImage(AMD64, 'docker'), await platformImage(ARM64, 'docker')], 'docker');
  await pushImage(registry, 'test/docker', 'v1', dockerImage);
  await pushImage(registry, 'test/oci', 'v1', ociImage);
  await pushIndex(registry, 'multi/oci', 'v1', ociIndex);
  await pushIndex(registry, 'multi/docker', 'v1', dockerList);

  const dockerRef = `${host}/test/docker:v1`;
  const ociRef = `${host}/test/oci:v1`;
  const indexes = [
    { name: 'OCI index', ref: `${host}/multi/oci:v1`, index: ociIndex },
    { name: 'Docker manifest list', ref: `${host}/multi/docker:v1`, index: dockerList },
  ];

  const core = await startCore(t);
  const { client } = core;

  await t.test('manifest of a Docker schema 2 image is converted to OCI', async (t) => {
    const res = await client.manifest(dockerRef);
    t.equal(res.digest, dockerImage.manifestDigest, 'Manifest-Digest is the digest of the manifest as pushed');
    t.equal(res.mediaType, MediaTypes.ociManifest, 'Content-Type is the OCI manifest type');
    const m = JSON.parse(res.manifest.toString('utf8')) as {
      schemaVersion: number;
      mediaType: string;
      config: { mediaType: string; digest: string; size: number };
      layers: Array<{ mediaType: string; digest: string; size: number }>;
    };
    t.equal(m.schemaVersion, 2);
    t.equal(m.mediaType, MediaTypes.ociManifest, 'the body says OCI manifest');
    t.same(m.config, { mediaType: MediaTypes.ociConfig, digest: dockerImage.configDigest, size: dockerImage.config.length }, 'config descriptor in OCI terms');
    t.same(
      m.layers,
      [
        { mediaType: MediaTypes.ociLayerGzip, digest: dockerImage.layers[0]!.digest, size: dockerImage.layers[0]!.size },
        { mediaType: MediaTypes.ociLayer, digest: dockerImage.layers[1]!.digest, size: dockerImage.layers[1]!.size },
        { mediaType: MediaTypes.ociLayerZstd, digest: dockerImage.layers[2]!.digest, size: dockerImage.layers[2]!.size },
      ],
      'layers keep digests and sizes, with OCI media types',
    );
  });

  await t.test('manifest of an OCI image is passed through byte for byte', async (t) => {
    const res = await client.manifest(ociRef);
    t.equal(res.digest, ociImage.manifestDigest, 'Manifest-Digest');
    t.equal(res.mediaType, MediaTypes.ociManifest);
    t.ok(res.manifest.equals(ociImage.manifest), 'the bytes are identical to what was pushed');
  });

  for (const { name, ref, index } of indexes) {
    await t.test(`${name}: platform choice`, async (t) => {
      const [amd64, arm64] = index.images as [BuiltImage, BuiltImage];
      const byDefault = await client.manifest(ref);
      t.equal(byDefault.digest, amd64.manifestDigest, 'the default platform is linux/amd64');
      t.equal(byDefault.mediaType, MediaTypes.ociManifest, 'the child comes back as an OCI manifest');
      t.equal(JSON.parse(byDefault.manifest.toString('utf8')).config.digest, amd64.configDigest, 'the body is the amd64 child');
      const arm = await client.manifest(ref, { platform: 'linux/arm64' });
      t.equal(arm.digest, arm64.manifestDigest, 'linux/arm64 picks the arm64/v8 child');
      const armV8 = await client.manifest(ref, { platform: 'linux/arm64/v8' });
      t.equal(armV8.digest, arm64.manifestDigest, 'linux/arm64/v8 too');
      t.equal((await client.manifest(ref, { platform: 'linux/amd64' })).digest, amd64.manifestDigest, 'explicit linux/amd64');

      const err = await expectError(t, client.manifest(ref, { platform: 'linux/s390x' }), 404, 'PLATFORM_UNKNOWN', 'linux/s390x');
      t.match(err?.message, /linux\/s390x/, 'the message names the platform asked for');
      t.match(err?.message, /linux\/amd64/, 'the message lists linux/amd64');
      t.match(err?.message, /linux\/arm64\/v8/, 'the message lists linux/arm64/v8');
      t.same(err?.detail, { wanted: 'linux/s390x', offered: ['linux/amd64', 'linux/arm64/v8'] }, 'detail lists the offered platforms');
      await expectError(t, client.manifest(ref, { platform: 'linux' }), 400, 'PLATFORM_UNKNOWN', 'a malformed platform');
    });
  }

  await t.test('--platform and PLATFORM change the default platform', async (t) => {
    const [ociAmd64, ociArm64] = ociIndex.images as [BuiltImage, BuiltImage];
    const [, dockerArm64] = dockerList.images as [BuiltImage, BuiltImage];
    const flagged = await startCore(t, { args: ['--platform', 'linux/arm64', `${host}/multi/oci:v1`] });
    t.equal((await flagged.client.manifest(`${host}/multi/oci:v1`)).digest, ociArm64.manifestDigest, '--platform linux/arm64: the arm64 child');
    t.equal((await flagged.client.manifest(`${host}/multi/docker:v1`)).digest, dockerArm64.manifestDigest, '--platform linux/arm64: Docker list too');
    t.equal(
      (await flagged.client.manifest(`${host}/multi/oci:v1`, { platform: 'linux/amd64' })).digest,
      ociAmd64.manifestDigest,
      'a request platform still wins over the flag',
    );
    t.equal((await flagged.client.manifest()).digest, ociArm64.manifestDigest, 'the positional IMAGE is the default image');
    const inspected = await flagged.client.inspect(`${host}/multi/oci:v1`);
    t.same(inspected.platform, ARM64, 'inspect reports the arm64/v8 platform');

    const fromEnv = await startCore(t, { env: { PLATFORM: 'linux/arm64' } });
    t.equal((await fromEnv.client.manifest(`${host}/multi/oci:v1`)).digest, ociArm64.manifestDigest, 'PLATFORM=linux/arm64: the arm64 child');
    t.equal((await fromEnv.client.manifest(`${host}/multi/docker:v1`)).digest, dockerArm64.manifestDigest, 'PLATFORM=linux/arm64: Docker list too');
    await expectError(t, fromEnv.client.manifest(), 400, 'NAME_INVALID', 'no reference and no default IMAGE');
  });

  await t.test('config', async (t) => {
    t.ok((await client.config(dockerRef)).equals(dockerImage.config), 'Docker image: the pushed config bytes');
    t.ok((await client.config(ociRef)).equals(ociImage.config), 'OCI image: the pushed config bytes');
    const [amd64, arm64] = ociIndex.images as [BuiltImage, BuiltImage];
    t.ok((await client.config(`${host}/multi/oci:v1`)).equals(amd64.config), 'index: the amd64 config by default');
    t.ok((await client.config(`${host}/multi/oci:v1`, { platform: 'linux/arm64' })).equals(arm64.config), 'index: the arm64 config when asked');
  });

  await t.test('inspect', async (t) => {
    const layersOf = (image: BuiltImage) => image.layers.map((l) => ({ digest: l.digest, size: l.size, diffID: l.diffId }));
    const pick = (r: InspectResult) => r.layers.map((l) => ({ digest: l.digest, size: l.size, diffID: l.diffID }));

    const d = await client.inspect(dockerRef);
    t.equal(d.digest, dockerImage.manifestDigest, 'digest');
    t.equal(d.mediaType, MediaTypes.dockerManifest, 'media type as the registry served it');
    t.equal(d.configDigest, dockerImage.configDigest, 'configDigest');
    t.same(d.platform, AMD64, 'platform');
    t.same(d.platforms, [AMD64], 'a single image offers its own platform');
    t.same(pick(d), layersOf(dockerImage), 'layers: digest, size, diffID');
    t.same(d.repoTags, [`${host}/test/docker:v1`], 'repoTags keep the registry host');
    t.equal(d.indexDigest, undefined, 'no indexDigest for a single manifest');
    t.equal(d.created, '1970-01-01T00:00:00Z', 'created from the config');

    const o = await client.inspect(ociRef);
    t.equal(o.digest, ociImage.manifestDigest);
    t.same(pick(o), layersOf(ociImage), 'OCI layers');
    t.same(o.repoTags, [`${host}/test/oci:v1`]);

    for (const { name, ref, index } of indexes) {
      const [amd64, arm64] = index.images as [BuiltImage, BuiltImage];
      const a = await client.inspect(ref);
      t.equal(a.indexDigest, index.digest, `${name}: indexDigest`);
      t.equal(a.digest, amd64.manifestDigest, `${name}: digest of the amd64 child`);
      t.same(a.platform, AMD64, `${name}: platform amd64`);
      t.same(a.platforms, [AMD64, ARM64], `${name}: the platforms offered`);
      t.same(pick(a), layersOf(amd64), `${name}: the amd64 layers`);
      t.same(a.repoTags, [`${ref}`], `${name}: repoTags`);
      const b = await client.inspect(ref, { platform: 'linux/arm64' });
      t.equal(b.digest, arm64.manifestDigest, `${name}: digest of the arm64 child`);
      t.equal(b.indexDigest, index.digest, `${name}: same indexDigest for arm64`);
      t.same(b.platform, ARM64, `${name}: platform arm64/v8`);
      t.same(pick(b), layersOf(arm64), `${name}: the arm64 layers`);
    }

    await expectError(t, client.inspect(dockerRef, { platform: 'linux/arm64' }), 404, 'PLATFORM_UNKNOWN', 'single amd64 image asked for arm64');
  });

  await t.test('blobs', async (t) => {
    const cases: Array<[string, BuiltImage, string]> = [
      ['Docker', dockerImage, dockerRef],
      ['OCI', ociImage, ociRef],
    ];
    for (const [family, image, ref] of cases) {
      for (const layer of image.layers) {
        const res = await client.blob(layer.digest, { ref });
        const body = await readBody(res);
        const what = `${family} ${layer.compression} layer`;
        t.equal(res.statusCode, 200, `${what}: 200`);
        t.equal(res.headers['content-length'], String(layer.size), `${what}: Content-Length is the size`);
        t.equal(body.length, layer.size, `${what}: that many bytes arrive`);
        t.equal(sha256(body), layer.digest, `${what}: sha256 of the body is the digest`);
      }
    }
    const configRes = await client.blob(ociImage.configDigest, { ref: ociRef });
    t.ok((await readBody(configRes)).equals(ociImage.config), 'the config is a blob too');

    const layer = ociImage.layers[1]!;
    const part = await client.blob(layer.digest, { ref: ociRef, headers: { range: 'bytes=10-19' } });
    const partBody = await readBody(part);
    t.equal(part.statusCode, 206, 'Range: 206');
    t.equal(part.headers['content-range'], `bytes 10-19/${layer.size}`, 'Content-Range');
    t.equal(part.headers['content-length'], '10', 'Content-Length of the part');
    t.ok(partBody.equals(layer.blob.subarray(10, 20)), 'exactly bytes 10 to 19');

    const head = await client.raw('HEAD', blobPath(layer.digest, { ref: ociRef }));
    const headBody = await readBody(head);
    t.equal(head.statusCode, 200, 'HEAD: 200');
    t.equal(head.headers['content-length'], String(layer.size), 'HEAD: Content-Length is the size');
    t.equal(headBody.length, 0, 'HEAD: no body');
    const headMissing = await client.raw('HEAD', blobPath(sha256('no such blob'), { ref: ociRef }));
    await readBody(headMissing);
    t.equal(headMissing.statusCode, 404, 'HEAD of an unknown blob: 404');

    await expectError(t, client.blob(sha256('no such blob'), { ref: ociRef }), 404, 'BLOB_UNKNOWN', 'an unknown blob');
    await expectError(t, client.blob('sha256:1234', { ref: ociRef }), 400, 'DIGEST_INVALID', 'a malformed digest');
    await expectError(t, client.blob(layer.digest), 400, 'NAME_INVALID', 'no ref and no default IMAGE');
  });

  await t.test('digest-pinned references', async (t) => {
    const pinned = await client.manifest(`${host}/test/oci@${ociImage.manifestDigest}`);
    t.equal(pinned.digest, ociImage.manifestDigest, 'repo@sha256:…');
    t.ok(pinned.manifest.equals(ociImage.manifest), 'repo@sha256:… bytes');
    const tagged = await client.manifest(`${host}/test/docker:v1@${dockerImage.manifestDigest}`);
    t.equal(tagged.digest, dockerImage.manifestDigest, 'repo:tag@sha256:…');
    const i = await client.inspect(`${host}/test/oci@${ociImage.manifestDigest}`);
    t.equal(i.digest, ociImage.manifestDigest, 'inspect by digest');
    t.ok((await client.config(`${host}/test/docker@${dockerImage.manifestDigest}`)).equals(dockerImage.config), 'config by digest');
    const [amd64] = ociIndex.images as [BuiltImage];
    const viaIndex = await client.manifest(`${host}/multi/oci@${ociIndex.digest}`);
    t.equal(viaIndex.digest, amd64.manifestDigest, 'an index pinned by digest still resolves to the platform child');
    await expectError(t, client.manifest(`${host}/test/oci@${sha256('not pushed')}`), 404, 'MANIFEST_UNKNOWN', 'an unknown digest');
  });

  await t.test('errors', async (t) => {
    await expectError(t, client.manifest(`${host}/test/oci:no-such-tag`), 404, 'MANIFEST_UNKNOWN', 'unknown tag');
    // The distribution registry answers MANIFEST_UNKNOWN (not NAME_UNKNOWN) for a manifest of
    // a repository it does not have; the core keeps whichever of the two the registry said.
    const repo = await rejection(client.manifest(`${host}/no/such-repo:v1`));
    t.type(repo, CoreError, 'unknown repository: rejects with a CoreError');
    t.equal(repo?.status, 404, 'unknown repository: status 404');
    t.ok(repo !== undefined && ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN'].includes(repo.code), `unknown repository: NAME_UNKNOWN or MANIFEST_UNKNOWN (got ${repo?.code})`);
    t.match(repo?.message, /no\/such-repo/, 'the message names the repository');
    await expectError(t, client.manifest(`${host}/Test/Upper:v1`), 400, 'NAME_INVALID', 'upper-case repository');
    await expectError(t, client.manifest(`${host}/test/oci:bad!tag`), 400, 'NAME_INVALID', 'bad tag');
    await expectError(t, client.inspect(`${host}/test/oci@sha256:abc`), 400, 'NAME_INVALID', 'short digest');
    const notFound = await client.raw('GET', '/no-such-route');
    await readBody(notFound);
    t.equal(notFound.statusCode, 404, 'unknown route: 404');
    const wrongMethod = await client.raw('POST', imagePath(Route.manifest, ociRef));
    await readBody(wrongMethod);
    t.equal(wrongMethod.statusCode, 405, 'POST on /manifest: 405');
  });

  await t.test('MessagePack', async (t) => {
    for (const ref of [dockerRef, indexes[0]!.ref]) {
      const json = await client.inspect(ref);
      const msgpack = await client.inspect(ref, { codec: 'msgpack' });
      t.same(msgpack, json, `inspect ${ref}: the same object as JSON`);
    }
    const raw = await client.raw('GET', imagePath(Route.inspect, ociRef), { codec: 'msgpack' });
    await readBody(raw);
    t.equal(raw.headers['content-type'], 'application/vnd.msgpack', 'the answer really is MessagePack');
    const err = await expectError(t, client.inspect(`${host}/test/oci:no-such-tag`, { codec: 'msgpack' }), 404, 'MANIFEST_UNKNOWN', 'an error in MessagePack');
    t.match(err?.message, /no-such-tag/, 'the error message survives');
    const rawErr = await client.raw('GET', imagePath(Route.inspect, `${host}/test/oci:no-such-tag`), { codec: 'msgpack' });
    await readBody(rawErr);
    t.equal(rawErr.headers['content-type'], 'application/vnd.msgpack', 'the error body is MessagePack too');
    const health = await client.health({ codec: 'msgpack' });
    t.equal(health.status, 'ok', 'health in MessagePack');
  });

  await t.test('health', async (t) => {
    const h = await client.health();
    t.equal(h.status, 'ok');
    t.equal(h.name, 'image-passthrough');
    t.match(h.version, /^\d+\.\d+\.\d+/);
    t.type(h.uptimeSeconds, 'number');
    t.ok(h.uptimeSeconds >= 0, 'uptime is not negative');
  });
});

t.test('credentials', async (t) => {
  if (!requireTool(t, 'docker-registry')) return;
  const auth = { username: 'alice', password: 'Pa55-w0rd-qZ7x' };
  const first = await startRegistry(t, { htpasswd: auth });
  const second = await startRegistry(t, { htpasswd: auth });
  const image = await buildImage({ mediaTypes: 'oci', layers: [{ compression: 'gzip', files: { '/secret.bin': noise('private', 20_000) } }] });
  await pushImage(first, 'private/app', 'v1', image);
  await pushImage(second, 'private/app', 'v1', image);
  const ref1 = `${first.host}/private/app:v1`;
  const ref2 = `${second.host}/private/app:v1`;
  const right = basic(auth.username, auth.password);
  const wrong = basic(auth.username, 'not-the-password');
  const layer = image.layers[0]!;

  const plain = await startCore(t);
  const configured = await startCore(t, {
    env: { REGISTRY_URL: first.url, REGISTRY_USERNAME: auth.username, REGISTRY_PASSWORD: auth.password },
  });

  await t.test('client credentials', async (t) => {
    await expectError(t, plain.client.manifest(ref1), 401, 'UNAUTHORIZED', 'anonymous');
    const ok = await plain.client.manifest(ref1, { authorization: right });
    t.equal(ok.digest, image.manifestDigest, 'the right credentials: 200');
    await expectError(t, plain.client.manifest(ref1, { authorization: wrong }), 401, 'UNAUTHORIZED', 'a wrong password (not 502)');
    await expectError(t, plain.client.manifest(ref1), 401, 'UNAUTHORIZED', 'anonymous again after a success: credentials were not kept');
    const inspected = await plain.client.inspect(ref1, { authorization: right });
    t.equal(inspected.configDigest, image.configDigest, 'inspect with credentials');
    const blob = await plain.client.blob(layer.digest, { ref: ref1, authorization: right });
    t.equal(sha256(await readBody(blob)), layer.digest, 'a blob with credentials');
    await expectError(t, plain.client.blob(layer.digest, { ref: ref1 }), 401, 'UNAUTHORIZED', 'a blob without credentials');
    await expectError(t, plain.client.blob(layer.digest, { ref: ref1, authorization: wrong }), 401, 'UNAUTHORIZED', 'a blob with a wrong password');
  });

  await t.test('static credentials from the environment', async (t) => {
    const ok = await configured.client.manifest(ref1);
    t.equal(ok.digest, image.manifestDigest, 'REGISTRY_URL + REGISTRY_USERNAME/PASSWORD: 200 without client credentials');
    t.ok((await configured.client.config(ref1)).equals(image.config), 'config with static credentials');
    const blob = await configured.client.blob(layer.digest, { ref: ref1 });
    t.equal(sha256(await readBody(blob)), layer.digest, 'a blob with static credentials');
    await expectError(t, configured.client.manifest(ref2), 401, 'UNAUTHORIZED', 'static credentials never go to another registry');
    await expectError(t, configured.client.blob(layer.digest, { ref: ref2 }), 401, 'UNAUTHORIZED', 'nor for its blobs');
    const viaClient = await configured.client.manifest(ref2, { authorization: right });
    t.equal(viaClient.digest, image.manifestDigest, 'the second registry does take those credentials from a client');
    await expectError(t, configured.client.manifest(ref1, { authorization: wrong }), 401, 'UNAUTHORIZED', 'wrong client credentials win over static ones');
  });

  await t.test('no secret in the logs', async (t) => {
    const encoded = Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
    const encodedWrong = Buffer.from(`${auth.username}:not-the-password`).toString('base64');
    for (const [name, core] of [
      ['core without static credentials', plain],
      ['core with static credentials', configured],
    ] as const) {
      const out = core.output();
      t.ok(out.length > 0, `${name}: logged something`);
      t.notOk(out.includes(auth.password), `${name}: no password`);
      t.notOk(out.includes(encoded), `${name}: no base64 of user:pass`);
      t.notOk(out.includes('not-the-password') || out.includes(encodedWrong), `${name}: no wrong password either`);
    }
  });
});

t.test('POST /quit and the socket file', async (t) => {
  const core = await startCore(t);
  const st = statSync(core.socketPath);
  t.ok(st.isSocket(), 'the socket path is a socket');
  t.equal(st.mode & 0o777, 0o600, 'the socket file has mode 0600');
  await core.client.quit();
  t.equal(await core.exited, 0, 'the core exits 0');
  t.notOk(existsSync(core.socketPath), 'the socket file is removed');
});
