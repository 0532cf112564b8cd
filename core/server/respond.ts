// Writing answers: metadata as JSON or MessagePack, errors with the DESIGN.md body, and the
// rule that a failure after the status line destroys the connection instead of ending it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { codecFor, contentTypeOf, encode } from '../../protocol/codec.ts';
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import { log } from '../log.ts';

export function sendValue(req: IncomingMessage, res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const codec = codecFor(req.headers.accept);
  const body = encode(codec, value);
  res.writeHead(status, { ...headers, 'content-type': contentTypeOf(codec), 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

export function sendBytes(req: IncomingMessage, res: ServerResponse, contentType: string, body: Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(200, { ...headers, 'content-type': contentType, 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

export function toCoreError(err: unknown): CoreError {
  if (err instanceof CoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CoreError(500, ErrorCode.INTERNAL, `internal error: ${message}`);
}

/** Answers an error if nothing was sent yet; otherwise breaks the connection so the client sees a failure. */
export function fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const e = toCoreError(err);
  if (e.status >= 500) log.warn('request failed', { method: req.method, path: req.url?.split('?')[0], status: e.status, code: e.code, error: e.message });
  else log.debug('request refused', { method: req.method, path: req.url?.split('?')[0], status: e.status, code: e.code, error: e.message });
  if (res.headersSent) {
    // No final chunk and no completed Content-Length: a truncated body must never look whole.
    res.destroy(e);
    req.socket.destroy();
    return;
  }
  if (res.destroyed) return;
  sendValue(req, res, e.status, e.toBody(), e.headers);
}
