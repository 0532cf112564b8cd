// `image-passthrough save REF -o FILE`: the archive through a private core, written to
// FILE.partial and renamed only once complete, so a failure never leaves a file that looks whole.
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Argv } from 'yargs';
import { CoreClient } from '../../protocol/client.ts';
import type { InspectResult } from '../../protocol/routes.ts';
import { Progress } from './progress.ts';
import { coreArgs, spawnCore, type PrivateCore } from './spawn-core.ts';

/** Where each layer ends in a docker-format archive, from /inspect, for "layer i/n". */
function layerEnds(info: InspectResult): number[] | undefined {
  if (info.archiveSize === undefined || info.layers.some((l) => l.uncompressedSize === undefined)) return undefined;
  // Layers are the archive's tail, in order: work back from its end (1024 bytes of end blocks).
  const ends: number[] = [];
  let end = info.archiveSize - 1024;
  for (let i = info.layers.length - 1; i >= 0; i--) {
    ends.unshift(end);
    const size = info.layers[i]!.uncompressedSize!;
    end -= size + ((512 - (size % 512)) % 512) + 512 * 3 + 1024;
  }
  return ends;
}

export function saveCommand(y: Argv): Argv {
  return y.command(
    'save <ref>',
    'write the docker save archive of an image to a file (or stdout with -o -)',
    (c) =>
      c
        .positional('ref', { type: 'string', demandOption: true, describe: 'image reference, e.g. nginx:1.27 or registry.local:5000/team/app@sha256:…' })
        .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'file to write, or - for stdout' })
        .option('platform', { type: 'string', describe: 'os/arch[/variant] [env PLATFORM, default linux/amd64]' })
        .option('format', { type: 'string', choices: ['docker', 'oci'], default: 'docker', describe: 'archive layout' })
        .option('tag', { type: 'string', describe: 'repo tag to record in the archive (default: from the reference)' })
        .option('insecure-registry', { type: 'string', array: true, describe: 'registry host[:port] that may use plain http (repeatable)' })
        .option('core-socket', { type: 'string', describe: 'use the core already listening on this Unix socket instead of spawning one' })
        .option('progress', { type: 'boolean', describe: 'show progress on stderr (default: when stderr is a terminal, plain lines otherwise unless -o -)' })
        .option('log-level', { type: 'string', choices: ['debug', 'info', 'warn', 'error', 'off'], describe: "the private core's log level (default warn)" }),
    async (argv) => {
      const toStdout = argv.output === '-';
      const partial = toStdout ? undefined : `${argv.output}.partial`;
      let core: PrivateCore | undefined;
      let client: CoreClient;
      if (argv.coreSocket) client = new CoreClient({ socketPath: argv.coreSocket });
      else {
        core = spawnCore(coreArgs(argv));
        client = core.client;
      }
      const cleanup = () => {
        if (partial) rmSync(partial, { force: true });
      };
      const onSignal = () => {
        cleanup();
        core?.kill();
        process.exit(130);
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const tty = process.stderr.isTTY === true;
      const showProgress = argv.progress ?? (tty || !toStdout);
      try {
        const options = {
          format: argv.format as 'docker' | 'oci',
          ...(argv.platform ? { platform: argv.platform } : {}),
          ...(argv.tag ? { tag: argv.tag } : {}),
        };
        let ends: number[] | undefined;
        if (showProgress && tty && options.format === 'docker') {
          ends = layerEnds(await client.inspect(argv.ref, options)) ;
        }
        const res = await client.save(argv.ref, options);
        const length = Number(res.headers['content-length']);
        const total = Number.isSafeInteger(length) ? length : undefined;
        const progress = showProgress ? new Progress({ total, tty, write: (s) => process.stderr.write(s), ...(ends ? { layerEnds: ends } : {}) }) : undefined;
        let received = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _e, callback) {
            received += chunk.length;
            progress?.update(received);
            callback(null, chunk);
          },
        });
        const sink: Writable = toStdout ? process.stdout : createWriteStream(partial!);
        await pipeline(res.body, counter, sink);
        if (total !== undefined && received !== total) throw new Error(`the archive ended after ${received} of ${total} bytes`);
        if (partial) renameSync(partial, argv.output);
        progress?.done();
      } catch (err) {
        cleanup();
        core?.kill();
        const e = err as { message?: string; status?: number };
        process.stderr.write(`image-passthrough save: ${e.message ?? String(err)}\n`);
        process.exit(1);
      }
      await core?.close();
      if (!core) await client.close();
      process.exit(0);
    },
  );
}
