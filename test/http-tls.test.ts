// The front end over HTTPS (TLS_CERT_FILE / TLS_KEY_FILE): a device sending registry
// credentials should not send them in clear. The client verifies the server's certificate.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Agent, request } from 'undici';
import { startFrontEnd } from './support/front-end.ts';
import { buildImage, busyboxLayer, pushImage } from './support/images.ts';
import { startRegistry } from './support/registry.ts';
import { requireTool, tempDir } from './support/tools.ts';

t.test('HTTPS front end with the Cisco credential flow', async (t) => {
  if (!requireTool(t, 'docker-registry') || !requireTool(t, 'openssl')) return;
  const dir = tempDir(t, 'tls-');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });

  const creds = { username: 'device', password: 'flash-me-tls' };
  const registry = await startRegistry(t, { htpasswd: creds });
  const image = await buildImage({ layers: [busyboxLayer('gzip'), { files: { 'hello.txt': 'over tls\n' } }] });
  await pushImage(registry, 'team/app', '1', image);

  const front = await startFrontEnd(t, {
    env: { REGISTRY_URL: registry.url, REGISTRY_CLIENT_AUTH: 'required', TLS_CERT_FILE: cert, TLS_KEY_FILE: key },
  });
  t.match(front.url, /^https:\/\//, 'listens with TLS');

  const verifying = new Agent({ connect: { ca: readFileSync(cert) } });
  t.teardown(() => verifying.close());
  const health = await request(`${front.url}/health`, { dispatcher: verifying });
  t.equal(health.statusCode, 200, '/health over a verified TLS connection');
  await health.body.dump();

  const url = `${front.url}/docker/team__app_1.tar`;
  const challenge = await request(url, { dispatcher: verifying });
  await challenge.body.dump();
  t.equal(challenge.statusCode, 401, 'first request without credentials is challenged');
  t.equal(challenge.headers['www-authenticate'], 'Basic realm="registry credentials"');

  const authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  const res = await request(url, { dispatcher: verifying, headers: { authorization } });
  t.equal(res.statusCode, 200, 'retry with credentials gets the archive');
  const body = Buffer.from(await res.body.arrayBuffer());
  t.equal(body.length, Number(res.headers['content-length']), 'whole archive');
  const manifest = JSON.parse(execFileSync('tar', ['-xOf', '-', 'manifest.json'], { input: body }).toString()) as Array<{ Config: string }>;
  t.equal(`sha256:${manifest[0]!.Config.replace('.json', '')}`, image.configDigest, 'the archive holds the pushed image');
  t.equal(createHash('sha256').update(execFileSync('tar', ['-xOf', '-', manifest[0]!.Config], { input: body })).digest('hex'), image.configDigest.slice(7), 'config intact');

  const plain = await request(front.url.replace('https:', 'http:') + '/health').then(
    () => 'answered',
    () => 'refused',
  );
  t.equal(plain, 'refused', 'no plain-http answer on the TLS port');
  t.notOk(front.output().includes(creds.password), 'the password is not logged');
});
