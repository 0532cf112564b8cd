// Deterministic test images (same spec, same bytes, same digests) and pushing them to a registry.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { request } from 'undici';

export type FileSpec =
  | string
  | Buffer
  | { data: string | Buffer; mode?: number }
  | { symlink: string }
  | { dir: true; mode?: number };

export type Compression = 'gzip' | 'zstd' | 'none';

/** Paths may start with '/' or not; parent directories are added. A whiteout is just a file named `.wh.NAME`. */
export type LayerSpec = { files: Record<string, FileSpec>; compression?: Compression };

export type MediaTypeFamily = 'docker' | 'oci';

export type Platform = { os: string; architecture: string; variant?: string };

export type ImageSpec = {
  layers: LayerSpec[];
  mediaTypes?: MediaTypeFamily;
  platform?: Platform;
  cmd?: string[];
  env?: string[];
  labels?: Record<string, string>;
};

export type BuiltLayer = {
  /** What the registry stores: the tar, compressed. */
  blob: Buffer;
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar, as listed in the config's rootfs.diff_ids. */
  diffId: string;
  uncompressedSize: number;
  mediaType: string;
  compression: Compression;
  tar: Buffer;
};

export type BuiltImage = {
  manifest: Buffer;
  manifestDigest: string;
  manifestMediaType: string;
  config: Buffer;
  configDigest: string;
  configMediaType: string;
  layers: BuiltLayer[];
  platform: Platform;
};

export type BuiltIndex = {
  manifest: Buffer;
  digest: string;
  mediaType: string;
  /** The child images, in the order of the index entries. */
  images: BuiltImage[];
};

export type RegistryTarget = { url: string; auth?: { username: string; password: string } };

export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** Everything a client may ask for when fetching a manifest of any kind. */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.dockerManifest,
].join(', ');

/** Images are timeless: a fixed date keeps digests identical across runs. */
const EPOCH = new Date(0);
const CREATED = '1970-01-01T00:00:00Z';
const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };
const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A layer with a static busybox and a few applets, so a loaded image can really run. */
export function busyboxLayer(compression: Compression = 'gzip'): LayerSpec {
  return {
    compression,
    files: {
      '/bin/busybox': { data: readFileSync('/bin/busybox'), mode: 0o755 },
      '/bin/sh': { symlink: 'busybox' },
      '/bin/cat': { symlink: 'busybox' },
      '/bin/echo': { symlink: 'busybox' },
      '/bin/ls': { symlink: 'busybox' },
    },
  };
}

type TarEntry = { name: string; type: 'file' | 'directory' | 'symlink'; mode: number; data?: Buffer; linkname?: string };

function tarEntries(files: Record<string, FileSpec>): TarEntry[] {
  const entries = new Map<string, TarEntry>();
  for (const [rawPath, spec] of Object.entries(files)) {
    const name = rawPath.replace(/^\/+/, '').replace(/\/+$/, '');
    if (name === '' || name.split('/').some((part) => part === '' || part === '.' || part === '..')) {
      throw new Error(`bad path in layer spec: ${JSON.stringify(rawPath)}`);
    }
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!entries.has(dir)) entries.set(dir, { name: dir, type: 'directory', mode: 0o755 });
    }
    entries.set(name, toEntry(name, spec));
  }
  // Sorted so the tar (and its digest) does not depend on the order of object keys;
  // a parent always sorts before its children.
  return [...entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function toEntry(name: string, spec: FileSpec): TarEntry {
  if (typeof spec === 'string' || Buffer.isBuffer(spec)) {
    return { name, type: 'file', mode: 0o644, data: Buffer.from(spec) };
  }
  if ('symlink' in spec) return { name, type: 'symlink', mode: 0o777, linkname: spec.symlink };
  if ('dir' in spec) return { name, type: 'directory', mode: spec.mode ?? 0o755 };
  return { name, type: 'file', mode: spec.mode ?? 0o644, data: Buffer.from(spec.data) };
}

/** An uncompressed layer tar. `files: {}` gives just the two end-of-archive blocks. */
export async function buildTar(files: Record<string, FileSpec>): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    // tar-stream emits Buffers; the check only satisfies the typed 'data' event (unknown).
    tar.on('data', (chunk: unknown) => chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))));
    tar.on('end', () => resolve(Buffer.concat(chunks)));
    tar.on('error', reject);
  });
  for (const entry of tarEntries(files)) {
    const header = {
      name: entry.type === 'directory' ? `${entry.name}/` : entry.name,
      type: entry.type,
      mode: entry.mode,
      uid: 0,
      gid: 0,
      mtime: EPOCH,
      ...(entry.linkname !== undefined ? { linkname: entry.linkname } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const callback = (err?: Error | null) => (err ? reject(err) : resolve());
      if (entry.data) tar.entry(header, entry.data, callback);
      else tar.entry(header, callback);
    });
  }
  tar.finalize();
  return done;
}

function compress(tar: Buffer, compression: Compression): Buffer {
  switch (compression) {
    case 'gzip':
      return gzipSync(tar); // Node writes mtime 0 in the gzip header: deterministic already
    case 'zstd':
      return zstdCompressSync(tar);
    case 'none':
      return tar;
  }
}

function layerMediaType(family: MediaTypeFamily, compression: Compression): string {
  if (compression === 'zstd') return MediaTypes.ociLayerZstd; // Docker never defined a zstd type
  if (family === 'docker') return compression === 'gzip' ? MediaTypes.dockerLayerGzip : MediaTypes.dockerLayer;
  return compression === 'gzip' ? MediaTypes.ociLayerGzip : MediaTypes.ociLayer;
}

export async function buildLayer(spec: LayerSpec, family: MediaTypeFamily = 'docker'): Promise<BuiltLayer> {
  const compression = spec.compression ?? 'gzip';
  const tar = await buildTar(spec.files);
  const blob = compress(tar, compression);
  return {
    blob,
    digest: sha256(blob),
    size: blob.length,
    diffId: sha256(tar),
    uncompressedSize: tar.length,
    mediaType: layerMediaType(family, compression),
    compression,
    tar,
  };
}

/** Same format as the registry clients (3-space indent); any stable serialisation would do. */
function serialize(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, null, 3));
}

/** Pure: no network, no clock. Async only because tar-stream packs through a stream. */
export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const family = spec.mediaTypes ?? 'docker';
  const platform = spec.platform ?? DEFAULT_PLATFORM;
  const layers: BuiltLayer[] = [];
  for (const layer of spec.layers) layers.push(await buildLayer(layer, family));

  const containerConfig: Record<string, unknown> = { Env: spec.env ?? DEFAULT_ENV };
  if (spec.cmd) containerConfig.Cmd = spec.cmd;
  if (spec.labels) containerConfig.Labels = spec.labels;
  const config = serialize({
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    created: CREATED,
    config: containerConfig,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: CREATED, created_by: `image-passthrough test layer ${i}` })),
  });
  const configMediaType = family === 'docker' ? MediaTypes.dockerConfig : MediaTypes.ociConfig;
  const configDigest = sha256(config);
  const manifestMediaType = family === 'docker' ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
  const manifest = serialize({
    schemaVersion: 2,
    mediaType: manifestMediaType,
    config: { mediaType: configMediaType, size: config.length, digest: configDigest },
    layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
  });
  return {
    manifest,
    manifestDigest: sha256(manifest),
    manifestMediaType,
    config,
    configDigest,
    configMediaType,
    layers,
    platform,
  };
}

/** A Docker manifest list or an OCI index over already built images. */
export function buildIndex(images: BuiltImage[], mediaTypes: MediaTypeFamily = 'oci'): BuiltIndex {
  const mediaType = mediaTypes === 'docker' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex;
  const manifest = serialize({
    schemaVersion: 2,
    mediaType,
    manifests: images.map((image) => ({
      mediaType: image.manifestMediaType,
      size: image.manifest.length,
      digest: image.manifestDigest,
      platform: {
        architecture: image.platform.architecture,
        os: image.platform.os,
        ...(image.platform.variant !== undefined ? { variant: image.platform.variant } : {}),
      },
    })),
  });
  return { manifest, digest: sha256(manifest), mediaType, images };
}

// ---------------------------------------------------------------------------------------------
// Pushing through the Registry HTTP API V2

function authHeaders(registry: RegistryTarget): Record<string, string> {
  if (!registry.auth) return {};
  const token = Buffer.from(`${registry.auth.username}:${registry.auth.password}`).toString('base64');
  return { authorization: `Basic ${token}` };
}

async function expectStatus(
  what: string,
  res: { statusCode: number; body: { text(): Promise<string> } },
  ...ok: number[]
): Promise<void> {
  const text = await res.body.text();
  if (!ok.includes(res.statusCode)) throw new Error(`${what}: HTTP ${res.statusCode} ${text}`);
}

/** Monolithic upload, skipped when the registry already has the blob. */
export async function pushBlob(registry: RegistryTarget, repo: string, digest: string, data: Buffer): Promise<void> {
  const headers = authHeaders(registry);
  const head = await request(`${registry.url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers });
  await head.body.dump();
  if (head.statusCode === 200) return;

  const start = await request(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  const location = start.headers.location;
  await expectStatus(`start upload of ${digest} to ${repo}`, start, 202);
  if (typeof location !== 'string') throw new Error(`start upload to ${repo}: no Location header`);

  const target = new URL(location, registry.url); // may be relative
  target.searchParams.set('digest', digest);
  const put = await request(target, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
    body: data,
  });
  await expectStatus(`upload ${digest} to ${repo}`, put, 201);
}

export async function pushManifest(
  registry: RegistryTarget,
  repo: string,
  reference: string,
  manifest: Buffer,
  mediaType: string,
): Promise<void> {
  const res = await request(`${registry.url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { ...authHeaders(registry), 'content-type': mediaType },
    body: manifest,
  });
  const stored = res.headers['docker-content-digest'];
  await expectStatus(`push manifest ${repo}:${reference}`, res, 201);
  if (typeof stored === 'string' && stored !== sha256(manifest)) {
    throw new Error(`registry stored ${repo}:${reference} as ${stored}, expected ${sha256(manifest)}`);
  }
}

/** Blobs first, then the manifest, under `tag` or (tag undefined) by digest only. */
export async function pushImage(
  registry: RegistryTarget,
  repo: string,
  tag: string | undefined,
  image: BuiltImage,
): Promise<void> {
  await pushBlob(registry, repo, image.configDigest, image.config);
  for (const layer of image.layers) await pushBlob(registry, repo, layer.digest, layer.blob);
  await pushManifest(registry, repo, tag ?? image.manifestDigest, image.manifest, image.manifestMediaType);
}

/** Child images by digest (the registry checks they exist), then the index. */
export async function pushIndex(
  registry: RegistryTarget,
  repo: string,
  tag: string | undefined,
  index: BuiltIndex,
): Promise<void> {
  for (const image of index.images) await pushImage(registry, repo, undefined, image);
  await pushManifest(registry, repo, tag ?? index.digest, index.manifest, index.mediaType);
}
