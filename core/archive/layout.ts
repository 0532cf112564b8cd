// What an archive holds, planned before its first byte: every entry's header, body and padding
// as segments at known offsets, so the total length, an ETag and any Range are known up front.
// Both layouts are byte-deterministic for the same manifest digest and options.
import { createHash } from 'node:crypto';
import type { ArchiveFormat } from '../../protocol/routes.ts';
import { MediaType } from '../image/media-types.ts';
import { END_OF_ARCHIVE, paddingFor, tarHeader } from './tar-header.ts';

export type Segment =
  | { kind: 'bytes'; data: Buffer }
  /** The body of layer `layer` (0-based): uncompressed for docker, the registry's blob for oci. */
  | { kind: 'layer'; layer: number; size: number };

export interface ArchiveInput {
  format: ArchiveFormat;
  /** The config blob, as the registry stores it. */
  config: Buffer;
  configDigest: string;
  /** The OCI form of the platform manifest (only format=oci stores it). */
  ociManifest: Buffer;
  created?: string;
  os?: string;
  architecture?: string;
  layers: Array<{ digest: string; diffId: string; compressedSize: number; uncompressedSize?: number }>;
  /** `name:tag` entries for manifest.json; the first also names the image in index.json. */
  repoTags: string[];
}

export interface ArchivePlan {
  segments: Segment[];
  size: number;
}

const hex = (digest: string) => digest.slice(digest.indexOf(':') + 1);
const sha256hex = (text: string) => createHash('sha256').update(text).digest('hex');

class PlanBuilder {
  readonly segments: Segment[] = [];
  size = 0;
  #pendingBytes: Buffer[] = [];

  #flushBytes(): void {
    if (this.#pendingBytes.length === 0) return;
    this.segments.push({ kind: 'bytes', data: Buffer.concat(this.#pendingBytes) });
    this.#pendingBytes = [];
  }

  #bytes(data: Buffer): void {
    this.#pendingBytes.push(data);
    this.size += data.length;
  }

  dir(name: string): void {
    this.#bytes(tarHeader({ name, size: 0, type: 'directory' }));
  }

  file(name: string, body: Buffer | string): void {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    this.#bytes(tarHeader({ name, size: data.length, type: 'file' }));
    this.#bytes(data);
    this.#bytes(Buffer.alloc(paddingFor(data.length)));
  }

  layer(name: string, layer: number, size: number): void {
    this.#bytes(tarHeader({ name, size, type: 'file' }));
    this.#flushBytes();
    this.segments.push({ kind: 'layer', layer, size });
    this.size += size;
    this.#bytes(Buffer.alloc(paddingFor(size)));
  }

  finish(): ArchivePlan {
    this.#bytes(END_OF_ARCHIVE);
    this.#flushBytes();
    return { segments: this.segments, size: this.size };
  }
}

/** Splits `name:tag` (the tag follows the last colon after the last slash). */
function splitTag(repoTag: string): [string, string] {
  const colon = repoTag.lastIndexOf(':');
  return colon > repoTag.lastIndexOf('/') ? [repoTag.slice(0, colon), repoTag.slice(colon + 1)] : [repoTag, 'latest'];
}

/** The classic `docker save` layout: every loader, Docker 1.10 on and IOS-XE app-hosting, takes it. */
function dockerPlan(input: ArchiveInput): ArchivePlan {
  const plan = new PlanBuilder();
  const configName = `${hex(input.configDigest)}.json`;
  // v1 layer IDs chain through the parents, so a layer repeated in the image gets its own directory.
  const ids: string[] = [];
  input.layers.forEach((l, i) => ids.push(sha256hex(`${i === 0 ? '' : ids[i - 1]}\n${l.diffId}`)));
  const manifest = [{ Config: configName, RepoTags: input.repoTags, Layers: ids.map((id) => `${id}/layer.tar`) }];
  plan.file('manifest.json', JSON.stringify(manifest));
  if (input.repoTags.length > 0 && ids.length > 0) {
    const repositories: Record<string, Record<string, string>> = {};
    for (const repoTag of input.repoTags) {
      const [name, tag] = splitTag(repoTag);
      (repositories[name] ??= {})[tag] = ids[ids.length - 1]!;
    }
    plan.file('repositories', JSON.stringify(repositories));
  }
  plan.file(configName, input.config);
  input.layers.forEach((layer, i) => {
    const id = ids[i]!;
    const v1: Record<string, unknown> = { id, created: input.created ?? '1970-01-01T00:00:00Z', container_config: {} };
    if (i > 0) v1.parent = ids[i - 1];
    if (input.os) v1.os = input.os;
    if (input.architecture) v1.architecture = input.architecture;
    plan.dir(id);
    plan.file(`${id}/VERSION`, '1.0');
    plan.file(`${id}/json`, JSON.stringify(v1));
    plan.layer(`${id}/layer.tar`, i, layer.uncompressedSize!);
  });
  return plan.finish();
}

/** An OCI image layout with the registry's blobs untouched, plus manifest.json for `docker load`. */
function ociPlan(input: ArchiveInput): ArchivePlan {
  const plan = new PlanBuilder();
  const manifestDigest = `sha256:${createHash('sha256').update(input.ociManifest).digest('hex')}`;
  const descriptor: Record<string, unknown> = { mediaType: MediaType.ociManifest, digest: manifestDigest, size: input.ociManifest.length };
  const first = input.repoTags[0];
  if (first !== undefined) {
    const [name, tag] = splitTag(first);
    descriptor.annotations = { 'io.containerd.image.name': `${name}:${tag}`, 'org.opencontainers.image.ref.name': tag };
  }
  plan.file('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  plan.file('index.json', JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [descriptor] }));
  const dockerManifest = [{ Config: `blobs/sha256/${hex(input.configDigest)}`, RepoTags: input.repoTags, Layers: input.layers.map((l) => `blobs/sha256/${hex(l.digest)}`) }];
  plan.file('manifest.json', JSON.stringify(dockerManifest));
  plan.dir('blobs');
  plan.dir('blobs/sha256');
  plan.file(`blobs/sha256/${hex(manifestDigest)}`, input.ociManifest);
  const written = new Set([manifestDigest]);
  if (!written.has(input.configDigest)) {
    plan.file(`blobs/sha256/${hex(input.configDigest)}`, input.config);
    written.add(input.configDigest);
  }
  input.layers.forEach((layer, i) => {
    // A blob the image uses twice is stored once, as content-addressed layouts do.
    if (written.has(layer.digest)) return;
    written.add(layer.digest);
    plan.layer(`blobs/sha256/${hex(layer.digest)}`, i, layer.compressedSize);
  });
  return plan.finish();
}

export function planArchive(input: ArchiveInput): ArchivePlan {
  return input.format === 'oci' ? ociPlan(input) : dockerPlan(input);
}
