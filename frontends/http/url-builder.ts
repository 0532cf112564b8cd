// Image reference → front-end download URL, and the commands that fetch it. Pure functions: the
// server uses them for `/download` and the page's examples, and browsers get this very file with
// its types stripped (`/assets/url-builder.js`), so it imports nothing but protocol/reference.ts
// and touches no Node or DOM API.
import { DOCKER_HUB, isDockerHub, parseDigest, PATH_COMPONENT, TAG, parseReference, ReferenceError } from '../../protocol/reference.ts';

export type RegistryScheme = 'http' | 'https';
export type ArchiveFormat = 'docker' | 'oci';

export interface DownloadInput {
  /** An image reference as `docker pull` takes it; an `http://` or `https://` prefix sets the registry scheme. */
  image: string;
  /** `os/arch[/variant]`; empty or absent means `defaultPlatform`. */
  platform?: string;
  format?: ArchiveFormat;
  /** The client brings registry credentials: the URL uses `/registry-auth/`. */
  credentials?: boolean;
  /** The registry of `/docker/` routes. */
  defaultRegistry: { host: string; scheme: RegistryScheme };
  defaultPlatform: string;
  /** REGISTRY_DEFAULT_NAMESPACE: single-component names on the default registry live under it. */
  defaultNamespace?: string;
  /** Transport of a registry named in the URL (default https; Docker Hub is always https). */
  scheme?: RegistryScheme;
}

export interface Download {
  /** Path and query on this service, e.g. `/platform/linux/arm64/docker/nginx_1.27.tar?format=oci`. */
  path: string;
  /** The filename as the route carries it (not percent-encoded), e.g. `nginx:1.27@sha256:….tar`. */
  filename: string;
  /** A name safe to save under on a device's flash or a disk: letters, digits, `.`, `_`, `-`. */
  localFilename: string;
  kind: 'docker' | 'registry' | 'registry-auth';
  /** The image as parsed: registry, repository, tag and/or digest. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
  platform: string;
  format: ArchiveFormat;
}

const PLATFORM_PART = /^[a-z0-9._-]+$/;
/** Words of the URL space a platform variant may not be, or route.ts would read it as the route. */
const ROUTE_WORDS = new Set(['docker', 'registry', 'registry-auth']);

function filenameFor(repository: string, tag: string | undefined, digest: string | undefined, impliedNamespace: string): string {
  const components = repository.split('/');
  for (const c of components) {
    if (!PATH_COMPONENT.test(c)) throw new Error(`"${repository}" is not a valid repository path ("${c}" is not a valid name component)`);
    if (c.includes('__')) {
      throw new Error(`"${repository}" cannot be written as a filename: "${c}" holds a double underscore, which filenames read as "/"`);
    }
  }
  if (tag !== undefined && !TAG.test(tag)) throw new Error(`"${tag}" is not a valid tag`);
  const pinned = digest === undefined ? undefined : parseDigest(digest);
  const theTag = tag ?? (pinned === undefined ? 'latest' : undefined);

  let path = repository;
  if (impliedNamespace !== '') {
    const rest = repository.startsWith(`${impliedNamespace}/`) ? repository.slice(impliedNamespace.length + 1) : undefined;
    if (rest !== undefined && !rest.includes('/')) path = rest;
    else if (components.length === 1) {
      throw new Error(`"${repository}" cannot be written as a filename: a one-component filename name means "${impliedNamespace}/${repository}" on this registry`);
    }
  }
  const stem = path.replaceAll('/', '__');
  // Classic form `{path}_{tag}.tar`: every single `_` in it reads as `/` and the last one ends the
  // path, so it only holds when neither the path nor the tag has one.
  if (pinned === undefined && theTag !== undefined && !path.includes('_') && !theTag.includes('_')) return `${stem}_${theTag}.tar`;
  // Explicit form: `:` and `@` separate, and only `__` means `/`.
  return `${stem}${theTag !== undefined ? `:${theTag}` : ''}${pinned !== undefined ? `@${pinned}` : ''}.tar`;
}

/**
 * The Cisco-style filename of an image: `nginx_1.27.tar`, `team__platform__api_2026.06.tar`, or
 * the explicit `my_org__my_image:my_tag.tar` / `nginx:1.27@sha256:….tar` when the classic form
 * would not read back the same. On Docker Hub `library/` is dropped from `library/x`; elsewhere the
 * default namespace is dropped from `{namespace}/x` (and on Docker Hub too when one is set, as
 * filename.ts then puts single names there). Neither tag nor digest means `latest`. Throws when
 * no filename can name the repository (a `__` inside a component; a single-component name where
 * single names get a namespace).
 */
export function imageFilename(repository: string, tag: string | undefined, digest: string | undefined, registryIsDockerHub: boolean, defaultNamespace?: string): string {
  return filenameFor(repository, tag, digest, defaultNamespace || (registryIsDockerHub ? 'library' : ''));
}

/** A name to save the archive under where `:` and `@` are unwelcome (IOS-XE flash, Windows). */
export function localFilename(filename: string): string {
  const stem = filename.endsWith('.tar') ? filename.slice(0, -'.tar'.length) : filename;
  const short = stem.replace(/@([a-z0-9]+):([0-9a-f]{12})[0-9a-f]*$/, '@$1-$2');
  return `${short.replace(/[^A-Za-z0-9._-]+/g, '_')}.tar`;
}

function normalisePlatform(input: string): string {
  const platform = input.trim().toLowerCase();
  const parts = platform.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !PLATFORM_PART.test(p))) {
    throw new Error(`"${input}" is not a platform: expected os/arch[/variant], e.g. linux/arm64 or linux/arm/v7`);
  }
  if (parts[2] !== undefined && ROUTE_WORDS.has(parts[2])) throw new Error(`"${parts[2]}" cannot be a platform variant in a URL`);
  return platform;
}

function normaliseHost(host: string): string {
  return isDockerHub(host) ? DOCKER_HUB : host.toLowerCase();
}

/** Everything about the download URL of an image; `downloadPath` is its `path`. Throws a readable Error. */
export function buildDownload(input: DownloadInput): Download {
  let image = input.image.trim();
  let scheme = input.scheme;
  const prefix = /^(https?):\/\//i.exec(image);
  if (prefix) {
    scheme = prefix[1]!.toLowerCase() as RegistryScheme;
    image = image.slice(prefix[0].length);
  }
  if (image === '') throw new Error('enter an image reference, e.g. nginx:1.27 or ghcr.io/org/app:tag');
  if (/\s/.test(image)) throw new Error(`"${image}" is not an image reference: it contains white space`);
  let ref;
  try {
    ref = parseReference(image);
  } catch (err) {
    throw new Error(`"${image}" is not an image reference: ${err instanceof ReferenceError ? err.message : String(err)}`);
  }
  const format = input.format ?? 'docker';
  if (format !== 'docker' && format !== 'oci') throw new Error(`the format is docker or oci, not "${String(format)}"`);
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') throw new Error(`the registry scheme is http or https, not "${String(scheme)}"`);
  const defaultPlatform = normalisePlatform(input.defaultPlatform);
  const platform = input.platform === undefined || input.platform.trim() === '' ? defaultPlatform : normalisePlatform(input.platform);

  const hub = ref.registry === DOCKER_HUB;
  const isDefault = ref.registry === normaliseHost(input.defaultRegistry.host);
  const namespace = input.defaultNamespace ?? '';
  let repository = ref.repository;
  // On the default registry a one-component name gets the default namespace, as parseReference
  // does for it and filename.ts does for /docker/ routes (Docker Hub keeps Docker's library/).
  if (isDefault && !hub && namespace !== '' && !repository.includes('/')) repository = `${namespace}/${repository}`;
  const kind = input.credentials ? 'registry-auth' : isDefault ? 'docker' : 'registry';
  // filename.ts gives a one-component name the default namespace on /docker/ routes. Elsewhere no
  // namespace is dropped while one is configured, so the filename reads back the same whether or
  // not the server applies it to /registry/ routes too.
  const implied = kind === 'docker' ? namespace || (hub ? 'library' : '') : hub && namespace === '' ? 'library' : '';
  const filename = filenameFor(repository, ref.tag, ref.digest, implied);

  let path = `/docker/${encodeURIComponent(filename)}`;
  if (kind !== 'docker') {
    const transport: RegistryScheme = hub ? 'https' : (scheme ?? (isDefault ? input.defaultRegistry.scheme : 'https'));
    path = `/${kind}/${transport}/${encodeURIComponent(ref.registry)}${path}`;
  }
  if (platform !== defaultPlatform) path = `/platform/${platform}${path}`;
  if (format === 'oci') path += '?format=oci';

  const download: Download = { path, filename, localFilename: localFilename(filename), kind, registry: ref.registry, repository, platform, format };
  if (ref.tag !== undefined) download.tag = ref.tag;
  if (ref.digest !== undefined) download.digest = ref.digest;
  return download;
}

/**
 * The path on this service that downloads `image`: `/docker/…` for the default registry,
 * `/registry/{scheme}/{host}/docker/…` for another (`/registry-auth/…` with credentials), behind
 * `/platform/{os}/{arch}[/{variant}]` when the platform is not the default, `?format=oci` for OCI.
 */
export function downloadPath(input: DownloadInput): string {
  return buildDownload(input).path;
}

/** The front end's inspect API for an image and platform. */
export function inspectPath(image: string, platform?: string): string {
  const query = `image=${encodeURIComponent(image.trim())}`;
  return platform ? `/api/inspect?${query}&platform=${encodeURIComponent(platform)}` : `/api/inspect?${query}`;
}

/** `copy <url> flash:<filename>`, as typed at an IOS-XE prompt. */
export function iosXeCopyCommand(url: string, filename: string): string {
  return `copy ${url} flash:${filename}`;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** `curl -fSL -o <filename> [-u USER:TOKEN] '<url>'`. */
export function curlCommand(url: string, filename: string, credentials: boolean): string {
  const file = /^[A-Za-z0-9._-]+$/.test(filename) ? filename : shellQuote(filename);
  return `curl -fSL -o ${file}${credentials ? ' -u USER:TOKEN' : ''} ${shellQuote(url)}`;
}

/** `12.3 MB`: decimal units, as network devices and browsers count. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return 'unknown';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 999.95 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
