// The core's three transports against a real registry: --sockfd (the Python and Node example
// parents, keep-alive, exit when the parent goes away), --socket (several connections at once)
// and systemd socket activation (LISTEN_FDS), plus the refusal to start without any of them.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { CoreClient, type StreamResponse } from '../protocol/client.ts';
import { CLI, cleanEnv, startCore } from './support/core.ts';
import { buildImage, buildIndex, busyboxLayer, pushImage, pushIndex, sha256, type BuiltImage } from './support/images.ts';
import { startRegistry, type RegistryInstance } from './support/registry.ts';
import { requireTool, tempDir, type T } from './support/tools.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PYTHON_EXAMPLE = join(ROOT, 'examples/python/sockfd_client.py');
const NODE_EXAMPLE = join(ROOT, 'examples/node/sockfd-client.ts');
const CORE_COMMAND = `${process.execPath} ${CLI}`;

type Blob = { digest: string; size: number };
type Outcome = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** What a parent should fetch for an image: its config, then its layers. */
const blobsOf = (image: BuiltImage): Blob[] => [
  { digest: image.configDigest, size: image.config.length },
  ...image.layers.map((l) => ({ digest: l.digest, size: l.size })),
];

function track(t: T, child: ChildProcess): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const done = new Promise<Outcome>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await done;
    }
  });
  return done;
}

/** Runs a command to its end in the clean test environment; killed in teardown if it hangs. */
function run(t: T, command: string, args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  return track(t, spawn(command, args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** A core on one half of a socketpair (fd 3), and a CoreClient on the other half. */
function sockfdCore(t: T, image: string) {
  const child = spawn(process.execPath, [CLI, 'core', '--sockfd', '3', image], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  const outcome = track(t, child);
  const socket = child.stdio[3] as Socket;
  const client = new CoreClient({ socket });
  t.teardown(() => client.destroy());
  return { child, socket, client, outcome };
}

async function readAll(res: StreamResponse): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res.body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function parseResult(t: T, outcome: Outcome, what: string): { manifestDigest?: string; blobs?: Blob[]; coreExit?: number | null } {
  t.equal(outcome.code, 0, `${what} exits 0${outcome.code === 0 ? '' : `: ${outcome.stderr}`}`);
  const line = outcome.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as { manifestDigest?: string; blobs?: Blob[]; coreExit?: number | null };
  } catch {
    t.fail(`${what} printed no JSON: ${outcome.stdout}\n${outcome.stderr}`);
    return {};
  }
}

async function registryWithImages(t: T): Promise<{ registry: RegistryInstance; image: BuiltImage; amd64: BuiltImage; arm64: BuiltImage }> {
  const registry = await startRegistry(t);
  const image = await buildImage({ layers: [busyboxLayer('gzip'), { files: { '/etc/greeting': 'hello\n' } }] });
  await pushImage(registry, 'test/app', 'v1', image);
  const amd64 = await buildImage({ layers: [{ files: { '/arch': 'amd64\n' } }], mediaTypes: 'oci', platform: { os: 'linux', architecture: 'amd64' } });
  const arm64 = await buildImage({
    layers: [{ files: { '/arch': 'arm64\n' } }, { compression: 'zstd', files: { '/etc/arm': 'yes\n' } }],
    mediaTypes: 'oci',
    platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  });
  await pushIndex(registry, 'test/multi', 'latest', buildIndex([amd64, arm64], 'oci'));
  return { registry, image, amd64, arm64 };
}

t.test('sockfd: the example parent programs', async (t) => {
  if (!requireTool(t, 'docker-registry')) return;
  if (!requireTool(t, 'python3')) return;
  const { registry, image, amd64, arm64 } = await registryWithImages(t);
  const ref = `docker://${registry.host}/test/app:v1`;

  const py = parseResult(t, await run(t, 'python3', [PYTHON_EXAMPLE, '--core', CORE_COMMAND, ref]), 'the Python example');
  t.equal(py.manifestDigest, image.manifestDigest, 'Python: manifest digest');
  t.same(py.blobs, blobsOf(image), 'Python: config and layers, digests and sizes');
  t.equal(py.coreExit, 0, 'Python: the core exited 0 after /quit');

  const node = parseResult(t, await run(t, process.execPath, [NODE_EXAMPLE, ref]), 'the Node example');
  t.equal(node.manifestDigest, image.manifestDigest, 'Node: manifest digest');
  t.same(node.blobs, blobsOf(image), 'Node: config and layers, digests and sizes');
  t.equal(node.coreExit, 0, 'Node: the core exited 0 after /quit');

  const multi = `docker://${registry.host}/test/multi:latest`;
  const arm = parseResult(t, await run(t, 'python3', [PYTHON_EXAMPLE, '--core', CORE_COMMAND, '--platform', 'linux/arm64', multi]), 'Python, linux/arm64');
  t.equal(arm.manifestDigest, arm64.manifestDigest, 'arm64: the child manifest was chosen');
  t.same(arm.blobs, blobsOf(arm64), "arm64: the arm64 child's blobs");
  t.equal(arm.coreExit, 0);
  const amd = parseResult(t, await run(t, 'python3', [PYTHON_EXAMPLE, '--core', CORE_COMMAND, multi]), 'Python, default platform');
  t.same(amd.blobs, blobsOf(amd64), "default platform: the amd64 child's blobs");
});

t.test('sockfd: keep-alive, /quit, and exit when the parent closes its half', async (t) => {
  if (!requireTool(t, 'docker-registry')) return;
  const { registry, image } = await registryWithImages(t);
  const ref = `docker://${registry.host}/test/app:v1`;

  t.test('several requests in a row on the one connection, then /quit', async (t) => {
    const { client, outcome } = sockfdCore(t, ref);
    t.equal((await client.health()).status, 'ok', 'health');
    const manifest = await client.manifest();
    t.equal(manifest.digest, image.manifestDigest, 'manifest of the default image');
    t.equal(sha256(await client.config()), image.configDigest, 'config');
    for (const layer of image.layers) {
      t.equal(sha256(await readAll(await client.blob(layer.digest))), layer.digest, `blob ${layer.digest.slice(0, 19)}`);
    }
    await t.rejects(client.blob(sha256('absent')), { status: 404, code: 'BLOB_UNKNOWN' }, 'an error answer keeps the connection');
    t.equal((await client.health()).status, 'ok', 'health again on the same connection');
    await client.quit();
    const result = await outcome;
    t.equal(result.code, 0, `exit 0 after /quit${result.code === 0 ? '' : `: ${result.stderr}`}`);
  });

  t.test('the parent closes its half without /quit', async (t) => {
    const { socket, client, outcome } = sockfdCore(t, ref);
    t.equal((await client.health()).status, 'ok', 'the core serves the socket');
    socket.destroy();
    const result = await outcome;
    t.equal(result.code, 0, `exit 0 when the peer closes${result.code === 0 ? '' : `: ${result.stderr}`}`);
    t.equal(result.signal, null, 'not killed by a signal');
  });
});

t.test('--socket: two blob downloads at once on two connections', async (t) => {
  if (!requireTool(t, 'docker-registry')) return;
  const { registry, image } = await registryWithImages(t);
  const ref = `${registry.host}/test/app:v1`;
  const core = await startCore(t);
  const second = new CoreClient({ socketPath: core.socketPath, connections: 1 });
  t.teardown(() => second.destroy());
  const [big, small] = [image.layers[0], image.layers[1]];
  if (!big || !small) throw new Error('the image has two layers');

  // Both answers have started before either body is read: the two requests are in flight together.
  const [a, b] = await Promise.all([core.client.blob(big.digest, { ref }), second.blob(small.digest, { ref })]);
  t.equal(a.headers['content-length'], String(big.size));
  t.equal(b.headers['content-length'], String(small.size));
  const [bodyA, bodyB] = await Promise.all([readAll(a), readAll(b)]);
  t.equal(sha256(bodyA), big.digest, 'first connection: the busybox layer');
  t.equal(sha256(bodyB), small.digest, 'second connection: the small layer');
  t.equal((await second.health()).status, 'ok', 'the second connection is still usable');
});

t.test('systemd socket activation (LISTEN_FDS)', async (t) => {
  if (!requireTool(t, 'python3')) return;
  const socketPath = join(tempDir(t, 'activation-'), 'core.sock');
  // Like systemd: bind and listen, put the socket on fd 3, set LISTEN_FDS and LISTEN_PID, exec.
  const activate = [
    'import os, socket, sys',
    'path, node, cli = sys.argv[1:4]',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
    's.bind(path)',
    's.listen(16)',
    // dup2 onto itself (the socket may already be fd 3) would leave it close-on-exec.
    'if s.fileno() != 3: os.dup2(s.fileno(), 3)',
    'os.set_inheritable(3, True)',
    'env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))',
    'os.execve(node, [node, cli, "core"], env)',
  ].join('\n');
  const child = spawn('python3', ['-c', activate, socketPath, process.execPath, CLI], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  const outcome = track(t, child);
  const client = new CoreClient({ socketPath });
  t.teardown(() => client.destroy());

  // The socket exists (and queues connections) before the core runs; a dead child is reported, not waited on.
  const deadline = Date.now() + 15_000;
  while (!existsSync(socketPath)) {
    if (child.exitCode !== null) break;
    if (Date.now() > deadline) throw new Error('the activation socket never appeared');
    await delay(20);
  }
  t.equal(child.exitCode, null, 'the activated core is running');
  const health = await client.health();
  t.equal(health.status, 'ok', '/health answers on the activated socket');
  t.equal(typeof health.version, 'string');

  child.kill('SIGTERM');
  const result = await outcome;
  t.equal(result.code, 0, `SIGTERM drains and exits 0${result.code === 0 ? '' : `: ${result.stderr}`}`);
});

t.test('core without a transport refuses to start', async (t) => {
  const result = await run(t, process.execPath, [CLI, 'core']);
  t.not(result.code, 0, 'non-zero exit');
  t.not(result.code, null, 'it exited by itself');
  t.match(result.stderr, /--sockfd/, 'the message names --sockfd');
});
