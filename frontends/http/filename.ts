// Cisco-style archive filenames → image references, by the reference service's rules:
// `{image}_{tag}.tar`, `{namespace}_{image}_{tag}.tar`, `{path__to__image}_{tag}.tar`.
// Beyond them, an explicit form: when the name holds `:` or `@`, that is the separator and only
// `__` means `/`, so tags and names with underscores, and digests, can be written.
import { DOCKER_HUB, parseDigest, PATH_COMPONENT, TAG, ReferenceError } from '../../protocol/reference.ts';

export interface FilenameImage {
  repository: string;
  tag?: string;
  digest?: string;
}

export class FilenameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilenameError';
  }
}


function checkPath(path: string, filename: string): string[] {
  const components = path.split('/');
  for (const c of components) {
    if (c === '') throw new FilenameError(`"${filename}": the image path has an empty component (check for a stray or tripled underscore)`);
    if (!PATH_COMPONENT.test(c)) {
      const hint = /[A-Z]/.test(c) ? '; image names must be lower case' : '';
      throw new FilenameError(`"${filename}": "${c}" is not a valid image name component${hint}`);
    }
  }
  return components;
}

/**
 * Parses a filename; `registry` decides the namespace of a one-component name (`library/` on
 * Docker Hub, `defaultNamespace` elsewhere, none if that is empty).
 */
export function parseFilename(filename: string, registry: string, defaultNamespace: string | undefined): FilenameImage {
  if (!filename.endsWith('.tar')) throw new FilenameError(`"${filename}": the filename must end in .tar`);
  const stem = filename.slice(0, -'.tar'.length);
  if (stem === '') throw new FilenameError(`"${filename}": the filename has no image name`);

  let path: string;
  let tag: string | undefined;
  let digest: string | undefined;
  if (stem.includes(':') || stem.includes('@')) {
    let rest = stem;
    const at = rest.indexOf('@');
    if (at !== -1) {
      try {
        digest = parseDigest(rest.slice(at + 1));
      } catch (err) {
        throw new FilenameError(`"${filename}": ${err instanceof ReferenceError ? err.message : 'invalid digest'}`);
      }
      rest = rest.slice(0, at);
    }
    const colon = rest.indexOf(':');
    if (colon !== -1) {
      tag = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
    path = rest.replaceAll('__', '/');
  } else {
    const underscore = stem.lastIndexOf('_');
    if (underscore === -1) throw new FilenameError(`"${filename}": no underscore separates the image from the tag (expected {image}_{tag}.tar)`);
    tag = stem.slice(underscore + 1);
    // `__` is a further path separator and a single `_` the namespace_image shorthand: both are `/`.
    path = stem.slice(0, underscore).replaceAll('__', '/').replaceAll('_', '/');
  }
  if (path === '') throw new FilenameError(`"${filename}": the image name is empty`);
  if (tag !== undefined && !TAG.test(tag)) {
    throw new FilenameError(tag === '' ? `"${filename}": the tag is empty` : `"${filename}": "${tag}" is not a valid tag`);
  }
  const components = checkPath(path, filename);
  if (components.length === 1) {
    const namespace = defaultNamespace || (registry === DOCKER_HUB ? 'library' : '');
    if (namespace !== '') path = `${namespace}/${path}`;
  }
  const image: FilenameImage = { repository: path };
  if (tag !== undefined) image.tag = tag;
  if (digest !== undefined) image.digest = digest;
  return image;
}
