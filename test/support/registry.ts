// Starts a real distribution registry (Debian's `docker-registry`) on a loopback port.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { request } from 'undici';
import { freePort, tempDir, type T } from './tools.ts';

export type BasicCredentials = { username: string; password: string };

export type RegistryInstance = {
  /** '127.0.0.1:PORT', as it appears in image references. */
  host: string;
  /** 'http://127.0.0.1:PORT' */
  url: string;
  /** Temporary directory holding the config, the htpasswd file and the storage. */
  dir: string;
  /** Set when the registry requires Basic auth. */
  auth?: BasicCredentials;
  /** Output of the registry so far (stdout and stderr, last 64 KiB). */
  output(): string;
  stop(): Promise<void>;
};

export type RegistryOptions = { htpasswd?: BasicCredentials };

const STARTUP_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3_000;
const OUTPUT_LIMIT = 64 * 1024;

export async function startRegistry(t: T, opts: RegistryOptions = {}): Promise<RegistryInstance> {
  const dir = tempDir(t, 'registry-');
  const htpasswdFile = opts.htpasswd ? join(dir, 'htpasswd') : undefined;
  if (opts.htpasswd && htpasswdFile) {
    writeFileSync(htpasswdFile, `${opts.htpasswd.username}:${bcryptHash(opts.htpasswd.password)}\n`);
  }
  mkdirSync(join(dir, 'storage'));

  // freePort() can lose a race with another process; a registry that exits complaining about
  // the address gets a second and third chance on another port.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const configFile = join(dir, 'config.yml');
    writeFileSync(configFile, registryConfig(dir, port, htpasswdFile));
    try {
      return await launch(t, dir, port, configFile, opts.htpasswd);
    } catch (err) {
      if (attempt < 3 && err instanceof AddressInUse) continue;
      throw err;
    }
  }
}

class AddressInUse extends Error {}

async function launch(
  t: T,
  dir: string,
  port: number,
  configFile: string,
  auth: BasicCredentials | undefined,
): Promise<RegistryInstance> {
  // REGISTRY_* variables override the config file; a developer's shell must not leak into tests.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
  const child = spawn('docker-registry', ['serve', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });

  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    // 'close' rather than 'exit': by then all of its output has been collected.
    child.once('close', () => resolve());
    // A process that could not be spawned (no pid) will never emit 'exit'.
    child.once('error', (err) => {
      if (child.pid === undefined) {
        spawnError = err;
        resolve();
      }
    });
  });

  // If the test process exits without running teardowns (uncaught error, tap bailing out),
  // still do not leave a registry behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= stopChild(child, exited).finally(() => process.off('exit', killOnExit));
    return stopping;
  };
  // Registered before waiting, so a registry that never comes up is still stopped.
  t.teardown(stop);

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let exitedEarly = false;
  void exited.then(() => {
    exitedEarly = true;
  });
  for (;;) {
    if (spawnError) throw new Error(`cannot start docker-registry: ${spawnError.message}`);
    if (exitedEarly) {
      const message = `docker-registry exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${output}`;
      throw /address already in use/i.test(output) ? new AddressInUse(message) : new Error(message);
    }
    if (await answers(url)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer on ${url} within ${STARTUP_TIMEOUT_MS} ms:\n${output}`);
    }
    await delay(50);
  }

  const instance: RegistryInstance = {
    host: `127.0.0.1:${port}`,
    url,
    dir,
    output: () => output,
    stop,
  };
  if (auth) instance.auth = auth;
  return instance;
}

/** The registry is up once /v2/ answers as a registry does: 200, or 401 when auth is on. */
async function answers(url: string): Promise<boolean> {
  try {
    const res = await request(`${url}/v2/`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
    await res.body.dump();
    return res.statusCode === 200 || res.statusCode === 401;
  } catch {
    return false; // not listening yet
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

function registryConfig(dir: string, port: number, htpasswdFile: string | undefined): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(join(dir, 'storage'))}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    // A fixed secret silences the "generated random secret" warning; the value does not matter.
    '  secret: image-passthrough-tests',
    'health:',
    '  storagedriver:',
    '    enabled: false',
  ];
  if (htpasswdFile) {
    lines.push('auth:', '  htpasswd:', '    realm: image-passthrough-tests', `    path: ${JSON.stringify(htpasswdFile)}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The registry only accepts bcrypt entries in htpasswd. Python's `crypt` module (deprecated,
 * gone in Python 3.13) calls the system's libxcrypt, which does bcrypt on Debian. Without it,
 * Perl's built-in crypt() reaches the same libxcrypt. Cost 4 (the minimum) because the
 * registry checks the hash on every request and the default cost 12 costs ~0.2 s each time.
 */
function bcryptHash(password: string): string {
  const attempts: Array<[string, string[]]> = [
    [
      'python3',
      [
        '-W',
        'ignore',
        '-c',
        'import crypt,sys; print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))',
      ],
    ],
    [
      'perl',
      [
        '-e',
        'my @c = ("." , "/", "A".."Z", "a".."z", "0".."9"); my $s = join "", map { $c[rand @c] } 1..22;' +
          ' local $/; my $pw = <STDIN>; print crypt($pw, "\\$2b\\$04\\$$s"), "\\n"',
      ],
    ],
  ];
  const failures: string[] = [];
  for (const [cmd, args] of attempts) {
    const res = spawnSync(cmd, args, { input: password, encoding: 'utf8' });
    const hash = (res.stdout ?? '').trim();
    if (res.status === 0 && hash.startsWith('$2b$')) return hash;
    failures.push(`${cmd}: ${res.error?.message ?? (res.stderr || hash || `exit ${res.status}`)}`);
  }
  throw new Error(`cannot make a bcrypt hash for htpasswd:\n${failures.join('\n')}`);
}
