// HTTP to registries: keep-alive pools per origin (undici Agent), timeouts, our User-Agent,
// manual redirects so Authorization never follows a redirect to another host, and network
// failures mapped to the core's error codes.
import type { Readable } from 'node:stream';
import { Agent, errors as undiciErrors, request, type Dispatcher } from 'undici';
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import { USER_AGENT } from '../version.ts';

const TIMEOUTS = {
  connectTimeout: 15_000,
  headersTimeout: 60_000,
  // Between body chunks; generous because a slow client back-pressures the registry read.
  bodyTimeout: 300_000,
};

const verifying = new Agent({ ...TIMEOUTS, connect: { timeout: TIMEOUTS.connectTimeout }, keepAliveTimeout: 30_000, connections: 16 });
// Docker skips certificate checks for registries marked insecure; so do we, for those only.
const insecure = new Agent({
  ...TIMEOUTS,
  connect: { timeout: TIMEOUTS.connectTimeout, rejectUnauthorized: false },
  keepAliveTimeout: 30_000,
  connections: 16,
});

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
  /** The URL that finally answered (after redirects). */
  url: URL;
}

export interface SendOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** Skip TLS verification (insecure registries only). */
  insecureTls?: boolean;
  signal?: AbortSignal;
  /** Follow redirects (blob downloads). Authorization is dropped when the host changes. */
  followRedirects?: boolean;
}

const MAX_REDIRECTS = 5;

/**
 * Stops reading an upstream body we no longer want. undici reports a destroyed body as an
 * 'error' event; with nobody listening that would take the whole process down.
 */
export function discard(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

export function headerValue(headers: UpstreamResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Nothing answered on this transport: for an insecure registry, plain http may be tried. */
export class TransportError extends CoreError {}

export function isTransportFailure(err: unknown): boolean {
  return err instanceof TransportError;
}

export async function send(url: URL, options: SendOptions = {}): Promise<UpstreamResponse> {
  let current = url;
  let headers: Record<string, string> = { 'user-agent': USER_AGENT, ...options.headers };
  for (let hop = 0; ; hop++) {
    const dispatcher: Dispatcher = options.insecureTls ? insecure : verifying;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(current, { method: options.method ?? 'GET', headers, dispatcher, signal: options.signal });
    } catch (err) {
      throw networkError(current, err);
    }
    const location = headerValue(res.headers, 'location');
    if (options.followRedirects && res.statusCode >= 300 && res.statusCode < 400 && location !== undefined) {
      res.body.resume();
      if (hop >= MAX_REDIRECTS) {
        throw new CoreError(502, ErrorCode.UPSTREAM_UNAVAILABLE, `too many redirects fetching ${url.pathname} from ${url.host}`);
      }
      const next = new URL(location, current);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new CoreError(502, ErrorCode.UPSTREAM_UNAVAILABLE, `registry redirected to an unsupported URL scheme ${next.protocol}`);
      }
      if (next.host !== current.host || next.protocol !== current.protocol) {
        // Docker Hub and GHCR redirect blobs to CDNs: the registry credential must not go there.
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      current = next;
      continue;
    }
    return { status: res.statusCode, headers: res.headers, body: res.body, url: current };
  }
}

function networkError(url: URL, err: unknown): CoreError {
  const code = (err as { code?: string }).code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  if (
    err instanceof undiciErrors.ConnectTimeoutError ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError
  ) {
    const Kind = err instanceof undiciErrors.ConnectTimeoutError ? TransportError : CoreError;
    return new Kind(504, ErrorCode.UPSTREAM_UNAVAILABLE, `registry ${url.host} did not answer in time`, { reason: code || message });
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return new CoreError(499, ErrorCode.UPSTREAM_UNAVAILABLE, 'request aborted', { reason: 'aborted' });
  }
  return new TransportError(502, ErrorCode.UPSTREAM_UNAVAILABLE, `cannot reach registry ${url.host}: ${message}`, { reason: code || message });
}

/** Reads a whole body, refusing more than `limit` bytes (manifests and configs from hostile registries). */
export async function readLimited(res: UpstreamResponse, limit: number, what: string): Promise<Buffer> {
  const declared = Number(headerValue(res.headers, 'content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    discard(res.body);
    throw new CoreError(502, ErrorCode.SIZE_INVALID, `${what} is ${declared} bytes, over the ${limit}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) {
        discard(res.body);
        throw new CoreError(502, ErrorCode.SIZE_INVALID, `${what} is over the ${limit}-byte limit`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof CoreError) throw err;
    throw networkError(res.url, err);
  }
  return Buffer.concat(chunks, total);
}
