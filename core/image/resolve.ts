// From a reference to everything needed before the first byte of an answer: the platform's
// manifest (verified against the index's descriptor), and its config (verified by digest).
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import { formatReference, type ImageReference } from '../../protocol/reference.ts';
import { formatPlatform, type Platform } from '../../protocol/routes.ts';
import { readLimited } from '../registry/http.ts';
import type { Access, RegistryClient } from '../registry/client.ts';
import { VerifyingStream } from '../stream/verify.ts';
import { MAX_CONFIG_BYTES, parseConfig, parseManifest, type ImageConfig, type ImageManifest } from './manifest.ts';
import { choosePlatform, offeredPlatforms, platformMatches } from './platform.ts';

export interface ResolvedManifest {
  ref: ImageReference;
  /** The platform manifest's bytes and digest as the registry served them. */
  bytes: Buffer;
  digest: string;
  manifest: ImageManifest;
  indexDigest?: string;
  /** Platforms the index offers; for a single manifest, filled in from its config. */
  platforms: Platform[];
  /** The platform the index entry declares, when there was an index. */
  platform?: Platform;
}

export interface ResolvedImage extends ResolvedManifest {
  config: Buffer;
  configJson: ImageConfig;
  platform: Platform;
}

export async function resolveManifest(client: RegistryClient, ref: ImageReference, wanted: Platform, access: Access): Promise<ResolvedManifest> {
  const top = await client.fetchTop(ref, access);
  const parsed = parseManifest(top.bytes, top.contentType);
  if (parsed.kind === 'manifest') return { ref, bytes: top.bytes, digest: top.digest, manifest: parsed, platforms: [] };

  const entry = choosePlatform(parsed.manifests, wanted, formatReference(ref));
  const child = await client.fetchManifest(ref, entry.digest, access);
  if (child.bytes.length !== entry.size) {
    throw new CoreError(502, ErrorCode.SIZE_INVALID, `manifest ${entry.digest} is ${child.bytes.length} bytes but the index says ${entry.size}`);
  }
  const manifest = parseManifest(child.bytes, child.contentType);
  if (manifest.kind !== 'manifest') throw new CoreError(502, ErrorCode.MANIFEST_INVALID, `index entry ${entry.digest} is itself an index`);
  return {
    ref,
    bytes: child.bytes,
    digest: child.digest,
    manifest,
    indexDigest: top.digest,
    platforms: offeredPlatforms(parsed.manifests),
    ...(entry.platform ? { platform: entry.platform } : {}),
  };
}

export async function fetchConfig(client: RegistryClient, ref: ImageReference, manifest: ImageManifest, access: Access): Promise<Buffer> {
  const { digest, size } = manifest.config;
  if (size > MAX_CONFIG_BYTES) throw new CoreError(502, ErrorCode.SIZE_INVALID, `the image config is ${size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  const res = await client.fetchBlob(ref, digest, access);
  const verifier = new VerifyingStream({ digest, size, what: 'the image config' });
  res.body.on('error', (err) => verifier.destroy(err));
  res.body.pipe(verifier);
  return readLimited({ ...res, body: verifier }, MAX_CONFIG_BYTES, 'the image config');
}

export async function resolveImage(client: RegistryClient, ref: ImageReference, wanted: Platform, access: Access): Promise<ResolvedImage> {
  const resolved = await resolveManifest(client, ref, wanted, access);
  const config = await fetchConfig(client, ref, resolved.manifest, access);
  const configJson = parseConfig(config);
  const own: Platform | undefined =
    typeof configJson.os === 'string' && typeof configJson.architecture === 'string'
      ? { os: configJson.os, architecture: configJson.architecture, ...(typeof configJson.variant === 'string' && configJson.variant ? { variant: configJson.variant } : {}) }
      : undefined;
  // A single-platform image for another architecture would install and then fail to start on
  // the device: say so now, naming what the image is.
  if (resolved.indexDigest === undefined && own !== undefined && !platformMatches(wanted, own)) {
    throw new CoreError(404, ErrorCode.PLATFORM_UNKNOWN, `${formatReference(ref)} is a single-platform image for ${formatPlatform(own)}, not ${formatPlatform(wanted)}`, {
      wanted: formatPlatform(wanted),
      offered: [formatPlatform(own)],
    });
  }
  const platform = own ?? resolved.platform ?? wanted;
  return { ...resolved, platforms: resolved.platforms.length ? resolved.platforms : [platform], config, configJson, platform };
}
