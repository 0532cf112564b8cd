// A fake Docker token service (the realm of a Bearer challenge) that records who asked for what.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson, startLoopbackServer } from './http-server.ts';
import type { T } from './tools.ts';

export type TokenServerOptions = {
  /** Accepted Basic credentials: user → password. */
  users: Record<string, string>;
  /** Issue tokens to requests without credentials (like Docker Hub for public images). */
  anonymous?: boolean;
  /** Seconds; after that `accepts` refuses the token. Default 300. */
  expiresIn?: number;
};

export type TokenRequest = {
  method: string;
  url: string;
  service: string | undefined;
  scopes: string[];
  /** The identity used (Basic, or the OAuth2 password form), undefined when anonymous. */
  user: string | undefined;
  /** What the token server answered. */
  status: number;
};

export type IssuedToken = {
  user: string | undefined;
  service: string | undefined;
  scopes: string[];
  expiresAt: number;
};

export type TokenServer = {
  url: string;
  /** `${url}/token`, for the realm of a Bearer challenge. */
  realm: string;
  requests: TokenRequest[];
  /**
   * True when `token` came from this server, has not expired and grants pull on `repo`
   * (any live token when repo is undefined, i.e. for /v2/). Pass it to `requireBearer`.
   */
  accepts(token: string, repo: string | undefined): boolean;
  /** What a token was issued for; undefined for a token that did not come from here. */
  describe(token: string): IssuedToken | undefined;
  /** Invalidate every token issued so far, as if they had expired. */
  revokeAll(): void;
  stop(): Promise<void>;
};

type Identity = { user: string; password: string };

export async function startTokenServer(t: T, opts: TokenServerOptions): Promise<TokenServer> {
  const expiresIn = opts.expiresIn ?? 300;
  const issued = new Map<string, IssuedToken>();
  const requests: TokenRequest[] = [];
  let counter = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // GET with Basic is Docker's classic flow; the OAuth2 password form (POST) is containerd's.
    const params = method === 'POST' ? new URLSearchParams((await readBody(req)).toString('utf8')) : url.searchParams;
    const service = params.get('service') ?? undefined;
    const scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const identity = method === 'POST' ? formIdentity(params) : basicIdentity(req.headers.authorization);
    const answer = (status: number) => {
      requests.push({ method, url: req.url ?? '/', service, scopes, user: identity?.user, status });
      return status;
    };

    if (url.pathname !== '/token' || (method !== 'GET' && method !== 'POST')) {
      return sendJson(res, answer(404), { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
    }
    const allowed = identity ? opts.users[identity.user] === identity.password : opts.anonymous === true;
    if (!allowed) {
      return sendJson(res, answer(401), { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }, {
        'www-authenticate': 'Basic realm="fake-token-server"',
      });
    }
    // The token spells out whom and what it is for, which keeps failing assertions readable.
    const token = `fake.${Buffer.from(JSON.stringify({ n: ++counter, user: identity?.user ?? null, scopes })).toString('base64url')}`;
    issued.set(token, { user: identity?.user, service, scopes, expiresAt: Date.now() + expiresIn * 1000 });
    sendJson(res, answer(200), {
      token,
      access_token: token,
      expires_in: expiresIn,
      issued_at: new Date().toISOString(),
    });
  };

  const server = await startLoopbackServer(t, handle);
  return {
    url: server.url,
    realm: `${server.url}/token`,
    requests,
    accepts(token, repo) {
      const info = issued.get(token);
      if (!info || Date.now() >= info.expiresAt) return false;
      return repo === undefined || info.scopes.some((scope) => grantsPull(scope, repo));
    },
    describe: (token) => issued.get(token),
    revokeAll: () => issued.clear(),
    stop: server.stop,
  };
}

/** `repository:NAME:pull`, `repository:NAME:pull,push` or `repository:NAME:*` grant pull on NAME. */
function grantsPull(scope: string, repo: string): boolean {
  const prefix = `repository:${repo}:`;
  return scope.startsWith(prefix) && scope.slice(prefix.length).split(',').some((a) => a === 'pull' || a === '*');
}

export function basicIdentity(header: string | undefined): Identity | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function formIdentity(params: URLSearchParams): Identity | undefined {
  const user = params.get('username');
  const password = params.get('password');
  if (params.get('grant_type') !== 'password' || user === null || password === null) return undefined;
  return { user, password };
}
