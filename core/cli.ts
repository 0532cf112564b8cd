// The core daemon's lean entry: `image-passthrough core …` lands here without loading yargs or
// the front ends (an idle core is ~40 MiB smaller this way: it is the long-lived process).
import { parseArgs } from 'node:util';
import { setLogLevel } from './log.ts';
import { listenFdsFromEnv, startCore, type Transport } from './main.ts';
import { CORE_OPTIONS, settingsFrom, type CoreArgs, type CoreOption } from './options.ts';

export class UsageError extends Error {}

/** Validated arguments and the transport they name; throws UsageError for bad ones. */
export function coreTransport(args: CoreArgs): Transport {
  for (const [name, option] of Object.entries(CORE_OPTIONS) as Array<[keyof typeof CORE_OPTIONS, CoreOption]>) {
    const value = args[name];
    if (option.choices && typeof value === 'string' && !option.choices.includes(value)) {
      throw new UsageError(`--${name} takes one of ${option.choices.join(', ')}, not "${value}"`);
    }
  }
  if (args.sockfd !== undefined && args.socket !== undefined) throw new UsageError('--sockfd and --socket exclude each other');
  if (args.sockfd !== undefined) {
    const fd = Number(args.sockfd);
    if (!Number.isInteger(fd) || fd < 0) throw new UsageError('--sockfd takes a file descriptor number');
    return { kind: 'sockfd', fd };
  }
  if (args.socket !== undefined) return { kind: 'socket', path: args.socket };
  const activated = listenFdsFromEnv();
  if (activated !== undefined) return { kind: 'listenfds', fd: activated };
  throw new UsageError('give --sockfd N or --socket PATH (or start under systemd socket activation)');
}

/** Runs the daemon until it should exit; resolves with the exit code. */
export async function runCore(args: CoreArgs): Promise<number> {
  const transport = coreTransport(args);
  if (args['log-level']) setLogLevel(args['log-level']);
  const running = await startCore(settingsFrom(args), transport);
  if (args['exit-with-stdin']) {
    process.stdin.on('close', () => running.shutdown());
    process.stdin.on('end', () => running.shutdown());
    process.stdin.resume();
  }
  return running.done;
}

/** `argv` is what follows `core`. */
export async function coreMain(argv: string[]): Promise<number> {
  let args: CoreArgs;
  try {
    const { values, positionals } = parseArgs({ args: argv, options: CORE_OPTIONS as Record<string, CoreOption & { type: 'string' | 'boolean' }>, allowPositionals: true, strict: true });
    if (positionals.length > 1) throw new UsageError(`one IMAGE at most, not ${positionals.length}`);
    args = { ...(values as CoreArgs), image: positionals[0] };
    return await runCore(args);
  } catch (err) {
    process.stderr.write(`image-passthrough core: ${err instanceof Error ? err.message : String(err)}\nsee: image-passthrough core --help\n`);
    return err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  }
}

if (import.meta.main) process.exit(await coreMain(process.argv.slice(2)));
