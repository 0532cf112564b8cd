// GET|HEAD /save/{ref}: the archive. Everything that can fail before the first byte does
// (reference, credentials, platform, media types, layer sizes); the status line leaves once the
// plan is complete, with Content-Length, ETag and Range support.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import { formatReference } from '../../protocol/reference.ts';
import { formatPlatform, Header, type ArchiveFormat } from '../../protocol/routes.ts';
import { cheapSize, layerSizes, type SizeBook } from '../archive/layer-sizes.ts';
import { compressionOf, openCompressed, openUncompressed, type LayerRef } from '../archive/layer-stream.ts';
import { planArchive, type ArchiveInput, type ArchivePlan } from '../archive/layout.ts';
import { writeArchive } from '../archive/writer.ts';
import { diffIds, toOciManifest } from '../image/manifest.ts';
import { resolveImage, type ResolvedImage } from '../image/resolve.ts';
import type { Access } from '../registry/client.ts';
import { accessFor, repoTags, type CoreContext, type Handler } from './context.ts';
import { formatFrom, platformFrom, referenceFrom } from './request.ts';

export interface PreparedArchive {
  image: ResolvedImage;
  layers: LayerRef[];
  plan: ArchivePlan;
  format: ArchiveFormat;
  etag: string;
}

export function layerRefs(ctx: CoreContext, image: ResolvedImage, access: Access): LayerRef[] {
  const ids = diffIds(image.configJson, image.manifest);
  const layers = image.manifest.layers.map((descriptor, i) => ({ client: ctx.registry, ref: image.ref, access, descriptor, diffId: ids[i]!, index: i + 1 }));
  for (const layer of layers) compressionOf(layer);
  return layers;
}

/**
 * What the archive holds, from the image. One builder for /save and /inspect, so the size
 * /inspect reports is the Content-Length /save sends.
 */
function archiveInput(image: ResolvedImage, layers: LayerRef[], format: ArchiveFormat, tags: string[], uncompressed?: number[]): ArchiveInput {
  const { configJson } = image;
  return {
    format,
    config: image.config,
    configDigest: image.manifest.config.digest,
    ociManifest: toOciManifest(image.bytes, image.manifest),
    ...(typeof configJson.created === 'string' ? { created: configJson.created } : {}),
    ...(typeof configJson.os === 'string' ? { os: configJson.os } : {}),
    ...(typeof configJson.architecture === 'string' ? { architecture: configJson.architecture } : {}),
    layers: layers.map((l, i) => ({ digest: l.descriptor.digest, diffId: l.diffId, compressedSize: l.descriptor.size, ...(uncompressed ? { uncompressedSize: uncompressed[i]! } : {}) })),
    repoTags: tags,
  };
}

/** Plans an archive, learning every layer's uncompressed size first for format=docker. */
export async function prepareArchive(ctx: CoreContext, image: ResolvedImage, access: Access, format: ArchiveFormat, tags: string[]): Promise<PreparedArchive> {
  const layers = layerRefs(ctx, image, access);
  const sizes = format === 'docker' ? (await layerSizes(layers, ctx.sizes)).map((s) => s.size) : undefined;
  const plan = planArchive(archiveInput(image, layers, format, tags, sizes));
  const etag = `"${createHash('sha256').update(JSON.stringify([image.digest, format, tags])).digest('hex').slice(0, 32)}"`;
  return { image, layers, plan, format, etag };
}

/** Sizes known without downloading any layer: for /inspect. */
export async function cheapArchiveSizes(ctx: CoreContext, image: ResolvedImage, access: Access, tags: string[]): Promise<{ uncompressed: Array<number | undefined>; docker?: number; oci: number }> {
  const layers = layerRefs(ctx, image, access);
  const uncompressed = await Promise.all(layers.map(async (l) => (await cheapSize(l, ctx.sizes).catch(() => undefined))?.size));
  const oci = planArchive(archiveInput(image, layers, 'oci', tags)).size;
  if (uncompressed.some((s) => s === undefined)) return { uncompressed, oci };
  const docker = planArchive(archiveInput(image, layers, 'docker', tags, uncompressed as number[])).size;
  return { uncompressed, docker, oci };
}

/** Opens a layer body for the writer, and keeps the size book honest about what it saw. */
function opener(prepared: PreparedArchive, book: SizeBook): (layer: number) => Promise<Readable> {
  return async (i) => {
    const layer = prepared.layers[i]!;
    if (prepared.format === 'oci') return openCompressed(layer);
    const segment = prepared.plan.segments.find((s) => s.kind === 'layer' && s.layer === i);
    const expected = segment?.kind === 'layer' ? segment.size : undefined;
    const stream = await openUncompressed(layer, expected);
    stream.on('error', (err) => {
      // The size we announced was wrong: next time this layer is counted, so a retry succeeds.
      if (err instanceof CoreError && err.code === ErrorCode.SIZE_INVALID) book.distrust(layer.diffId);
    });
    stream.on('end', () => {
      if (expected !== undefined) book.set(layer.diffId, expected);
    });
    return stream;
  };
}

type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/** One `bytes=` range (multipart ranges are answered whole, as RFC 9110 allows). */
function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '') === etag);
}

export const save: Handler = async (req: IncomingMessage, res: ServerResponse, ctx: CoreContext, rest, query, signal) => {
  const ref = referenceFrom(rest, ctx.defaultImage);
  const access = accessFor(req, ctx, ref, query, signal);
  const format = formatFrom(query);
  const image = await resolveImage(ctx.registry, ref, platformFrom(query, ctx.defaultPlatform), access);
  const prepared = await prepareArchive(ctx, image, access, format, repoTags(ref, query));
  const { plan, etag } = prepared;
  const headers: Record<string, string | number> = {
    'content-type': 'application/x-tar',
    etag,
    'accept-ranges': 'bytes',
    'cache-control': 'no-cache',
    [Header.manifestDigest]: image.digest,
    [Header.imageReference]: formatReference(ref),
    [Header.platform]: formatPlatform(image.platform),
  };
  if (etagMatches(req.headers['if-none-match'], etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const ifRange = req.headers['if-range'];
  let range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, plan.size) : undefined;
  if (range === 'unsatisfiable') {
    throw new CoreError(416, ErrorCode.RANGE_INVALID, `range ${req.headers.range ?? ''} is outside the ${plan.size}-byte archive`, undefined, { 'content-range': `bytes */${plan.size}` });
  }
  if (range !== undefined && range.start === 0 && range.end === plan.size - 1) range = undefined;
  if (range !== undefined) {
    headers['content-range'] = `bytes ${range.start}-${range.end}/${plan.size}`;
    headers['content-length'] = range.end - range.start + 1;
  } else {
    headers['content-length'] = plan.size;
  }
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await writeArchive({ plan, open: opener(prepared, ctx.sizes), out: res, ...(range ? { start: range.start, end: range.end } : {}) });
  res.end();
};
