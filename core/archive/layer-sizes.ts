// Uncompressed layer sizes, needed before the first byte for tar headers and Content-Length.
// Cheap sources first: sizes learned earlier in this process, an uncompressed blob's own size,
// the gzip trailer's ISIZE (one 8-byte ranged request), a zstd frame's content size (one
// 18-byte ranged request). What stays unknown or untrusted is counted by streaming the layer
// once (decompressed, verified, discarded): no disk, flat memory, one extra download.
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import { discard, headerValue } from '../registry/http.ts';
import { compressionOf, openUncompressed, type LayerRef } from './layer-stream.ts';

const GZIP_TRAILER = 8;
const ZSTD_HEADER_MAX = 18;
const ZSTD_MAGIC = 0xfd2fb528;
const MIN_TAR = 1024;

/** Sizes this process has proven by streaming a layer, keyed by diff_id. */
export class SizeBook {
  readonly #sizes = new Map<string, number>();
  /** Layers whose cheap size proved wrong (a wrapped ISIZE, a multi-frame zstd): always count them. */
  readonly #distrusted = new Set<string>();
  readonly #limit: number;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  get(diffId: string): number | undefined {
    return this.#sizes.get(diffId);
  }

  isDistrusted(diffId: string): boolean {
    return this.#distrusted.has(diffId);
  }

  distrust(diffId: string): void {
    this.#sizes.delete(diffId);
    if (this.#distrusted.size < this.#limit) this.#distrusted.add(diffId);
  }

  set(diffId: string, size: number): void {
    this.#distrusted.delete(diffId);
    this.#sizes.delete(diffId);
    if (this.#sizes.size >= this.#limit) {
      const oldest = this.#sizes.keys().next().value;
      if (oldest !== undefined) this.#sizes.delete(oldest);
    }
    this.#sizes.set(diffId, size);
  }

}

export type SizeSource = 'learned' | 'uncompressed' | 'gzip-isize' | 'zstd-frame' | 'counted';

export interface LayerSize {
  size: number;
  source: SizeSource;
}

async function tailBytes(layer: LayerRef, range: string, expected: number): Promise<Buffer | undefined> {
  const res = await layer.client.fetchBlob(layer.ref, layer.descriptor.digest, layer.access, range);
  // A pull-through cache may ignore Range and start sending the whole blob: stop at once.
  if (res.status !== 206) {
    discard(res.body);
    return undefined;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > expected) {
      discard(res.body);
      return undefined;
    }
    chunks.push(chunk);
  }
  const contentRange = headerValue(res.headers, 'content-range');
  if (total !== expected || contentRange === undefined) return undefined;
  return Buffer.concat(chunks, total);
}

/** ISIZE, unless the trailer cannot be the whole story (see README, "Layer sizes"). */
export function plausibleIsize(isize: number, compressedSize: number): number | undefined {
  // 0 is eStargz's empty closing member; a tar is a whole number of 512-byte blocks of at least
  // 1024; ISIZE below the compressed size means it wrapped at 4 GiB (or something odd).
  if (isize === 0 || isize % 512 !== 0 || isize < MIN_TAR || isize < compressedSize) return undefined;
  return isize;
}

/** The Frame_Content_Size of the first zstd frame, if the header carries one. */
export function zstdContentSize(header: Buffer): number | undefined {
  if (header.length < 6 || header.readUInt32LE(0) !== ZSTD_MAGIC) return undefined;
  const descriptor = header[4]!;
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictIdBytes = [0, 1, 2, 4][descriptor & 3]!;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return undefined;
  const offset = 5 + (singleSegment ? 0 : 1) + dictIdBytes;
  if (header.length < offset + fcsBytes) return undefined;
  switch (fcsBytes) {
    case 1:
      return header[offset]!;
    case 2:
      return header.readUInt16LE(offset) + 256;
    case 4:
      return header.readUInt32LE(offset);
    default: {
      const v = header.readBigUInt64LE(offset);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
    }
  }
}

function isStargz(layer: LayerRef): boolean {
  const a = layer.descriptor.annotations ?? {};
  return 'containerd.io/snapshot/stargz/toc.digest' in a || 'io.containers.estargz.uncompressed-size' in a;
}

function isChunkedZstd(layer: LayerRef): boolean {
  return Object.keys(layer.descriptor.annotations ?? {}).some((k) => k.startsWith('io.github.containers.zstd-chunked.'));
}

/** A size from cheap sources, or undefined when only counting will tell. */
export async function cheapSize(layer: LayerRef, book: SizeBook): Promise<LayerSize | undefined> {
  const learned = book.get(layer.diffId);
  if (learned !== undefined) return { size: learned, source: 'learned' };
  if (book.isDistrusted(layer.diffId)) return undefined;
  const compression = compressionOf(layer);
  const size = layer.descriptor.size;
  if (compression === 'none') return { size, source: 'uncompressed' };
  if (compression === 'gzip') {
    if (isStargz(layer) || size < 20 + GZIP_TRAILER) return undefined;
    const trailer = await tailBytes(layer, `bytes=${size - GZIP_TRAILER}-${size - 1}`, GZIP_TRAILER);
    const isize = trailer === undefined ? undefined : plausibleIsize(trailer.readUInt32LE(4), size);
    return isize === undefined ? undefined : { size: isize, source: 'gzip-isize' };
  }
  if (isChunkedZstd(layer)) return undefined;
  const header = await tailBytes(layer, `bytes=0-${Math.min(ZSTD_HEADER_MAX, size) - 1}`, Math.min(ZSTD_HEADER_MAX, size));
  const fcs = header === undefined ? undefined : zstdContentSize(header);
  return fcs === undefined || fcs < MIN_TAR || fcs % 512 !== 0 ? undefined : { size: fcs, source: 'zstd-frame' };
}

/** Streams the layer once, verified, to count its uncompressed bytes. */
export async function countedSize(layer: LayerRef, book: SizeBook): Promise<LayerSize> {
  const stream = await openUncompressed(layer);
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) size += chunk.length;
  book.set(layer.diffId, size);
  return { size, source: 'counted' };
}

/** Every layer's size, `concurrency` at a time. */
export async function layerSizes(layers: LayerRef[], book: SizeBook, concurrency = 4): Promise<LayerSize[]> {
  const out: LayerSize[] = new Array(layers.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < layers.length; i = next++) {
      const layer = layers[i]!;
      out[i] = (await cheapSize(layer, book)) ?? (await countedSize(layer, book));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, layers.length) }, worker));
  if (out.some((s) => s === undefined)) throw new CoreError(500, ErrorCode.INTERNAL, 'a layer size was not determined');
  return out;
}
