// The core's wire contract: paths, headers, query options and the shapes of its JSON answers.
import { formatReference, type ImageReference } from './reference.ts';

export const Route = {
  manifest: '/manifest',
  config: '/config',
  inspect: '/inspect',
  blobs: '/blobs',
  save: '/save',
  health: '/health',
  quit: '/quit',
} as const;

export const Header = {
  manifestDigest: 'manifest-digest',
  imageReference: 'image-reference',
  platform: 'image-platform',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
} as const;

export const Formats = ['docker', 'oci'] as const;
export type ArchiveFormat = (typeof Formats)[number];
export const Schemes = ['http', 'https'] as const;
export type Scheme = (typeof Schemes)[number];

/** Query options any image route takes. */
export interface ImageQuery {
  /** `os/arch[/variant]`. */
  platform?: string;
  /** Registry transport; unset means https with Docker's plain-http fallback for loopback and insecure hosts. */
  scheme?: Scheme;
  format?: ArchiveFormat;
  /** Repo tag to record in the archive. */
  tag?: string;
  /** For /blobs: which image the blob belongs to (defaults to the core's positional IMAGE). */
  ref?: string;
}

export function queryString(query: ImageQuery): string {
  const params = new URLSearchParams();
  for (const key of ['platform', 'scheme', 'format', 'tag', 'ref'] as const) {
    const value = query[key];
    if (value !== undefined && value !== '') params.set(key, value);
  }
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

/** Characters left as they are in a reference path; everything else is percent-encoded. */
function encodeRefPath(ref: string): string {
  return ref.replace(/[^A-Za-z0-9._\-/:@]/g, (c) => encodeURIComponent(c));
}

export function imagePath(route: string, ref: ImageReference | string | undefined, query: ImageQuery = {}): string {
  const refPart = ref === undefined ? '' : `/${encodeRefPath(typeof ref === 'string' ? ref : formatReference(ref))}`;
  return `${route}${refPart}${queryString(query)}`;
}

export function blobPath(digest: string, query: ImageQuery = {}): string {
  return `${Route.blobs}/${digest}${queryString(query)}`;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface LayerInfo {
  digest: string;
  mediaType: string;
  /** Compressed size as the registry stores it. */
  size: number;
  diffID: string;
  /** Size of the uncompressed layer tar, when known. */
  uncompressedSize?: number;
}

export interface InspectResult {
  reference: string;
  /** Digest of the manifest as the registry served it. */
  digest: string;
  mediaType: string;
  /** Digest of the index / manifest list the platform was chosen from, if any. */
  indexDigest?: string;
  platform: Platform;
  /** Platforms an index offers (just the image's own for a single manifest). */
  platforms: Platform[];
  configDigest: string;
  created?: string;
  layers: LayerInfo[];
  repoTags: string[];
  /** Size of the `format=docker` archive, when every layer's uncompressed size is known. */
  archiveSize?: number;
  /** Size of the `format=oci` archive. */
  ociArchiveSize?: number;
}

export interface HealthResult {
  status: 'ok';
  name: string;
  version: string;
  uptimeSeconds: number;
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

export function parsePlatform(input: string): Platform {
  const parts = input.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) {
    throw new Error(`invalid platform "${input}": expected os/arch[/variant], e.g. linux/arm64`);
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  return variant ? { os, architecture, variant } : { os, architecture };
}
