// The typed client front ends and parent programs use to talk to a core, over a Unix socket
// path (a pool of connections) or over one already connected socket (the --sockfd model).
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { Client, Pool, type Dispatcher } from 'undici';
import { decode, MSGPACK_TYPE, type Codec } from './codec.ts';
import { CoreError, ErrorCode, isErrorBody } from './errors.ts';
import {
  blobPath,
  Header,
  imagePath,
  Route,
  type HealthResult,
  type ImageQuery,
  type InspectResult,
} from './routes.ts';

export type CoreTarget = { socketPath: string; connections?: number } | { socket: Socket };

export interface CallOptions extends ImageQuery {
  /** `Basic …`: the upstream registry identity for this one request. */
  authorization?: string;
  traceparent?: string;
  tracestate?: string;
  signal?: AbortSignal;
  /** Ask for MessagePack instead of JSON for metadata and errors. */
  codec?: Codec;
  /** Extra request headers (Range, If-Range, …). */
  headers?: Record<string, string>;
}

export interface StreamResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export interface ManifestResponse {
  manifest: Buffer;
  /** Digest of the manifest as the registry served it (before conversion to OCI). */
  digest: string;
  mediaType: string;
}

const HEADERS_TIMEOUT_MS = 5 * 60_000;

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export class CoreClient {
  readonly #dispatcher: Dispatcher;

  constructor(target: CoreTarget) {
    // Body timeouts stay off: a save streams for as long as the slowest client reads.
    const common = { headersTimeout: HEADERS_TIMEOUT_MS, bodyTimeout: 0, keepAliveTimeout: 30_000 };
    if ('socketPath' in target) {
      this.#dispatcher = new Pool('http://core', { ...common, socketPath: target.socketPath, connections: target.connections ?? 32 });
    } else {
      let handedOut = false;
      this.#dispatcher = new Client('http://core', {
        ...common,
        pipelining: 1,
        connect: (_opts, callback) => {
          // One inherited socket: once it is gone there is nothing to reconnect to.
          // undici calls this from inside its dispatch loop and hangs if answered synchronously.
          process.nextTick(() => {
            if (handedOut) {
              callback(new Error('the core connection is closed'), null);
              return;
            }
            handedOut = true;
            callback(null, target.socket);
          });
        },
      });
    }
  }

  /** Sends a request and returns the raw streaming answer, whatever its status. */
  async raw(method: 'GET' | 'HEAD' | 'POST', path: string, options: CallOptions = {}): Promise<StreamResponse> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.authorization) headers.authorization = options.authorization;
    if (options.traceparent) headers[Header.traceparent] = options.traceparent;
    if (options.tracestate) headers[Header.tracestate] = options.tracestate;
    if (options.codec === 'msgpack') headers.accept = MSGPACK_TYPE;
    const res = await this.#dispatcher.request({
      method,
      path,
      headers,
      signal: options.signal,
    });
    return { statusCode: res.statusCode, headers: res.headers, body: res.body };
  }

  /** Like raw(), but a non-2xx answer becomes a thrown CoreError carrying the core's error body. */
  async stream(method: 'GET' | 'HEAD' | 'POST', path: string, options: CallOptions = {}): Promise<StreamResponse> {
    const res = await this.raw(method, path, options);
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    throw await toError(res);
  }

  async #metadata<T>(path: string, options: CallOptions): Promise<{ value: T; res: StreamResponse; bytes: Buffer }> {
    const res = await this.stream('GET', path, options);
    const bytes = Buffer.from(await new Response(res.body as unknown as ReadableStream).arrayBuffer());
    const type = header(res.headers, 'content-type');
    const value = (type?.includes('json') || type?.startsWith(MSGPACK_TYPE) ? decode(type, bytes) : undefined) as T;
    return { value, res, bytes };
  }

  async health(options: CallOptions = {}): Promise<HealthResult> {
    return (await this.#metadata<HealthResult>(Route.health, options)).value;
  }

  /** The platform's manifest converted to OCI, and the digest of the manifest the registry served. */
  async manifest(ref?: string, options: CallOptions = {}): Promise<ManifestResponse> {
    const { res, bytes } = await this.#metadata<unknown>(imagePath(Route.manifest, ref, options), { ...options, codec: 'json' });
    return {
      manifest: bytes,
      digest: header(res.headers, Header.manifestDigest) ?? '',
      mediaType: header(res.headers, 'content-type') ?? '',
    };
  }

  async config(ref?: string, options: CallOptions = {}): Promise<Buffer> {
    return (await this.#metadata<unknown>(imagePath(Route.config, ref, options), { ...options, codec: 'json' })).bytes;
  }

  async inspect(ref: string, options: CallOptions = {}): Promise<InspectResult> {
    return (await this.#metadata<InspectResult>(imagePath(Route.inspect, ref, options), options)).value;
  }

  /** A blob exactly as stored; the core verifies its digest while it streams. */
  async blob(digest: string, options: CallOptions = {}): Promise<StreamResponse> {
    return this.stream('GET', blobPath(digest, options), options);
  }

  /** The archive stream (`GET`) or just its headers (`HEAD`). */
  async save(ref: string, options: CallOptions & { method?: 'GET' | 'HEAD' } = {}): Promise<StreamResponse> {
    return this.stream(options.method ?? 'GET', imagePath(Route.save, ref, options), options);
  }

  async quit(options: CallOptions = {}): Promise<void> {
    const res = await this.stream('POST', Route.quit, options);
    await res.body.resume();
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  destroy(): void {
    void this.#dispatcher.destroy();
  }
}

/** A core's non-2xx answer as a CoreError, from its JSON or MessagePack error body (none for HEAD). */
export async function toError(res: StreamResponse): Promise<CoreError> {
  let bytes: Buffer;
  try {
    bytes = Buffer.from(await new Response(res.body as unknown as ReadableStream).arrayBuffer());
  } catch {
    bytes = Buffer.alloc(0);
  }
  const extra: Record<string, string> = {};
  const retryAfter = header(res.headers, 'retry-after');
  if (retryAfter !== undefined) extra['retry-after'] = retryAfter;
  try {
    const body = decode(header(res.headers, 'content-type'), bytes);
    if (isErrorBody(body) && body.errors[0]) {
      const e = body.errors[0];
      return new CoreError(res.statusCode, e.code, e.message, e.detail, extra);
    }
  } catch {
    // Not an error body of ours (a HEAD answer, or a proxy in between): fall through.
  }
  return new CoreError(res.statusCode, ErrorCode.INTERNAL, `core answered ${res.statusCode}`, bytes.toString('utf8') || undefined, extra);
}
