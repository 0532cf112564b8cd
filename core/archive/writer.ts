// Streams an archive plan, or one byte range of it, into a writable. The next layer is opened
// ahead with a small buffer, so its connection, token and first bytes are ready when the writer
// gets there; a slow reader back-pressures all of it. Deeper or bigger prefetch was measured
// and bought no time for its memory (bench/README.md).
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import type { ArchivePlan, Segment } from './layout.ts';

export interface WriteOptions {
  plan: ArchivePlan;
  /** Opens a layer body: verified, and failing before it could exceed the planned size. */
  open: (layer: number) => Promise<Readable>;
  out: Writable;
  /** Inclusive byte range; the whole archive by default. */
  start?: number;
  end?: number;
  /** Layers opened ahead of the one being written (≥ 1 means just the current one). */
  window?: number;
  /** Bytes buffered per layer opened ahead. */
  bufferBytes?: number;
  /** Called as bytes go out, for progress reporting. */
  onProgress?: (written: number) => void;
}

interface Piece {
  segment: Segment;
  /** Slice of the segment to send: [from, to). */
  from: number;
  to: number;
}

function clientGone(): CoreError {
  return new CoreError(499, ErrorCode.UPSTREAM_UNAVAILABLE, 'the client went away');
}

function write(out: Writable, chunk: Buffer): Promise<void> | undefined {
  if (out.destroyed) throw clientGone();
  if (out.write(chunk)) return undefined;
  return new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      out.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      out.off('drain', onDrain);
      reject(clientGone());
    };
    out.once('drain', onDrain);
    out.once('close', onClose);
  });
}

function piecesOf(plan: ArchivePlan, start: number, end: number): Piece[] {
  const pieces: Piece[] = [];
  let offset = 0;
  for (const segment of plan.segments) {
    const length = segment.kind === 'bytes' ? segment.data.length : segment.size;
    const segStart = offset;
    offset += length;
    if (offset <= start || segStart > end || length === 0) continue;
    pieces.push({ segment, from: Math.max(0, start - segStart), to: Math.min(length, end + 1 - segStart) });
  }
  return pieces;
}

export async function writeArchive(options: WriteOptions): Promise<void> {
  const { plan, out } = options;
  const start = options.start ?? 0;
  const end = options.end ?? plan.size - 1;
  const window = Math.max(1, options.window ?? 2);
  const bufferBytes = options.bufferBytes ?? 256 << 10;
  const pieces = piecesOf(plan, start, end);
  const layerPieces = pieces.filter((p) => p.segment.kind === 'layer');
  const opened = new Map<Piece, Promise<Readable>>();
  let written = 0;

  const openPiece = (piece: Piece): Promise<Readable> => {
    let stream = opened.get(piece);
    if (stream === undefined) {
      const layer = (piece.segment as Extract<Segment, { kind: 'layer' }>).layer;
      stream = options.open(layer).then((s) => {
        // The buffer lets this layer's download and decompression run ahead of the writer.
        const buffer = new PassThrough({ highWaterMark: bufferBytes });
        // A layer opened ahead may fail before the writer reads it: the writer sees the error
        // when it gets there; until then this listener keeps it from being unhandled.
        buffer.on('error', () => undefined);
        s.on('error', (err) => buffer.destroy(err));
        buffer.on('close', () => s.destroy());
        return s.pipe(buffer);
      });
      // Failures surface when the writer reaches this layer; until then nothing is unhandled.
      stream.catch(() => undefined);
      opened.set(piece, stream);
    }
    return stream;
  };

  const send = async (chunk: Buffer) => {
    written += chunk.length;
    await write(out, chunk);
    options.onProgress?.(written);
  };

  try {
    for (const piece of pieces) {
      if (piece.segment.kind === 'bytes') {
        await send(piece.segment.data.subarray(piece.from, piece.to));
        continue;
      }
      const index = layerPieces.indexOf(piece);
      for (const ahead of layerPieces.slice(index, index + window)) void openPiece(ahead);
      const stream = await openPiece(piece);
      let position = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const chunkStart = position;
        position += chunk.length;
        if (position > piece.segment.size) {
          throw new CoreError(502, ErrorCode.SIZE_INVALID, `layer ${piece.segment.layer + 1} is longer than the ${piece.segment.size} bytes its entry declares`);
        }
        const from = Math.max(0, piece.from - chunkStart);
        const to = Math.min(chunk.length, piece.to - chunkStart);
        if (to > from) await send(chunk.subarray(from, to));
        if (position >= piece.to) break;
      }
      if (position < piece.to) {
        throw new CoreError(502, ErrorCode.SIZE_INVALID, `layer ${piece.segment.layer + 1} ended after ${position} of ${piece.segment.size} bytes`);
      }
      opened.delete(piece);
    }
  } finally {
    // Whatever was opened ahead and not consumed (a failure, a range) is torn down.
    for (const pending of opened.values()) void pending.then((s) => s.destroy(), () => undefined);
  }
}
