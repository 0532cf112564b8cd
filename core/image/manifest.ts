// Manifests as registries serve them: classified, validated against hostile input, and
// converted to OCI for /manifest.
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import { parseDigest } from '../../protocol/reference.ts';
import type { Platform } from '../../protocol/routes.ts';
import { DOCKER_TO_OCI, MediaType } from './media-types.ts';

export const MAX_MANIFEST_BYTES = 4 << 20;
export const MAX_CONFIG_BYTES = 4 << 20;
export const MAX_LAYERS = 1000;
export const MAX_INDEX_ENTRIES = 1000;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface IndexManifest {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

export type ParsedManifest = ImageManifest | IndexManifest;

function invalid(message: string): CoreError {
  return new CoreError(502, ErrorCode.MANIFEST_INVALID, message);
}

function descriptor(value: unknown, where: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw invalid(`${where} is not an object`);
  const d = value as Record<string, unknown>;
  if (typeof d.digest !== 'string') throw invalid(`${where} has no digest`);
  let digest: string;
  try {
    digest = parseDigest(d.digest);
  } catch {
    throw invalid(`${where} has an invalid digest "${d.digest}"`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw invalid(`${where} has an invalid size`);
  const out: Descriptor = { mediaType: typeof d.mediaType === 'string' ? d.mediaType : '', digest, size: d.size };
  if (Array.isArray(d.urls)) out.urls = d.urls.filter((u): u is string => typeof u === 'string');
  if (typeof d.annotations === 'object' && d.annotations !== null) out.annotations = d.annotations as Record<string, string>;
  if (typeof d.platform === 'object' && d.platform !== null) {
    const p = d.platform as Record<string, unknown>;
    if (typeof p.os === 'string' && typeof p.architecture === 'string') {
      out.platform = { os: p.os, architecture: p.architecture, ...(typeof p.variant === 'string' && p.variant !== '' ? { variant: p.variant } : {}) };
    }
  }
  return out;
}

/** Classifies and validates a manifest body; `contentType` is the registry's Content-Type. */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('the registry served a manifest that is not JSON');
  }
  if (typeof json !== 'object' || json === null) throw invalid('the manifest is not a JSON object');
  const headerType = contentType?.split(';')[0]?.trim();
  const mediaType = typeof json.mediaType === 'string' && json.mediaType !== '' ? json.mediaType : (headerType ?? '');
  if (json.schemaVersion === 1 || mediaType === MediaType.schema1 || mediaType === MediaType.schema1Signed) {
    throw new CoreError(415, ErrorCode.UNSUPPORTED, 'this image uses the Docker schema 1 manifest format, which is not supported; push it again with a current Docker or skopeo to convert it');
  }
  if (json.schemaVersion !== 2) throw invalid(`unsupported manifest schemaVersion ${String(json.schemaVersion)}`);

  const isIndex = mediaType === MediaType.ociIndex || mediaType === MediaType.dockerList || (mediaType !== MediaType.ociManifest && mediaType !== MediaType.dockerManifest && Array.isArray(json.manifests));
  if (isIndex) {
    if (!Array.isArray(json.manifests)) throw invalid('the index has no manifests list');
    if (json.manifests.length > MAX_INDEX_ENTRIES) throw invalid(`the index lists ${json.manifests.length} manifests, over the limit of ${MAX_INDEX_ENTRIES}`);
    return {
      kind: 'index',
      mediaType: mediaType || MediaType.ociIndex,
      manifests: json.manifests.map((m, i) => descriptor(m, `index entry ${i}`)),
    };
  }
  if (!Array.isArray(json.layers)) throw invalid('the manifest has no layers list');
  if (json.layers.length > MAX_LAYERS) throw invalid(`the image has ${json.layers.length} layers, over the limit of ${MAX_LAYERS}`);
  const config = descriptor(json.config, 'the config descriptor');
  if (config.size > MAX_CONFIG_BYTES) throw invalid(`the image config is ${config.size} bytes, over the limit of ${MAX_CONFIG_BYTES}`);
  const manifest: ImageManifest = {
    kind: 'manifest',
    mediaType: mediaType || MediaType.ociManifest,
    config,
    layers: json.layers.map((l, i) => descriptor(l, `layer ${i + 1}`)),
  };
  if (typeof json.annotations === 'object' && json.annotations !== null) manifest.annotations = json.annotations as Record<string, string>;
  return manifest;
}

function descriptorJson(d: Descriptor, convert: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { mediaType: convert ? (DOCKER_TO_OCI[d.mediaType] ?? d.mediaType) : d.mediaType, digest: d.digest, size: d.size };
  if (d.urls?.length) out.urls = d.urls;
  if (d.annotations) out.annotations = d.annotations;
  return out;
}

/** The manifest in OCI form: an OCI manifest's own bytes, or a Docker schema 2 one rewritten. */
export function toOciManifest(raw: Buffer, manifest: ImageManifest): Buffer {
  if (manifest.mediaType === MediaType.ociManifest) return raw;
  const out: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: descriptorJson(manifest.config, true),
    layers: manifest.layers.map((l) => descriptorJson(l, true)),
  };
  if (manifest.annotations) out.annotations = manifest.annotations;
  return Buffer.from(JSON.stringify(out));
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  rootfs?: { type?: string; diff_ids?: string[] };
  [key: string]: unknown;
}

export function parseConfig(bytes: Buffer): ImageConfig {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('the image config is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid('the image config is not a JSON object');
  return json as ImageConfig;
}

/** The config's diff_ids, which must pair one to one with the manifest's layers. */
export function diffIds(config: ImageConfig, manifest: ImageManifest): string[] {
  const ids = config.rootfs?.diff_ids;
  if (!Array.isArray(ids)) throw invalid('the image config has no rootfs.diff_ids: this is not a container image');
  if (ids.length !== manifest.layers.length) {
    throw invalid(`the image config lists ${ids.length} diff_ids for ${manifest.layers.length} layers`);
  }
  return ids.map((id, i) => {
    try {
      return parseDigest(String(id));
    } catch {
      throw invalid(`diff_id ${i + 1} "${String(id)}" is not a valid digest`);
    }
  });
}
