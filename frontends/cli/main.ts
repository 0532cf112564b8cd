#!/usr/bin/env node
// The `image-passthrough` command.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { VERSION } from '../../protocol/version.ts';
import { coreCommand } from './core-command.ts';
import { httpCommand } from './http-command.ts';
import { saveCommand } from './save-command.ts';

export async function main(argv: string[]): Promise<void> {
  let y = yargs(argv).scriptName('image-passthrough').version(VERSION).strict().demandCommand(1, 'name a command: http, core or save').help().alias('help', 'h');
  y = httpCommand(saveCommand(coreCommand(y)));
  await y.fail((msg, err, instance) => {
    if (err) {
      process.stderr.write(`image-passthrough: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`${instance.help()}\n\n${msg}\n`);
    process.exit(2);
  }).parseAsync();
}

if (import.meta.main) {
  await main(hideBin(process.argv));
}
