// The compiled build and the bin as users run it: `npm ci` builds dist/ (prepare), the bin
// prefers it, re-executes itself once with the memory settings, and sends `core` to the lean
// daemon entry without yargs or the front ends.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { CoreClient } from '../protocol/client.ts';
import { tempDir } from './support/tools.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/image-passthrough.js');
// tap patches spawn to hook its loaders into every child through NODE_OPTIONS; `env -u` drops
// them at exec, so these children run exactly as users run them.
const { NODE_OPTIONS: _tapHooks, ...plainEnv } = process.env;
const plain = (args: string[]): [string, string[]] => ['/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, ...args]];

t.before(() => {
  // CI has dist/ from `npm ci`; a developer's checkout may not, or may have an old one.
  execFileSync(...plain([join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')]), { stdio: 'inherit', env: plainEnv });
});

t.test('the bin answers --version from the compiled build', async (t) => {
  t.ok(existsSync(join(root, 'dist/frontends/cli/main.js')), 'dist/ was built');
  const version = execFileSync(...plain([bin, '--version']), { encoding: 'utf8', env: plainEnv }).trim();
  t.equal(version, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
});

t.test('core runs the lean compiled entry, tuned, and serves', async (t) => {
  const socketPath = join(tempDir(t, 'build-'), 'core.sock');
  const child = spawn(...plain([bin, 'core', '--socket', socketPath, '--log-level', 'warn']), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...plainEnv, IMAGE_PASSTHROUGH_NO_REEXEC: '' } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const client = new CoreClient({ socketPath });
  t.teardown(() => client.destroy());
  const deadline = Date.now() + 15_000;
  let health;
  while (Date.now() < deadline) {
    health = await client.health().catch(() => undefined);
    if (health) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(health?.status, 'ok', 'answers /health');
  const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
  t.ok(cmdline.includes('--max-semi-space-size=1'), 're-executed itself with the young-generation limit');
  const environ = readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
  t.ok(environ.includes('MALLOC_ARENA_MAX=1'), 'and with one malloc arena');
  await client.quit();
  t.equal(await exited, 0, 'exits 0 after /quit');
});

t.test('core usage errors exit 2 with a message', async (t) => {
  const r = spawn(...plain([bin, 'core']), { stdio: ['ignore', 'ignore', 'pipe'], env: plainEnv });
  let err = '';
  r.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => r.once('exit', resolve));
  t.equal(code, 2);
  t.match(err, /--sockfd N or --socket PATH/);
});
