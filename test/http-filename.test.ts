// Unit vectors for the HTTP front end's pure parts: Cisco filenames (the reference service's
// table, plus the explicit `name:tag` / `name@digest` form), the URL routes, the client
// credential decision of every route × mode × header, and the registry host policy.
import t from 'tap';
import { decideCredentials, type CredentialDecision } from '../frontends/http/credentials.ts';
import { FilenameError, parseFilename, type FilenameImage } from '../frontends/http/filename.ts';
import { HostPolicy, HostRefused } from '../frontends/http/host-policy.ts';
import { parseDownloadPath, RouteError, type DownloadRoute, type RouteKind } from '../frontends/http/route.ts';
import type { ClientAuthMode } from '../frontends/http/config.ts';

const HUB = 'docker.io';
const OTHER = 'registry2.example.com:5000';
const HEX = 'a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';

t.test('parseFilename: the reference service table', async (t) => {
  const vectors: Array<[string, string, string | undefined, FilenameImage, string]> = [
    ['nginx_latest.tar', HUB, undefined, { repository: 'library/nginx', tag: 'latest' }, 'Docker Hub: one component gets library/'],
    ['nginx_latest.tar', OTHER, undefined, { repository: 'nginx', tag: 'latest' }, 'another registry without a default namespace: stays one component'],
    ['nginx_latest.tar', OTHER, '', { repository: 'nginx', tag: 'latest' }, 'an empty default namespace is no namespace'],
    ['nginx_latest.tar', OTHER, 'team', { repository: 'team/nginx', tag: 'latest' }, 'REGISTRY_DEFAULT_NAMESPACE=team'],
    ['nginx_latest.tar', HUB, 'team', { repository: 'team/nginx', tag: 'latest' }, 'a configured namespace wins on Docker Hub too'],
    ['nginx_1.25.tar', HUB, undefined, { repository: 'library/nginx', tag: '1.25' }, 'nginx_1.25.tar'],
    ['library_nginx_latest.tar', HUB, undefined, { repository: 'library/nginx', tag: 'latest' }, 'namespace_image shorthand'],
    ['library_nginx_latest.tar', OTHER, undefined, { repository: 'library/nginx', tag: 'latest' }, 'namespace_image on another registry'],
    ['myrepo_myimage_v1.0.tar', HUB, undefined, { repository: 'myrepo/myimage', tag: 'v1.0' }, 'myrepo_myimage_v1.0.tar'],
    ['myrepo_myimage_v1.0.tar', OTHER, 'team', { repository: 'myrepo/myimage', tag: 'v1.0' }, 'two components ignore the default namespace'],
    ['team__platform__api_2026.06.tar', OTHER, undefined, { repository: 'team/platform/api', tag: '2026.06' }, 'double underscores are path separators'],
    ['team__platform__api_2026.06.tar', HUB, undefined, { repository: 'team/platform/api', tag: '2026.06' }, 'nested path on Docker Hub gets no library/'],
    ['my-org__private-image_latest.tar', 'ghcr.io', undefined, { repository: 'my-org/private-image', tag: 'latest' }, 'GHCR owner/package'],
    ['my-org__platform__private-image_2026.06.tar', 'ghcr.io', undefined, { repository: 'my-org/platform/private-image', tag: '2026.06' }, 'GHCR nested package'],
  ];
  for (const [filename, registry, ns, expected, what] of vectors) {
    t.strictSame(parseFilename(filename, registry, ns), expected, `${what}: ${filename} on ${registry}${ns !== undefined ? ` (namespace "${ns}")` : ''}`);
  }
});

t.test('parseFilename: the explicit form (":" or "@" separates, only "__" is "/")', async (t) => {
  const vectors: Array<[string, string, FilenameImage]> = [
    ['my_org__my_image:my_tag.tar', OTHER, { repository: 'my_org/my_image', tag: 'my_tag' }],
    ['nginx:1.27.tar', HUB, { repository: 'library/nginx', tag: '1.27' }],
    ['nginx:1.27.tar', OTHER, { repository: 'nginx', tag: '1.27' }],
    [`nginx@sha256:${HEX}.tar`, HUB, { repository: 'library/nginx', digest: `sha256:${HEX}` }],
    [`nginx@sha256:${HEX}.tar`, OTHER, { repository: 'nginx', digest: `sha256:${HEX}` }],
    [`nginx:1.27@sha256:${HEX}.tar`, HUB, { repository: 'library/nginx', tag: '1.27', digest: `sha256:${HEX}` }],
    [`team__app:v_2@sha256:${HEX}.tar`, OTHER, { repository: 'team/app', tag: 'v_2', digest: `sha256:${HEX}` }],
  ];
  for (const [filename, registry, expected] of vectors) {
    t.strictSame(parseFilename(filename, registry, undefined), expected, `${filename} on ${registry}`);
  }
});

t.test('parseFilename: errors say why', async (t) => {
  const vectors: Array<[string, RegExp, string]> = [
    ['nginx_latest', /must end in \.tar/, 'no .tar'],
    ['nginx_latest.tgz', /must end in \.tar/, 'another extension'],
    ['nginx_latest.TAR', /must end in \.tar/, 'upper-case extension'],
    ['.tar', /no image name/, 'nothing before .tar'],
    ['nginx.tar', /no underscore/, 'no underscore'],
    ['nginx_.tar', /tag is empty/, 'empty tag'],
    ['_latest.tar', /image name is empty/, 'empty image'],
    ['Nginx_latest.tar', /lower case/, 'upper-case image name'],
    ['myrepo_MyImage_v1.tar', /lower case/, 'upper-case second component'],
    ['nginx@sha256:abc.tar', /digest/, 'a digest too short'],
    [`nginx@md5:${HEX}.tar`, /digest|algorithm/, 'an unknown digest algorithm'],
    [`nginx@${HEX}.tar`, /digest/, 'a digest without algorithm'],
    ['a___b_1.tar', /empty component/, 'a tripled underscore'],
    ['nginx_-bad.tar', /not a valid tag/, 'a tag starting with "-"'],
    ['nginx:.tar', /tag is empty/, 'explicit form with an empty tag'],
    [':1.tar', /image name is empty/, 'explicit form with an empty image'],
    ['ng!nx_1.tar', /not a valid image name component/, 'a character no image name has'],
  ];
  for (const [filename, why, what] of vectors) {
    t.throws(() => parseFilename(filename, OTHER, undefined), FilenameError, `${what}: ${filename} is a FilenameError`);
    try {
      parseFilename(filename, OTHER, undefined);
    } catch (err) {
      t.ok(err instanceof FilenameError, `${what}: the error class`);
      t.match((err as Error).message, why, `${what}: the message says why`);
      t.match((err as Error).message, filename, `${what}: the message names the filename`);
    }
  }
});

t.test('parseDownloadPath: routes', async (t) => {
  const vectors: Array<[string, DownloadRoute]> = [
    ['/docker/nginx_latest.tar', { kind: 'docker', template: '/docker/{filename}', filename: 'nginx_latest.tar' }],
    [
      '/registry/https/ghcr.io/docker/my-org__private-image_latest.tar',
      { kind: 'registry', template: '/registry/{scheme}/{host}/docker/{filename}', scheme: 'https', host: 'ghcr.io', filename: 'my-org__private-image_latest.tar' },
    ],
    [
      '/registry-auth/http/registry2.example.com:5000/docker/team__platform__api_2026.06.tar',
      {
        kind: 'registry-auth',
        template: '/registry-auth/{scheme}/{host}/docker/{filename}',
        scheme: 'http',
        host: 'registry2.example.com:5000',
        filename: 'team__platform__api_2026.06.tar',
      },
    ],
    ['/platform/linux/arm64/docker/x_1.tar', { kind: 'docker', template: '/docker/{filename}', filename: 'x_1.tar', platform: 'linux/arm64' }],
    [
      '/platform/linux/arm/v7/registry/http/h:5000/docker/x_1.tar',
      { kind: 'registry', template: '/registry/{scheme}/{host}/docker/{filename}', scheme: 'http', host: 'h:5000', filename: 'x_1.tar', platform: 'linux/arm/v7' },
    ],
    [
      '/registry/http/registry2.example.com%3A5000/docker/x_1.tar',
      { kind: 'registry', template: '/registry/{scheme}/{host}/docker/{filename}', scheme: 'http', host: 'registry2.example.com:5000', filename: 'x_1.tar' },
    ],
    [
      '/registry-auth/https/registry2.example.com%3a5000/docker/x_1.tar',
      { kind: 'registry-auth', template: '/registry-auth/{scheme}/{host}/docker/{filename}', scheme: 'https', host: 'registry2.example.com:5000', filename: 'x_1.tar' },
    ],
    [`/docker/nginx%3A1.27%40sha256%3A${HEX}.tar`, { kind: 'docker', template: '/docker/{filename}', filename: `nginx:1.27@sha256:${HEX}.tar` }],
  ];
  for (const [path, expected] of vectors) t.strictSame(parseDownloadPath(path), expected, path);
});

t.test('parseDownloadPath: bad and unknown paths', async (t) => {
  const routeError = (path: string, status: number, why: RegExp) => {
    let caught: unknown;
    try {
      parseDownloadPath(path);
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof RouteError, `${path}: RouteError`);
    if (caught instanceof RouteError) {
      t.equal(caught.status, status, `${path}: status ${status}`);
      t.match(caught.message, why, `${path}: says why`);
    }
  };
  routeError('/registry/ftp/h/docker/x_1.tar', 400, /scheme/);
  routeError('/registry-auth/HTTP/h/docker/x_1.tar', 400, /scheme/);
  routeError('/platform/linux', 400, /platform/);
  routeError('/platform/linux/arm/v!7/docker/x_1.tar', 400, /variant/);
  routeError('/platform/Linux/amd64/docker/x_1.tar', 400, /platform/);
  routeError('/platform/linux/arm64/elsewhere/x_1.tar', 404, /docker/);
  routeError('/platform/linux/docker/x_1.tar', 400, /platform/);
  routeError('/registry/http/h%zz/docker/x_1.tar', 400, /percent-encoding/);
  for (const path of [
    '/',
    '/nothing',
    '/docker',
    '/docker/',
    '/docker/a/b_1.tar',
    '/registry/http/h/x_1.tar',
    '/registry/http/h/docker/',
    '/registry/http/h/docker/x_1.tar/more',
    '/registry/http//docker/x_1.tar',
    '/dockers/x_1.tar',
  ]) {
    t.equal(parseDownloadPath(path), undefined, `${path}: not a download route`);
  }
});

t.test('decideCredentials: every route kind × mode × Authorization header', async (t) => {
  const good = Buffer.from('device-user:s3cret:with:colons').toString('base64');
  const headers: Array<[string, string | undefined, boolean]> = [
    ['absent', undefined, false],
    ['Basic user:pass', `Basic ${good}`, true],
    ['lower-case basic, extra spaces', `basic   ${good}`, true],
    ['garbage: Bearer token', 'Bearer abc.def.ghi', false],
    ['garbage: not base64', 'Basic !!!not-base64!!!', false],
    ['garbage: no colon', `Basic ${Buffer.from('justauser').toString('base64')}`, false],
    ['garbage: empty user', `Basic ${Buffer.from(':password').toString('base64')}`, false],
    ['garbage: empty value', 'Basic ', false],
    ['garbage: empty header', '', false],
  ];
  const kinds: RouteKind[] = ['docker', 'registry', 'registry-auth'];
  const modes: ClientAuthMode[] = ['optional', 'required', 'off'];
  for (const kind of kinds) {
    for (const mode of modes) {
      for (const [what, header, valid] of headers) {
        const decision: CredentialDecision = decideCredentials(kind, mode, header);
        const label = `${kind} × ${mode} × ${what}`;
        // registry-auth always wants credentials; /docker/ wants them only when required; off ignores them on /docker/ and /registry/.
        const mustHave = kind === 'registry-auth' || (kind === 'docker' && mode === 'required');
        const ignore = !mustHave && mode === 'off';
        if (valid && !ignore) {
          t.strictSame(decision, { kind: 'forward', authorization: `Basic ${good}` }, `${label}: forwarded, normalised`);
        } else if (mustHave) {
          t.equal(decision.kind, 'challenge', `${label}: challenge`);
          if (decision.kind === 'challenge') t.ok(decision.reason.length > 0, `${label}: the challenge says why`);
        } else {
          t.strictSame(decision, { kind: 'anonymous' }, `${label}: anonymous`);
        }
      }
    }
  }
});

t.test('HostPolicy.check', async (t) => {
  const refused = async (policy: HostPolicy, host: string, why: RegExp) => {
    let caught: unknown;
    try {
      await policy.check(host);
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof HostRefused, `${host}: refused`);
    if (caught instanceof Error) t.match(caught.message, why, `${host}: says why`);
  };
  const open = new HostPolicy([]);
  for (const host of ['169.254.169.254', '169.254.169.254:80', '[fe80::1]', '[fe80::1]:5000', '[::ffff:169.254.169.254]', 'metadata.google.internal', 'METADATA.GOOGLE.INTERNAL', 'metadata.google.internal:80']) {
    await refused(open, host, /link-local|metadata/);
  }
  for (const host of ['127.0.0.1:5000', '10.10.20.30:5000', '[::1]:5000', 'localhost:5000']) {
    await t.resolves(open.check(host), `${host}: allowed with no REGISTRY_ALLOWED_HOSTS`);
  }

  const limited = new HostPolicy(['*.example.com', 'reg:5000', ' ']);
  for (const host of ['registry2.example.com', 'registry2.example.com:5000', 'a.b.example.com', 'REG.EXAMPLE.COM', 'reg:5000']) {
    await t.resolves(limited.check(host), `${host}: matches an allowed pattern`);
  }
  for (const host of ['example.com', 'example.com.evil.org', 'notexample.com', 'reg', 'reg:5001', 'other:5000', '127.0.0.1:5000']) {
    await refused(limited, host, /REGISTRY_ALLOWED_HOSTS/);
  }
  const metadataAllowed = new HostPolicy(['169.254.169.254', 'metadata.google.internal']);
  await refused(metadataAllowed, '169.254.169.254', /link-local|metadata/);
  await refused(metadataAllowed, 'metadata.google.internal', /link-local|metadata/);
});
