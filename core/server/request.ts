// Reading a core request: route, reference, query options and the caller's upstream identity.
import type { IncomingMessage } from 'node:http';
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import { parseDigest, parseReference, ReferenceError, type ImageReference } from '../../protocol/reference.ts';
import { Formats, parsePlatform, Schemes, type ArchiveFormat, type Platform, type Scheme } from '../../protocol/routes.ts';
import { identityFromHeader, type Identity } from '../registry/auth.ts';

export interface ParsedRequest {
  route: string;
  /** The rest of the path after the route, percent-decoded; '' when absent. */
  rest: string;
  query: URLSearchParams;
}

export function parseRequestUrl(rawUrl: string | undefined): ParsedRequest {
  const url = new URL(rawUrl ?? '/', 'http://core');
  const path = url.pathname;
  const second = path.indexOf('/', 1);
  const route = second === -1 ? path : path.slice(0, second);
  let rest = '';
  if (second !== -1) {
    try {
      rest = decodeURIComponent(path.slice(second + 1));
    } catch {
      throw new CoreError(400, ErrorCode.NAME_INVALID, 'the path is not valid percent-encoding');
    }
  }
  return { route, rest, query: url.searchParams };
}

export function referenceFrom(rest: string, fallback: ImageReference | undefined): ImageReference {
  if (rest === '') {
    if (fallback) return fallback;
    throw new CoreError(400, ErrorCode.NAME_INVALID, 'no image reference: put one in the path or start the core with a default IMAGE');
  }
  try {
    return parseReference(rest);
  } catch (err) {
    if (err instanceof ReferenceError) throw new CoreError(400, ErrorCode.NAME_INVALID, err.message, { reference: rest });
    throw err;
  }
}

export function digestFrom(text: string): string {
  try {
    return parseDigest(text);
  } catch (err) {
    throw new CoreError(400, ErrorCode.DIGEST_INVALID, err instanceof Error ? err.message : String(err));
  }
}

export function platformFrom(query: URLSearchParams, fallback: Platform): Platform {
  const raw = query.get('platform');
  if (raw === null || raw === '') return fallback;
  try {
    return parsePlatform(raw);
  } catch (err) {
    throw new CoreError(400, ErrorCode.PLATFORM_UNKNOWN, err instanceof Error ? err.message : String(err));
  }
}

export function schemeFrom(query: URLSearchParams): Scheme | undefined {
  const raw = query.get('scheme');
  if (raw === null || raw === '') return undefined;
  if (!(Schemes as readonly string[]).includes(raw)) throw new CoreError(400, ErrorCode.UNSUPPORTED, `scheme must be http or https, not "${raw}"`);
  return raw as Scheme;
}

export function formatFrom(query: URLSearchParams): ArchiveFormat {
  const raw = query.get('format');
  if (raw === null || raw === '') return 'docker';
  if (!(Formats as readonly string[]).includes(raw)) throw new CoreError(400, ErrorCode.UNSUPPORTED, `format must be docker or oci, not "${raw}"`);
  return raw as ArchiveFormat;
}

export function clientIdentity(req: IncomingMessage): Identity | undefined {
  return identityFromHeader(req.headers.authorization);
}
