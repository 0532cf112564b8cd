// Errors as a person reads them in a device's `copy` output: one short paragraph saying which
// image, which registry, and what to check. The status stays meaningful for programs.
import type { ServerResponse } from 'node:http';
import type { CoreError } from '../../protocol/errors.ts';

const FILENAME_HELP = 'Filenames look like nginx_latest.tar, myrepo_myimage_v1.0.tar or team__platform__api_2026.06.tar (double underscore = "/"), or nginx:1.27.tar when a tag holds underscores.';

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}, head = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(text.endsWith('\n') ? text : `${text}\n`);
  res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
  res.end(head ? undefined : body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, head = false): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
  res.end(head ? undefined : body);
}

export function badFilename(why: string): string {
  return `400 Bad Request: ${why}.\n${FILENAME_HELP}`;
}

/** The status and text for an error the core answered. */
export function coreErrorText(err: CoreError, image: string, registry: string): { status: number; text: string } {
  const what = `${image} from ${registry}`;
  switch (err.status) {
    case 400:
      return { status: 400, text: `400 Bad Request: ${err.message}.\n${FILENAME_HELP}` };
    case 401:
      return { status: 401, text: `401 Unauthorized: ${err.message}.\nThe registry needs valid credentials for ${what}. On IOS-XE: ip http client username <user> / ip http client password <token>, then copy again.` };
    case 403:
      return { status: 403, text: `403 Forbidden: ${err.message}.\nThe credentials are valid but may not pull ${what}.` };
    case 404:
      return { status: 404, text: `404 Not Found: ${err.message}.\nCheck the image path, tag and platform for ${what}.` };
    case 415:
      return { status: 415, text: `415 Unsupported: ${err.message}.` };
    case 416:
      return { status: 416, text: `416 Range Not Satisfiable: ${err.message}.` };
    case 429:
      return { status: 429, text: `429 Too Many Requests: ${err.message}.\nWait and copy again, or use credentials with a higher pull limit.` };
    case 504:
      return { status: 504, text: `504 Gateway Timeout: ${err.message}.\nCheck that ${registry} is reachable from this service.` };
    default:
      return { status: 502, text: `502 Bad Gateway: could not prepare ${what}: ${err.message}.\nCheck the registry address, scheme (http/https) and that it is reachable from this service.` };
  }
}
