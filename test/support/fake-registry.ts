// A scriptable in-memory registry for what the real one cannot do on demand: auth challenges,
// redirects to another host, faults in the middle of a blob, wrong bytes, throttling.
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { sha256, type BuiltImage, type BuiltIndex } from './images.ts';
import { sendJson, startLoopbackServer } from './http-server.ts';
import { basicIdentity } from './token-server.ts';
import type { T } from './tools.ts';

export type RecordedRequest = {
  method: string;
  /** Path and query, as sent. */
  url: string;
  /** Path only. */
  path: string;
  headers: IncomingHttpHeaders;
  authorization: string | undefined;
};

/**
 * `status` and `redirectTo` replace the answer; the others change how the normal answer is sent
 * and combine (e.g. delayMs + truncateAfter).
 */
export type Fault =
  | { status: number; headers?: Record<string, string>; body?: string | Buffer }
  | { redirectTo: string }
  | { delayMs: number }
  | { truncateAfter: number }
  | { wrongBody: Buffer }
  | { ignoreRange: true };

/** A string matches when the request path contains it (a digest, a repo, '/manifests/'). */
export type Matcher = string | RegExp | ((req: RecordedRequest) => boolean);

export type FaultHandle = {
  /** How many requests this fault has hit so far. */
  readonly hits: number;
  remove(): void;
};

export type BearerOptions = {
  realm: string;
  service: string;
  /** Accepted tokens, or a check such as `tokenServer.accepts` (repo is undefined for /v2/). */
  accept: readonly string[] | ((token: string, repo: string | undefined) => boolean);
};

export type FakeRegistryOptions = {
  /** Answer 404 to a manifest request whose Accept header excludes its media type, as distribution does for OCI indexes. */
  strictAccept?: boolean;
};

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => void | Promise<void>;

export type FakeRegistry = {
  url: string;
  host: string;
  requests: RecordedRequest[];
  /** Manifests by tag (if any) and digest, plus config and layer blobs; for an index also its images. */
  serveImage(repo: string, tag: string | undefined, content: BuiltImage | BuiltIndex): void;
  serveManifest(repo: string, reference: string, body: Buffer, mediaType: string): void;
  /** Returns the digest; pass one to serve bytes under a digest they do not have. */
  serveBlob(repo: string, data: Buffer, digest?: string): string;
  /** Any path outside /v2/, with Range support and no auth: a CDN or an object store. */
  serveFile(path: string, data: Buffer, headers?: Record<string, string>): void;
  /** Custom handler, tried before everything served above (after auth and faults). */
  route(method: string, path: string | RegExp, handler: RouteHandler): void;
  fault(matcher: Matcher, fault: Fault, opts?: { times?: number }): FaultHandle;
  requireBasic(username: string, password: string): void;
  requireBearer(opts: BearerOptions): void;
  /** Recorded requests that match. */
  requestsTo(matcher: Matcher): RecordedRequest[];
  stop(): Promise<void>;
};

type Answer = { status: number; headers: Record<string, string>; body: Buffer; rangeable: boolean };
type Repo = { manifests: Map<string, { body: Buffer; mediaType: string }>; blobs: Map<string, Buffer> };
type ActiveFault = { matcher: Matcher; fault: Fault; remaining: number; hits: number };
type Route = { method: string; path: string | RegExp; handler: RouteHandler };
type Auth = { kind: 'basic'; username: string; password: string } | ({ kind: 'bearer' } & BearerOptions);

const V2_PATH = /^\/v2\/(.+)\/(manifests|blobs|tags)\/([^/]+)$/;

export async function startFakeRegistry(t: T, opts: FakeRegistryOptions = {}): Promise<FakeRegistry> {
  const repos = new Map<string, Repo>();
  const files = new Map<string, Answer>();
  const routes: Route[] = [];
  let faults: ActiveFault[] = [];
  const requests: RecordedRequest[] = [];
  let auth: Auth | undefined;

  const repoOf = (name: string): Repo => {
    let repo = repos.get(name);
    if (!repo) repos.set(name, (repo = { manifests: new Map(), blobs: new Map() }));
    return repo;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const rec = record(req);
    requests.push(rec);

    if (rec.path.startsWith('/v2/') && auth) {
      const challenge = checkAuth(auth, rec);
      if (challenge) return sendJson(res, 401, registryError('UNAUTHORIZED', 'authentication required'), challenge);
    }

    const active = faults.filter((f) => f.remaining > 0 && matches(f.matcher, rec));
    for (const f of active) {
      f.remaining--;
      f.hits++;
    }
    const chosen = active.map((f) => f.fault);
    for (const f of chosen) if ('delayMs' in f) await delay(f.delayMs);
    for (const f of chosen) {
      if ('status' in f) return sendRaw(res, f.status, f.headers ?? {}, Buffer.from(f.body ?? ''), rec.method);
      if ('redirectTo' in f) return sendRaw(res, 302, { location: f.redirectTo }, Buffer.alloc(0), rec.method);
    }

    const route = routes.find((r) => r.method === rec.method && (typeof r.path === 'string' ? r.path === rec.path : r.path.test(rec.path)));
    if (route) return route.handler(req, res, rec);

    const answer = files.get(rec.path) ?? registryAnswer(rec);
    const wrong = chosen.find((f): f is { wrongBody: Buffer } => 'wrongBody' in f);
    const body = wrong ? wrong.wrongBody : answer.body;
    const range = answer.rangeable && !chosen.some((f) => 'ignoreRange' in f) ? req.headers.range : undefined;
    const out = applyRange({ ...answer, body }, range);
    const truncate = chosen.find((f): f is { truncateAfter: number } => 'truncateAfter' in f);
    if (truncate && rec.method !== 'HEAD') return sendTruncated(res, out, truncate.truncateAfter);
    sendRaw(res, out.status, out.headers, out.body, rec.method);
  };

  const registryAnswer = (rec: RecordedRequest): Answer => {
    if (rec.method !== 'GET' && rec.method !== 'HEAD') {
      return errorAnswer(405, 'UNSUPPORTED', `the fake registry is read-only: ${rec.method}`);
    }
    if (rec.path === '/v2/' || rec.path === '/v2') return jsonAnswer(200, {});
    const m = V2_PATH.exec(rec.path);
    if (!m?.[1] || !m[2] || !m[3]) return errorAnswer(404, 'NOT_FOUND', `no route for ${rec.path}`);
    const [, name, kind, ref] = m;
    const repo = repos.get(name);
    if (!repo) return errorAnswer(404, 'NAME_UNKNOWN', `repository ${name} not known`);
    if (kind === 'tags') {
      const tags = [...repo.manifests.keys()].filter((k) => !k.startsWith('sha256:')).sort();
      return jsonAnswer(200, { name, tags });
    }
    if (kind === 'blobs') {
      const blob = repo.blobs.get(ref);
      if (!blob) return errorAnswer(404, 'BLOB_UNKNOWN', `blob ${ref} not known`);
      return {
        status: 200,
        headers: { 'content-type': 'application/octet-stream', 'docker-content-digest': ref, etag: `"${ref}"`, 'accept-ranges': 'bytes' },
        body: blob,
        rangeable: true,
      };
    }
    const manifest = repo.manifests.get(ref);
    if (!manifest) return errorAnswer(404, 'MANIFEST_UNKNOWN', `manifest ${ref} not known`);
    const accept = rec.headers.accept;
    if (opts.strictAccept && accept !== undefined && !accept.includes(manifest.mediaType)) {
      return errorAnswer(404, 'MANIFEST_UNKNOWN', `${manifest.mediaType} not in Accept: ${accept}`);
    }
    const digest = sha256(manifest.body);
    return {
      status: 200,
      headers: { 'content-type': manifest.mediaType, 'docker-content-digest': digest, etag: `"${digest}"` },
      body: manifest.body,
      rangeable: false,
    };
  };

  const server = await startLoopbackServer(t, handle);

  const fake: FakeRegistry = {
    url: server.url,
    host: server.host,
    requests,
    serveImage(repo, tag, content) {
      if ('images' in content) {
        for (const image of content.images) fake.serveImage(repo, undefined, image);
        fake.serveManifest(repo, content.digest, content.manifest, content.mediaType);
        if (tag !== undefined) fake.serveManifest(repo, tag, content.manifest, content.mediaType);
        return;
      }
      fake.serveBlob(repo, content.config, content.configDigest);
      for (const layer of content.layers) fake.serveBlob(repo, layer.blob, layer.digest);
      fake.serveManifest(repo, content.manifestDigest, content.manifest, content.manifestMediaType);
      if (tag !== undefined) fake.serveManifest(repo, tag, content.manifest, content.manifestMediaType);
    },
    serveManifest(repo, reference, body, mediaType) {
      repoOf(repo).manifests.set(reference, { body, mediaType });
    },
    serveBlob(repo, data, digest = sha256(data)) {
      repoOf(repo).blobs.set(digest, data);
      return digest;
    },
    serveFile(path, data, headers = {}) {
      files.set(path, {
        status: 200,
        headers: { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', ...headers },
        body: data,
        rangeable: true,
      });
    },
    route(method, path, handler) {
      routes.push({ method: method.toUpperCase(), path, handler });
    },
    fault(matcher, fault, { times = Infinity } = {}) {
      const active: ActiveFault = { matcher, fault, remaining: times, hits: 0 };
      faults.push(active);
      return {
        get hits() {
          return active.hits;
        },
        remove() {
          faults = faults.filter((f) => f !== active);
        },
      };
    },
    requireBasic(username, password) {
      auth = { kind: 'basic', username, password };
    },
    requireBearer(bearer) {
      auth = { kind: 'bearer', ...bearer };
    },
    requestsTo: (matcher) => requests.filter((r) => matches(matcher, r)),
    stop: server.stop,
  };
  return fake;
}

function record(req: IncomingMessage): RecordedRequest {
  const url = req.url ?? '/';
  return {
    method: req.method ?? 'GET',
    url,
    path: new URL(url, 'http://127.0.0.1').pathname,
    headers: req.headers,
    authorization: req.headers.authorization,
  };
}

function matches(matcher: Matcher, rec: RecordedRequest): boolean {
  if (typeof matcher === 'string') return rec.path.includes(matcher);
  if (matcher instanceof RegExp) return matcher.test(rec.path);
  return matcher(rec);
}

/** Undefined when the request may pass, else the WWW-Authenticate header to answer 401 with. */
function checkAuth(auth: Auth, rec: RecordedRequest): Record<string, string> | undefined {
  if (auth.kind === 'basic') {
    const id = basicIdentity(rec.authorization);
    if (id && id.user === auth.username && id.password === auth.password) return undefined;
    return { 'www-authenticate': 'Basic realm="fake"' };
  }
  const repo = V2_PATH.exec(rec.path)?.[1];
  const token = /^Bearer\s+(\S+)$/i.exec(rec.authorization ?? '')?.[1];
  if (token !== undefined) {
    const ok = typeof auth.accept === 'function' ? auth.accept(token, repo) : auth.accept.includes(token);
    if (ok) return undefined;
  }
  // Like real registries: no scope on /v2/, the repository's pull scope everywhere else.
  const scope = repo === undefined ? '' : `,scope="repository:${repo}:pull"`;
  return { 'www-authenticate': `Bearer realm="${auth.realm}",service="${auth.service}"${scope}` };
}

function registryError(code: string, message: string): { errors: Array<{ code: string; message: string }> } {
  return { errors: [{ code, message }] };
}

function jsonAnswer(status: number, value: unknown): Answer {
  return { status, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(value)), rangeable: false };
}

function errorAnswer(status: number, code: string, message: string): Answer {
  return jsonAnswer(status, registryError(code, message));
}

/** Single ranges only (`bytes=a-b`, `bytes=a-`, `bytes=-n`); anything else is ignored, as RFC 9110 allows. */
function applyRange(answer: Answer, range: string | undefined): Answer {
  const m = range === undefined || answer.status !== 200 ? null : /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  if (!m || (m[1] === '' && m[2] === '')) return answer;
  const size = answer.body.length;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
    if (Number(m[2]) === 0) start = size; // unsatisfiable
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return answer; // invalid: ignore
  }
  if (start >= size) {
    return { status: 416, headers: { 'content-range': `bytes */${size}` }, body: Buffer.alloc(0), rangeable: false };
  }
  return {
    status: 206,
    headers: { ...answer.headers, 'content-range': `bytes ${start}-${end}/${size}` },
    body: answer.body.subarray(start, end + 1),
    rangeable: false,
  };
}

function sendRaw(res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer, method: string): void {
  res.writeHead(status, { ...headers, 'content-length': String(body.length) });
  res.end(method === 'HEAD' ? undefined : body);
}

/**
 * Promises the whole body in Content-Length, sends `n` bytes, then cuts the connection.
 * Written straight to the socket: node:http would not let a response end short of its length.
 */
function sendTruncated(res: ServerResponse, answer: Answer, n: number): void {
  const socket = res.socket;
  if (!socket) return;
  const headers = { ...answer.headers, 'content-length': String(answer.body.length), connection: 'close' };
  const head = [`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  const bytes = Buffer.concat([Buffer.from(head.join('\r\n') + '\r\n\r\n', 'latin1'), answer.body.subarray(0, n)]);
  socket.write(bytes, () => socket.destroy());
}
