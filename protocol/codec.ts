// Metadata and errors travel as JSON, or MessagePack when the request says so.
import { pack, unpack } from 'msgpackr';

export const JSON_TYPE = 'application/json';
export const MSGPACK_TYPE = 'application/vnd.msgpack';

export type Codec = 'json' | 'msgpack';

export function codecFor(accept: string | undefined): Codec {
  return accept !== undefined && accept.toLowerCase().includes(MSGPACK_TYPE) ? 'msgpack' : 'json';
}

export function contentTypeOf(codec: Codec): string {
  return codec === 'msgpack' ? MSGPACK_TYPE : `${JSON_TYPE}; charset=utf-8`;
}

export function encode(codec: Codec, value: unknown): Buffer {
  return codec === 'msgpack' ? pack(value) : Buffer.from(JSON.stringify(value));
}

/** Decodes a body by its Content-Type; anything that is not MessagePack is read as JSON. */
export function decode(contentType: string | undefined, body: Buffer): unknown {
  if (contentType !== undefined && contentType.toLowerCase().startsWith(MSGPACK_TYPE)) return unpack(body);
  return JSON.parse(body.toString('utf8'));
}
