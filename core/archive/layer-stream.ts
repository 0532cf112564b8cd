// A layer as a verified stream: the registry's blob checked against its digest and size, and
// for format=docker decompressed and checked against the config's diff_id (and the size the
// archive declared for it, so an entry can never overrun its header).
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import type { ImageReference } from '../../protocol/reference.ts';
import type { Descriptor } from '../image/manifest.ts';
import { layerCompression, type Compression } from '../image/media-types.ts';
import type { Access, RegistryClient } from '../registry/client.ts';
import { VerifyingStream } from '../stream/verify.ts';
import { ZstdDecompressFrames } from '../stream/zstd.ts';

/**
 * Output chunk of the decompressors. zlib's default of 16 KiB means one thread-pool round trip
 * per 16 KiB, which made inflate the bottleneck (7.7 s for 1.3 GB); 256 KiB took it to 4.2 s
 * for about 15 MiB more peak memory (bench/README.md).
 */
export const INFLATE_CHUNK = 256 << 10;

export interface LayerRef {
  client: RegistryClient;
  ref: ImageReference;
  access: Access;
  descriptor: Descriptor;
  diffId: string;
  /** 1-based position, for messages. */
  index: number;
}

export function compressionOf(layer: LayerRef): Compression {
  const c = layerCompression(layer.descriptor.mediaType);
  if (c === undefined) {
    throw new CoreError(415, ErrorCode.UNSUPPORTED, `layer ${layer.index} has media type ${layer.descriptor.mediaType || '(none)'}, which is not a container image layer`);
  }
  if (layer.descriptor.urls?.length) {
    throw new CoreError(415, ErrorCode.UNSUPPORTED, `layer ${layer.index} is a foreign (non-distributable) layer hosted outside the registry; such images are not supported`);
  }
  return c;
}

/** Links errors along a chain of streams so destroying any one end tears the whole chain down. */
function chain(...streams: Readable[]): Readable {
  for (let i = 0; i < streams.length - 1; i++) {
    const from = streams[i]!;
    const to = streams[i + 1]! as Readable & NodeJS.WritableStream;
    from.on('error', (err) => to.destroy(err));
    to.on('close', () => {
      if (!from.destroyed) from.destroy();
    });
    from.pipe(to);
  }
  return streams[streams.length - 1]!;
}

/** The blob exactly as the registry stores it, verified. */
export async function openCompressed(layer: LayerRef): Promise<Readable> {
  const res = await layer.client.fetchBlob(layer.ref, layer.descriptor.digest, layer.access);
  return chain(res.body, new VerifyingStream({ digest: layer.descriptor.digest, size: layer.descriptor.size, what: `layer ${layer.index} (${layer.descriptor.digest})` }));
}

/**
 * The uncompressed layer tar, verified against the blob digest and the diff_id. With
 * `expectedSize`, a byte beyond it fails at once and a short stream fails at its end.
 */
export async function openUncompressed(layer: LayerRef, expectedSize?: number): Promise<Readable> {
  const compression = compressionOf(layer);
  const compressed = await openCompressed(layer);
  const what = `layer ${layer.index} uncompressed (diff_id ${layer.diffId})`;
  const diffCheck = new VerifyingStream({ digest: layer.diffId, what, ...(expectedSize !== undefined ? { size: expectedSize } : {}) });
  if (compression === 'none') return chain(compressed, diffCheck);
  const decompress = compression === 'gzip' ? createGunzip({ chunkSize: INFLATE_CHUNK }) : new ZstdDecompressFrames(INFLATE_CHUNK);
  // Registered before chain() links the streams, so the clear message is the one that wins.
  decompress.once('error', (err) => {
    diffCheck.destroy(new CoreError(502, ErrorCode.DIGEST_MISMATCH, `${what} cannot be decompressed as ${compression}: ${err.message}`));
  });
  return chain(compressed, decompress as unknown as Readable, diffCheck);
}
