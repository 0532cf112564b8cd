// Starts a private Docker daemon (vfs storage, no networking set-up, its own data root, exec
// root, socket and pid file) so tests can `docker load` and `docker run` real archives without
// touching the machine's daemon. Stopped and cleaned up in teardown, also when a test fails.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { requireTool, type T, runCommand, type CommandOptions, type CommandResult } from './tools.ts';



export interface Dockerd {
  /** `unix:///…/docker.sock`, for `docker -H`. */
  host: string;
  /** Runs the docker CLI against this daemon; never throws for a non-zero exit. */
  docker(args: string[], opts?: CommandOptions): Promise<CommandResult>;
  /** The daemon's log so far (stdout and stderr, last 256 KiB). */
  output(): string;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const OUTPUT_LIMIT = 256 * 1024;

/** A clean environment: no DOCKER_* setting of the developer's shell reaches the CLI or daemon. */
function dockerEnv(configDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DOCKER_')) env[k] = v;
  return { ...env, DOCKER_CONFIG: configDir, DOCKER_CLI_HINTS: 'false' };
}


/** Mount points at or below `dir` (deepest first), from this process's mount table. */
function mountsUnder(dir: string): string[] {
  let table: string;
  try {
    table = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const decode = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return table
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map(decode)
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts dockerd, or returns undefined when `dockerd` or `docker` is missing (the test has then
 * been planned as skipped, or failed in CI: return at once).
 */
export async function startDockerd(t: T): Promise<Dockerd | undefined> {
  if (!requireTool(t, 'dockerd') || !requireTool(t, 'docker')) return undefined;

  // Short names: containerd's sockets live under the exec root and unix socket paths are limited.
  const dir = mkdtempSync(join(tmpdir().length > 40 ? '/tmp' : tmpdir(), 'ipd-'));
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'x');
  const socket = join(dir, 'd.sock');
  const pidFile = join(dir, 'd.pid');
  const configFile = join(dir, 'daemon.json');
  const cliConfig = join(dir, 'cli');
  for (const d of [dataRoot, execRoot, cliConfig]) mkdirSync(d);
  // An empty daemon config: /etc/docker/daemon.json of the machine must not apply.
  writeFileSync(configFile, '{}\n');
  const host = `unix://${socket}`;
  const env = dockerEnv(cliConfig);

  const child: ChildProcess = spawn(
    'dockerd',
    [
      '--config-file', configFile,
      '--storage-driver=vfs',
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--data-root', dataRoot,
      '--exec-root', execRoot,
      '-H', host,
      '--pidfile', pidFile,
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let spawnError: Error | undefined;
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => {
      gone = true;
      resolve();
    });
    child.once('error', (err) => {
      if (child.pid === undefined) {
        spawnError = err;
        gone = true;
        resolve();
      }
    });
  });
  // If the test process dies without teardown, do not leave a daemon behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  // dockerd starts its own containerd; its pid is recorded under the exec root.
  const containerdPid = (): number | undefined => {
    try {
      const pid = Number(readFileSync(join(execRoot, 'containerd', 'containerd.pid'), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  let containerd: number | undefined;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      containerd ??= containerdPid();
      if (!gone && child.pid !== undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      // A daemon that was killed leaves its containerd running: end it too (by its own pid).
      if (containerd !== undefined && alive(containerd)) {
        process.kill(containerd, 'SIGTERM');
        const deadline = Date.now() + STOP_GRACE_MS;
        while (alive(containerd) && Date.now() < deadline) await delay(100);
        if (alive(containerd)) process.kill(containerd, 'SIGKILL');
      }
      process.off('exit', killOnExit);
      // Normally dockerd unmounts everything; a killed one may not have.
      for (const mount of mountsUnder(dir)) spawnSync('umount', ['-l', mount]);
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };
  // Registered before waiting, so a daemon that never comes up is still stopped and removed.
  t.teardown(stop);

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (spawnError) throw new Error(`cannot start dockerd: ${spawnError.message}`);
    if (gone) throw new Error(`dockerd exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${output}`);
    const probe = await runCommand('docker', ['-H', host, 'version', '--format', '{{.Server.Version}}'], env, { timeoutMs: 10_000 });
    if (probe.code === 0 && probe.stdout.trim() !== '') break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dockerd did not answer on ${host} within ${STARTUP_TIMEOUT_MS} ms:\n${probe.stderr}\n--- dockerd log ---\n${output}`);
    }
    await delay(200);
  }
  containerd = containerdPid();

  return {
    host,
    docker: (args, opts) => runCommand('docker', ['-H', host, ...args], env, opts),
    output: () => output,
    stop,
  };
}
