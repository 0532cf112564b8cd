// zstd decompression for layers of several frames. A zstd stream may be any number of frames
// (zstd:chunked layers are one frame per chunk; skippable frames hold metadata), but Node's
// decoder stops at the end of the first frame. So the compressed bytes are split at frame
// boundaries here, by reading frame and block headers (RFC 8878), and every frame gets a
// fresh decoder, in order. Skippable frames produce no output and are dropped.
import { Transform, type TransformCallback } from 'node:stream';
import { createZstdDecompress, type ZstdDecompress } from 'node:zlib';

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const DICT_ID_BYTES = [0, 1, 2, 4];

type State = 'magic' | 'skipSize' | 'skip' | 'descriptor' | 'header' | 'blockHeader' | 'blockBody' | 'checksum';
/** States whose bytes must be read, not just counted. */
const PARSED = new Set<State>(['magic', 'skipSize', 'descriptor', 'blockHeader']);

export type FramePiece = { kind: 'data'; data: Buffer } | { kind: 'end' };

export class ZstdFrameSplitter {
  #state: State = 'magic';
  #need = 4;
  #held: Buffer[] = [];
  #inFrame = false;
  #checksum = false;
  #lastBlock = false;

  /** True between frames: a stream may only end here. */
  get atBoundary(): boolean {
    return this.#state === 'magic' && this.#need === 4;
  }

  feed(chunk: Buffer): FramePiece[] {
    const out: FramePiece[] = [];
    let pos = 0;
    let runStart = this.#inFrame ? 0 : -1;
    const flushRun = (end: number) => {
      if (runStart >= 0 && end > runStart) out.push({ kind: 'data', data: chunk.subarray(runStart, end) });
      runStart = -1;
    };
    const expect = (state: State, bytes: number) => {
      this.#state = state;
      this.#need = bytes;
    };
    const endFrame = () => {
      flushRun(pos);
      out.push({ kind: 'end' });
      this.#inFrame = false;
      expect('magic', 4);
    };
    const afterBlock = () => {
      if (!this.#lastBlock) expect('blockHeader', 3);
      else if (this.#checksum) expect('checksum', 4);
      else endFrame();
    };
    while (pos < chunk.length) {
      const take = Math.min(this.#need, chunk.length - pos);
      if (PARSED.has(this.#state)) this.#held.push(chunk.subarray(pos, pos + take));
      pos += take;
      this.#need -= take;
      if (this.#need > 0) break;
      const head = this.#held.length === 1 ? this.#held[0]! : Buffer.concat(this.#held);
      this.#held = [];
      switch (this.#state) {
        case 'magic': {
          const magic = head.readUInt32LE(0);
          if (magic === ZSTD_MAGIC) {
            out.push({ kind: 'data', data: Buffer.from(head) });
            this.#inFrame = true;
            runStart = pos;
            expect('descriptor', 1);
          } else if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
            expect('skipSize', 4);
          } else {
            throw new Error(`not a zstd frame (magic 0x${magic.toString(16)})`);
          }
          break;
        }
        case 'skipSize': {
          const size = head.readUInt32LE(0);
          if (size === 0) expect('magic', 4);
          else expect('skip', size);
          break;
        }
        case 'skip':
          expect('magic', 4);
          break;
        case 'descriptor': {
          const d = head[0]!;
          const fcsFlag = d >> 6;
          const singleSegment = (d >> 5) & 1;
          if ((d >> 3) & 1) throw new Error('zstd frame descriptor has its reserved bit set');
          this.#checksum = ((d >> 2) & 1) === 1;
          const rest = (singleSegment ? 0 : 1) + DICT_ID_BYTES[d & 3]! + [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
          if (rest === 0) expect('blockHeader', 3);
          else expect('header', rest);
          break;
        }
        case 'header':
          expect('blockHeader', 3);
          break;
        case 'blockHeader': {
          const v = head[0]! | (head[1]! << 8) | (head[2]! << 16);
          this.#lastBlock = (v & 1) === 1;
          const type = (v >> 1) & 3;
          if (type === 3) throw new Error('zstd block of the reserved type');
          // An RLE block holds one byte, whatever size it declares.
          const body = type === 1 ? 1 : v >>> 3;
          if (body === 0) afterBlock();
          else expect('blockBody', body);
          break;
        }
        case 'blockBody':
          afterBlock();
          break;
        case 'checksum':
          endFrame();
          break;
      }
    }
    if (this.#inFrame) flushRun(chunk.length);
    return out;
  }
}

/** Decompresses a zstd stream of any number of frames. */
export class ZstdDecompressFrames extends Transform {
  readonly #splitter = new ZstdFrameSplitter();
  #decoder: ZstdDecompress | undefined;
  #decoderEnded: Promise<void> = Promise.resolve();
  readonly #chunkSize: number | undefined;

  constructor(chunkSize?: number) {
    super();
    this.#chunkSize = chunkSize;
  }

  #startDecoder(): ZstdDecompress {
    const decoder = createZstdDecompress(this.#chunkSize ? { chunkSize: this.#chunkSize } : {});
    decoder.on('data', (d: Buffer) => this.push(d));
    this.#decoderEnded = new Promise<void>((resolve, reject) => {
      decoder.once('end', resolve);
      decoder.once('error', reject);
    });
    this.#decoder = decoder;
    return decoder;
  }

  async #feed(chunk: Buffer): Promise<void> {
    for (const piece of this.#splitter.feed(chunk)) {
      if (piece.kind === 'data') {
        const decoder = this.#decoder ?? this.#startDecoder();
        if (!decoder.write(piece.data)) {
          await Promise.race([new Promise((r) => decoder.once('drain', r)), this.#decoderEnded]);
        }
      } else {
        const decoder = this.#decoder;
        if (decoder !== undefined) {
          decoder.end();
          await this.#decoderEnded;
          this.#decoder = undefined;
        }
      }
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let pieces: Promise<void>;
    try {
      pieces = this.#feed(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    pieces.then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (!this.#splitter.atBoundary) {
      callback(new Error('the zstd stream ends in the middle of a frame'));
      return;
    }
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#decoder?.destroy();
    callback(err);
  }
}
