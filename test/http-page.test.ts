// The web page and its URL builder: filenames that read back as the same image, download paths
// that route.ts and filename.ts read back, a self-contained page, browser assets that really run,
// and (with chromium) the page in a real browser.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { parseFilename, type FilenameImage } from '../frontends/http/filename.ts';
import { pageAssets, renderPage, type PageOptions } from '../frontends/http/page.ts';
import { parseDownloadPath } from '../frontends/http/route.ts';
import * as builder from '../frontends/http/url-builder.ts';
import { buildDownload, curlCommand, downloadPath, formatBytes, imageFilename, inspectPath, iosXeCopyCommand, localFilename, type DownloadInput } from '../frontends/http/url-builder.ts';
import { DOCKER_HUB, isDockerHub, parseReference } from '../protocol/reference.ts';
import { requireTool, tempDir, type T } from './support/tools.ts';

const HEX = '0123456789abcdef'.repeat(4);
const DIGEST = `sha256:${HEX}`;
const SHA512 = `sha512:${'ab'.repeat(64)}`;
const OTHER = 'registry.local:5000';

interface Vector {
  repository: string;
  tag?: string;
  digest?: string;
  hub: boolean;
  namespace?: string;
  filename?: string;
}

const VECTORS: Vector[] = [
  // Docker Hub, library and user repositories.
  { repository: 'library/nginx', tag: 'latest', hub: true, filename: 'nginx_latest.tar' },
  { repository: 'library/nginx', tag: '1.27', hub: true, filename: 'nginx_1.27.tar' },
  { repository: 'library/busybox', tag: '1.36.1-musl', hub: true, filename: 'busybox_1.36.1-musl.tar' },
  { repository: 'library/nginx', hub: true, filename: 'nginx_latest.tar' },
  { repository: 'library/nginx', tag: 'V1.0', hub: true, filename: 'nginx_V1.0.tar' },
  { repository: 'library/nginx', tag: 'v1.tar', hub: true, filename: 'nginx_v1.tar.tar' },
  { repository: 'library/my-app.v2', tag: 'v1.0-rc.1', hub: true, filename: 'my-app.v2_v1.0-rc.1.tar' },
  { repository: 'myrepo/myimage', tag: 'v1.0', hub: true, filename: 'myrepo__myimage_v1.0.tar' },
  { repository: 'team/platform/api', tag: '2026.06', hub: true, filename: 'team__platform__api_2026.06.tar' },
  { repository: 'a/b/c/d/e', tag: 'x', hub: true, filename: 'a__b__c__d__e_x.tar' },
  { repository: 'library/nginx', tag: 'my_tag', hub: true, filename: 'nginx:my_tag.tar' },
  { repository: 'my_org/my_image', tag: 'my_tag', hub: true, filename: 'my_org__my_image:my_tag.tar' },
  { repository: 'my_org/app', tag: '1', hub: true, filename: 'my_org__app:1.tar' },
  { repository: 'me/app', tag: '_private', hub: true, filename: 'me__app:_private.tar' },
  { repository: 'me/app', tag: `t${'x'.repeat(127)}`, hub: true },
  { repository: 'library/nginx', digest: DIGEST, hub: true, filename: `nginx@${DIGEST}.tar` },
  { repository: 'library/nginx', tag: '1.27', digest: DIGEST, hub: true, filename: `nginx:1.27@${DIGEST}.tar` },
  { repository: 'library/nginx', digest: SHA512, hub: true, filename: `nginx@${SHA512}.tar` },
  { repository: 'my_org/my_image', tag: 'a_b', digest: DIGEST, hub: true, filename: `my_org__my_image:a_b@${DIGEST}.tar` },
  { repository: 'library/a_b', tag: '1', hub: true, filename: 'a_b:1.tar' },
  // Another registry, no default namespace: single names stay single.
  { repository: 'app', tag: '1', hub: false, filename: 'app_1.tar' },
  { repository: 'team/app', tag: '1', hub: false, filename: 'team__app_1.tar' },
  { repository: 'team/app', tag: 'my_tag', hub: false, filename: 'team__app:my_tag.tar' },
  { repository: 'my_team/app', tag: '1', hub: false, filename: 'my_team__app:1.tar' },
  { repository: 'app', digest: DIGEST, hub: false, filename: `app@${DIGEST}.tar` },
  { repository: 'library/nginx', tag: '1', hub: false, filename: 'library__nginx_1.tar' },
  // Default namespace on another registry: dropped when it matches.
  { repository: 'team/app', tag: '1', hub: false, namespace: 'team', filename: 'app_1.tar' },
  { repository: 'other/app', tag: '1', hub: false, namespace: 'team', filename: 'other__app_1.tar' },
  { repository: 'team/sub/app', tag: '1', hub: false, namespace: 'team', filename: 'team__sub__app_1.tar' },
  { repository: 'team/app_x', tag: '1', hub: false, namespace: 'team', filename: 'app_x:1.tar' },
  { repository: 'team/app', digest: DIGEST, hub: false, namespace: 'team', filename: `app@${DIGEST}.tar` },
  { repository: 'my_team/app', tag: '1', hub: false, namespace: 'my_team', filename: 'app_1.tar' },
  { repository: 'my_team/x/app', tag: '1', hub: false, namespace: 'my_team', filename: 'my_team__x__app:1.tar' },
  { repository: 'a/b/app', tag: '1', hub: false, namespace: 'a/b', filename: 'app_1.tar' },
  // Default namespace on Docker Hub: it, not library/, takes single names.
  { repository: 'myorg/app', tag: '1', hub: true, namespace: 'myorg', filename: 'app_1.tar' },
  { repository: 'library/nginx', tag: 'latest', hub: true, namespace: 'myorg', filename: 'library__nginx_latest.tar' },
];

function expected(v: { repository: string; tag?: string; digest?: string }): FilenameImage {
  const image: FilenameImage = { repository: v.repository };
  const tag = v.tag ?? (v.digest === undefined ? 'latest' : undefined);
  if (tag !== undefined) image.tag = tag;
  if (v.digest !== undefined) image.digest = v.digest.toLowerCase();
  return image;
}

t.test('imageFilename reads back through parseFilename', async (t) => {
  t.ok(VECTORS.length >= 30, `${VECTORS.length} vectors`);
  for (const v of VECTORS) {
    const filename = imageFilename(v.repository, v.tag, v.digest, v.hub, v.namespace);
    if (v.filename !== undefined) t.equal(filename, v.filename, `${v.repository}:${v.tag ?? ''}@${v.digest ?? ''} ns=${v.namespace ?? ''}`);
    t.same(parseFilename(filename, v.hub ? DOCKER_HUB : OTHER, v.namespace), expected(v), `${filename} reads back`);
  }
  t.equal(imageFilename('library/nginx', undefined, `sha256:${HEX.toUpperCase()}`, true), `nginx@${DIGEST}.tar`, 'digest hex lower-cased');
});

t.test('imageFilename refuses what no filename can name', async (t) => {
  t.throws(() => imageFilename('a__b/c', '1', undefined, false), /double underscore/, '__ inside a component');
  t.throws(() => imageFilename('nginx', '1', undefined, true), /library\/nginx/, 'a single name on Docker Hub');
  t.throws(() => imageFilename('app', '1', undefined, false, 'team'), /team\/app/, 'a single name under a default namespace');
  t.throws(() => imageFilename('Team/app', '1', undefined, false), /valid/, 'upper case');
  t.throws(() => imageFilename('team/app', 'bad tag', undefined, false), /tag/, 'bad tag');
  t.throws(() => imageFilename('team/app', undefined, 'sha256:123', false), /digest/, 'bad digest');
});

t.test('imageFilename round trip over generated names', async (t) => {
  let seed = 42;
  const random = (n: number) => {
    // mulberry32: small, deterministic, and exact in 32-bit integer arithmetic.
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), seed | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
  const pick = <X>(xs: readonly X[]): X => xs[random(xs.length)]!;
  const components = ['a', 'app', 'my_org', 'x.y', 'a-b', 'a--b', 'library', 'team', 'n1', 'a_b_c', 'z9.z'];
  const tags = [undefined, 'latest', '1.0', 'my_tag', '_x', 'A.b-C', 'v1_2', '0'];
  const namespaces = [undefined, 'team', 'my_org', 'library'];
  let checked = 0;
  let refused = 0;
  for (let i = 0; i < 2000; i++) {
    const repository = Array.from({ length: 1 + random(4) }, () => pick(components)).join('/');
    const tag = pick(tags);
    const digest = random(4) === 0 ? DIGEST : undefined;
    const hub = random(2) === 0;
    const namespace = pick(namespaces);
    let filename: string;
    try {
      filename = imageFilename(repository, tag, digest, hub, namespace);
    } catch {
      // Only a single-component name where single names get a namespace has no filename.
      const implied = namespace || (hub ? 'library' : '');
      if (!(implied !== '' && !repository.includes('/'))) t.fail(`refused ${repository} hub=${hub} ns=${namespace}`);
      refused++;
      continue;
    }
    const back = parseFilename(filename, hub ? DOCKER_HUB : OTHER, namespace);
    if (JSON.stringify(back) !== JSON.stringify(expected({ repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) }))) {
      t.fail(`${repository}:${tag}@${digest} hub=${hub} ns=${namespace} → ${filename} → ${JSON.stringify(back)}`);
    }
    checked++;
  }
  t.ok(checked > 1500, `${checked} generated names read back (${refused} rightly refused)`);
});

const HUB_DEFAULT = { defaultRegistry: { host: 'docker.io', scheme: 'https' as const }, defaultPlatform: 'linux/amd64' };

t.test('downloadPath vectors', async (t) => {
  const path = (image: string, extra: Partial<DownloadInput> = {}) => downloadPath({ ...HUB_DEFAULT, image, ...extra });
  t.equal(path('nginx:1.27'), '/docker/nginx_1.27.tar');
  t.equal(path('nginx'), '/docker/nginx_latest.tar');
  t.equal(path('docker.io/library/nginx:1.27'), '/docker/nginx_1.27.tar');
  t.equal(path('index.docker.io/me/app:2'), '/docker/me__app_2.tar');
  t.equal(path('docker://alpine:3.20'), '/docker/alpine_3.20.tar');
  t.equal(path('  nginx:1.27  '), '/docker/nginx_1.27.tar', 'white space trimmed');
  t.equal(path('ghcr.io/org/app:tag'), '/registry/https/ghcr.io/docker/org__app_tag.tar');
  t.equal(path('registry.local:5000/team/app:1'), '/registry/https/registry.local%3A5000/docker/team__app_1.tar');
  t.equal(path('registry.local:5000/team/app:1', { scheme: 'http' }), '/registry/http/registry.local%3A5000/docker/team__app_1.tar');
  t.equal(path('http://registry.local:5000/team/app:1'), '/registry/http/registry.local%3A5000/docker/team__app_1.tar', 'http:// prefix sets the scheme');
  t.equal(path('nginx:1.27', { scheme: 'http', credentials: true }), '/registry-auth/https/docker.io/docker/nginx_1.27.tar', 'Docker Hub is always https');
  t.equal(path('ghcr.io/org/app:tag', { credentials: true }), '/registry-auth/https/ghcr.io/docker/org__app_tag.tar');
  t.equal(path('nginx:1.27', { platform: 'linux/arm64' }), '/platform/linux/arm64/docker/nginx_1.27.tar');
  t.equal(path('nginx:1.27', { platform: 'linux/arm/v7' }), '/platform/linux/arm/v7/docker/nginx_1.27.tar');
  t.equal(path('nginx:1.27', { platform: 'Linux/AMD64' }), '/docker/nginx_1.27.tar', 'the default platform needs no prefix');
  t.equal(path('nginx:1.27', { platform: '' }), '/docker/nginx_1.27.tar', 'empty platform is the default');
  t.equal(path('nginx:1.27', { format: 'oci' }), '/docker/nginx_1.27.tar?format=oci');
  t.equal(path('nginx:1.27', { format: 'docker' }), '/docker/nginx_1.27.tar');
  t.equal(
    path('ghcr.io/org/app:tag', { platform: 'linux/arm64', format: 'oci', credentials: true }),
    '/platform/linux/arm64/registry-auth/https/ghcr.io/docker/org__app_tag.tar?format=oci',
  );
  t.equal(path('my_org/my_image:my_tag'), '/docker/my_org__my_image%3Amy_tag.tar', 'explicit form, : percent-encoded');
  t.equal(path(`nginx:1.27@${DIGEST}`), `/docker/nginx%3A1.27%40sha256%3A${HEX}.tar`);
  t.equal(path('[::1]:5000/x/y:z'), '/registry/https/%5B%3A%3A1%5D%3A5000/docker/x__y_z.tar');

  const local = { defaultRegistry: { host: OTHER, scheme: 'http' as const }, defaultPlatform: 'linux/arm64', defaultNamespace: 'team' };
  t.equal(downloadPath({ ...local, image: `${OTHER}/app:1` }), '/docker/app_1.tar', 'default namespace dropped on the default registry');
  t.equal(downloadPath({ ...local, image: `${OTHER}/team/app:1` }), '/docker/app_1.tar');
  t.equal(downloadPath({ ...local, image: `${OTHER}/other/app:1` }), '/docker/other__app_1.tar');
  t.equal(downloadPath({ ...local, image: `${OTHER}/app:1`, credentials: true }), '/registry-auth/http/registry.local%3A5000/docker/team__app_1.tar', 'the default registry\'s scheme, namespace kept');
  t.equal(downloadPath({ ...local, image: 'nginx:1.27' }), '/registry/https/docker.io/docker/library__nginx_1.27.tar', 'Docker Hub keeps library/ while a namespace is configured');
  t.equal(downloadPath({ ...local, image: 'nginx:1.27', platform: 'linux/amd64' }), '/platform/linux/amd64/registry/https/docker.io/docker/library__nginx_1.27.tar');
  t.equal(downloadPath({ ...local, image: `${OTHER}/app:1`, platform: 'linux/arm64' }), '/docker/app_1.tar');

  const d = buildDownload({ ...HUB_DEFAULT, image: `nginx:1.27@${DIGEST}`, platform: 'linux/arm64', format: 'oci' });
  t.match(d, { kind: 'docker', registry: 'docker.io', repository: 'library/nginx', tag: '1.27', digest: DIGEST, platform: 'linux/arm64', format: 'oci', filename: `nginx:1.27@${DIGEST}.tar`, localFilename: 'nginx_1.27_sha256-0123456789ab.tar' });
});

t.test('downloadPath refuses bad input with a clear message', async (t) => {
  const attempt = (extra: Partial<DownloadInput>) => () => downloadPath({ ...HUB_DEFAULT, image: 'nginx', ...extra });
  t.throws(attempt({ image: '' }), /enter an image reference/);
  t.throws(attempt({ image: 'Nginx' }), /"Nginx" is not an image reference: .*lower case/);
  t.throws(attempt({ image: 'nginx:bad!tag' }), /invalid tag/);
  t.throws(attempt({ image: 'nginx latest' }), /white space/);
  t.throws(attempt({ image: 'nginx@sha256:abc' }), /digest/);
  t.throws(attempt({ image: 'a__b/c' }), /double underscore/);
  t.throws(attempt({ platform: 'linux' }), /"linux" is not a platform/);
  t.throws(attempt({ platform: 'linux/arm/v7/x' }), /not a platform/);
  t.throws(attempt({ platform: 'linux/arm/docker' }), /variant/);
  t.throws(attempt({ format: 'tar' as 'oci' }), /docker or oci/);
  t.throws(attempt({ image: 'ghcr.io/a/b', scheme: 'ftp' as 'http' }), /http or https/);
});

t.test('every download path reads back as the same image', async (t) => {
  const configs: Array<Omit<DownloadInput, 'image'>> = [
    HUB_DEFAULT,
    { defaultRegistry: { host: 'docker.io', scheme: 'https' }, defaultPlatform: 'linux/amd64', defaultNamespace: 'myorg' },
    { defaultRegistry: { host: OTHER, scheme: 'http' }, defaultPlatform: 'linux/arm64', defaultNamespace: 'team' },
    { defaultRegistry: { host: 'ghcr.io', scheme: 'https' }, defaultPlatform: 'linux/arm/v7' },
  ];
  const images = [
    'nginx', 'nginx:1.27', 'library/nginx:1.27', 'docker.io/library/nginx', 'index.docker.io/me/app:2', 'me/app:my_tag',
    'myorg/app:1', 'ghcr.io/org/app:tag', 'ghcr.io/my_org/app:v1', 'ghcr.io/app:1', `${OTHER}/team/app:1`, `${OTHER}/app:1`,
    `${OTHER}/sub/app@${DIGEST}`, `${OTHER}/team/x_y:a_b`, 'localhost:5000/x:y', '[::1]:5000/x/y:z', 'quay.io/a/b/c:1.0',
    `nginx@${DIGEST}`, `nginx:1.27@${DIGEST}`, 'docker://alpine:3.20', `http://${OTHER}/team/app:1`, 'ghcr.io/org/app:_x.y-z',
  ];
  const options: Array<Partial<DownloadInput>> = [
    {}, { platform: 'linux/arm64' }, { platform: 'linux/arm/v7' }, { platform: 'linux/amd64' }, { format: 'oci' }, { credentials: true },
    { credentials: true, platform: 'linux/s390x', format: 'oci' }, { scheme: 'http' },
  ];
  let checked = 0;
  for (const config of configs) {
    for (const image of images) {
      for (const option of options) {
        const input: DownloadInput = { ...config, image, ...option };
        const path = downloadPath(input);
        const url = new URL(path, 'http://device.example:8080');
        t.equal(url.pathname + url.search, path, `${path} survives URL parsing`);
        const route = parseDownloadPath(url.pathname);
        if (route === undefined) {
          t.fail(`${path} is not a download route`);
          continue;
        }
        const registry = route.kind === 'docker' ? config.defaultRegistry.host : route.host!;
        // filename.ts: the default namespace applies to /docker/ routes.
        const namespace = route.kind === 'docker' ? config.defaultNamespace : undefined;
        const back = parseFilename(route.filename, isDockerHub(registry) ? DOCKER_HUB : registry, namespace);
        const plain = image.replace(/^https?:\/\//, '');
        const reference = parseReference(plain);
        const isDefault = reference.registry === (isDockerHub(config.defaultRegistry.host) ? DOCKER_HUB : config.defaultRegistry.host);
        const want = isDefault && config.defaultNamespace ? parseReference(plain, { defaultNamespace: config.defaultNamespace }) : reference;
        const label = `${image} ${JSON.stringify(option)} via ${JSON.stringify(config.defaultRegistry)} ns=${config.defaultNamespace ?? ''} → ${path}`;
        t.equal(isDockerHub(registry) ? DOCKER_HUB : registry, want.registry, `${label}: registry`);
        t.same(back, expected(want), `${label}: image`);
        // Docker Hub names keep library/ on /registry/ routes while a namespace is configured, so
        // they read back the same whether or not the server applies it there.
        if (route.kind !== 'docker' && config.defaultNamespace && isDockerHub(registry)) {
          t.same(parseFilename(route.filename, isDockerHub(registry) ? DOCKER_HUB : registry, config.defaultNamespace), back, `${label}: same with the namespace applied`);
        }
        t.equal(route.platform ?? config.defaultPlatform, (option.platform ?? config.defaultPlatform).toLowerCase(), `${label}: platform`);
        t.equal(url.searchParams.get('format') ?? 'docker', option.format ?? 'docker', `${label}: format`);
        if (route.kind !== 'docker') {
          const scheme = isDockerHub(registry) ? 'https' : image.startsWith('http://') ? 'http' : (option.scheme ?? (isDefault ? config.defaultRegistry.scheme : 'https'));
          t.equal(route.scheme, scheme, `${label}: scheme`);
        }
        t.equal(route.kind, option.credentials ? 'registry-auth' : isDefault ? 'docker' : 'registry', `${label}: route`);
        checked++;
      }
    }
  }
  t.ok(checked >= configs.length * images.length * options.length, `${checked} paths read back`);
});

t.test('commands and helpers', async (t) => {
  const url = 'http://10.0.0.5:8080/docker/nginx_1.27.tar';
  t.equal(iosXeCopyCommand(url, 'nginx_1.27.tar'), 'copy http://10.0.0.5:8080/docker/nginx_1.27.tar flash:nginx_1.27.tar');
  t.equal(curlCommand(url, 'nginx_1.27.tar', false), `curl -fSL -o nginx_1.27.tar '${url}'`);
  t.equal(curlCommand(url, 'nginx_1.27.tar', true), `curl -fSL -o nginx_1.27.tar -u USER:TOKEN '${url}'`);
  t.equal(curlCommand("http://h/it's", "a b.tar", false), `curl -fSL -o 'a b.tar' 'http://h/it'\\''s'`, 'shell quoting');
  t.equal(localFilename('nginx_1.27.tar'), 'nginx_1.27.tar');
  t.equal(localFilename('my_org__my_image:my_tag.tar'), 'my_org__my_image_my_tag.tar');
  t.equal(localFilename(`nginx@${DIGEST}.tar`), 'nginx_sha256-0123456789ab.tar');
  t.equal(inspectPath(' ghcr.io/a/b:1 ', 'linux/arm/v7'), '/api/inspect?image=ghcr.io%2Fa%2Fb%3A1&platform=linux%2Farm%2Fv7');
  t.equal(inspectPath('nginx'), '/api/inspect?image=nginx');
  t.equal(formatBytes(0), '0 B');
  t.equal(formatBytes(999), '999 B');
  t.equal(formatBytes(1000), '1.00 kB');
  t.equal(formatBytes(12_345_678), '12.3 MB');
  t.equal(formatBytes(999_999_999), '1.00 GB');
  t.equal(formatBytes(Number.NaN), 'unknown');
});

const PAGE: PageOptions = { defaultRegistry: { host: 'docker.io', scheme: 'https', name: 'docker.io' }, defaultPlatform: 'linux/amd64', version: '0.1.0' };

function attributes(html: string, names: string[]): string[] {
  const markup = html.replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1>/gi, '');
  const re = new RegExp(`\\s(?:${names.join('|')})\\s*=\\s*("[^"]*"|'[^']*'|[^\\s>]+)`, 'gi');
  return [...markup.matchAll(re)].map((m) => m[1]!.replace(/^["']|["']$/g, ''));
}

t.test('renderPage: the form, no external loads, escaping', async (t) => {
  const html = renderPage(PAGE);
  t.match(html, /^<!doctype html>\n<html lang="en">/);
  t.match(html, /<form id="builder" method="get" action="\/download"/, 'a GET form to /download');
  t.match(html, /<input id="image" name="image" type="text"[^>]*placeholder="nginx:1\.27 or ghcr\.io\/org\/app:tag"/);
  t.match(html, /<label for="image">/, 'the image field has a label');
  t.match(html, /<select id="platform" name="platform"><option value="linux\/amd64" selected>linux\/amd64 \(default\)<\/option><option value="linux\/arm64">linux\/arm64<\/option><option value="linux\/arm\/v7">/);
  t.match(html, /<input type="radio" name="format" value="docker" checked>/);
  t.match(html, /<input type="radio" name="format" value="oci">/);
  t.match(html, /<input type="checkbox" name="credentials" value="1"> The registry needs credentials \(use \/registry-auth\)/);
  t.match(html, /<button type="submit">Download<\/button>/);
  t.match(html, /<script type="module">\s*import \{[^}]*\} from '\/assets\/url-builder\.js';/);
  t.match(html, /<footer>image-passthrough 0\.1\.0/);

  const links = attributes(html, ['src', 'href', 'action', 'srcset', 'poster', 'data', 'formaction', 'xlink:href']);
  t.ok(links.length >= 5, `${links.length} src/href/action attributes`);
  for (const link of links) t.notMatch(link, /^(?:[a-z][a-z0-9+.-]*:(?!,)|\/\/)/i, `"${link}" is local`);
  for (const link of links) t.ok(link.startsWith('/') || link === 'data:,' || link.startsWith('#'), `"${link}" is a same-origin path`);
  t.notMatch(html, /<link[^>]+stylesheet|@import|url\(|<iframe|<img/i, 'no external style, font or image');
  t.notMatch(html, /\bsrc=/, 'no script or image loaded by URL');

  t.match(html, /href="\/docker\/busybox_latest\.tar"/, 'examples for JS-off users');
  t.match(html, /href="\/docker\/alpine_latest\.tar"/);
  t.match(html, /href="\/docker\/nginx_latest\.tar"/);
  t.match(html, /href="\/platform\/linux\/arm64\/docker\/nginx_latest\.tar"/);
  t.match(html, /href="\/docker\/busybox_latest\.tar\?format=oci"/);

  // The Content-Security-Policy allows exactly the inline script and style.
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1]?.replaceAll('&#39;', "'");
  t.ok(csp, 'a CSP meta element');
  const script = /<script type="module">([\s\S]*?)<\/script>/.exec(html)![1]!;
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
  const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
  t.match(csp, `script-src 'self' ${hash(script)}`);
  t.match(csp, `style-src ${hash(style)}`);
  t.match(csp, "default-src 'none'");
  t.match(csp, "connect-src 'self'");

  const evil = '<script>alert("x")</script>&\'"';
  const bad = renderPage({ ...PAGE, defaultRegistry: { host: 'registry.local:5000', scheme: 'http', name: evil }, version: '<b>1</b>', defaultNamespace: '"><x' });
  t.notMatch(bad, /<script>alert/, 'registry name escaped');
  t.match(bad, '&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#38;&#39;&#34;');
  t.notMatch(bad, '<b>1</b>', 'version escaped');
  t.match(bad, 'data-namespace="&#34;&#62;&#60;x"', 'namespace escaped in its attribute');
  t.equal(bad.match(/<script/g)?.length, 1, 'one script element only');
});

t.test('renderPage for another default registry and platform', async (t) => {
  const html = renderPage({ defaultRegistry: { host: OTHER, scheme: 'http', name: 'Lab registry' }, defaultPlatform: 'linux/ppc64le', defaultNamespace: 'team', version: '9' });
  t.match(html, /<option value="linux\/ppc64le" selected>linux\/ppc64le \(default\)<\/option><option value="linux\/amd64">/, 'the default platform offered first');
  t.match(html, 'data-registry-host="registry.local:5000" data-registry-scheme="http" data-platform="linux/ppc64le" data-namespace="team"');
  t.match(html, /href="\/docker\/busybox_latest\.tar"/, 'examples on the default registry, under its namespace');
  t.match(html, /href="\/platform\/linux\/arm64\/docker\/nginx_latest\.tar"/);
  t.match(html, 'placeholder="registry.local:5000/app:tag or ghcr.io/org/app:tag"');
  t.match(html, 'Lab registry');
  const arm = renderPage({ ...PAGE, defaultPlatform: 'linux/arm64' });
  t.match(arm, /href="\/platform\/linux\/amd64\/docker\/nginx_latest\.tar"/, 'the other-platform example is amd64 on an arm64 service');
  t.equal(arm.match(/<option /g)?.length, 3, 'no duplicate option for a common default');
});

t.test('pageAssets: type-stripped modules that run', async (t) => {
  const assets = pageAssets();
  t.equal(pageAssets(), assets, 'computed once');
  t.same([...assets.keys()].sort(), ['/assets/reference.js', '/assets/url-builder.js']);
  const reference = assets.get('/assets/reference.js')!;
  const urlBuilder = assets.get('/assets/url-builder.js')!;
  t.equal(reference.contentType, 'text/javascript; charset=utf-8');
  t.equal(urlBuilder.contentType, 'text/javascript; charset=utf-8');
  t.match(urlBuilder.body, /from '\/assets\/reference\.js';/, 'the import points at the served reference.js');
  t.notMatch(urlBuilder.body, /\.ts['"]/, 'no .ts import left');
  t.notMatch(urlBuilder.body, /\binterface\b|import type|: string\b/, 'types stripped');
  t.equal(urlBuilder.body.split('\n').length, readFileSync(new URL('../frontends/http/url-builder.ts', import.meta.url), 'utf8').split('\n').length, 'line numbers kept');

  const dir = tempDir(t, 'page-assets-');
  for (const [name, body] of [['reference.mjs', reference.body], ['url-builder.mjs', urlBuilder.body]]) {
    const file = join(dir, name!);
    writeFileSync(file, body!);
    const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
    t.equal(check.status, 0, `node --check ${name} ${check.stderr}`);
  }

  // Import the browser's copies from a directory, the absolute import pointed at the neighbour.
  writeFileSync(join(dir, 'reference.js'), reference.body);
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  writeFileSync(join(dir, 'url-builder.js'), urlBuilder.body.replace("'/assets/reference.js'", "'./reference.js'"));
  const browser = (await import(pathToFileURL(join(dir, 'url-builder.js')).href)) as typeof builder;
  const inputs: DownloadInput[] = [
    { ...HUB_DEFAULT, image: 'nginx:1.27' },
    { ...HUB_DEFAULT, image: 'ghcr.io/org/app:tag', credentials: true, platform: 'linux/arm64', format: 'oci' },
    { ...HUB_DEFAULT, image: 'registry.local:5000/team/app:1' },
    { ...HUB_DEFAULT, image: `my_org/my_image:my_tag@${DIGEST}` },
    { defaultRegistry: { host: OTHER, scheme: 'http' }, defaultPlatform: 'linux/arm64', defaultNamespace: 'team', image: `${OTHER}/app:1`, credentials: true },
  ];
  t.equal(browser.downloadPath(inputs[0]!), '/docker/nginx_1.27.tar', 'the stripped builder builds a path');
  for (const input of inputs) t.same(browser.buildDownload(input), buildDownload(input), `same answer for ${input.image}`);
  t.equal(browser.curlCommand('http://h/x', 'x.tar', true), curlCommand('http://h/x', 'x.tar', true));
  t.throws(() => browser.downloadPath({ ...HUB_DEFAULT, image: 'Nginx' }), /lower case/, 'and the same errors');
});

/** A loopback server with the page, its assets and a scripted /api/inspect. */
async function pageServer(t: T, options: PageOptions): Promise<string> {
  const page = renderPage(options);
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const asset = pageAssets().get(url.pathname);
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page);
    } else if (asset) {
      res.writeHead(200, { 'content-type': asset.contentType });
      res.end(asset.body);
    } else if (url.pathname === '/api/inspect') {
      const image = url.searchParams.get('image') ?? '';
      const [, architecture = 'amd64', variant] = (url.searchParams.get('platform') ?? 'linux/amd64').split('/');
      res.writeHead(image.includes('broken') ? 404 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(image.includes('broken')
        ? { error: '<img src=x onerror=alert(1)> manifest unknown', status: 404 }
        : {
            reference: `docker.io/library/${image}`,
            digest: DIGEST,
            platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
            platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
            layers: [{ size: 29_000_000, uncompressedSize: 75_000_000 }, { size: 41_000_000 }, { size: 1_200 }],
            archiveSize: 187_654_321,
            ociArchiveSize: 70_012_345,
          }));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no server address');
  return `http://127.0.0.1:${address.port}`;
}

function chromium(t: T, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const profile = tempDir(t, 'chromium-');
  const child = spawn('chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--no-first-run', '--hide-scrollbars', '--enable-logging=stderr', '--v=0', `--user-data-dir=${profile}`, '--virtual-time-budget=10000', ...args,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Console errors and CSP refusals chromium logged for the page. */
function pageErrors(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /Content Security Policy|Refused to|Uncaught|SyntaxError|TypeError|Failed to load/.test(line));
}

t.test('the page in headless chromium', async (t) => {
  if (!requireTool(t, 'chromium')) return;
  const origin = await pageServer(t, PAGE);

  const page = await chromium(t, ['--dump-dom', `${origin}/?image=nginx:1.27&inspect=1`]);
  t.equal(page.code, 0, 'chromium exited cleanly');
  t.same(pageErrors(page.stderr), [], 'no script errors or CSP refusals');
  const dom = page.stdout;
  t.match(dom, /<body data-ready="true">/, 'the module ran');
  t.match(dom, `<code id="out-url">${origin}/docker/nginx_1.27.tar</code>`, 'the full URL');
  t.match(dom, /<a id="out-link" class="download" href="\/docker\/nginx_1\.27\.tar" download="nginx_1\.27\.tar">Download nginx_1\.27\.tar<\/a>/, 'the download link');
  t.match(dom, `<code id="out-ios">copy ${origin}/docker/nginx_1.27.tar flash:nginx_1.27.tar</code>`, 'the IOS-XE command');
  t.match(dom, `<code id="out-curl">curl -fSL -o nginx_1.27.tar '${origin}/docker/nginx_1.27.tar'</code>`, 'the curl command');
  t.match(dom, `<dd class="mono">${DIGEST}</dd>`, 'the inspected digest');
  t.match(dom, '<dt>Layers</dt><dd>3 (70.0 MB compressed)</dd>', 'layer count and size');
  t.match(dom, '<dt>docker save archive</dt><dd>187.7 MB (187,654,321 bytes)</dd>', 'archive size for the docker format');
  t.match(dom, /<button type="button" aria-pressed="false">linux\/arm64\/v8<\/button>/, 'the platforms offered');
  t.match(dom, /<button type="button" aria-pressed="true">linux\/amd64<\/button>/);

  const oci = await chromium(t, ['--dump-dom', `${origin}/?image=ghcr.io/org/app:tag&platform=linux/arm/v7&format=oci&inspect=1`]);
  t.same(pageErrors(oci.stderr), []);
  t.match(oci.stdout, `<code id="out-url">${origin}/platform/linux/arm/v7/registry/https/ghcr.io/docker/org__app_tag.tar?format=oci</code>`);
  t.match(oci.stdout, '<dt>OCI archive</dt><dd>70.0 MB (70,012,345 bytes)</dd>', 'archive size for the OCI format');
  t.match(oci.stdout, /<p id="ios-oci" class="note">/, 'the IOS-XE ? note shows for a URL with a query');

  const broken = await chromium(t, ['--dump-dom', `${origin}/?image=broken:1&inspect=1`]);
  t.same(pageErrors(broken.stderr), []);
  t.match(broken.stdout, 'Inspect failed (404): &lt;img src=x onerror=alert(1)&gt; manifest unknown', 'the error shown as text');
  t.notMatch(broken.stdout, /<img/, 'not as markup');

  const invalid = await chromium(t, ['--dump-dom', `${origin}/?image=Nginx`]);
  t.match(invalid.stdout, /<p id="problem" class="error" role="alert">"Nginx" is not an image reference: [^<]*lower case/, 'a bad reference explained');

  const dir = tempDir(t, 'screenshot-');
  const file = join(dir, 'page.png');
  const shot = await chromium(t, [`--screenshot=${file}`, '--window-size=1200,1000', `${origin}/?image=nginx:1.27&inspect=1`]);
  t.equal(shot.code, 0);
  const png = readFileSync(file);
  t.same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG was written');
  t.equal(png.readUInt32BE(16), 1200, 'as wide as the window');
  const keep = process.env.PAGE_SCREENSHOT_DIR;
  if (keep) {
    mkdirSync(keep, { recursive: true });
    copyFileSync(file, join(keep, 'page.png'));
  }
});
