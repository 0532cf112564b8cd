// `image-passthrough core [IMAGE]` in the full CLI: help and parsing from the core's own option
// table; the work is the lean entry's (core/cli.ts), which spawned cores use directly.
import type { Argv, Options } from 'yargs';
import { CORE_OPTIONS, type CoreArgs, type CoreOption } from '../../core/options.ts';

export function coreCommand(y: Argv): Argv {
  return y.command(
    'core [image]',
    'run the core daemon (HTTP/1.1 on --sockfd, --socket, or systemd LISTEN_FDS)',
    (c) => {
      let cmd = c.positional('image', { type: 'string', describe: 'default image for /manifest, /config and /blobs (docker://host/repo:tag or a plain reference)' });
      for (const [name, option] of Object.entries(CORE_OPTIONS) as Array<[string, CoreOption]>) {
        const spec: Options = { type: option.type, describe: option.describe };
        if (option.multiple) spec.array = true;
        if (option.choices) spec.choices = option.choices;
        cmd = cmd.option(name, spec);
      }
      return cmd;
    },
    async (argv) => {
      const args: Record<string, unknown> = { image: argv.image };
      for (const name of Object.keys(CORE_OPTIONS)) {
        const value = argv[name];
        if (value !== undefined) args[name] = typeof value === 'number' ? String(value) : value;
      }
      // Loaded only when this command runs: the other commands never load the core.
      const { runCore } = await import('../../core/cli.ts');
      process.exit(await runCore(args as CoreArgs));
    },
  );
}
