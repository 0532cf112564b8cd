// Debian's `docker-registry` (distribution 2.x) on a loopback port, and pushing an image to it
// through the registry API (monolithic blob uploads, then the manifest).
import { spawn } from 'node:child_process';
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { MANIFEST_TYPE, type BlobFile, type BuiltImage } from './image.ts';
import { cleanEnv, collectOutput, delay, freePort, stopProcess, type Cleanup } from './util.ts';

export interface Registry {
  /** '127.0.0.1:PORT' */
  host: string;
  url: string;
  output(): string;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 15_000;
const PUSH_TIMEOUT_MS = 10 * 60_000;

function config(storage: string, port: number): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(storage)}`,
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: image-passthrough-bench',
    'health:',
    '  storagedriver:',
    '    enabled: false',
    '',
  ].join('\n');
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await request(`${url}/v2/`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

export async function startRegistry(cleanup: Cleanup, dir: string): Promise<Registry> {
  const storage = join(dir, 'storage');
  mkdirSync(storage, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const configFile = join(dir, 'config.yml');
    writeFileSync(configFile, config(storage, port));
    // REGISTRY_* variables would override the config file.
    const child = cleanup.track(spawn('docker-registry', ['serve', configFile], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
    const output = collectOutput(child);
    let spawnError: Error | undefined;
    child.once('error', (err) => (spawnError = err));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      if (spawnError) throw new Error(`cannot start docker-registry: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) break;
      if (await answers(url)) return { host: `127.0.0.1:${port}`, url, output, stop: () => stopProcess(child) };
      if (Date.now() > deadline) {
        await stopProcess(child);
        throw new Error(`docker-registry did not answer on ${url} within ${STARTUP_TIMEOUT_MS} ms:\n${output()}`);
      }
      await delay(50);
    }
    if (attempt < 3 && /address already in use/i.test(output())) continue;
    throw new Error(`docker-registry exited early (code ${child.exitCode}):\n${output()}`);
  }
}

async function expect(res: Awaited<ReturnType<typeof request>>, status: number, what: string): Promise<void> {
  if (res.statusCode === status) {
    await res.body.dump();
    return;
  }
  throw new Error(`${what}: HTTP ${res.statusCode} ${await res.body.text()}`);
}

async function pushBlob(base: string, repo: string, blob: BlobFile): Promise<void> {
  const head = await request(`${base}/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' });
  await head.body.dump();
  if (head.statusCode === 200) return;

  const start = await request(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
  await expect(start, 202, `starting the upload of ${blob.digest}`);
  const location = start.headers.location;
  if (typeof location !== 'string') throw new Error('the registry gave no upload location');
  const target = new URL(location, base);
  target.searchParams.set('digest', blob.digest);
  const put = await request(target, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body: createReadStream(blob.file),
    headersTimeout: PUSH_TIMEOUT_MS,
    bodyTimeout: PUSH_TIMEOUT_MS,
  });
  await expect(put, 201, `uploading ${blob.digest}`);
}

/** Pushes the blobs (config and layers) and then the manifest as `repo:tag`. */
export async function pushImage(registry: Registry, repo: string, tag: string, image: BuiltImage): Promise<void> {
  await Promise.all([image.config, ...image.layers].map((b) => pushBlob(registry.url, repo, b)));
  const res = await request(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': MANIFEST_TYPE },
    body: image.manifest,
  });
  await expect(res, 201, `pushing the manifest ${repo}:${tag}`);
}
