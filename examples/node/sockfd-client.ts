#!/usr/bin/env node
// A parent program in the container-image-proxy style, in Node: spawn the core with one half of a
// socketpair as fd 3 (libuv makes extra 'pipe' stdio entries socketpairs), speak HTTP/1.1 on
// the other half through CoreClient, fetch the manifest and every blob, verify each sha256
// here too, quit the core and check its exit code.
//
//   node examples/node/sockfd-client.ts [--platform os/arch] docker://host/repo:tag
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CoreClient } from '../../protocol/client.ts';

const CLI = fileURLToPath(new URL('../../frontends/cli/main.ts', import.meta.url));

export interface FetchedImage {
  manifestDigest: string;
  blobs: Array<{ digest: string; size: number }>;
  coreExit: number | null;
}

export async function fetchImage(image: string, platform?: string): Promise<FetchedImage> {
  const args = [CLI, 'core', '--sockfd', '3', image, ...(platform ? ['--platform', platform] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const client = new CoreClient({ socket: child.stdio[3] as Socket });
  try {
    const { manifest, digest } = await client.manifest();
    const parsed = JSON.parse(manifest.toString('utf8')) as { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> };
    const blobs: FetchedImage['blobs'] = [];
    for (const d of [parsed.config, ...parsed.layers]) {
      const res = await client.blob(d.digest);
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
      }
      if (`sha256:${hash.digest('hex')}` !== d.digest) throw new Error(`blob ${d.digest} does not match its digest`);
      if (size !== d.size) throw new Error(`blob ${d.digest} is ${size} bytes, the manifest says ${d.size}`);
      blobs.push({ digest: d.digest, size });
    }
    await client.quit();
    return { manifestDigest: digest, blobs, coreExit: await exited };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    client.destroy();
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ options: { platform: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) {
    process.stderr.write('usage: sockfd-client.ts [--platform os/arch] IMAGE\n');
    process.exit(2);
  }
  try {
    const result = await fetchImage(positionals[0]!, values.platform);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(result.coreExit === 0 ? 0 : 1);
  } catch (err) {
    process.stderr.write(`sockfd-client: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
