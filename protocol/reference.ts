// Image references by the distribution reference grammar, normalised the way Docker does:
// Docker Hub aliases become docker.io and a single-component name there gets library/.

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** One component of a repository path, by the distribution reference grammar. */
export const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?$`);
/** A tag, by the distribution reference grammar. */
export const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };
const MAX_NAME_LENGTH = 255;

export interface ImageReference {
  /** Registry host with optional port, `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path inside the registry, e.g. `library/nginx`. */
  repository: string;
  tag?: string;
  digest?: string;
}

export class ReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReferenceError';
  }
}

export function isDockerHub(registry: string): boolean {
  return DOCKER_HUB_ALIASES.has(registry.toLowerCase());
}

/** Validates a digest string (`sha256:<64 hex>`); returns it lower-cased. */
export function parseDigest(input: string): string {
  if (!DIGEST.test(input)) throw new ReferenceError(`invalid digest "${input}"`);
  const [algorithm, hex] = input.split(':') as [string, string];
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) throw new ReferenceError(`unsupported digest algorithm "${algorithm}"`);
  if (hex.length !== length) throw new ReferenceError(`digest "${input}" must have ${length} hex digits`);
  return `${algorithm}:${hex.toLowerCase()}`;
}

export interface ParseOptions {
  /** Namespace for single-component names outside Docker Hub (REGISTRY_DEFAULT_NAMESPACE). */
  defaultNamespace?: string;
  /** Leave the tag empty instead of defaulting to `latest` when neither tag nor digest is given. */
  noDefaultTag?: boolean;
}

/**
 * Parses `[docker://]name[:tag][@digest]`. A first path component is a registry host when it
 * holds a dot or a colon, is `localhost`, or is an IPv6 literal, exactly as Docker decides.
 */
export function parseReference(input: string, options: ParseOptions = {}): ImageReference {
  let rest = input.trim();
  if (rest.startsWith('docker://')) rest = rest.slice('docker://'.length);
  if (rest === '') throw new ReferenceError('empty image reference');

  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = parseDigest(rest.slice(at + 1));
    rest = rest.slice(0, at);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new ReferenceError(`invalid tag "${tag}"`);
  }

  let registry = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      if (!DOMAIN.test(first)) throw new ReferenceError(`invalid registry host "${first}"`);
      registry = isDockerHub(first) ? DOCKER_HUB : first.toLowerCase();
      path = rest.slice(slash + 1);
    }
  }

  const components = path.split('/');
  for (const component of components) {
    if (!PATH_COMPONENT.test(component)) {
      const hint = /[A-Z]/.test(component) ? ' (repository names must be lower case)' : '';
      throw new ReferenceError(`invalid repository name component "${component}" in "${input}"${hint}`);
    }
  }
  if (components.length === 1) {
    if (registry === DOCKER_HUB) path = `library/${path}`;
    else if (options.defaultNamespace) path = `${options.defaultNamespace}/${path}`;
  }
  if (registry.length + 1 + path.length > MAX_NAME_LENGTH) {
    throw new ReferenceError(`repository name "${registry}/${path}" is longer than ${MAX_NAME_LENGTH} characters`);
  }

  if (tag === undefined && digest === undefined && !options.noDefaultTag) tag = 'latest';
  const ref: ImageReference = { registry, repository: path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The canonical string: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** What the registry API calls the manifest reference: the digest when pinned, else the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/**
 * The name people expect in `docker images`: `nginx:1.27` for Docker Hub's library, `me/app:1`
 * for other Docker Hub repositories, `host/path:tag` elsewhere.
 */
export function familiarName(ref: ImageReference): string {
  if (ref.registry !== DOCKER_HUB) return `${ref.registry}/${ref.repository}`;
  return ref.repository.startsWith('library/') && ref.repository.split('/').length === 2
    ? ref.repository.slice('library/'.length)
    : ref.repository;
}
