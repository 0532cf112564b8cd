// The HTTP front end end to end: `image-passthrough http` (with its own core) against real
// registries, as IOS-XE, curl and browsers use it. One open registry and one htpasswd-protected
// registry serve every case; one front end per configuration, shared by the cases that use it.
import { createHash, randomBytes } from 'node:crypto';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { extract } from 'tar-stream';
import t from 'tap';
import { request, type Dispatcher } from 'undici';
import { VERSION } from '../protocol/version.ts';
import { startCore } from './support/core.ts';
import { startDockerd } from './support/dockerd.ts';
import { startFrontEnd, type RunningFrontEnd } from './support/front-end.ts';
import { buildImage, buildIndex, busyboxLayer, pushImage, pushIndex, type BuiltImage, type Platform } from './support/images.ts';
import { startRegistry } from './support/registry.ts';
import { freePort, requireTool, tempDir, type T } from './support/tools.ts';

const USER = 'device-user';
const PASSWORD = 'Pa55-w0rd-7c1e9d';
const WRONG = 'Wr0ng-pa55-3b8f02';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const GOOD_AUTH = basic(USER, PASSWORD);
const WRONG_AUTH = basic(USER, WRONG);
const CHALLENGE = 'Basic realm="registry credentials"';
const HELLO = 'hello through the front end\n';

const sha256hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

function hdr(a: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = a.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

async function call(base: string, path: string, options: { method?: Dispatcher.HttpMethod; headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await request(`${base}${path}`, { method: options.method ?? 'GET', headers: options.headers ?? {} });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, text: body.toString('utf8') };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Every entry of a tar archive by name. */
async function untar(data: Buffer): Promise<Map<string, Buffer>> {
  const ex = extract();
  const files = new Map<string, Buffer>();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
      files.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  ex.end(data);
  await done;
  return files;
}

interface ArchiveInfo {
  names: string[];
  configDigest: string;
  config: { architecture?: string; os?: string; variant?: string };
  repoTags: string[];
}

/** What `docker load` reads: manifest.json, and the config it points to. */
async function archiveInfo(body: Buffer): Promise<ArchiveInfo> {
  const files = await untar(body);
  const manifestJson = files.get('manifest.json');
  if (!manifestJson) throw new Error(`the archive has no manifest.json (entries: ${[...files.keys()].slice(0, 20).join(', ')})`);
  const manifest = JSON.parse(manifestJson.toString('utf8')) as Array<{ Config: string; RepoTags?: string[] | null }>;
  const configPath = manifest[0]?.Config ?? '';
  const config = files.get(configPath);
  if (!config) throw new Error(`manifest.json names config ${configPath}, which the archive does not hold`);
  return {
    names: [...files.keys()],
    configDigest: `sha256:${sha256hex(config)}`,
    config: JSON.parse(config.toString('utf8')) as ArchiveInfo['config'],
    repoTags: manifest[0]?.RepoTags ?? [],
  };
}

/** A full 200 archive of `image`, recorded under `repoTags`, with the download headers. */
async function expectArchive(t: T, a: Answer, image: BuiltImage, repoTags: string[] | undefined, what: string, filename?: string): Promise<ArchiveInfo | undefined> {
  t.equal(a.status, 200, `${what}: 200`, a.status === 200 ? {} : { body: a.text.slice(0, 600) });
  if (a.status !== 200) return undefined;
  t.equal(hdr(a, 'content-type'), 'application/x-tar', `${what}: content-type application/x-tar`);
  t.equal(hdr(a, 'content-length'), String(a.body.length), `${what}: content-length is the body length`);
  if (filename !== undefined) t.equal(hdr(a, 'content-disposition'), `attachment; filename="${filename}"`, `${what}: content-disposition names the file`);
  const info = await archiveInfo(a.body);
  t.equal(info.configDigest, image.configDigest, `${what}: the archive holds the expected image`);
  if (repoTags !== undefined) t.strictSame(info.repoTags, repoTags, `${what}: manifest.json records ${repoTags.join(', ') || 'no tag'}`);
  return info;
}

async function expectHealthy(t: T, fe: RunningFrontEnd, what: string): Promise<void> {
  const a = await call(fe.url, '/health');
  t.equal(a.status, 200, `${what}: /health still answers 200`, a.status === 200 ? {} : { body: a.text });
  const body = parseJson(a.text) as { status?: unknown; core?: { version?: unknown } } | undefined;
  t.equal(body?.status, 'ok', `${what}: /health says ok`);
  t.equal(body?.core?.version, VERSION, `${what}: /health carries the core's version`);
}

/** A plain-text error with the right status, then a live /health. */
async function expectError(t: T, fe: RunningFrontEnd, path: string, status: number, why: RegExp, options: { method?: Dispatcher.HttpMethod; headers?: Record<string, string>; what?: string } = {}): Promise<Answer> {
  const what = options.what ?? `${options.method ?? 'GET'} ${path.length > 100 ? `${path.slice(0, 60)}…(${path.length} chars)` : path}`;
  const a = await call(fe.url, path, options);
  t.equal(a.status, status, `${what}: ${status}`, { body: a.text.slice(0, 600) });
  t.match(hdr(a, 'content-type') ?? '', /^text\/plain/, `${what}: plain text`);
  if (options.method !== 'HEAD') t.match(a.text, why, `${what}: the body says why`);
  await expectHealthy(t, fe, what);
  return a;
}

/** Pids whose parent is `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z' && Number(fields[1]) === pid) out.push(Number(entry));
  }
  return out;
}

async function until<V>(what: string, deadlineMs: number, probe: () => Promise<V | undefined>): Promise<V> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${deadlineMs} ms`);
    await delay(50);
  }
}

/** Whether a fresh TCP connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** A one-layer image whose config differs by name, so each image is recognisable by its config digest. */
const small = (name: string, platform?: Platform) =>
  buildImage({ layers: [{ files: { '/name.txt': `${name}\n` } }], labels: { name }, ...(platform ? { platform } : {}) });

t.test('the HTTP front end against real registries', async (t) => {
  if (!requireTool(t, 'docker-registry')) return;
  const credentials = { username: USER, password: PASSWORD };
  const [open, locked] = await Promise.all([startRegistry(t), startRegistry(t, { htpasswd: credentials })]);

  // Images named for the reference service's filename table; off Docker Hub single names stay single.
  const images = new Map<string, BuiltImage>();
  for (const ref of ['nginx:1.25', 'nginx:latest', 'library/nginx:latest', 'myrepo/myimage:v1.0', 'team/platform/api:2026.06', 'my-org/private-image:latest', 'my_org/my_image:my_tag', 'library/busybox:1', 'x:1', 'team/app:1']) {
    const image = await small(ref);
    const [repo, tag] = ref.split(':') as [string, string];
    await pushImage(open, repo, tag, image);
    images.set(ref, image);
  }
  const img = (ref: string): BuiltImage => {
    const image = images.get(ref);
    if (!image) throw new Error(`no test image ${ref}`);
    return image;
  };
  const amd64 = await small('multi amd64');
  const arm64 = await small('multi arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' });
  const armv7 = await small('multi arm v7', { os: 'linux', architecture: 'arm', variant: 'v7' });
  await pushIndex(open, 'multi', 'v1', buildIndex([amd64, arm64, armv7]));
  const hello = await buildImage({ layers: [busyboxLayer('gzip'), { files: { '/hello.txt': HELLO } }], cmd: ['/bin/cat', '/hello.txt'] });
  await pushImage(open, 'hello', '1', hello);
  const secret = await small('secret/app:1');
  await pushImage(locked, 'secret/app', '1', secret);

  const [feOpen, feNamespace, feRequired, feOff, feOptional, feAllowed] = await Promise.all([
    startFrontEnd(t, { env: { REGISTRY_URL: open.url } }),
    startFrontEnd(t, { env: { REGISTRY_URL: open.url, REGISTRY_DEFAULT_NAMESPACE: 'library' } }),
    startFrontEnd(t, { env: { REGISTRY_URL: locked.url, REGISTRY_CLIENT_AUTH: 'required' } }),
    startFrontEnd(t, { env: { REGISTRY_URL: locked.url, REGISTRY_CLIENT_AUTH: 'off' } }),
    startFrontEnd(t, { env: { REGISTRY_URL: locked.url, REGISTRY_CLIENT_AUTH: 'optional' } }),
    startFrontEnd(t, { env: { REGISTRY_URL: locked.url, REGISTRY_ALLOWED_HOSTS: open.host } }),
  ]);
  const withCredentials = [feOpen, feRequired, feOff, feOptional, feAllowed];
  const at = (ref: string) => `${open.host}/${ref}`;

  await t.test('GET /docker/{filename}: the filename table, REGISTRY_URL without default namespace', async (t) => {
    const digest = img('nginx:1.25').manifestDigest;
    const vectors: Array<[string, string, string[]]> = [
      ['nginx_1.25.tar', 'nginx:1.25', [at('nginx:1.25')]],
      ['nginx_latest.tar', 'nginx:latest', [at('nginx:latest')]],
      ['library_nginx_latest.tar', 'library/nginx:latest', [at('library/nginx:latest')]],
      ['myrepo_myimage_v1.0.tar', 'myrepo/myimage:v1.0', [at('myrepo/myimage:v1.0')]],
      ['team__platform__api_2026.06.tar', 'team/platform/api:2026.06', [at('team/platform/api:2026.06')]],
      ['my-org__private-image_latest.tar', 'my-org/private-image:latest', [at('my-org/private-image:latest')]],
      ['my_org__my_image:my_tag.tar', 'my_org/my_image:my_tag', [at('my_org/my_image:my_tag')]],
      [`nginx@${digest}.tar`, 'nginx:1.25', []],
      [`nginx:1.25@${digest}.tar`, 'nginx:1.25', [at('nginx:1.25')]],
    ];
    for (const [filename, ref, repoTags] of vectors) {
      await expectArchive(t, await call(feOpen.url, `/docker/${filename}`), img(ref), repoTags, `/docker/${filename}`, filename);
    }
    const encoded = 'my_org__my_image%3Amy_tag.tar';
    await expectArchive(t, await call(feOpen.url, `/docker/${encoded}`), img('my_org/my_image:my_tag'), [at('my_org/my_image:my_tag')], `/docker/${encoded}`, 'my_org__my_image:my_tag.tar');
  });

  await t.test('REGISTRY_DEFAULT_NAMESPACE=library puts single names under it', async (t) => {
    await expectArchive(t, await call(feNamespace.url, '/docker/busybox_1.tar'), img('library/busybox:1'), [at('library/busybox:1')], 'namespace: busybox_1.tar', 'busybox_1.tar');
    await expectArchive(t, await call(feNamespace.url, '/docker/myrepo_myimage_v1.0.tar'), img('myrepo/myimage:v1.0'), [at('myrepo/myimage:v1.0')], 'namespace: two components unchanged');
    await expectError(t, feOpen, '/docker/busybox_1.tar', 404, /busybox/, { what: 'no namespace: busybox_1.tar is busybox:1, which does not exist' });
  });

  await t.test('/registry/ and /registry-auth/ routes name the registry in the URL', async (t) => {
    const hostEncoded = open.host.replace(':', '%3A');
    await expectArchive(t, await call(feOpen.url, `/registry/http/${open.host}/docker/team__platform__api_2026.06.tar`), img('team/platform/api:2026.06'), [at('team/platform/api:2026.06')], '/registry/http/host:port', 'team__platform__api_2026.06.tar');
    await expectArchive(t, await call(feOpen.url, `/registry/http/${hostEncoded}/docker/nginx_1.25.tar`), img('nginx:1.25'), [at('nginx:1.25')], '/registry/http/host%3Aport', 'nginx_1.25.tar');
    await expectArchive(t, await call(feNamespace.url, `/registry/http/${locked.host}/docker/secret_app_1.tar`, { headers: { authorization: GOOD_AUTH } }), secret, [`${locked.host}/secret/app:1`], '/registry/ to the htpasswd registry with client credentials');
    await expectError(t, feOpen, `/registry/http/${locked.host}/docker/secret_app_1.tar`, 401, /secret\/app/, { what: '/registry/ to the htpasswd registry without credentials' });

    const authPath = `/registry-auth/http/${locked.host}/docker/secret_app_1.tar`;
    // The device's two steps: no Authorization until challenged, then the same URL with it.
    const first = await expectError(t, feOpen, authPath, 401, /credentials/, { what: '/registry-auth/ without Authorization' });
    t.equal(hdr(first, 'www-authenticate'), CHALLENGE, '/registry-auth/ challenges for Basic credentials');
    await expectArchive(t, await call(feOpen.url, authPath, { headers: { authorization: GOOD_AUTH } }), secret, [`${locked.host}/secret/app:1`], '/registry-auth/ retried with Authorization', 'secret_app_1.tar');
    const wrong = await expectError(t, feOpen, authPath, 401, /secret\/app/, { headers: { authorization: WRONG_AUTH }, what: '/registry-auth/ with wrong credentials' });
    t.equal(hdr(wrong, 'www-authenticate'), CHALLENGE, 'wrong credentials: challenged again');
    const garbage = await expectError(t, feOpen, authPath, 401, /credentials/, { headers: { authorization: 'Bearer not-basic' }, what: '/registry-auth/ with a non-Basic Authorization' });
    t.equal(hdr(garbage, 'www-authenticate'), CHALLENGE, 'non-Basic Authorization: challenged');
    await expectArchive(t, await call(feOpen.url, `/registry-auth/http/${locked.host.replace(':', '%3A')}/docker/secret_app_1.tar`, { headers: { authorization: GOOD_AUTH } }), secret, undefined, '/registry-auth/ with a percent-encoded port');
  });

  await t.test('REGISTRY_CLIENT_AUTH on /docker/ routes', async (t) => {
    const path = '/docker/secret_app_1.tar';
    const tags = [`${locked.host}/secret/app:1`];

    const challenged = await expectError(t, feRequired, path, 401, /credentials/, { what: 'required, no Authorization' });
    t.equal(hdr(challenged, 'www-authenticate'), CHALLENGE, 'required: challenge');
    await expectArchive(t, await call(feRequired.url, path, { headers: { authorization: GOOD_AUTH } }), secret, tags, 'required, retried with Authorization', 'secret_app_1.tar');
    await expectError(t, feRequired, path, 401, /secret\/app/, { headers: { authorization: WRONG_AUTH }, what: 'required, wrong credentials' });

    const ignored = await expectError(t, feOff, path, 401, /secret\/app/, { headers: { authorization: GOOD_AUTH }, what: 'off: client credentials are ignored, the registry refuses' });
    t.equal(hdr(ignored, 'www-authenticate'), undefined, 'off: no invitation to send credentials that would be ignored');

    const invited = await expectError(t, feOptional, path, 401, /secret\/app/, { what: 'optional, no Authorization: the registry refuses' });
    t.equal(hdr(invited, 'www-authenticate'), CHALLENGE, 'optional: the registry refused, so the device is invited to send credentials');
    await expectArchive(t, await call(feOptional.url, path, { headers: { authorization: GOOD_AUTH } }), secret, tags, 'optional: credentials used when sent');
  });

  await t.test('platform prefix and ?platform= on a multi-platform index', async (t) => {
    const check = async (path: string, image: BuiltImage, arch: string, variant: string | undefined) => {
      const info = await expectArchive(t, await call(feOpen.url, path), image, [at('multi:v1')], path, 'multi_v1.tar');
      t.equal(info?.config.architecture, arch, `${path}: config architecture ${arch}`);
      t.equal(info?.config.variant, variant, `${path}: config variant ${variant ?? 'none'}`);
    };
    await check('/docker/multi_v1.tar', amd64, 'amd64', undefined);
    await check('/platform/linux/arm64/docker/multi_v1.tar', arm64, 'arm64', 'v8');
    await check('/docker/multi_v1.tar?platform=linux/arm64', arm64, 'arm64', 'v8');
    await check('/platform/linux/arm/v7/docker/multi_v1.tar', armv7, 'arm', 'v7');
    await check(`/platform/linux/arm64/registry/http/${open.host}/docker/multi_v1.tar`, arm64, 'arm64', 'v8');
  });

  await t.test('?format=oci', async (t) => {
    const info = await expectArchive(t, await call(feOpen.url, '/docker/nginx_1.25.tar?format=oci'), img('nginx:1.25'), [at('nginx:1.25')], 'format=oci', 'nginx_1.25.tar');
    t.ok(info?.names.includes('oci-layout'), 'format=oci: oci-layout');
    t.ok(info?.names.includes('index.json'), 'format=oci: index.json');
    const docker = await archiveInfo((await call(feOpen.url, '/docker/nginx_1.25.tar')).body);
    t.notOk(docker.names.includes('oci-layout'), 'the default format has no oci-layout');
  });

  await t.test('response headers, HEAD, Range, ETag', async (t) => {
    const filename = 'myrepo_myimage_v1.0.tar';
    const path = `/docker/${filename}`;
    const full = await call(feOpen.url, path);
    await expectArchive(t, full, img('myrepo/myimage:v1.0'), undefined, 'GET', filename);
    const etag = hdr(full, 'etag');
    t.ok(etag, 'GET: an ETag');

    const head = await call(feOpen.url, path, { method: 'HEAD' });
    t.equal(head.status, 200, 'HEAD: 200');
    t.equal(head.body.length, 0, 'HEAD: no body');
    for (const name of ['content-type', 'content-disposition', 'content-length', 'etag']) {
      t.equal(hdr(head, name), hdr(full, name), `HEAD: same ${name} as GET`);
    }

    const from = Math.floor(full.body.length / 2) + 123;
    const tail = await call(feOpen.url, path, { headers: { range: `bytes=${from}-` } });
    t.equal(tail.status, 206, 'Range: 206');
    t.equal(hdr(tail, 'content-range'), `bytes ${from}-${full.body.length - 1}/${full.body.length}`, 'Range: content-range');
    t.equal(hdr(tail, 'content-length'), String(full.body.length - from), 'Range: content-length of the tail');
    t.ok(tail.body.equals(full.body.subarray(from)), 'Range: exactly the tail bytes');

    const again = await call(feOpen.url, path);
    t.equal(hdr(again, 'etag'), etag, 'a second GET: same ETag');
    t.ok(again.body.equals(full.body), 'a second GET: same bytes');
  });

  await t.test('an HTTP/1.0 client gets a Content-Length and exactly that many bytes', async (t) => {
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: feOpen.port });
      const chunks: Buffer[] = [];
      socket.setTimeout(60_000, () => socket.destroy(new Error('no end of the HTTP/1.0 response within 60 s')));
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.once('end', () => resolve(Buffer.concat(chunks)));
      socket.once('error', reject);
      socket.write('GET /docker/x_1.tar HTTP/1.0\r\n\r\n');
    });
    const split = raw.indexOf('\r\n\r\n');
    t.ok(split > 0, 'a header block');
    const head = raw.subarray(0, split).toString('latin1').split('\r\n');
    const body = raw.subarray(split + 4);
    t.match(head[0] ?? '', /^HTTP\/1\.[01] 200 /, 'status 200');
    const fields = new Map(head.slice(1).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
    t.notOk(fields.has('transfer-encoding'), 'no chunked encoding for HTTP/1.0');
    t.ok(fields.has('content-length'), 'a Content-Length');
    t.equal(body.length, Number(fields.get('content-length')), 'exactly Content-Length bytes');
    const info = await archiveInfo(body);
    t.equal(info.configDigest, img('x:1').configDigest, 'the archive of x:1');
  });

  await t.test('errors are plain text with the right status; /health answers after each', async (t) => {
    await expectError(t, feOpen, '/docker/nginx.tar', 400, /underscore/);
    await expectError(t, feOpen, '/docker/Nginx_latest.tar', 400, /lower case/);
    await expectError(t, feOpen, '/docker/nginx_.tar', 400, /tag is empty/);
    await expectError(t, feOpen, '/docker/_latest.tar', 400, /image name is empty/);
    await expectError(t, feOpen, '/docker/nginx_latest.zip', 400, /\.tar/);
    await expectError(t, feOpen, '/docker/nginx@sha256:abc.tar', 400, /digest/);
    await expectError(t, feOpen, '/docker/nginx_1.25.tar?format=zip', 400, /format/);
    await expectError(t, feOpen, `/registry/ftp/${open.host}/docker/x_1.tar`, 400, /scheme/);
    await expectError(t, feOpen, '/docker/nginx_9.9.tar', 404, /nginx:9\.9/, { what: 'unknown tag' });
    await expectError(t, feOpen, '/docker/nosuch_1.tar', 404, /nosuch/, { what: 'unknown image' });
    await expectError(t, feOpen, '/platform/linux/s390x/docker/multi_v1.tar', 404, /s390x/, { what: 'a platform the index does not offer' });
    await expectError(t, feOpen, '/no/such/route', 404, /no route/);
    for (const method of ['POST', 'PUT', 'DELETE'] as const) {
      const a = await expectError(t, feOpen, '/docker/x_1.tar', 405, new RegExp(method), { method });
      t.match(hdr(a, 'allow') ?? '', /GET/, `${method}: Allow names GET`);
    }
    await expectError(t, feOpen, `/docker/${'a'.repeat(5000)}_1.tar`, 414, /URI Too Long/);
    await expectError(t, feOpen, '/registry/http/169.254.169.254/docker/x_1.tar', 403, /169\.254\.169\.254/, { what: 'cloud metadata address' });
    await expectError(t, feOpen, '/registry/http/[fe80::1]:5000/docker/x_1.tar', 403, /fe80::1/, { what: 'IPv6 link-local address' });
    await expectError(t, feOpen, '/registry-auth/http/metadata.google.internal/docker/x_1.tar', 403, /metadata\.google\.internal/, { headers: { authorization: GOOD_AUTH }, what: 'metadata name on /registry-auth/' });
    const dead = await freePort();
    await expectError(t, feOpen, `/registry/http/127.0.0.1:${dead}/docker/x_1.tar`, 502, new RegExp(`127\\.0\\.0\\.1:${dead}`), { what: 'a registry that does not listen' });
    await expectError(t, feOpen, '/docker/nosuch_1.tar', 404, /^$/, { method: 'HEAD', what: 'HEAD of an unknown image' });
  });

  await t.test('REGISTRY_ALLOWED_HOSTS limits the registries a URL may name', async (t) => {
    await expectArchive(t, await call(feAllowed.url, `/registry/http/${open.host}/docker/x_1.tar`), img('x:1'), [at('x:1')], 'an allowed host');
    await expectError(t, feAllowed, `/registry/http/${locked.host}/docker/secret_app_1.tar`, 403, /REGISTRY_ALLOWED_HOSTS/, { headers: { authorization: GOOD_AUTH }, what: '/registry/ to a host outside the list' });
    await expectError(t, feAllowed, `/registry-auth/http/${locked.host}/docker/secret_app_1.tar`, 403, /REGISTRY_ALLOWED_HOSTS/, { headers: { authorization: GOOD_AUTH }, what: '/registry-auth/ to a host outside the list' });
    await expectError(t, feAllowed, `/registry/http/${open.host.replace(/:\d+$/, ':1')}/docker/x_1.tar`, 403, /REGISTRY_ALLOWED_HOSTS/, { what: 'the allowed host on another port' });
    await expectArchive(t, await call(feAllowed.url, '/docker/secret_app_1.tar', { headers: { authorization: GOOD_AUTH } }), secret, undefined, '/docker/: the configured registry is not a URL-named one');
  });

  await t.test('/ answers HTML; /download redirects to a path that downloads', async (t) => {
    const page = await call(feOpen.url, '/');
    t.equal(page.status, 200, '/: 200');
    t.match(hdr(page, 'content-type') ?? '', /^text\/html/, '/: HTML');
    t.match(page.text, /<html/i, '/: an HTML document');

    const redirect = await call(feOpen.url, `/download?image=${encodeURIComponent(at('team/app:1'))}&platform=linux/amd64`);
    t.equal(redirect.status, 302, '/download: 302');
    const location = hdr(redirect, 'location') ?? '';
    t.match(location, /^\/\S*\.tar(\?|$)/, '/download: to a path on this service');
    await expectArchive(t, await call(feOpen.url, location), img('team/app:1'), [at('team/app:1')], `the redirect target ${location}`);
  });

  await t.test('docker load + docker run of an archive fetched through the front end', async (t) => {
    if (!requireTool(t, 'dockerd') || !requireTool(t, 'docker')) return;
    const d = await startDockerd(t);
    if (!d) return;
    const a = await call(feOpen.url, '/docker/hello_1.tar');
    await expectArchive(t, a, hello, [at('hello:1')], 'hello_1.tar', 'hello_1.tar');
    const file = join(tempDir(t, 'http-docker-'), 'hello_1.tar');
    writeFileSync(file, a.body);
    const load = await d.docker(['load', '-i', file]);
    t.equal(load.code, 0, 'docker load succeeds', { stderr: load.stderr });
    t.match(load.stdout, `Loaded image: ${at('hello:1')}`, 'docker load names the image');
    const run = await d.docker(['run', '--rm', '--network', 'none', at('hello:1')]);
    t.equal(run.code, 0, 'docker run exits 0', { stderr: run.stderr });
    t.equal(run.stdout, HELLO, 'the container prints its layer\'s file');
  });

  await t.test('--core-socket: a core someone else runs', async (t) => {
    const core = await startCore(t);
    const fe = await startFrontEnd(t, { args: ['--core-socket', core.socketPath], env: { REGISTRY_URL: open.url } });
    t.strictSame(childrenOf(fe.process.pid!), [], 'the front end spawned no core of its own');
    await expectHealthy(t, fe, 'external core');
    await expectArchive(t, await call(fe.url, '/docker/nginx_1.25.tar'), img('nginx:1.25'), [at('nginx:1.25')], 'download through the external core');
    await core.stop();
    const down = await until('/health reports the external core gone', 15_000, async () => {
      const a = await call(fe.url, '/health');
      return a.status === 200 ? undefined : a;
    });
    t.equal(down.status, 503, 'external core stopped: /health 503');
    const failed = await call(fe.url, '/docker/nginx_1.25.tar');
    t.equal(failed.status, 502, 'external core stopped: a download is 502', { body: failed.text });
  });

  await t.test('the private core is restarted when it dies', async (t) => {
    const fe = await startFrontEnd(t, { env: { REGISTRY_URL: open.url } });
    const pid = fe.process.pid!;
    const before = childrenOf(pid);
    t.equal(before.length, 1, 'the front end runs one core');
    const old = before[0]!;
    await expectArchive(t, await call(fe.url, '/docker/nginx_1.25.tar'), img('nginx:1.25'), undefined, 'before the kill');
    process.kill(old, 'SIGKILL');
    // A new child exists only once the old one exited; /health then answers from the new one.
    const replacement = await until('a new core', 30_000, async () => {
      const now = childrenOf(pid).filter((p) => p !== old);
      if (now.length === 0) return undefined;
      const a = await call(fe.url, '/health');
      return a.status === 200 ? now[0] : undefined;
    });
    t.not(replacement, old, 'a new core process');
    await expectHealthy(t, fe, 'after the restart');
    await expectArchive(t, await call(fe.url, '/docker/nginx_1.25.tar'), img('nginx:1.25'), [at('nginx:1.25')], 'a download after the restart');
  });

  await t.test('SIGTERM lets a download in progress finish, then the process exits 0', async (t) => {
    const big = await buildImage({ layers: [{ compression: 'none', files: { '/big.bin': randomBytes(48 * 1024 * 1024) } }], labels: { name: 'big' } });
    await pushImage(open, 'big', '1', big);
    const reference = await call(feOpen.url, '/docker/big_1.tar');
    t.equal(reference.status, 200, 'reference download: 200');

    const fe = await startFrontEnd(t, { env: { REGISTRY_URL: open.url } });
    const chunks: Buffer[] = [];
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpGet(`${fe.url}/docker/big_1.tar`, { agent: false }, (res) => {
        res.once('data', (chunk: Buffer) => {
          chunks.push(chunk);
          res.pause(); // a device that stopped reading for a while
          resolve(res);
        });
        res.once('error', reject);
      });
      req.once('error', reject);
    });
    t.equal(res.statusCode, 200, 'the download started');
    const length = Number(res.headers['content-length']);
    t.equal(length, reference.body.length, 'its Content-Length is the archive size');
    const ended = new Promise<boolean>((resolve) => {
      res.once('end', () => resolve(true));
      res.once('close', () => resolve(res.complete));
      res.once('error', () => resolve(false));
    });

    fe.process.kill('SIGTERM');
    await until('the front end stops accepting connections', 15_000, async () => ((await refused(fe.port)) ? true : undefined));
    t.equal(fe.process.exitCode, null, 'still running while the download is open');

    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.resume();
    t.ok(await ended, 'the download ended complete');
    const body = Buffer.concat(chunks);
    t.equal(body.length, length, 'every byte arrived');
    t.equal(sha256hex(body), sha256hex(reference.body), 'the same bytes as an undisturbed download');
    t.equal(await fe.exited, 0, 'the front end exits 0');
  });

  await t.test('the logs never hold the password or the Basic credentials', async (t) => {
    const secrets = [PASSWORD, WRONG, GOOD_AUTH.slice('Basic '.length), WRONG_AUTH.slice('Basic '.length), Buffer.from(PASSWORD).toString('base64')];
    for (const [i, fe] of withCredentials.entries()) {
      const out = fe.output();
      t.match(out, /"msg":"request"/, `front end ${i}: its log records requests (so the check is not vacuous)`);
      for (const s of secrets) t.notOk(out.includes(s), `front end ${i}: the log does not contain ${s.slice(0, 6)}…`);
    }
  });
});
