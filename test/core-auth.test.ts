// The core process against scriptable registries: token exchange and caching per identity,
// static credentials, direct Basic, redirects to a CDN, error mapping and hostile registries.
// Every block also checks that the core's log holds no credential and no token.
import t from 'tap';
import type { CoreClient, StreamResponse } from '../protocol/client.ts';
import { Route, imagePath } from '../protocol/routes.ts';
import { startCore, type RunningCore } from './support/core.ts';
import { startFakeRegistry, type FakeRegistry, type RecordedRequest } from './support/fake-registry.ts';
import { MediaTypes, buildImage, buildIndex, busyboxLayer, sha256, type BuiltImage } from './support/images.ts';
import { startTokenServer, type TokenServer } from './support/token-server.ts';
import type { T } from './support/tools.ts';

const REPO = 'lib/app';
const SERVICE = 'fake-registry';

const b64 = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');
const basic = (user: string, password: string) => `Basic ${b64(user, password)}`;

/** Three layers: a ~1 MB busybox one (so blobs stream in many chunks) and two small ones. */
const threeLayers = () =>
  buildImage({
    layers: [busyboxLayer('gzip'), { files: { '/etc/greeting': 'hello\n' } }, { compression: 'none', files: { '/etc/motd': 'motd\n' } }],
  });

function layerOf(image: BuiltImage, i: number) {
  const layer = image.layers[i];
  if (!layer) throw new Error(`image has no layer ${i}`);
  return layer;
}

async function readAll(res: StreamResponse): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res.body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

type CallOptions = { authorization?: string; scheme?: 'http' | 'https' };

async function blob(client: CoreClient, ref: string, digest: string, options: CallOptions = {}): Promise<Buffer> {
  return readAll(await client.blob(digest, { ref, ...options }));
}

/** Manifest, config and every layer, all at once or one after the other; checks nothing itself. */
async function pull(client: CoreClient, ref: string, image: BuiltImage, options: CallOptions = {}, parallel = false) {
  const layer = (digest: string) => blob(client, ref, digest, options);
  if (parallel) {
    const [manifest, config, layers] = await Promise.all([client.manifest(ref, options), client.config(ref, options), Promise.all(image.layers.map((l) => layer(l.digest)))]);
    return { manifest, config, layers };
  }
  const manifest = await client.manifest(ref, options);
  const config = await client.config(ref, options);
  const layers: Buffer[] = [];
  for (const l of image.layers) layers.push(await layer(l.digest));
  return { manifest, config, layers };
}

function checkPulled(t: T, pulled: Awaited<ReturnType<typeof pull>>, image: BuiltImage, what: string): void {
  t.equal(pulled.manifest.digest, image.manifestDigest, `${what}: manifest digest`);
  t.equal(sha256(pulled.config), image.configDigest, `${what}: config bytes`);
  t.same(pulled.layers.map((b) => sha256(b)), image.layers.map((l) => l.digest), `${what}: layer bytes`);
}

function bearerToken(r: RecordedRequest): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(r.authorization ?? '')?.[1];
}

/** The identities (token server users) of the tokens presented in these requests; 'none' when a request carried none. */
function presentedUsers(requests: RecordedRequest[], tokens: TokenServer): string[] {
  return [
    ...new Set(
      requests.map((r) => {
        const token = bearerToken(r);
        if (token === undefined) return 'none';
        const issued = tokens.describe(token);
        if (issued === undefined) return 'unknown token';
        return issued.user ?? 'anonymous';
      }),
    ),
  ].sort();
}

/** The core's log must not contain a password, a Basic credential or a token the registries saw. */
function checkLogClean(t: T, core: RunningCore, secrets: string[], fakes: FakeRegistry[]): void {
  const log = core.output();
  t.ok(log.length > 0, 'the core logged something (debug level)');
  const seen = new Set<string>(secrets);
  for (const fake of fakes) {
    for (const r of fake.requests) {
      const token = bearerToken(r);
      if (token !== undefined) seen.add(token);
      const creds = /^Basic\s+(\S+)$/i.exec(r.authorization ?? '')?.[1];
      if (creds !== undefined) seen.add(creds);
    }
  }
  const leaked = [...seen].filter((s) => s !== '' && log.includes(s));
  t.same(leaked, [], 'no credential or token in the core log');
  t.notMatch(log, /fake\.[A-Za-z0-9_-]{8,}/, 'no token from the token server in the core log');
}

async function healthy(t: T, client: CoreClient, after: string): Promise<void> {
  t.equal((await client.health()).status, 'ok', `the core still answers /health after ${after}`);
}

t.test('bearer challenge: anonymous token exchange, then manifest and blobs', async (t) => {
  const tokens = await startTokenServer(t, { users: {}, anonymous: true });
  const fake = await startFakeRegistry(t);
  fake.requireBearer({ realm: tokens.realm, service: SERVICE, accept: tokens.accepts });
  const image = await threeLayers();
  fake.serveImage(REPO, 'v1', image);
  const core = await startCore(t);
  const ref = `${fake.host}/${REPO}:v1`;

  checkPulled(t, await pull(core.client, ref, image), image, 'anonymous pull');
  t.equal(tokens.requests.length, 1, 'one token request');
  t.same(
    tokens.requests.map((r) => [r.service, r.scopes, r.user, r.status]),
    [[SERVICE, [`repository:${REPO}:pull`], undefined, 200]],
    "the challenge's service, the repository's pull scope, no credentials",
  );
  t.match(tokens.requests[0]?.url, /[?&]scope=repository%3Alib%2Fapp%3Apull(&|$)/, 'scope in the query');
  t.ok(fake.requests.some((r) => r.authorization === undefined), 'the first request went without credentials and was challenged');
  const authorized = fake.requests.filter((r) => r.authorization !== undefined);
  t.ok(authorized.length >= 2 + image.layers.length, 'manifest, config and layers were fetched with the token');
  t.same(presentedUsers(authorized, tokens), ['anonymous'], 'only the anonymous token was presented');
  checkLogClean(t, core, [], [fake]);
});

t.test('tokens are cached per identity and never cross identities', async (t) => {
  const users = { alice: 'alice-secret-pw', bob: 'bob-secret-pw' };
  const tokens = await startTokenServer(t, { users, anonymous: true });
  const fake = await startFakeRegistry(t);
  fake.requireBearer({ realm: tokens.realm, service: SERVICE, accept: tokens.accepts });
  const image = await threeLayers();
  fake.serveImage(REPO, 'v1', image);
  const core = await startCore(t);
  const ref = `${fake.host}/${REPO}:v1`;
  const alice = { authorization: basic('alice', users.alice) };
  const bob = { authorization: basic('bob', users.bob) };

  const phase = async (what: string, options: CallOptions, parallel: boolean) => {
    const fakeBefore = fake.requests.length;
    const tokensBefore = tokens.requests.length;
    checkPulled(t, await pull(core.client, ref, image, options, parallel), image, what);
    return { registry: fake.requests.slice(fakeBefore), tokens: tokens.requests.slice(tokensBefore) };
  };

  const a = await phase('alice', alice, false);
  t.same(a.tokens.map((r) => r.user), ['alice'], 'alice: one token request for manifest, config and three layers');
  t.same(presentedUsers(a.registry.filter((r) => r.authorization !== undefined), tokens), ['alice'], 'alice: only her token presented');

  const b = await phase('bob, all requests at once', bob, true);
  t.same(b.tokens.map((r) => r.user), ['bob'], 'bob: his own single token request');
  t.same(presentedUsers(b.registry, tokens), ['bob'], "bob: every request carried bob's token, never alice's");

  const again = await phase('alice again', alice, true);
  t.same(again.tokens, [], 'alice again: her cached token is reused');
  t.same(presentedUsers(again.registry, tokens), ['alice'], 'alice again: only her token presented');

  const anon = await phase('anonymous after identified', {}, false);
  t.same(anon.tokens.map((r) => r.user), [undefined], 'anonymous: a token request without credentials');
  t.same(presentedUsers(anon.registry, tokens), ['anonymous'], 'anonymous: no identified token reused');

  checkLogClean(t, core, [users.alice, users.bob, b64('alice', users.alice), b64('bob', users.bob)], [fake]);
});

t.test('refused credentials are 401, an unreachable token service is 502', async (t) => {
  const image = await threeLayers();
  const users = { alice: 'alice-secret-pw' };

  t.test('wrong client password', async (t) => {
    const tokens = await startTokenServer(t, { users, anonymous: true });
    const fake = await startFakeRegistry(t);
    fake.requireBearer({ realm: tokens.realm, service: SERVICE, accept: tokens.accepts });
    fake.serveImage(REPO, 'v1', image);
    const core = await startCore(t);
    const wrong = 'not-alices-password';
    await t.rejects(core.client.manifest(`${fake.host}/${REPO}:v1`, { authorization: basic('alice', wrong) }), { status: 401, code: 'UNAUTHORIZED' });
    t.same(tokens.requests.map((r) => [r.user, r.status]), [['alice', 401]], 'the token service refused the credentials');
    await t.rejects(
      core.client.blob(layerOf(image, 1).digest, { ref: `${fake.host}/${REPO}:v1`, authorization: basic('mallory', 'x') }),
      { status: 401, code: 'UNAUTHORIZED' },
      'unknown user on a blob',
    );
    await healthy(t, core.client, 'refused credentials');
    checkLogClean(t, core, [wrong, b64('alice', wrong), b64('mallory', 'x')], [fake]);
  });

  t.test('token service down', async (t) => {
    const tokens = await startTokenServer(t, { users, anonymous: true });
    const fake = await startFakeRegistry(t);
    fake.requireBearer({ realm: tokens.realm, service: SERVICE, accept: tokens.accepts });
    fake.serveImage(REPO, 'v1', image);
    const core = await startCore(t);
    await tokens.stop();
    await t.rejects(core.client.manifest(`${fake.host}/${REPO}:v1`), { status: 502, code: 'UPSTREAM_UNAVAILABLE' });
    await t.rejects(core.client.manifest(`${fake.host}/${REPO}:v1`, { authorization: basic('alice', users.alice) }), { status: 502, code: 'UPSTREAM_UNAVAILABLE' });
    t.ok(fake.requests.length > 0, 'the registry was asked and answered with its challenge');
    await healthy(t, core.client, 'a dead token service');
    checkLogClean(t, core, [users.alice, b64('alice', users.alice)], [fake]);
  });
});

t.test('static credentials from the environment', async (t) => {
  const image = await threeLayers();
  const svc = { user: 'svc', password: 'static-secret-pw' };
  const client = { user: 'alice', password: 'alice-secret-pw' };

  t.test('REGISTRY_USERNAME/PASSWORD for the token exchange; client credentials win; never sent elsewhere', async (t) => {
    const tokens = await startTokenServer(t, { users: { [svc.user]: svc.password, [client.user]: client.password }, anonymous: false });
    const fake = await startFakeRegistry(t);
    fake.requireBearer({ realm: tokens.realm, service: SERVICE, accept: tokens.accepts });
    fake.serveImage(REPO, 'v1', image);
    // A second registry that would accept the static credentials, were they ever sent to it.
    const otherBasic = await startFakeRegistry(t);
    otherBasic.requireBasic(svc.user, svc.password);
    otherBasic.serveImage(REPO, 'v1', image);
    // And one behind the same token service, which knows the static user.
    const otherBearer = await startFakeRegistry(t);
    otherBearer.requireBearer({ realm: tokens.realm, service: 'other', accept: tokens.accepts });
    otherBearer.serveImage(REPO, 'v1', image);

    const core = await startCore(t, {
      env: { REGISTRY_URL: `http://${fake.host}`, REGISTRY_USERNAME: svc.user, REGISTRY_PASSWORD: svc.password },
    });
    const ref = `${fake.host}/${REPO}:v1`;

    checkPulled(t, await pull(core.client, ref, image), image, 'static identity');
    t.same(tokens.requests.map((r) => [r.user, r.status]), [[svc.user, 200]], 'the token exchange used the static credentials');
    t.same(presentedUsers(fake.requests.filter((r) => r.authorization !== undefined), tokens), [svc.user]);

    const before = fake.requests.length;
    const tokensBefore = tokens.requests.length;
    checkPulled(t, await pull(core.client, ref, image, { authorization: basic(client.user, client.password) }), image, 'client identity');
    t.same(tokens.requests.slice(tokensBefore).map((r) => r.user), [client.user], 'client credentials win over the static ones');
    t.same(presentedUsers(fake.requests.slice(before), tokens), [client.user]);

    const tokensBeforeOther = tokens.requests.length;
    await t.rejects(core.client.manifest(`${otherBasic.host}/${REPO}:v1`), { status: 401, code: 'UNAUTHORIZED' }, 'Basic registry on another port: 401');
    t.ok(otherBasic.requests.length > 0, 'the other Basic registry was asked');
    t.same(otherBasic.requests.map((r) => r.authorization).filter((a) => a !== undefined), [], 'it saw no Authorization at all');

    await t.rejects(core.client.manifest(`${otherBearer.host}/${REPO}:v1`), { status: 401, code: 'UNAUTHORIZED' }, 'Bearer registry on another port: 401');
    t.ok(otherBearer.requests.length > 0, 'the other Bearer registry was asked');
    t.same(otherBearer.requests.map((r) => r.authorization).filter((a) => a !== undefined), [], 'it saw no Authorization at all');
    t.same(tokens.requests.slice(tokensBeforeOther).map((r) => [r.service, r.user]), [['other', undefined]], 'its token exchange was anonymous');
    checkLogClean(t, core, [svc.password, client.password, b64(svc.user, svc.password), b64(client.user, client.password)], [fake, otherBasic, otherBearer]);
  });

  for (const variable of ['REGISTRY_BEARER_TOKEN', 'REGISTRY_TOKEN']) {
    t.test(`${variable} is sent as the bearer token, to its registry only`, async (t) => {
      const tokens = await startTokenServer(t, { users: {}, anonymous: true });
      const staticToken = `static-${variable.toLowerCase()}-value`;
      const fake = await startFakeRegistry(t);
      fake.requireBearer({ realm: tokens.realm, service: SERVICE, accept: [staticToken] });
      fake.serveImage(REPO, 'v1', image);
      const other = await startFakeRegistry(t);
      other.requireBearer({ realm: tokens.realm, service: SERVICE, accept: [staticToken] });
      other.serveImage(REPO, 'v1', image);
      const core = await startCore(t, { env: { REGISTRY_URL: `http://${fake.host}`, [variable]: staticToken } });

      checkPulled(t, await pull(core.client, `${fake.host}/${REPO}:v1`, image), image, variable);
      t.ok(fake.requests.length >= 2 + image.layers.length);
      t.same([...new Set(fake.requests.map((r) => r.authorization))], [`Bearer ${staticToken}`], 'every request carried the static token');
      t.same(tokens.requests, [], 'no token exchange');

      await t.rejects(core.client.manifest(`${other.host}/${REPO}:v1`), { status: 401, code: 'UNAUTHORIZED' });
      t.ok(other.requests.length > 0);
      t.notOk(other.requests.some((r) => r.authorization?.includes(staticToken)), 'the static token never went to another registry');
      checkLogClean(t, core, [staticToken], [fake]);
    });
  }

  t.test('REGISTRY_AUTH_URL and REGISTRY_SERVICE override the challenge', async (t) => {
    const tokens = await startTokenServer(t, { users: { [svc.user]: svc.password }, anonymous: false });
    // The challenge names a different token service, which must never be asked.
    const decoy = await startTokenServer(t, { users: { [svc.user]: svc.password }, anonymous: true });
    const fake = await startFakeRegistry(t);
    fake.requireBearer({ realm: decoy.realm, service: 'challenge-service', accept: tokens.accepts });
    fake.serveImage(REPO, 'v1', image);
    const core = await startCore(t, {
      env: {
        REGISTRY_URL: `http://${fake.host}`,
        REGISTRY_AUTH_URL: tokens.realm,
        REGISTRY_SERVICE: 'configured-service',
        REGISTRY_USERNAME: svc.user,
        REGISTRY_PASSWORD: svc.password,
      },
    });

    checkPulled(t, await pull(core.client, `${fake.host}/${REPO}:v1`, image), image, 'configured token service');
    t.same(tokens.requests.map((r) => [r.service, r.user, r.scopes]), [['configured-service', svc.user, [`repository:${REPO}:pull`]]], 'the configured service and realm were used');
    t.same(decoy.requests, [], "the challenge's realm was not asked");
    checkLogClean(t, core, [svc.password, b64(svc.user, svc.password)], [fake]);
  });
});

t.test('direct Basic auth', async (t) => {
  const image = await threeLayers();
  const password = 'basic-secret-pw';
  const fake = await startFakeRegistry(t);
  fake.requireBasic('carol', password);
  fake.serveImage(REPO, 'v1', image);
  const core = await startCore(t);
  const ref = `${fake.host}/${REPO}:v1`;

  const pulled = await pull(core.client, ref, image, { authorization: basic('carol', password) });
  checkPulled(t, pulled, image, 'with client credentials');
  t.ok(fake.requests.some((r) => r.authorization === basic('carol', password)), 'the registry saw the Basic credentials');

  await t.rejects(core.client.manifest(ref), { status: 401, code: 'UNAUTHORIZED' }, 'without credentials: 401');
  await t.rejects(core.client.blob(layerOf(image, 1).digest, { ref }), { status: 401, code: 'UNAUTHORIZED' }, 'blob without credentials: 401');
  await t.rejects(core.client.manifest(ref, { authorization: basic('carol', 'wrong') }), { status: 401, code: 'UNAUTHORIZED' }, 'wrong password: 401');
  await healthy(t, core.client, 'refused Basic credentials');
  checkLogClean(t, core, [password, b64('carol', password), b64('carol', 'wrong')], [fake]);
});

t.test('a blob redirected to another host gets no Authorization', async (t) => {
  const tokens = await startTokenServer(t, { users: {}, anonymous: true });
  const fake = await startFakeRegistry(t);
  const cdn = await startFakeRegistry(t);
  fake.requireBearer({ realm: tokens.realm, service: SERVICE, accept: tokens.accepts });
  const image = await threeLayers();
  fake.serveImage(REPO, 'v1', image);
  const layer = layerOf(image, 0);
  cdn.serveFile('/cdn/layer0', layer.blob);
  const redirect = fake.fault(`/blobs/${layer.digest}`, { redirectTo: `${cdn.url}/cdn/layer0?signature=abc` });
  const core = await startCore(t);
  const ref = `${fake.host}/${REPO}:v1`;

  await core.client.manifest(ref);
  const body = await blob(core.client, ref, layer.digest);
  t.equal(sha256(body), layer.digest, 'the download through the CDN succeeded');
  t.equal(redirect.hits, 1, 'the registry redirected');
  const toRegistry = fake.requestsTo(`/blobs/${layer.digest}`);
  t.ok(toRegistry.length > 0 && toRegistry.every((r) => bearerToken(r) !== undefined), 'the registry saw the bearer token');
  t.equal(cdn.requestsTo('/cdn/layer0').length, 1, 'the CDN was asked once');
  t.same(cdn.requests.map((r) => r.authorization), [undefined], 'the CDN saw no Authorization');
  checkLogClean(t, core, [], [fake]);
});

t.test("registry errors map to the core's status and code", async (t) => {
  const image = await threeLayers();
  const fake = await startFakeRegistry(t);
  fake.serveImage(REPO, 'v1', image);
  const core = await startCore(t);
  const ref = `${fake.host}/${REPO}:v1`;
  const errorBody = (code: string) => JSON.stringify({ errors: [{ code, message: `the registry says ${code}` }] });
  const json = { 'content-type': 'application/json' };

  const cases: Array<{ what: string; status: number; code: string; headers?: Record<string, string>; expect: { status: number; code: string } }> = [
    { what: '403', status: 403, code: 'DENIED', expect: { status: 403, code: 'DENIED' } },
    { what: '500', status: 500, code: 'UNKNOWN', expect: { status: 502, code: 'UPSTREAM_UNAVAILABLE' } },
    { what: '503', status: 503, code: 'UNAVAILABLE', expect: { status: 502, code: 'UPSTREAM_UNAVAILABLE' } },
  ];
  for (const c of cases) {
    const fault = fake.fault('/manifests/', { status: c.status, headers: json, body: errorBody(c.code) }, { times: 1 });
    await t.rejects(core.client.manifest(ref), c.expect, `registry ${c.what} → ${c.expect.status} ${c.expect.code}`);
    t.equal(fault.hits, 1);
  }

  await t.rejects(core.client.manifest(`${fake.host}/${REPO}:no-such-tag`), { status: 404, code: 'MANIFEST_UNKNOWN' }, 'unknown tag → 404 MANIFEST_UNKNOWN');
  await t.rejects(core.client.blob(sha256('not stored'), { ref }), { status: 404, code: 'BLOB_UNKNOWN' }, 'unknown blob → 404 BLOB_UNKNOWN');

  fake.fault('/manifests/', { status: 429, headers: { ...json, 'retry-after': '7' }, body: errorBody('TOOMANYREQUESTS') }, { times: 1 });
  const limited = await core.client.raw('GET', imagePath(Route.manifest, ref));
  const limitedBody = JSON.parse((await readAll(limited)).toString('utf8')) as { errors: Array<{ code: string }> };
  t.equal(limited.statusCode, 429, 'registry 429 → 429');
  t.equal(limited.headers['retry-after'], '7', "the registry's Retry-After is passed on");
  t.equal(limitedBody.errors[0]?.code, 'TOOMANYREQUESTS');

  fake.fault(`/blobs/${layerOf(image, 1).digest}`, { status: 503, headers: json, body: errorBody('UNAVAILABLE') }, { times: 1 });
  await t.rejects(core.client.blob(layerOf(image, 1).digest, { ref }), { status: 502, code: 'UPSTREAM_UNAVAILABLE' }, 'blob 503 → 502');

  checkPulled(t, await pull(core.client, ref, image), image, 'after the faults');
  await healthy(t, core.client, 'mapped errors');
});

t.test('hostile registries', async (t) => {
  const image = await threeLayers();
  const fake = await startFakeRegistry(t);
  fake.serveImage(REPO, 'v1', image);
  const core = await startCore(t);
  const ref = `${fake.host}/${REPO}:v1`;
  const big = layerOf(image, 0);

  t.test('a blob whose bytes do not match its digest breaks the connection short of its length', async (t) => {
    const wrong = Buffer.alloc(big.size, 0x5a);
    const fault = fake.fault(`/blobs/${big.digest}`, { wrongBody: wrong }, { times: 1 });
    let received = 0;
    let declared: string | string[] | undefined;
    const read = (async () => {
      const res = await core.client.blob(big.digest, { ref });
      declared = res.headers['content-length'];
      for await (const chunk of res.body as AsyncIterable<Buffer>) received += chunk.length;
    })();
    await t.rejects(read, 'reading the blob to its end fails');
    t.equal(fault.hits, 1);
    t.equal(declared, String(big.size), 'the answer had started, declaring the blob size');
    t.ok(received < big.size, `received ${received} of ${big.size} bytes: never the whole length`);
    await healthy(t, core.client, 'a wrong blob');
  });

  t.test('a blob cut short fails the read', async (t) => {
    const fault = fake.fault(`/blobs/${big.digest}`, { truncateAfter: 100_000 }, { times: 1 });
    await t.rejects(blob(core.client, ref, big.digest), 'reading the truncated blob fails');
    t.equal(fault.hits, 1);
    await healthy(t, core.client, 'a truncated blob');
  });

  t.test('a manifest over 4 MiB', async (t) => {
    const huge = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, padding: 'x'.repeat(4 << 20) }));
    fake.serveManifest(REPO, 'huge', huge, MediaTypes.ociManifest);
    await t.rejects(core.client.manifest(`${fake.host}/${REPO}:huge`), { status: 502, code: /^(SIZE_INVALID|MANIFEST_INVALID)$/ }, 'with Content-Length');
    // Without Content-Length (chunked), the limit must hold while reading.
    fake.route('GET', `/v2/${REPO}/manifests/huge-chunked`, (_req, res) => {
      res.writeHead(200, { 'content-type': MediaTypes.ociManifest });
      for (let i = 0; i < huge.length; i += 1 << 16) res.write(huge.subarray(i, i + (1 << 16)));
      res.end();
    });
    await t.rejects(core.client.manifest(`${fake.host}/${REPO}:huge-chunked`), { status: 502, code: /^(SIZE_INVALID|MANIFEST_INVALID)$/ }, 'chunked');
    await healthy(t, core.client, 'a huge manifest');
  });

  t.test('a manifest with 1001 layers', async (t) => {
    const layers = Array.from({ length: 1001 }, (_, i) => ({ mediaType: MediaTypes.ociLayerGzip, size: 1, digest: sha256(`layer ${i}`) }));
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { mediaType: MediaTypes.ociConfig, size: image.config.length, digest: image.configDigest }, layers }),
    );
    t.ok(manifest.length < 4 << 20, 'the manifest itself is under the size limit');
    fake.serveManifest(REPO, 'many', manifest, MediaTypes.ociManifest);
    await t.rejects(core.client.manifest(`${fake.host}/${REPO}:many`), { status: 502, code: 'MANIFEST_INVALID' });
    await healthy(t, core.client, '1001 layers');
  });

  t.test('a schema 1 manifest', async (t) => {
    const schema1 = Buffer.from(
      JSON.stringify({ schemaVersion: 1, name: REPO, tag: 'old', architecture: 'amd64', fsLayers: [{ blobSum: big.digest }], history: [{ v1Compatibility: '{}' }], signatures: [] }),
    );
    fake.serveManifest(REPO, 'old', schema1, 'application/vnd.docker.distribution.manifest.v1+prettyjws');
    await t.rejects(core.client.manifest(`${fake.host}/${REPO}:old`), { status: 415, code: 'UNSUPPORTED', message: /schema 1/ });
    await healthy(t, core.client, 'a schema 1 manifest');
  });

  t.test('a child manifest whose bytes do not match its digest', async (t) => {
    const index = buildIndex([image], 'oci');
    fake.serveImage('lib/multi', 'v1', index);
    // Same content, other bytes: the digest the index names no longer matches.
    const tampered = Buffer.from(JSON.stringify(JSON.parse(image.manifest.toString('utf8'))));
    t.not(sha256(tampered), image.manifestDigest);
    fake.serveManifest('lib/multi', image.manifestDigest, tampered, image.manifestMediaType);
    await t.rejects(core.client.manifest(`${fake.host}/lib/multi:v1`), { status: 502, code: 'DIGEST_MISMATCH' });
    await healthy(t, core.client, 'a tampered child manifest');
  });

  t.test('the core still serves the good image', async (t) => {
    checkPulled(t, await pull(core.client, ref, image), image, 'after the hostile answers');
  });
});
