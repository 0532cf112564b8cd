// Proves the test harness itself: real registry, image builder, pushes, fakes.
import t from 'tap';
import { request } from 'undici';
import { startFakeRegistry } from './support/fake-registry.ts';
import {
  MANIFEST_ACCEPT,
  MediaTypes,
  buildImage,
  buildIndex,
  busyboxLayer,
  pushImage,
  pushIndex,
  sha256,
  type BuiltImage,
} from './support/images.ts';
import { startRegistry } from './support/registry.ts';
import { startTokenServer } from './support/token-server.ts';
import { requireTool } from './support/tools.ts';

const twoLayers = () =>
  buildImage({
    layers: [busyboxLayer('gzip'), { compression: 'zstd', files: { '/etc/greeting': 'hello\n', '/data': { dir: true } } }],
    cmd: ['/bin/sh', '-c', 'cat /etc/greeting'],
    labels: { 'org.example.test': 'harness' },
  });

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

t.test('images are deterministic', async (t) => {
  const [a, b] = [await twoLayers(), await twoLayers()];
  t.equal(a.manifestDigest, b.manifestDigest);
  t.equal(a.layers[1]?.mediaType, MediaTypes.ociLayerZstd);
  const empty = await buildImage({ layers: [{ files: {}, compression: 'none' }], mediaTypes: 'oci' });
  t.equal(empty.layers[0]?.tar.length, 1024, 'an empty layer is just the end-of-archive blocks');
  t.equal(empty.layers[0]?.mediaType, MediaTypes.ociLayer);
});

t.test('real registry: push and pull back an image', async (t) => {
  if (!requireTool(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const image = await twoLayers();
  await pushImage(registry, 'test/busybox', 'v1', image);

  const manifest = await get(`${registry.url}/v2/test/busybox/manifests/v1`, { accept: MANIFEST_ACCEPT });
  t.equal(manifest.status, 200);
  t.equal(manifest.headers['content-type'], MediaTypes.dockerManifest);
  t.equal(manifest.headers['docker-content-digest'], image.manifestDigest);
  t.equal(sha256(manifest.body), image.manifestDigest);

  const layer = image.layers[1];
  if (!layer) throw new Error('no second layer');
  const blob = await get(`${registry.url}/v2/test/busybox/blobs/${layer.digest}`);
  t.equal(blob.status, 200);
  t.equal(sha256(blob.body), layer.digest);
});

t.test('real registry with htpasswd', async (t) => {
  if (!requireTool(t, 'docker-registry')) return;
  const auth = { username: 'alice', password: 's3cret pass' };
  const registry = await startRegistry(t, { htpasswd: auth });
  t.equal((await get(`${registry.url}/v2/`)).status, 401, 'no credentials');
  t.equal((await get(`${registry.url}/v2/`, basic('alice', 'wrong'))).status, 401, 'wrong password');
  t.equal((await get(`${registry.url}/v2/`, basic(auth.username, auth.password))).status, 200, 'right password');

  const image = await buildImage({ layers: [busyboxLayer('none')], mediaTypes: 'oci' });
  await pushImage(registry, 'private/img', undefined, image);
  const url = `${registry.url}/v2/private/img/manifests/${image.manifestDigest}`;
  t.equal((await get(url, { accept: MANIFEST_ACCEPT })).status, 401);
  const ok = await get(url, { accept: MANIFEST_ACCEPT, ...basic(auth.username, auth.password) });
  t.equal(ok.status, 200);
  t.equal(ok.headers['content-type'], MediaTypes.ociManifest);
});

t.test('real registry: multi-platform index', async (t) => {
  if (!requireTool(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const images: BuiltImage[] = [];
  for (const platform of [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }]) {
    images.push(await buildImage({ layers: [{ files: { arch: platform.architecture } }], mediaTypes: 'oci', platform }));
  }
  const index = buildIndex(images, 'oci');
  await pushIndex(registry, 'multi/arch', 'latest', index);

  const res = await get(`${registry.url}/v2/multi/arch/manifests/latest`, { accept: MANIFEST_ACCEPT });
  t.equal(res.status, 200);
  t.equal(res.headers['content-type'], MediaTypes.ociIndex);
  t.equal(sha256(res.body), index.digest);
  const parsed = JSON.parse(res.body.toString()) as { manifests: Array<{ digest: string; platform: { variant?: string } }> };
  t.same(parsed.manifests.map((m) => m.digest), images.map((i) => i.manifestDigest));
  t.equal(parsed.manifests[1]?.platform.variant, 'v8');
  const child = await get(`${registry.url}/v2/multi/arch/manifests/${images[1]?.manifestDigest}`, { accept: MANIFEST_ACCEPT });
  t.equal(child.status, 200);
});

t.test('fake registry: bearer challenge, token, ranges, faults, redirect', async (t) => {
  const tokens = await startTokenServer(t, { users: { bob: 'pw' } });
  const fake = await startFakeRegistry(t);
  const cdn = await startFakeRegistry(t);
  fake.requireBearer({ realm: tokens.realm, service: 'fake-registry', accept: tokens.accepts });
  const image = await twoLayers();
  fake.serveImage('lib/app', 'v1', image);

  const manifestUrl = `${fake.url}/v2/lib/app/manifests/v1`;
  const challenge = await get(manifestUrl, { accept: MANIFEST_ACCEPT });
  t.equal(challenge.status, 401);
  t.equal(
    challenge.headers['www-authenticate'],
    `Bearer realm="${tokens.realm}",service="fake-registry",scope="repository:lib/app:pull"`,
  );
  t.equal((await get(`${tokens.realm}?service=fake-registry&scope=repository:lib/app:pull`, basic('bob', 'bad'))).status, 401);
  const tokenRes = await get(`${tokens.realm}?service=fake-registry&scope=repository:lib/app:pull`, basic('bob', 'pw'));
  const { token } = JSON.parse(tokenRes.body.toString()) as { token: string };
  t.match(tokens.requests.at(-1), { user: 'bob', service: 'fake-registry', scopes: ['repository:lib/app:pull'], status: 200 });

  const bearer = { authorization: `Bearer ${token}` };
  const ok = await get(manifestUrl, { accept: MANIFEST_ACCEPT, ...bearer });
  t.equal(ok.status, 200);
  t.equal(ok.headers['docker-content-digest'], image.manifestDigest);
  t.equal((await get(`${fake.url}/v2/other/repo/manifests/v1`, bearer)).status, 401, 'token is for lib/app only');

  const layer = image.layers[0];
  if (!layer) throw new Error('no layer');
  const blobUrl = `${fake.url}/v2/lib/app/blobs/${layer.digest}`;
  const part = await get(blobUrl, { ...bearer, range: 'bytes=10-19' });
  t.equal(part.status, 206);
  t.equal(part.headers['content-range'], `bytes 10-19/${layer.size}`);
  t.same(part.body, layer.blob.subarray(10, 20));
  const tail = await get(blobUrl, { ...bearer, range: 'bytes=-5' });
  t.same(tail.body, layer.blob.subarray(-5));
  const ignoring = fake.fault(layer.digest, { ignoreRange: true }, { times: 1 });
  t.equal((await get(blobUrl, { ...bearer, range: 'bytes=0-0' })).status, 200);
  t.equal(ignoring.hits, 1);

  fake.fault(layer.digest, { status: 503, headers: { 'retry-after': '1' } }, { times: 1 });
  t.equal((await get(blobUrl, bearer)).status, 503);
  fake.fault(layer.digest, { truncateAfter: 100 }, { times: 1 });
  await t.rejects(get(blobUrl, bearer), 'truncated body fails the reader');

  cdn.serveFile('/blobs/layer0', layer.blob);
  fake.fault(layer.digest, { redirectTo: `${cdn.url}/blobs/layer0?sig=x` });
  const redirected = await get(blobUrl, bearer);
  t.equal(redirected.status, 302);
  const location = redirected.headers.location;
  if (typeof location !== 'string') throw new Error('no Location');
  const fromCdn = await get(location, { range: 'bytes=0-99' });
  t.equal(fromCdn.status, 206);
  t.same(fromCdn.body, layer.blob.subarray(0, 100));
  t.ok(cdn.requests.length > 0 && cdn.requests.every((r) => r.authorization === undefined), 'no credentials reached the CDN');
});
