// Passes a blob through while checking its size and digest. The last chunk is held back until
// the digest is proven, so a consumer that counts bytes never sees a whole-looking wrong blob:
// on a mismatch the stream errors before its final bytes leave.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { CoreError, ErrorCode } from '../../protocol/errors.ts';

export interface VerifyOptions {
  digest: string;
  /** Expected size; bytes beyond it fail at once, before they are passed on. */
  size?: number;
  /** What the blob is, for messages: "layer 2", "config". */
  what?: string;
}

export function hashFor(digest: string): Hash {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  return createHash(algorithm);
}

export class VerifyingStream extends Transform {
  readonly #digest: string;
  readonly #size: number | undefined;
  readonly #what: string;
  readonly #hash: Hash;
  #count = 0;
  #held: Buffer | undefined;

  constructor(options: VerifyOptions) {
    super();
    this.#digest = options.digest;
    this.#size = options.size;
    this.#what = options.what ?? `blob ${options.digest}`;
    this.#hash = hashFor(options.digest);
  }

  get bytes(): number {
    return this.#count;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#count += chunk.length;
    if (this.#size !== undefined && this.#count > this.#size) {
      callback(new CoreError(502, ErrorCode.SIZE_INVALID, `${this.#what} is longer than the ${this.#size} bytes its descriptor declares`));
      return;
    }
    this.#hash.update(chunk);
    const previous = this.#held;
    this.#held = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#size !== undefined && this.#count !== this.#size) {
      callback(new CoreError(502, ErrorCode.SIZE_INVALID, `${this.#what} ended after ${this.#count} of ${this.#size} bytes`));
      return;
    }
    const actual = `${this.#digest.slice(0, this.#digest.indexOf(':'))}:${this.#hash.digest('hex')}`;
    if (actual !== this.#digest) {
      callback(new CoreError(502, ErrorCode.DIGEST_MISMATCH, `${this.#what} does not match its digest: expected ${this.#digest}, got ${actual}`));
      return;
    }
    callback(null, this.#held);
  }
}

/** Digest of a whole buffer, in the algorithm of `like`. */
export function digestOf(bytes: Buffer, like = 'sha256:'): string {
  const algorithm = like.slice(0, like.indexOf(':'));
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Fails as soon as more bytes than declared arrive, and at the end if fewer did. */
export class LengthCheck extends Transform {
  readonly #expected: number;
  readonly #what: string;
  #count = 0;
  constructor(expected: number, what: string) {
    super();
    this.#expected = expected;
    this.#what = what;
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, callback: TransformCallback): void {
    this.#count += chunk.length;
    if (this.#count > this.#expected) callback(new CoreError(502, ErrorCode.SIZE_INVALID, `${this.#what} is longer than ${this.#expected} bytes`));
    else callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    if (this.#count !== this.#expected) callback(new CoreError(502, ErrorCode.SIZE_INVALID, `${this.#what} ended after ${this.#count} of ${this.#expected} bytes`));
    else callback();
  }
}
