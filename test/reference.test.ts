// Unit tests of the pure parts: image references, routes, WWW-Authenticate challenges,
// platform choice and the digest-verifying stream.
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import type { Descriptor } from '../core/image/manifest.ts';
import { choosePlatform } from '../core/image/platform.ts';
import { parseChallenges } from '../core/registry/challenge.ts';
import { VerifyingStream, type VerifyOptions } from '../core/stream/verify.ts';
import { CoreError } from '../protocol/errors.ts';
import { familiarName, formatReference, parseReference, ReferenceError, type ImageReference } from '../protocol/reference.ts';
import { formatPlatform, imagePath, parsePlatform, Route } from '../protocol/routes.ts';

const HEX = 'a'.repeat(64);
const DIGEST = `sha256:${HEX}`;

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The error parseReference throws, or undefined when it does not throw. */
function referenceError(input: string): unknown {
  try {
    parseReference(input);
  } catch (err) {
    return err;
  }
  return undefined;
}

t.test('parseReference: Docker Hub', async (t) => {
  t.same(parseReference('nginx'), { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }, 'implicit docker.io, library/ and latest');
  t.same(parseReference('nginx:1.27'), { registry: 'docker.io', repository: 'library/nginx', tag: '1.27' });
  t.same(parseReference('me/app:2'), { registry: 'docker.io', repository: 'me/app', tag: '2' }, 'no library/ for a two-component name');
  for (const alias of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
    t.same(parseReference(`${alias}/nginx`), { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }, `${alias} is Docker Hub`);
    t.same(parseReference(`${alias}/library/nginx:1`), { registry: 'docker.io', repository: 'library/nginx', tag: '1' }, `${alias} with library/`);
    t.same(parseReference(`${alias}/me/app`), { registry: 'docker.io', repository: 'me/app', tag: 'latest' }, `${alias} with a user namespace`);
  }
  t.same(parseReference('docker://nginx:1.27'), { registry: 'docker.io', repository: 'library/nginx', tag: '1.27' }, 'docker:// prefix');
  t.same(
    parseReference('docker://quay.io/team/app:v1'),
    { registry: 'quay.io', repository: 'team/app', tag: 'v1' },
    'docker:// prefix with a registry host',
  );
});

t.test('parseReference: registry hosts', async (t) => {
  t.same(parseReference('registry.local:5000/team/app:1.0'), { registry: 'registry.local:5000', repository: 'team/app', tag: '1.0' }, 'host with port');
  t.same(parseReference('registry.local:5000/team/app'), { registry: 'registry.local:5000', repository: 'team/app', tag: 'latest' }, 'a port is not a tag');
  t.same(parseReference('127.0.0.1:5000/app'), { registry: '127.0.0.1:5000', repository: 'app', tag: 'latest' }, 'IPv4 with port; no library/ off Docker Hub');
  t.same(parseReference('localhost/app'), { registry: 'localhost', repository: 'app', tag: 'latest' }, 'localhost is a host');
  t.same(parseReference('localhost:5000/team/app:v2'), { registry: 'localhost:5000', repository: 'team/app', tag: 'v2' }, 'localhost with port');
  t.same(parseReference('[::1]:5000/x'), { registry: '[::1]:5000', repository: 'x', tag: 'latest' }, 'IPv6 literal with port');
  t.same(parseReference('[::1]:5000/x/y:t1'), { registry: '[::1]:5000', repository: 'x/y', tag: 't1' }, 'IPv6 literal with port and tag');
  t.same(parseReference('quay.io/x'), { registry: 'quay.io', repository: 'x', tag: 'latest' });
  t.same(parseReference('quay.io/x', { defaultNamespace: 'team' }), { registry: 'quay.io', repository: 'team/x', tag: 'latest' }, 'defaultNamespace applies off Docker Hub');
  t.same(parseReference('foo/bar'), { registry: 'docker.io', repository: 'foo/bar', tag: 'latest' }, 'a first component without dot, colon or localhost is a path');
});

t.test('parseReference: tags and digests', async (t) => {
  t.same(parseReference(`nginx:1.27@${DIGEST}`), { registry: 'docker.io', repository: 'library/nginx', tag: '1.27', digest: DIGEST }, 'tag and digest');
  t.same(parseReference(`nginx@${DIGEST}`), { registry: 'docker.io', repository: 'library/nginx', digest: DIGEST }, 'digest only: no default tag');
  t.same(
    parseReference(`registry.local:5000/team/app@sha256:${'AB'.repeat(32)}`),
    { registry: 'registry.local:5000', repository: 'team/app', digest: `sha256:${'ab'.repeat(32)}` },
    'digest with a port in the host; hex lower-cased',
  );
  t.same(parseReference('nginx', { noDefaultTag: true }), { registry: 'docker.io', repository: 'library/nginx' }, 'noDefaultTag');
  t.equal(parseReference('nginx:v1.2_3-rc.4').tag, 'v1.2_3-rc.4');
  t.equal(parseReference(`nginx:${'t'.repeat(128)}`).tag?.length, 128, 'a 128-character tag is allowed');
});

t.test('parseReference: invalid references', async (t) => {
  const invalid: Array<[string, string]> = [
    ['Nginx', 'upper case in the repository'],
    ['docker.io/Library/nginx', 'upper case in a path component'],
    ['', 'empty'],
    ['   ', 'blank'],
    ['docker://', 'empty after docker://'],
    ['nginx:', 'empty tag'],
    ['nginx:-bad', 'tag starting with a dash'],
    ['nginx:.bad', 'tag starting with a dot'],
    ['nginx:bad!tag', 'tag with a punctuation character'],
    [`nginx:${'t'.repeat(129)}`, 'tag longer than 128 characters'],
    [`nginx@sha256:${'a'.repeat(63)}`, 'digest one hex digit short'],
    [`nginx@sha256:${'a'.repeat(65)}`, 'digest one hex digit long'],
    [`nginx@sha256:${'g'.repeat(64)}`, 'digest with non-hex characters'],
    [`nginx@md5:${'a'.repeat(32)}`, 'unsupported digest algorithm'],
    ['nginx@', 'empty digest'],
    ['a//b', 'empty path component'],
    ['a/b_', 'component ending in a separator'],
    ['-a/b', 'component starting with a separator'],
    [`registry.local/${'a'.repeat(250)}`, 'name over 255 characters'],
  ];
  for (const [input, why] of invalid) {
    t.type(referenceError(input), ReferenceError, `${why}: ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)}`);
  }
  const upper = referenceError('Nginx');
  t.match(upper instanceof Error ? upper.message : '', /lower case/, 'the upper-case error says why');
  t.same(parseReference(`registry.local/${'a'.repeat(240)}`).repository.length, 240, 'a name of 255 characters or fewer is allowed');
});

t.test('formatReference and familiarName', async (t) => {
  t.equal(formatReference({ registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }), 'docker.io/library/nginx:latest');
  t.equal(formatReference({ registry: 'quay.io', repository: 'x/y', digest: DIGEST }), `quay.io/x/y@${DIGEST}`);
  t.equal(formatReference({ registry: 'h:5000', repository: 'x', tag: 't', digest: DIGEST }), `h:5000/x:t@${DIGEST}`);
  t.equal(formatReference({ registry: 'h:5000', repository: 'x' }), 'h:5000/x');
  for (const input of ['nginx', 'me/app:1', `[::1]:5000/x/y:t@${DIGEST}`, 'localhost:5000/a']) {
    const ref = parseReference(input);
    t.same(parseReference(formatReference(ref)), ref, `formatReference round-trips ${input}`);
  }

  const ref = (registry: string, repository: string): ImageReference => ({ registry, repository });
  t.equal(familiarName(ref('docker.io', 'library/nginx')), 'nginx');
  t.equal(familiarName(ref('docker.io', 'me/app')), 'me/app');
  t.equal(familiarName(ref('docker.io', 'library/a/b')), 'library/a/b', 'only a two-component library/ name is shortened');
  t.equal(familiarName(ref('quay.io', 'library/nginx')), 'quay.io/library/nginx', 'another registry keeps its host');
  t.equal(familiarName(ref('127.0.0.1:5000', 'test/app')), '127.0.0.1:5000/test/app');
  t.equal(familiarName(parseReference('index.docker.io/library/nginx:1')), 'nginx', 'an alias parses to docker.io first');
});

t.test('routes: platforms and paths', async (t) => {
  t.same(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  t.same(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  t.same(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  t.notOk('variant' in parsePlatform('linux/arm64'), 'no variant key when none is given');
  for (const bad of ['linux', '', 'linux/', '/amd64', 'linux/arm64/v8/x', 'Linux/amd64', 'linux/amd 64']) {
    t.throws(() => parsePlatform(bad), { message: /invalid platform/ }, `parsePlatform rejects ${JSON.stringify(bad)}`);
  }
  t.equal(formatPlatform({ os: 'linux', architecture: 'amd64' }), 'linux/amd64');
  t.equal(formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }), 'linux/arm64/v8');
  t.equal(formatPlatform({ os: 'linux', architecture: 'arm64', variant: '' }), 'linux/arm64', 'an empty variant is left out');
  t.same(parsePlatform(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v6' })), { os: 'linux', architecture: 'arm', variant: 'v6' });

  t.equal(imagePath(Route.manifest, undefined), '/manifest', 'no reference: just the route');
  t.equal(imagePath(Route.save, 'docker.io/library/nginx:1.27'), '/save/docker.io/library/nginx:1.27', 'reference characters stay as they are');
  t.equal(
    imagePath(Route.save, `registry.local:5000/team/app@${DIGEST}`, { platform: 'linux/arm64/v8', format: 'oci' }),
    `/save/registry.local:5000/team/app@${DIGEST}?platform=linux%2Farm64%2Fv8&format=oci`,
  );
  t.equal(imagePath(Route.inspect, 'a b?c#d%e&f'), '/inspect/a%20b%3Fc%23d%25e%26f', 'space ? # % & are percent-encoded');
  t.equal(imagePath(Route.inspect, '[::1]:5000/x'), '/inspect/%5B::1%5D:5000/x', 'brackets are percent-encoded, colons are not');
  t.equal(
    imagePath(Route.config, { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }, { scheme: 'https', tag: 'x:y', platform: '' }),
    '/config/docker.io/library/nginx:latest?scheme=https&tag=x%3Ay',
    'an ImageReference is formatted; empty query values are left out',
  );
  const encoded = imagePath(Route.inspect, 'weird name/é?#');
  t.equal(decodeURIComponent(encoded.slice(Route.inspect.length + 1)), 'weird name/é?#', 'the path decodes back to the reference');
  t.notOk(/[?#\s]/.test(encoded.slice(Route.inspect.length + 1)), 'no raw ? # or space in the reference part');
});

t.test('parseChallenges', async (t) => {
  t.same(parseChallenges(undefined), []);
  t.same(parseChallenges(''), []);
  t.same(
    parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push"'),
    [{ scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:team/app:pull,push' } }],
    'Bearer with realm, service, and a scope with a comma inside quotes',
  );
  t.same(
    parseChallenges('Bearer realm="https://auth.docker.io/token", service="registry.docker.io", scope="repository:a/b:pull,push repository:c/d:pull"'),
    [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:a/b:pull,push repository:c/d:pull' } }],
    'spaces after commas; a space-separated scope list',
  );
  t.same(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }], 'Basic');
  t.same(parseChallenges('basic'), [{ scheme: 'basic', params: {} }], 'a bare scheme, lower-cased');
  t.same(parseChallenges('BEARER Realm=https://x/token'), [{ scheme: 'bearer', params: { realm: 'https://x/token' } }], 'unquoted value; names lower-cased');
  t.same(
    parseChallenges('Bearer realm="https://auth.example.com/token",scope="repository:x:pull,push", Basic realm="fallback, really"'),
    [
      { scheme: 'bearer', params: { realm: 'https://auth.example.com/token', scope: 'repository:x:pull,push' } },
      { scheme: 'basic', params: { realm: 'fallback, really' } },
    ],
    'two challenges in one header',
  );
  t.same(parseChallenges('Basic realm="say \\"hi\\""'), [{ scheme: 'basic', params: { realm: 'say "hi"' } }], 'escaped quotes');
});

const desc = (platform: Descriptor['platform'], n: number, annotations?: Record<string, string>): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${String(n).repeat(64)}`,
  size: 100 + n,
  ...(platform ? { platform } : {}),
  ...(annotations ? { annotations } : {}),
});

/** The CoreError a function throws, or undefined. */
function coreErrorOf(fn: () => unknown): CoreError | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof CoreError) return err;
    throw err;
  }
  return undefined;
}

t.test('choosePlatform', async (t) => {
  const amd64 = desc({ os: 'linux', architecture: 'amd64' }, 1);
  const arm64v8 = desc({ os: 'linux', architecture: 'arm64', variant: 'v8' }, 2);
  const arm64 = desc({ os: 'linux', architecture: 'arm64' }, 3);
  const armv7 = desc({ os: 'linux', architecture: 'arm', variant: 'v7' }, 4);
  const attestation = desc({ os: 'unknown', architecture: 'unknown' }, 5, {
    'vnd.docker.reference.type': 'attestation-manifest',
    'vnd.docker.reference.digest': amd64.digest,
  });
  const bareUnknown = desc({ os: 'unknown', architecture: 'unknown' }, 6);

  t.equal(choosePlatform([amd64, arm64v8], { os: 'linux', architecture: 'amd64' }, 'x'), amd64, 'amd64');
  t.equal(choosePlatform([amd64, arm64v8], { os: 'linux', architecture: 'arm64' }, 'x'), arm64v8, 'arm64 matches arm64/v8');
  t.equal(choosePlatform([amd64, arm64], { os: 'linux', architecture: 'arm64' }, 'x'), arm64, 'arm64 matches arm64 with no variant');
  t.equal(choosePlatform([amd64, arm64], { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'x'), arm64, 'arm64/v8 matches arm64 with no variant');
  t.equal(choosePlatform([amd64, armv7, arm64v8], { os: 'linux', architecture: 'arm64' }, 'x'), arm64v8, 'arm/v7 is not arm64');
  t.equal(choosePlatform([attestation, amd64, bareUnknown, arm64v8], { os: 'linux', architecture: 'amd64' }, 'x'), amd64, 'attestation entries first do not get in the way');

  const err = coreErrorOf(() => choosePlatform([amd64, attestation, arm64v8, bareUnknown], { os: 'linux', architecture: 's390x' }, 'quay.io/x/y:1'));
  t.type(err, CoreError, 'a missing platform throws a CoreError');
  t.equal(err?.status, 404);
  t.equal(err?.code, 'PLATFORM_UNKNOWN');
  t.match(err?.message, /quay\.io\/x\/y:1/, 'the message names the image');
  t.match(err?.message, /linux\/s390x/, 'the message names the platform asked for');
  t.match(err?.message, /linux\/amd64, linux\/arm64\/v8/, 'the message lists what is offered');
  t.notMatch(err?.message, /unknown/, 'attestation entries are not offered');
  t.same(err?.detail, { wanted: 'linux/s390x', offered: ['linux/amd64', 'linux/arm64/v8'] });

  const onlyAttestation = coreErrorOf(() => choosePlatform([attestation, bareUnknown], { os: 'unknown', architecture: 'unknown' }, 'x'));
  t.equal(onlyAttestation?.code, 'PLATFORM_UNKNOWN', 'attestation entries are never chosen, even when asked for');
  const noVariant = coreErrorOf(() => choosePlatform([amd64, armv7], { os: 'linux', architecture: 'arm64' }, 'x'));
  t.equal(noVariant?.code, 'PLATFORM_UNKNOWN', 'arm64 does not fall back to arm');
});

/** Runs chunks through a VerifyingStream into a sink; returns what the sink got and the error. */
async function verify(chunks: Buffer[], options: VerifyOptions): Promise<{ received: Buffer; error: unknown }> {
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk);
      callback();
    },
  });
  let error: unknown;
  try {
    await pipeline(Readable.from(chunks), new VerifyingStream(options), sink);
  } catch (err) {
    error = err;
  }
  return { received: Buffer.concat(received), error };
}

t.test('VerifyingStream', async (t) => {
  const chunks = [0, 1, 2, 3].map((i) => Buffer.alloc(16384 + i, 0x41 + i));
  const blob = Buffer.concat(chunks);
  const digest = sha256(blob);

  const ok = await verify(chunks, { digest, size: blob.length });
  t.equal(ok.error, undefined, 'a correct blob passes');
  t.ok(ok.received.equals(blob), 'every byte arrives, in order');
  const noSize = await verify(chunks, { digest });
  t.equal(noSize.error, undefined, 'a correct blob passes without a declared size');
  t.ok(noSize.received.equals(blob));
  const empty = await verify([], { digest: sha256(Buffer.alloc(0)), size: 0 });
  t.equal(empty.error, undefined, 'an empty blob passes');
  t.equal(empty.received.length, 0);

  const wrong = sha256(Buffer.from('something else'));
  for (const size of [blob.length, undefined]) {
    const bad = await verify(chunks, { digest: wrong, ...(size !== undefined ? { size } : {}), what: 'layer 1' });
    t.type(bad.error, CoreError, `a mismatch errors (size ${size === undefined ? 'unknown' : 'declared'})`);
    t.equal((bad.error as CoreError | undefined)?.code, 'DIGEST_MISMATCH');
    t.match((bad.error as CoreError | undefined)?.message, /layer 1/, 'the message says which blob');
    t.ok(bad.received.length < blob.length, `the consumer got fewer bytes than the blob (${bad.received.length} < ${blob.length})`);
    t.ok(bad.received.length <= blob.length - chunks.at(-1)!.length, 'at least the last chunk was held back');
    t.ok(bad.received.equals(blob.subarray(0, bad.received.length)), 'what arrived is a prefix of the blob');
  }

  const size = 16384 + 16385 + 100; // the third chunk overruns
  const over = await verify(chunks, { digest, size });
  t.type(over.error, CoreError, 'an overrun errors');
  t.equal((over.error as CoreError | undefined)?.code, 'SIZE_INVALID');
  t.ok(over.received.length <= size, `no byte beyond the declared size passed (${over.received.length} <= ${size})`);

  const firstOver = await verify([Buffer.alloc(11, 1)], { digest: sha256(Buffer.alloc(11, 1)), size: 10 });
  t.equal((firstOver.error as CoreError | undefined)?.code, 'SIZE_INVALID', 'an overrun in the first chunk errors');
  t.equal(firstOver.received.length, 0, 'and nothing passes');

  const short = await verify(chunks.slice(0, 2), { digest, size: blob.length });
  t.equal((short.error as CoreError | undefined)?.code, 'SIZE_INVALID', 'a short blob errors');
  t.ok(short.received.length < 16384 + 16385, 'and its last chunk is held back too');
});
