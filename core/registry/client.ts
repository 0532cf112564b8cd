// The registry API as the core uses it: manifests and blobs of one repository, with
// authentication, scheme fallback and the registry's errors mapped to ours.
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import { formatReference, manifestReference, type ImageReference } from '../../protocol/reference.ts';
import type { Scheme } from '../../protocol/routes.ts';
import { MANIFEST_ACCEPT } from '../image/media-types.ts';
import { MAX_MANIFEST_BYTES } from '../image/manifest.ts';
import { digestOf } from '../stream/verify.ts';
import type { Authenticator, Identity } from './auth.ts';
import type { Endpoints } from './endpoint.ts';
import { discard, headerValue, isTransportFailure, readLimited, send, type UpstreamResponse } from './http.ts';

export interface Access {
  identity: Identity;
  scheme?: Scheme;
  signal?: AbortSignal;
}

export interface FetchedManifest {
  bytes: Buffer;
  /** Digest of the bytes as served. */
  digest: string;
  contentType: string | undefined;
}

const ERROR_BODY_LIMIT = 64 << 10;

export class RegistryClient {
  readonly endpoints: Endpoints;
  readonly auth: Authenticator;

  constructor(endpoints: Endpoints, auth: Authenticator) {
    this.endpoints = endpoints;
    this.auth = auth;
  }

  /** GET/HEAD `/v2/<repository>/<path>` with auth and scheme fallback; any status comes back. */
  async request(ref: ImageReference, path: string, access: Access, init: { method?: 'GET' | 'HEAD'; headers?: Record<string, string>; followRedirects?: boolean } = {}): Promise<UpstreamResponse> {
    const candidates = this.endpoints.candidates(ref.registry, access.scheme);
    for (let i = 0; ; i++) {
      const candidate = candidates[i]!;
      try {
        const res = await this.#authorized(ref, new URL(`/v2/${ref.repository}/${path}`, candidate.base), candidate.insecureTls, access, init);
        this.endpoints.learn(ref.registry, candidate.scheme);
        return res;
      } catch (err) {
        if (i + 1 < candidates.length && isTransportFailure(err)) continue;
        throw err;
      }
    }
  }

  async #authorized(ref: ImageReference, url: URL, insecureTls: boolean, access: Access, init: { method?: 'GET' | 'HEAD'; headers?: Record<string, string>; followRedirects?: boolean }): Promise<UpstreamResponse> {
    const { identity } = access;
    const attempt = async (authorization: string | undefined) =>
      send(url, {
        method: init.method ?? 'GET',
        headers: { ...init.headers, ...(authorization ? { authorization } : {}) },
        insecureTls,
        followRedirects: init.followRedirects ?? false,
        ...(access.signal ? { signal: access.signal } : {}),
      });
    const first = await this.auth.authorize(ref.registry, ref.repository, identity);
    let res = await attempt(first);
    if (res.status !== 401) return res;
    res.body.resume();
    const retry = await this.auth.onChallenge(ref.registry, ref.repository, identity, headerValue(res.headers, 'www-authenticate'), first);
    if (retry === undefined) throw unauthorized(ref, identity);
    res = await attempt(retry);
    if (res.status === 401) {
      res.body.resume();
      throw unauthorized(ref, identity);
    }
    return res;
  }

  async fetchManifest(ref: ImageReference, reference: string, access: Access): Promise<FetchedManifest> {
    const res = await this.request(ref, `manifests/${reference}`, access, { headers: { accept: MANIFEST_ACCEPT } });
    if (res.status !== 200) throw await upstreamError(res, ref, 'manifest');
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, `the manifest of ${formatReference(ref)}`);
    const digest = digestOf(bytes, reference.includes(':') ? reference : 'sha256:');
    if (reference.includes(':') && digest !== reference) {
      throw new CoreError(502, ErrorCode.DIGEST_MISMATCH, `the registry served a manifest for ${reference} whose digest is ${digest}`);
    }
    return { bytes, digest, contentType: headerValue(res.headers, 'content-type') };
  }

  /** The top-level manifest the reference names (an index, or an image manifest). */
  async fetchTop(ref: ImageReference, access: Access): Promise<FetchedManifest> {
    return this.fetchManifest(ref, manifestReference(ref), access);
  }

  /** A blob download; follows redirects (without credentials to other hosts). Status 200 or 206. */
  async fetchBlob(ref: ImageReference, digest: string, access: Access, range?: string): Promise<UpstreamResponse> {
    const res = await this.request(ref, `blobs/${digest}`, access, { followRedirects: true, ...(range ? { headers: { range } } : {}) });
    if (res.status === 200 || res.status === 206) return res;
    if (res.status === 416) {
      res.body.resume();
      throw new CoreError(416, ErrorCode.RANGE_INVALID, `range ${range ?? ''} is not satisfiable for ${digest}`);
    }
    throw await upstreamError(res, ref, 'blob', digest);
  }

  async headBlob(ref: ImageReference, digest: string, access: Access): Promise<{ size: number | undefined }> {
    const res = await this.request(ref, `blobs/${digest}`, access, { method: 'HEAD', followRedirects: true });
    res.body.resume();
    if (res.status !== 200) throw await upstreamError(res, ref, 'blob', digest);
    const length = Number(headerValue(res.headers, 'content-length'));
    return { size: Number.isSafeInteger(length) ? length : undefined };
  }
}

function unauthorized(ref: ImageReference, identity: Identity): CoreError {
  const where = `${ref.registry}/${ref.repository}`;
  if (identity.kind === 'anonymous') {
    return new CoreError(401, ErrorCode.UNAUTHORIZED, `${where} needs credentials (or does not exist): anonymous access was refused`);
  }
  return new CoreError(401, ErrorCode.UNAUTHORIZED, `the registry refused the ${identity.source === 'client' ? 'supplied' : 'configured'} credentials for ${where}`);
}

/** Maps a registry's non-success answer to the core's error, keeping the registry's own code and message. */
export async function upstreamError(res: UpstreamResponse, ref: ImageReference, what: 'manifest' | 'blob', digest?: string): Promise<CoreError> {
  let upstream: { code?: string; message?: string } | undefined;
  try {
    const body = JSON.parse((await readLimited(res, ERROR_BODY_LIMIT, 'error body')).toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
    upstream = body.errors?.[0];
  } catch {
    discard(res.body);
  }
  const where = formatReference(ref);
  const said = upstream?.message ? ` (registry said: ${upstream.message})` : '';
  const detail = upstream ? { registry: ref.registry, status: res.status, upstream } : { registry: ref.registry, status: res.status };
  switch (res.status) {
    case 400:
      return new CoreError(400, upstream?.code ?? ErrorCode.NAME_INVALID, `the registry rejected the request for ${where}${said}`, detail);
    case 403:
      return new CoreError(403, ErrorCode.DENIED, `access to ${where} is denied${said}`, detail);
    case 404:
      if (what === 'blob') return new CoreError(404, ErrorCode.BLOB_UNKNOWN, `blob ${digest ?? ''} is not in ${ref.registry}/${ref.repository}${said}`, detail);
      if (upstream?.code === 'NAME_UNKNOWN') return new CoreError(404, ErrorCode.NAME_UNKNOWN, `repository ${ref.registry}/${ref.repository} does not exist${said}`, detail);
      return new CoreError(404, ErrorCode.MANIFEST_UNKNOWN, `${where} does not exist: no such tag or digest${said}`, detail);
    case 429: {
      const retryAfter = headerValue(res.headers, 'retry-after');
      return new CoreError(429, ErrorCode.TOOMANYREQUESTS, `the registry ${ref.registry} is rate limiting${said}`, detail, retryAfter ? { 'retry-after': retryAfter } : {});
    }
    case 502:
    case 503:
    case 504:
      return new CoreError(res.status === 504 ? 504 : 502, ErrorCode.UPSTREAM_UNAVAILABLE, `the registry ${ref.registry} is unavailable (${res.status})${said}`, detail);
    default:
      return new CoreError(502, ErrorCode.UPSTREAM_UNAVAILABLE, `the registry ${ref.registry} answered ${res.status} for the ${what} of ${where}${said}`, detail);
  }
}
