// The core daemon's flags, defined once: the full CLI turns this table into yargs options (for
// --help), and the lean entry core/cli.ts into node:util parseArgs, so a spawned core loads
// neither yargs nor the front ends.
import type { CoreSettings } from './config.ts';

export interface CoreOption {
  type: 'string' | 'boolean';
  /** Repeatable. */
  multiple?: boolean;
  describe: string;
  choices?: string[];
  /** The CoreSettings field a value goes to, if any. */
  setting?: keyof CoreSettings;
}

export const CORE_OPTIONS = {
  sockfd: { type: 'string', describe: 'serve one already connected socket on this fd (e.g. 3); exit when the peer closes or after POST /quit' },
  socket: { type: 'string', describe: 'listen on this Unix socket path (mode 0600)' },
  platform: { type: 'string', setting: 'platform', describe: 'default platform os/arch[/variant] [env PLATFORM, default linux/amd64]' },
  'insecure-registry': { type: 'string', multiple: true, setting: 'insecureRegistries', describe: 'registry host[:port] that may use plain http or an unverified certificate (repeatable) [env REGISTRY_INSECURE_HOSTS]' },
  'registry-url': { type: 'string', setting: 'registryUrl', describe: 'the configured registry, whose static credentials apply [env REGISTRY_URL, default Docker Hub]' },
  'registry-auth-url': { type: 'string', setting: 'registryAuthUrl', describe: 'token endpoint of the configured registry [env REGISTRY_AUTH_URL]' },
  'registry-service': { type: 'string', setting: 'registryService', describe: 'token service name of the configured registry [env REGISTRY_SERVICE]' },
  'registry-username': { type: 'string', setting: 'registryUsername', describe: 'username for the configured registry [env REGISTRY_USERNAME]' },
  'registry-password': { type: 'string', setting: 'registryPassword', describe: 'password or token for the configured registry [env REGISTRY_PASSWORD]' },
  'registry-bearer-token': { type: 'string', setting: 'registryBearerToken', describe: 'static bearer token for the configured registry [env REGISTRY_BEARER_TOKEN or REGISTRY_TOKEN]' },
  'exit-with-stdin': { type: 'boolean', describe: 'exit (after in-flight answers) when standard input closes: for a parent that spawns the core and may die without stopping it' },
  'log-level': { type: 'string', choices: ['debug', 'info', 'warn', 'error', 'off'], describe: 'log level on stderr [env LOG_LEVEL, else RUST_LOG, default info]' },
} satisfies Record<string, CoreOption>;

export type CoreArgs = { image?: string | undefined } & { [K in keyof typeof CORE_OPTIONS]?: (typeof CORE_OPTIONS)[K] extends { multiple: true } ? string[] : (typeof CORE_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export function settingsFrom(args: CoreArgs): CoreSettings {
  const settings: Record<string, unknown> = {};
  if (args.image) settings.image = args.image;
  for (const [name, option] of Object.entries(CORE_OPTIONS) as Array<[keyof typeof CORE_OPTIONS, CoreOption]>) {
    const value = args[name];
    if (option.setting !== undefined && value !== undefined) settings[option.setting] = value;
  }
  return settings as CoreSettings;
}
