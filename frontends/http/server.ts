// The HTTP front end: Cisco filename routes, /health, the web page. It turns requests into
// CoreClient calls and never talks to a registry itself.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { toError } from '../../protocol/client.ts';
import { CoreError } from '../../protocol/errors.ts';
import { DOCKER_HUB, isDockerHub, parseReference, ReferenceError } from '../../protocol/reference.ts';
import { Header, imagePath, Route, type ArchiveFormat } from '../../protocol/routes.ts';
import { VERSION } from '../../protocol/version.ts';
import type { HttpConfig } from './config.ts';
import { CHALLENGE, decideCredentials, mayChallenge } from './credentials.ts';
import { FilenameError, parseFilename } from './filename.ts';
import { HostPolicy, HostRefused } from './host-policy.ts';
import { badFilename, coreErrorText, sendJson, sendText } from './messages.ts';
import { pageAssets, renderPage } from './page.ts';
import { parseDownloadPath, RouteError, type DownloadRoute } from './route.ts';
import type { CoreHandle } from './supervisor.ts';
import { downloadPath } from './url-builder.ts';

export const MAX_URL_LENGTH = 4096;
const RELAYED_HEADERS = ['content-length', 'content-range', 'etag', 'accept-ranges', Header.manifestDigest, Header.platform, 'last-modified'];

type Log = (msg: string, fields?: Record<string, unknown>) => void;

export interface FrontEnd {
  server: Server;
  url: string;
  /** Stop accepting, let downloads finish up to the grace period, then resolve. */
  close(graceMs: number): Promise<void>;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function formatOf(query: URLSearchParams): ArchiveFormat | undefined {
  const f = query.get('format');
  if (f === null || f === '' || f === 'docker') return 'docker';
  return f === 'oci' ? 'oci' : undefined;
}

interface Target {
  registry: string;
  scheme: 'http' | 'https' | undefined;
  requestSelected: boolean;
}

function targetOf(route: DownloadRoute, config: HttpConfig): Target {
  if (route.kind === 'docker') {
    return { registry: config.registry.host, scheme: config.registry.host === DOCKER_HUB ? undefined : config.registry.scheme, requestSelected: false };
  }
  const host = route.host!;
  if (isDockerHub(host)) return { registry: DOCKER_HUB, scheme: undefined, requestSelected: true };
  return { registry: host, scheme: route.scheme, requestSelected: true };
}

export async function startFrontEnd(config: HttpConfig, core: CoreHandle, log: Log): Promise<FrontEnd> {
  const policy = new HostPolicy(config.allowedHosts);
  const inFlight = new Set<ServerResponse>();

  const download = async (req: IncomingMessage, res: ServerResponse, route: DownloadRoute, query: URLSearchParams) => {
    const head = req.method === 'HEAD';
    const target = targetOf(route, config);
    if (target.requestSelected) {
      try {
        await policy.check(target.registry);
      } catch (err) {
        if (err instanceof HostRefused) return sendText(res, 403, `403 Forbidden: ${err.message}.`, {}, head);
        throw err;
      }
    }
    let image;
    try {
      image = parseFilename(route.filename, target.registry, config.defaultNamespace);
    } catch (err) {
      if (err instanceof FilenameError) return sendText(res, 400, badFilename(err.message), {}, head);
      throw err;
    }
    const format = formatOf(query);
    if (format === undefined) return sendText(res, 400, '400 Bad Request: format must be docker or oci.', {}, head);
    const platform = route.platform ?? (query.get('platform') || config.platform);
    const credentials = decideCredentials(route.kind, config.clientAuth, header(req.headers.authorization));
    if (credentials.kind === 'challenge') {
      return sendText(res, 401, `401 Unauthorized: ${credentials.reason}. Send the registry username and password (IOS-XE: ip http client username/password).`, { 'www-authenticate': CHALLENGE }, head);
    }
    let ref = `${target.registry}/${image.repository}`;
    if (image.tag !== undefined) ref += `:${image.tag}`;
    if (image.digest !== undefined) ref += `@${image.digest}`;
    const shown = ref.replace(/^docker\.io\//, '');

    const aborter = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) aborter.abort();
    });
    const forward: Record<string, string> = {};
    for (const name of ['range', 'if-range', 'if-none-match']) {
      const v = header(req.headers[name]);
      if (v !== undefined) forward[name] = v;
    }
    let answer;
    try {
      answer = await core.client.raw(head ? 'HEAD' : 'GET', imagePath(Route.save, ref, { platform, format, ...(target.scheme ? { scheme: target.scheme } : {}) }), {
        headers: forward,
        signal: aborter.signal,
        ...(credentials.kind === 'forward' ? { authorization: credentials.authorization } : {}),
        ...(header(req.headers.traceparent) ? { traceparent: header(req.headers.traceparent)! } : {}),
      });
    } catch (err) {
      if (aborter.signal.aborted) return;
      log('core unavailable', { error: err instanceof Error ? err.message : String(err) });
      return sendText(res, 502, `502 Bad Gateway: the image service's core is not available (${err instanceof Error ? err.message : String(err)}); try again in a moment.`, {}, head);
    }
    if (answer.statusCode >= 400) {
      const err = await toError(answer);
      const { status, text } = coreErrorText(err, shown, target.registry);
      const extra: Record<string, string> = {};
      if (status === 401 && mayChallenge(route.kind, config.clientAuth)) extra['www-authenticate'] = CHALLENGE;
      const retryAfter = header(answer.headers['retry-after']);
      if (retryAfter) extra['retry-after'] = retryAfter;
      const contentRange = header(answer.headers['content-range']);
      if (contentRange) extra['content-range'] = contentRange;
      return sendText(res, status, text, extra, head);
    }
    const headers: Record<string, string> = {
      'content-type': 'application/x-tar',
      'content-disposition': `attachment; filename="${route.filename.replace(/["\\\r\n]/g, '_')}"`,
    };
    for (const name of RELAYED_HEADERS) {
      const v = header(answer.headers[name]);
      if (v !== undefined) headers[name] = v;
    }
    res.writeHead(answer.statusCode, headers);
    if (head || answer.statusCode === 304) {
      answer.body.resume();
      res.end();
      return;
    }
    try {
      await pipeline(answer.body, res);
    } catch (err) {
      // The core broke the archive off (or the client left): never end it as if complete.
      log('download failed mid-stream', { image: shown, error: err instanceof Error ? err.message : String(err) });
      res.destroy();
    }
  };

  const inspect = async (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => {
    const answer = (status: number, value: unknown) => sendJson(res, status, value, req.method === 'HEAD');
    const imageText = query.get('image') ?? '';
    let ref;
    try {
      ref = parseReference(imageText);
    } catch (err) {
      return answer(400, { status: 400, error: err instanceof ReferenceError ? err.message : 'invalid image reference' });
    }
    const isDefault = ref.registry === config.registry.host;
    if (!isDefault) {
      try {
        await policy.check(ref.registry);
      } catch (err) {
        if (err instanceof HostRefused) return answer(403, { status: 403, error: err.message });
        throw err;
      }
    }
    const credentials = decideCredentials('registry', config.clientAuth, header(req.headers.authorization));
    try {
      const info = await core.client.inspect(`${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`, {
        ...(query.get('platform') ? { platform: query.get('platform')! } : { platform: config.platform }),
        ...(isDefault && ref.registry !== DOCKER_HUB ? { scheme: config.registry.scheme } : {}),
        ...(credentials.kind === 'forward' ? { authorization: credentials.authorization } : {}),
      });
      answer(200, info);
    } catch (err) {
      if (err instanceof CoreError) return answer(coreErrorText(err, imageText, ref.registry).status, { status: err.status, error: err.message });
      answer(502, { status: 502, error: 'the image service core is not available' });
    }
  };

  const redirectToDownload = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => {
    let path: string;
    try {
      const format = query.get('format') === 'oci' ? 'oci' : 'docker';
      path = downloadPath({
        image: query.get('image') ?? '',
        platform: query.get('platform') || config.platform,
        format,
        credentials: query.get('credentials') === 'on' || query.get('credentials') === '1',
        defaultRegistry: { host: config.registry.host, scheme: config.registry.scheme },
        defaultPlatform: config.platform,
        ...(config.defaultNamespace ? { defaultNamespace: config.defaultNamespace } : {}),
      });
    } catch (err) {
      return sendText(res, 400, `400 Bad Request: ${err instanceof Error ? err.message : String(err)}.`, {}, req.method === 'HEAD');
    }
    res.writeHead(302, { location: path, 'content-length': 0 });
    res.end();
  };

  const health = async (req: IncomingMessage, res: ServerResponse) => {
    const coreHealth = await core.health();
    const value = {
      status: coreHealth ? 'ok' : 'unavailable',
      version: VERSION,
      core: coreHealth ? { ...coreHealth, restarts: core.restarts() } : { status: 'unavailable', restarts: core.restarts() },
    };
    sendJson(res, coreHealth ? 200 : 503, value, req.method === 'HEAD');
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res);
    const started = Date.now();
    res.on('close', () => {
      inFlight.delete(res);
      log('request', { method: req.method, path: (req.url ?? '').split('?')[0]?.slice(0, 200), status: res.statusCode, complete: res.writableFinished, ms: Date.now() - started });
    });
    void (async () => {
      const head = req.method === 'HEAD';
      try {
        if ((req.url ?? '').length > MAX_URL_LENGTH) return sendText(res, 414, `414 URI Too Long: URLs are limited to ${MAX_URL_LENGTH} characters.`, {}, head);
        const url = new URL(req.url ?? '/', 'http://front-end');
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          return sendText(res, 405, `405 Method Not Allowed: ${req.method} is not supported; use GET (or HEAD).`, { allow: 'GET, HEAD' });
        }
        const path = url.pathname;
        if (path === '/health') return await health(req, res);
        if (path === '/' || path === '/index.html') {
          const body = Buffer.from(renderPage({ defaultRegistry: config.registry, defaultPlatform: config.platform, version: VERSION, ...(config.defaultNamespace ? { defaultNamespace: config.defaultNamespace } : {}) }));
          // The page carries its own Content-Security-Policy (a meta tag with the hashes of its
          // inline script and style); a header here would intersect with it and block the script.
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length, 'x-content-type-options': 'nosniff' });
          return res.end(head ? undefined : body);
        }
        const asset = pageAssets().get(path);
        if (asset) {
          const body = Buffer.from(asset.body);
          res.writeHead(200, { 'content-type': asset.contentType, 'content-length': body.length, 'cache-control': 'max-age=300' });
          return res.end(head ? undefined : body);
        }
        if (path === '/download') return redirectToDownload(req, res, url.searchParams);
        if (path === '/api/inspect') return await inspect(req, res, url.searchParams);
        const route = parseDownloadPath(path);
        if (route === undefined) {
          return sendText(res, 404, `404 Not Found: no route ${path.slice(0, 200)}. Use /docker/{image}_{tag}.tar, /registry/{scheme}/{host}/docker/{image}_{tag}.tar or /registry-auth/{scheme}/{host}/docker/{image}_{tag}.tar.`, {}, head);
        }
        await download(req, res, route, url.searchParams);
      } catch (err) {
        if (err instanceof RouteError) return sendText(res, err.status, `${err.status} ${err.status === 400 ? 'Bad Request' : 'Not Found'}: ${err.message}.`, {}, head);
        log('internal error', { error: err instanceof Error ? err.stack : String(err) });
        if (res.headersSent) res.destroy();
        else sendText(res, 500, '500 Internal Server Error: an unexpected error occurred; see the service log.', {}, head);
      }
    })();
  };

  const server: Server = config.tls
    ? (createHttpsServer({ cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }, listener) as unknown as Server)
    : createHttpServer(listener);
  // Downloads run as long as the slowest device needs; requests themselves are small.
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;
  server.maxHeadersCount = 100;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `${config.tls ? 'https' : 'http'}://${host}:${address.port}`,
    async close(graceMs: number) {
      server.close();
      server.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      server.closeAllConnections();
    },
  };
}
