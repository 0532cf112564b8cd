// Which registries a request may name. REGISTRY_ALLOWED_HOSTS (patterns: `host`, `host:port`,
// `*.example.com`) limits them when set; link-local and cloud metadata addresses are always
// refused, also when a name resolves to one, so a URL cannot turn the service into a probe of
// the instance's metadata endpoint.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'instance-data.ec2.internal']);

export class HostRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostRefused';
  }
}

function splitHost(host: string): { name: string; port?: string } {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    const port = host.slice(end + 1).replace(/^:/, '');
    return { name: host.slice(1, end), ...(port ? { port } : {}) };
  }
  const colon = host.lastIndexOf(':');
  return colon === -1 || host.indexOf(':') !== colon ? { name: host } : { name: host.slice(0, colon), port: host.slice(colon + 1) };
}

export function isForbiddenAddress(address: string): boolean {
  const a = address.toLowerCase();
  if (isIP(a) === 4) return a.startsWith('169.254.') || a === '100.100.100.200';
  if (isIP(a) === 6) {
    if (a.startsWith('::ffff:')) return isForbiddenAddress(a.slice(7));
    return /^fe[89ab]/.test(a) || a === 'fd00:ec2::254';
  }
  return false;
}

function matches(pattern: string, host: string, name: string): boolean {
  const p = pattern.toLowerCase();
  if (p === host || p === name) return true;
  if (p.startsWith('*.')) return name.endsWith(p.slice(1)) || host.endsWith(p.slice(1));
  return false;
}

export class HostPolicy {
  readonly #allowed: string[];

  constructor(allowed: string[]) {
    this.#allowed = allowed.map((p) => p.trim()).filter((p) => p !== '');
  }

  async check(host: string): Promise<void> {
    const { name } = splitHost(host.toLowerCase());
    if (this.#allowed.length > 0 && !this.#allowed.some((p) => matches(p, host.toLowerCase(), name))) {
      throw new HostRefused(`registry ${host} is not in REGISTRY_ALLOWED_HOSTS`);
    }
    if (METADATA_NAMES.has(name) || isForbiddenAddress(name)) throw new HostRefused(`registry ${host} is a link-local or cloud metadata address`);
    if (isIP(name) !== 0) return;
    let addresses: Array<{ address: string }>;
    try {
      addresses = await lookup(name, { all: true });
    } catch {
      return; // The core reports an unresolvable host as unreachable, with the registry named.
    }
    if (addresses.some((a) => isForbiddenAddress(a.address))) throw new HostRefused(`registry ${host} resolves to a link-local or cloud metadata address`);
  }
}
