// A node:http server on a loopback port that the test's teardown always closes.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { T } from './tools.ts';

export type LoopbackServer = {
  /** 'http://127.0.0.1:PORT' */
  url: string;
  /** '127.0.0.1:PORT' */
  host: string;
  stop(): Promise<void>;
};

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export async function startLoopbackServer(t: T, handler: Handler): Promise<LoopbackServer> {
  const server = createServer((req, res) => {
    // A bug in a fake must show up as a failed request, not as a hung test.
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`fake server error: ${err instanceof Error ? err.stack : String(err)}`);
        } else {
          res.destroy();
        }
      });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });

  let closing: Promise<void> | undefined;
  const stop = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Idle keep-alive connections from the client under test would otherwise hold close() open.
      server.closeAllConnections();
    });
    return closing;
  };
  t.teardown(stop);

  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, stop };
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(data.length) });
  res.end(data);
}
