// The `save` command as people run it: through the bin, with its own private core. The file
// appears only when complete; failures exit non-zero and leave nothing behind; `-o -` streams
// to stdout; a terminal gets a progress bar.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { cleanEnv, startCore } from './support/core.ts';
import { startFakeRegistry } from './support/fake-registry.ts';
import { buildImage, busyboxLayer, pushImage } from './support/images.ts';
import { startRegistry } from './support/registry.ts';
import { requireTool, tempDir } from './support/tools.ts';


interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function save(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    // The sources, not a possibly stale dist/ build: build.test.ts covers the compiled bin.
    const child = spawn(process.execPath, [fileURLToPath(new URL('../frontends/cli/main.ts', import.meta.url)), 'save', ...args], { cwd, env: cleanEnv({ LOG_LEVEL: 'warn' }), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('save against a real registry', async (t) => {
  if (!requireTool(t, 'docker-registry')) return;
  const registry = await startRegistry(t);
  const image = await buildImage({ layers: [busyboxLayer('gzip'), { compression: 'zstd', files: { '/hello.txt': 'from save\n' } }] });
  await pushImage(registry, 'team/app', '1', image);
  const ref = `${registry.host}/team/app:1`;
  const core = await startCore(t);
  const expected = Buffer.from(await new Response((await core.client.save(ref)).body as unknown as ReadableStream).arrayBuffer());
  const dir = tempDir(t, 'save-cmd-');

  await t.test('-o FILE writes the archive the core serves, and only that file', async (t) => {
    const r = await save([ref, '-o', 'app.tar', '--no-progress'], dir);
    t.equal(r.code, 0, r.stderr);
    t.equal(sha(readFileSync(join(dir, 'app.tar'))), sha(expected), 'same bytes as GET /save');
    t.same(readdirSync(dir).sort(), ['app.tar'], 'no .partial left');
  });

  await t.test('-o - writes the archive to stdout', async (t) => {
    const r = await save([ref, '-o', '-'], dir);
    t.equal(r.code, 0, r.stderr);
    t.equal(sha(r.stdout), sha(expected));
    t.equal(r.stderr, '', 'no progress on a non-terminal when the archive goes to stdout');
  });

  await t.test('--format oci and --tag', async (t) => {
    const r = await save([ref, '-o', 'oci.tar', '--format', 'oci', '--tag', 'mine:v9', '--no-progress'], dir);
    t.equal(r.code, 0, r.stderr);
    const tar = readFileSync(join(dir, 'oci.tar'));
    t.ok(tar.includes(Buffer.from('oci-layout')), 'an OCI layout');
    t.ok(tar.includes(Buffer.from('"RepoTags":["mine:v9"]')), 'the tag given');
  });

  await t.test('an unknown tag: exit 1, a message, no file', async (t) => {
    const r = await save([`${registry.host}/team/app:nope`, '-o', 'nope.tar'], dir);
    t.equal(r.code, 1);
    t.match(r.stderr, /does not exist/);
    t.notOk(existsSync(join(dir, 'nope.tar')) || existsSync(join(dir, 'nope.tar.partial')), 'nothing left behind');
  });

  await t.test('plain progress lines when stderr is not a terminal', async (t) => {
    const r = await save([ref, '-o', 'p.tar'], dir);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /100\.0%.*in \d+:\d\d/, 'a final progress line with the total time');
    t.notMatch(r.stderr, /\r/, 'no carriage returns in a log');
  });

  await t.test('a progress bar on a terminal', async (t) => {
    if (!requireTool(t, 'script')) return;
    const main = fileURLToPath(new URL('../frontends/cli/main.ts', import.meta.url));
    const command = `${process.execPath} ${main} save ${ref} -o ${join(dir, 'tty.tar')} >/dev/null`;
    const r = await new Promise<Run>((resolve) => {
      // script(1) gives the command a pseudo-terminal; its own output is what the terminal showed.
      const child = spawn('script', ['-qfec', command, '/dev/null'], { env: cleanEnv({ LOG_LEVEL: 'warn' }), stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: '' }));
    });
    const screen = r.stdout.toString('utf8');
    t.equal(r.code, 0, screen);
    t.match(screen, /\[#+\]/, 'a bar');
    t.match(screen, /layers? \d\/2/, 'the current layer of two');
    t.match(screen, /\r/, 'redrawn in place');
    t.equal(sha(readFileSync(join(dir, 'tty.tar'))), sha(expected));
  });
});

t.test('a failure mid-stream: exit 1 and no file that looks whole', async (t) => {
  const fake = await startFakeRegistry(t);
  const image = await buildImage({ mediaTypes: 'oci', layers: [{ compression: 'gzip', files: { '/noise.bin': randomBytes(512 * 1024) } }] });
  fake.serveImage('team/broken', '1', image);
  const layer = image.layers[0]!;
  fake.fault((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${layer.digest}`) && r.headers.range === undefined, { truncateAfter: Math.floor(layer.size / 2) });
  const dir = tempDir(t, 'save-broken-');
  const r = await save([`${fake.host}/team/broken:1`, '-o', 'broken.tar', '--no-progress'], dir);
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /image-passthrough save:/);
  t.same(readdirSync(dir), [], 'neither the file nor its .partial is left');
});

