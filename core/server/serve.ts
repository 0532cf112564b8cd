// Serving the core's HTTP/1.1 on one inherited connected socket (--sockfd), a listening Unix
// socket (--socket, mode 0600), or systemd socket activation (LISTEN_FDS). Resolves when the
// core should exit: the sockfd peer closed, or /quit or a signal drained in-flight answers.
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, Socket } from 'node:net';
import { log } from '../log.ts';

export type Transport = { kind: 'sockfd'; fd: number } | { kind: 'socket'; path: string } | { kind: 'listenfds'; fd: number };

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface RunningServer {
  server: Server;
  /** Settles once the core is done; the value is the exit code. */
  done: Promise<number>;
  /** Stop taking requests, let in-flight ones finish, then settle `done`. */
  shutdown(): void;
}

/** systemd passes activated sockets from fd 3 on; LISTEN_PID guards against inherited variables. */
export function listenFdsFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const count = Number(env.LISTEN_FDS);
  if (!Number.isInteger(count) || count < 1) return undefined;
  if (env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) !== process.pid) return undefined;
  return 3;
}

async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another process is already serving on ${path}`);
  unlinkSync(path);
}

export async function serve(listener: RequestListener, transport: Transport): Promise<RunningServer> {
  const server = createServer({ requireHostHeader: false }, listener);
  let inFlight = 0;
  let stopping = false;
  let settle!: (code: number) => void;
  const done = new Promise<number>((resolve) => (settle = resolve));

  const maybeFinish = () => {
    if (stopping && inFlight === 0) {
      server.closeAllConnections();
      server.close();
      if (transport.kind === 'socket') {
        try {
          unlinkSync(transport.path);
        } catch {
          // Already gone.
        }
      }
      settle(0);
    }
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    res.on('close', () => {
      inFlight--;
      maybeFinish();
    });
  });
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeIdleConnections();
    maybeFinish();
  };

  if (transport.kind === 'sockfd') {
    // A parent may sit idle for a long time between requests on its private socket.
    server.keepAliveTimeout = 0;
    server.headersTimeout = 0;
    server.requestTimeout = 0;
    const socket = new Socket({ fd: transport.fd, readable: true, writable: true });
    socket.on('error', (err) => log.debug('sockfd socket error', { error: err.message }));
    socket.on('close', () => {
      stopping = true;
      settle(0);
    });
    server.emit('connection', socket);
    log.debug('serving on inherited socket', { fd: transport.fd });
  } else if (transport.kind === 'socket') {
    await removeStaleSocket(transport.path);
    // Create the socket 0600 from the start: no window in which another user could connect.
    const previous = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(transport.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(previous);
    }
    chmodSync(transport.path, 0o600);
    log.info('core listening', { socket: transport.path });
  } else {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd: transport.fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    log.info('core listening on activated socket', { fd: transport.fd });
  }
  return { server, done, shutdown };
}
