// Upstream authentication. Order (DESIGN.md): static bearer token → token exchange (client Basic
// credentials, else static username/password, else anonymous) → direct Basic → anonymous.
// Static credentials belong to the configured registry and are never offered to another host;
// client credentials are used for the one request that carried them and never stored.
import { createHmac, randomBytes } from 'node:crypto';
import { parseBasic } from '../../protocol/basic-auth.ts';
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import { DOCKER_HUB } from '../../protocol/reference.ts';
import { parseChallenges } from './challenge.ts';
import { headerValue, readLimited, send } from './http.ts';

export type Identity =
  | { kind: 'anonymous' }
  | { kind: 'basic'; username: string; password: string; source: 'client' | 'static' };

export const ANONYMOUS: Identity = { kind: 'anonymous' };

export interface StaticAuth {
  /** The registry these settings belong to (`docker.io` or `host[:port]`). */
  registry: string;
  authUrl?: string;
  service?: string;
  username?: string;
  password?: string;
  bearerToken?: string;
}

type Scheme = { kind: 'bearer'; realm: string; service?: string } | { kind: 'basic' };

interface CachedToken {
  header: string;
  expiresAt: number;
}

const DOCKER_HUB_AUTH: Scheme = { kind: 'bearer', realm: 'https://auth.docker.io/token', service: 'registry.docker.io' };
const DEFAULT_TOKEN_LIFETIME_S = 60;
const EXPIRY_MARGIN_MS = 15_000;
const MAX_CACHED_TOKENS = 512;
const TOKEN_RESPONSE_LIMIT = 1 << 20;

/** Parses `Authorization: Basic …` from a core request; undefined when absent. */
export function identityFromHeader(header: string | undefined): Identity | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const credentials = parseBasic(header);
  if (credentials === undefined) {
    throw new CoreError(400, ErrorCode.UNAUTHORIZED, /^Basic\s/i.test(header) ? 'malformed Basic credentials: expected username:password' : 'only Basic credentials are accepted in Authorization');
  }
  return { kind: 'basic', username: credentials.username, password: credentials.password, source: 'client' };
}

function basicHeader(identity: Identity & { kind: 'basic' }): string {
  return `Basic ${Buffer.from(`${identity.username}:${identity.password}`).toString('base64')}`;
}

export class Authenticator {
  readonly #static: StaticAuth | undefined;
  readonly #schemes = new Map<string, Scheme>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<CachedToken>>();
  // Cache keys hold an HMAC of the identity under a per-process key, never the secret itself.
  readonly #salt = randomBytes(32);

  constructor(staticAuth?: StaticAuth) {
    this.#static = staticAuth;
    this.#schemes.set(DOCKER_HUB, DOCKER_HUB_AUTH);
    if (staticAuth?.authUrl) {
      this.#schemes.set(staticAuth.registry, { kind: 'bearer', realm: staticAuth.authUrl, service: staticAuth.service || staticAuth.registry.replace(/:\d+$/, '') });
    }
  }

  #staticFor(registry: string): StaticAuth | undefined {
    return this.#static !== undefined && this.#static.registry === registry ? this.#static : undefined;
  }

  /** Client credentials win; static ones apply to their own registry only; otherwise anonymous. */
  identityFor(registry: string, client: Identity | undefined): Identity {
    if (client !== undefined && client.kind === 'basic') return client;
    const s = this.#staticFor(registry);
    if (s?.username) return { kind: 'basic', username: s.username, password: s.password ?? '', source: 'static' };
    return ANONYMOUS;
  }

  #identityKey(identity: Identity): string {
    if (identity.kind === 'anonymous') return 'anonymous';
    return createHmac('sha256', this.#salt).update(identity.username).update('\0').update(identity.password).digest('hex');
  }

  /** The Authorization header to send before any challenge, if one is already known. */
  async authorize(registry: string, repository: string, identity: Identity): Promise<string | undefined> {
    const bearer = this.#staticFor(registry)?.bearerToken;
    if (bearer) return `Bearer ${bearer}`;
    const scheme = this.#schemes.get(registry);
    if (scheme === undefined) return undefined;
    if (scheme.kind === 'basic') return identity.kind === 'basic' ? basicHeader(identity) : undefined;
    const token = await this.#token(registry, scheme, repository, identity);
    return token.header;
  }

  /**
   * Answers a 401: learns the registry's scheme from the challenge and returns the header to retry
   * with, or undefined when there is nothing better to offer than what was just refused.
   */
  async onChallenge(registry: string, repository: string, identity: Identity, wwwAuthenticate: string | undefined, sent: string | undefined): Promise<string | undefined> {
    const challenges = parseChallenges(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      const realm = bearer.params.realm!;
      const service = this.#staticFor(registry)?.service || bearer.params.service;
      const scheme: Scheme = { kind: 'bearer', realm: this.#staticFor(registry)?.authUrl || realm, ...(service ? { service } : {}) };
      this.#schemes.set(registry, scheme);
      const key = this.#cacheKey(registry, repository, identity);
      const cached = this.#tokens.get(key);
      // A token we just sent was refused (revoked, or expired early): fetch a fresh one, once.
      if (cached !== undefined && cached.header === sent) this.#tokens.delete(key);
      else if (cached !== undefined) return cached.header;
      const token = await this.#token(registry, scheme, repository, identity);
      return token.header === sent ? undefined : token.header;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      this.#schemes.set(registry, { kind: 'basic' });
      if (identity.kind !== 'basic') return undefined;
      const header = basicHeader(identity);
      return header === sent ? undefined : header;
    }
    return undefined;
  }

  #cacheKey(registry: string, repository: string, identity: Identity): string {
    return `${registry}\n${repository}\n${this.#identityKey(identity)}`;
  }

  async #token(registry: string, scheme: Scheme & { kind: 'bearer' }, repository: string, identity: Identity): Promise<CachedToken> {
    const key = this.#cacheKey(registry, repository, identity);
    const cached = this.#tokens.get(key);
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached;
    // Parallel layer downloads all need the same token: ask the token service once.
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#fetchToken(scheme, repository, identity).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    const token = await pending;
    if (this.#tokens.size >= MAX_CACHED_TOKENS) {
      const oldest = this.#tokens.keys().next().value;
      if (oldest !== undefined) this.#tokens.delete(oldest);
    }
    this.#tokens.set(key, token);
    return token;
  }

  async #fetchToken(scheme: Scheme & { kind: 'bearer' }, repository: string, identity: Identity): Promise<CachedToken> {
    let url: URL;
    try {
      url = new URL(scheme.realm);
    } catch {
      throw new CoreError(502, ErrorCode.UPSTREAM_UNAVAILABLE, `registry announced an invalid token realm "${scheme.realm}"`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new CoreError(502, ErrorCode.UPSTREAM_UNAVAILABLE, `registry announced a token realm with unsupported scheme ${url.protocol}`);
    }
    if (scheme.service) url.searchParams.set('service', scheme.service);
    url.searchParams.set('scope', `repository:${repository}:pull`);
    const headers: Record<string, string> = {};
    if (identity.kind === 'basic') headers.authorization = basicHeader(identity);
    const started = Date.now();
    let res: Awaited<ReturnType<typeof send>>;
    try {
      res = await send(url, { headers });
    } catch (err) {
      // The registry itself answered: a token service out of reach must not look like a
      // registry without https, or the caller would fall back to plain http.
      if (err instanceof CoreError) throw new CoreError(err.status, err.code, `the token service ${url.host} is unreachable: ${err.message}`, { reason: 'token service' });
      throw err;
    }
    if (res.status === 401 || res.status === 403) {
      res.body.resume();
      throw identity.kind === 'basic'
        ? new CoreError(401, ErrorCode.UNAUTHORIZED, `the token service ${url.host} refused the ${identity.source === 'client' ? 'supplied' : 'configured'} credentials`)
        : new CoreError(401, ErrorCode.UNAUTHORIZED, `the token service ${url.host} refused anonymous access to ${repository}`);
    }
    if (res.status === 429) {
      res.body.resume();
      const retryAfter = headerValue(res.headers, 'retry-after');
      throw new CoreError(429, ErrorCode.TOOMANYREQUESTS, `the token service ${url.host} is rate limiting`, undefined, retryAfter ? { 'retry-after': retryAfter } : {});
    }
    if (res.status !== 200) {
      res.body.resume();
      throw new CoreError(502, ErrorCode.UPSTREAM_UNAVAILABLE, `the token service ${url.host} answered ${res.status}`);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse((await readLimited(res, TOKEN_RESPONSE_LIMIT, 'token response')).toString('utf8'));
    } catch (err) {
      if (err instanceof CoreError) throw err;
      throw new CoreError(502, ErrorCode.UPSTREAM_UNAVAILABLE, `the token service ${url.host} answered something that is not JSON`);
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new CoreError(502, ErrorCode.UPSTREAM_UNAVAILABLE, `the token service ${url.host} answered without a token`);
    }
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    const issued = typeof body.issued_at === 'string' ? Date.parse(body.issued_at) : NaN;
    // Trust our own clock unless the service's is earlier: skew must not extend a token's life.
    const base = Number.isFinite(issued) ? Math.min(issued, started) : started;
    return { header: `Bearer ${token}`, expiresAt: base + lifetime * 1000 - EXPIRY_MARGIN_MS };
  }
}
