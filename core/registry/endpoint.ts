// Which URL a registry name answers on. https always; plain http only when the request forces
// it or, as Docker does, as a fallback for loopback hosts and hosts marked insecure.
import { isIP } from 'node:net';
import { DOCKER_HUB } from '../../protocol/reference.ts';
import type { Scheme } from '../../protocol/routes.ts';

export const DOCKER_HUB_API = 'https://registry-1.docker.io';

export interface Candidate {
  base: URL;
  scheme: Scheme;
  insecureTls: boolean;
}

function splitHost(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon === -1 ? registry : registry.slice(0, colon);
}

export function isLoopback(registry: string): boolean {
  const host = splitHost(registry).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export class Endpoints {
  readonly #insecure: Set<string>;
  /** Scheme learned per registry after a fallback, so the next request goes straight there. */
  readonly #learned = new Map<string, Scheme>();
  readonly #preferred = new Map<string, Scheme>();

  constructor(insecureHosts: Iterable<string> = []) {
    this.#insecure = new Set([...insecureHosts].map((h) => h.trim().toLowerCase()).filter((h) => h !== ''));
  }

  isInsecure(registry: string): boolean {
    const r = registry.toLowerCase();
    return isLoopback(r) || this.#insecure.has(r) || this.#insecure.has(splitHost(r));
  }

  /** The URLs to try, in order. */
  candidates(registry: string, forced?: Scheme): Candidate[] {
    if (registry === DOCKER_HUB) return [{ base: new URL(DOCKER_HUB_API), scheme: 'https', insecureTls: false }];
    const insecure = this.isInsecure(registry);
    const make = (scheme: Scheme): Candidate => ({ base: new URL(`${scheme}://${registry}`), scheme, insecureTls: insecure && scheme === 'https' });
    const fixed = forced ?? this.#preferred.get(registry);
    if (fixed !== undefined) return [make(fixed)];
    const learned = this.#learned.get(registry);
    if (learned !== undefined) return [make(learned)];
    return insecure ? [make('https'), make('http')] : [make('https')];
  }

  /** A scheme fixed by configuration (REGISTRY_URL names http:// or https://). */
  prefer(registry: string, scheme: Scheme): void {
    this.#preferred.set(registry, scheme);
  }

  learn(registry: string, scheme: Scheme): void {
    if (this.isInsecure(registry)) this.#learned.set(registry, scheme);
  }
}
