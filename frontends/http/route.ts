// The front end's URL space: optional `/platform/{os}/{arch}[/{variant}]`, then
// `/docker/{filename}`, `/registry/{scheme}/{host}/docker/{filename}` or
// `/registry-auth/{scheme}/{host}/docker/{filename}`.

export type RouteKind = 'docker' | 'registry' | 'registry-auth';

export interface DownloadRoute {
  kind: RouteKind;
  /** Route template, for logs and spans. */
  template: string;
  platform?: string;
  scheme?: 'http' | 'https';
  /** Registry host[:port] from the URL, percent-decoded. */
  host?: string;
  filename: string;
}

export class RouteError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'RouteError';
    this.status = status;
  }
}

const KINDS = new Set(['docker', 'registry', 'registry-auth']);
const PLATFORM_PART = /^[a-z0-9._-]+$/;

function decode(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RouteError(400, `the ${what} "${segment}" is not valid percent-encoding`);
  }
}

/** Undefined when the path is not a download route at all (the caller answers 404). */
export function parseDownloadPath(pathname: string): DownloadRoute | undefined {
  const segments = pathname.split('/').slice(1);
  let platform: string | undefined;
  if (segments[0] === 'platform') {
    const [, os, arch, maybeVariant] = segments;
    if (!os || !arch || !PLATFORM_PART.test(os) || !PLATFORM_PART.test(arch) || KINDS.has(os) || KINDS.has(arch)) {
      throw new RouteError(400, 'a platform prefix is /platform/{os}/{arch}[/{variant}], e.g. /platform/linux/arm64/docker/nginx_latest.tar');
    }
    if (maybeVariant !== undefined && !KINDS.has(maybeVariant)) {
      if (!PLATFORM_PART.test(maybeVariant)) throw new RouteError(400, `"${maybeVariant}" is not a valid platform variant`);
      platform = `${os}/${arch}/${maybeVariant}`;
      segments.splice(0, 4);
    } else {
      platform = `${os}/${arch}`;
      segments.splice(0, 3);
    }
  }
  const kind = segments[0];
  if (kind === 'docker') {
    if (segments.length !== 2 || !segments[1]) return undefined;
    return { kind, template: '/docker/{filename}', filename: decode(segments[1], 'filename'), ...(platform ? { platform } : {}) };
  }
  if (kind === 'registry' || kind === 'registry-auth') {
    const [, scheme, host, docker, filename] = segments;
    if (segments.length !== 5 || docker !== 'docker' || !filename || !host) return undefined;
    if (scheme !== 'http' && scheme !== 'https') throw new RouteError(400, `the registry scheme must be http or https, not "${scheme}"`);
    return {
      kind,
      template: `/${kind}/{scheme}/{host}/docker/{filename}`,
      scheme,
      host: decode(host, 'registry host').toLowerCase(),
      filename: decode(filename, 'filename'),
      ...(platform ? { platform } : {}),
    };
  }
  if (platform !== undefined) throw new RouteError(404, 'after the platform prefix comes /docker/…, /registry/… or /registry-auth/…');
  return undefined;
}
