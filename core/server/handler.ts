// The core's routes (DESIGN.md, "The core's protocol").
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import { formatReference } from '../../protocol/reference.ts';
import { Header, Route, type InspectResult } from '../../protocol/routes.ts';
import { diffIds, toOciManifest } from '../image/manifest.ts';
import { MediaType } from '../image/media-types.ts';
import { resolveImage, resolveManifest } from '../image/resolve.ts';
import { discard, headerValue } from '../registry/http.ts';
import { LengthCheck, VerifyingStream } from '../stream/verify.ts';
import { NAME, VERSION } from '../version.ts';
import { accessFor, repoTags, type CoreContext, type Handler } from './context.ts';
import { digestFrom, parseRequestUrl, platformFrom, referenceFrom } from './request.ts';
import { cheapArchiveSizes, save } from './save-route.ts';
import { fail, sendBytes, sendValue } from './respond.ts';

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

const manifest: Handler = async (req, res, ctx, rest, query, signal) => {
  const ref = referenceFrom(rest, ctx.defaultImage);
  const access = accessFor(req, ctx, ref, query, signal);
  const resolved = await resolveManifest(ctx.registry, ref, platformFrom(query, ctx.defaultPlatform), access);
  sendBytes(req, res, MediaType.ociManifest, toOciManifest(resolved.bytes, resolved.manifest), {
    [Header.manifestDigest]: resolved.digest,
    [Header.imageReference]: formatReference(ref),
  });
};

const config: Handler = async (req, res, ctx, rest, query, signal) => {
  const ref = referenceFrom(rest, ctx.defaultImage);
  const access = accessFor(req, ctx, ref, query, signal);
  const image = await resolveImage(ctx.registry, ref, platformFrom(query, ctx.defaultPlatform), access);
  sendBytes(req, res, MediaType.ociConfig, image.config, { [Header.manifestDigest]: image.digest });
};

const inspect: Handler = async (req, res, ctx, rest, query, signal) => {
  const ref = referenceFrom(rest, ctx.defaultImage);
  const access = accessFor(req, ctx, ref, query, signal);
  const image = await resolveImage(ctx.registry, ref, platformFrom(query, ctx.defaultPlatform), access);
  const ids = diffIds(image.configJson, image.manifest);
  const tags = repoTags(ref, query);
  const sizes = await cheapArchiveSizes(ctx, image, access, tags);
  const result: InspectResult = {
    reference: formatReference(ref),
    digest: image.digest,
    mediaType: image.manifest.mediaType,
    platform: image.platform,
    platforms: image.platforms,
    configDigest: image.manifest.config.digest,
    layers: image.manifest.layers.map((l, i) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, diffID: ids[i]!, ...(sizes.uncompressed[i] !== undefined ? { uncompressedSize: sizes.uncompressed[i] } : {}) })),
    repoTags: tags,
    ociArchiveSize: sizes.oci,
  };
  if (sizes.docker !== undefined) result.archiveSize = sizes.docker;
  if (image.indexDigest) result.indexDigest = image.indexDigest;
  if (typeof image.configJson.created === 'string') result.created = image.configJson.created;
  sendValue(req, res, 200, result);
};

const blobs: Handler = async (req, res, ctx, rest, query, signal) => {
  const digest = digestFrom(rest);
  const refText = query.get('ref');
  const ref = referenceFrom(refText ?? '', ctx.defaultImage);
  const access = accessFor(req, ctx, ref, query, signal);
  if (req.method === 'HEAD') {
    const { size } = await ctx.registry.headBlob(ref, digest, access);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'docker-content-digest': digest, 'accept-ranges': 'bytes', ...(size !== undefined ? { 'content-length': size } : {}) });
    res.end();
    return;
  }
  const rangeHeader = req.headers.range;
  const range = rangeHeader !== undefined && SINGLE_RANGE.test(rangeHeader) && rangeHeader !== 'bytes=-' ? rangeHeader : undefined;
  const upstream = await ctx.registry.fetchBlob(ref, digest, access, range);
  const length = Number(headerValue(upstream.headers, 'content-length'));
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'docker-content-digest': digest, 'accept-ranges': 'bytes' };
  if (Number.isSafeInteger(length)) headers['content-length'] = length;
  let check: VerifyingStream | LengthCheck;
  if (upstream.status === 206) {
    const contentRange = headerValue(upstream.headers, 'content-range');
    if (contentRange === undefined || !Number.isSafeInteger(length)) {
      discard(upstream.body);
      throw new CoreError(502, ErrorCode.UPSTREAM_UNAVAILABLE, 'the registry answered a ranged request without Content-Range or Content-Length');
    }
    headers['content-range'] = contentRange;
    // A part of a blob cannot be checked against its digest; its length still is.
    check = new LengthCheck(length, `range of ${digest}`);
  } else {
    check = new VerifyingStream({ digest, what: `blob ${digest}`, ...(Number.isSafeInteger(length) ? { size: length } : {}) });
  }
  res.writeHead(upstream.status, headers);
  await pipeline(upstream.body, check, res);
};

const health: Handler = async (req, res, ctx) => {
  sendValue(req, res, 200, { status: 'ok', name: NAME, version: VERSION, uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000) });
};

const quit: Handler = async (req, res, ctx) => {
  res.on('finish', () => ctx.onQuit());
  sendValue(req, res, 200, { status: 'quitting' });
};

const ROUTES: Record<string, { methods: string[]; handler: Handler }> = {
  [Route.manifest]: { methods: ['GET', 'HEAD'], handler: manifest },
  [Route.config]: { methods: ['GET', 'HEAD'], handler: config },
  [Route.inspect]: { methods: ['GET', 'HEAD'], handler: inspect },
  [Route.blobs]: { methods: ['GET', 'HEAD'], handler: blobs },
  [Route.save]: { methods: ['GET', 'HEAD'], handler: save },
  [Route.health]: { methods: ['GET', 'HEAD'], handler: health },
  [Route.quit]: { methods: ['POST'], handler: quit },
};

export function createHandler(ctx: CoreContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    // The registry work stops when the client goes away.
    const aborter = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) aborter.abort();
    });
    void (async () => {
      try {
        const { route, rest, query } = parseRequestUrl(req.url);
        const entry = ROUTES[route];
        if (entry === undefined) throw new CoreError(404, ErrorCode.NOT_FOUND, `no route ${route}; see the README for the core's protocol`);
        if (!entry.methods.includes(req.method ?? '')) {
          throw new CoreError(405, ErrorCode.METHOD_NOT_ALLOWED, `${req.method} is not allowed on ${route}`, undefined, { allow: entry.methods.join(', ') });
        }
        await entry.handler(req, res, ctx, rest, query, aborter.signal);
      } catch (err) {
        fail(req, res, err);
      }
    })();
  };
}
