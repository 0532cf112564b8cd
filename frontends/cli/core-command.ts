// `image-passthrough core [IMAGE]`: the daemon, on an inherited socket, a Unix socket, or systemd's.
import type { Argv } from 'yargs';
import { listenFdsFromEnv, startCore, type Transport } from '../../core/main.ts';
import { setLogLevel } from '../../core/log.ts';

export function coreCommand(y: Argv): Argv {
  return y.command(
    'core [image]',
    'run the core daemon (HTTP/1.1 on --sockfd, --socket, or systemd LISTEN_FDS)',
    (c) =>
      c
        .positional('image', { type: 'string', describe: 'default image for /manifest, /config and /blobs (docker://host/repo:tag or a plain reference)' })
        .option('sockfd', { type: 'number', describe: 'serve one already connected socket on this fd (e.g. 3); exit when the peer closes or after POST /quit' })
        .option('socket', { type: 'string', describe: 'listen on this Unix socket path (mode 0600)' })
        .option('platform', { type: 'string', describe: 'default platform os/arch[/variant] [env PLATFORM, default linux/amd64]' })
        .option('insecure-registry', { type: 'string', array: true, describe: 'registry host[:port] that may use plain http or an unverified certificate (repeatable) [env REGISTRY_INSECURE_HOSTS]' })
        .option('registry-url', { type: 'string', describe: 'the configured registry, whose static credentials apply [env REGISTRY_URL, default Docker Hub]' })
        .option('registry-auth-url', { type: 'string', describe: 'token endpoint of the configured registry [env REGISTRY_AUTH_URL]' })
        .option('registry-service', { type: 'string', describe: 'token service name of the configured registry [env REGISTRY_SERVICE]' })
        .option('registry-username', { type: 'string', describe: 'username for the configured registry [env REGISTRY_USERNAME]' })
        .option('registry-password', { type: 'string', describe: 'password or token for the configured registry [env REGISTRY_PASSWORD]' })
        .option('registry-bearer-token', { type: 'string', describe: 'static bearer token for the configured registry [env REGISTRY_BEARER_TOKEN or REGISTRY_TOKEN]' })
        .option('log-level', { type: 'string', choices: ['debug', 'info', 'warn', 'error', 'off'], describe: 'log level on stderr [env LOG_LEVEL, else RUST_LOG, default info]' })
        .conflicts('sockfd', 'socket')
        .check((argv) => {
          if (argv.sockfd === undefined && argv.socket === undefined && listenFdsFromEnv() === undefined) {
            throw new Error('give --sockfd N or --socket PATH (or start under systemd socket activation)');
          }
          if (argv.sockfd !== undefined && (!Number.isInteger(argv.sockfd) || argv.sockfd < 0)) throw new Error('--sockfd takes a file descriptor number');
          return true;
        }),
    async (argv) => {
      if (argv.logLevel) setLogLevel(argv.logLevel);
      const activated = listenFdsFromEnv();
      const transport: Transport =
        argv.sockfd !== undefined
          ? { kind: 'sockfd', fd: argv.sockfd }
          : argv.socket !== undefined
            ? { kind: 'socket', path: argv.socket }
            : { kind: 'listenfds', fd: activated! };
      const running = await startCore(
        {
          ...(argv.image ? { image: argv.image } : {}),
          ...(argv.platform ? { platform: argv.platform } : {}),
          ...(argv.insecureRegistry ? { insecureRegistries: argv.insecureRegistry } : {}),
          ...(argv.registryUrl !== undefined ? { registryUrl: argv.registryUrl } : {}),
          ...(argv.registryAuthUrl !== undefined ? { registryAuthUrl: argv.registryAuthUrl } : {}),
          ...(argv.registryService !== undefined ? { registryService: argv.registryService } : {}),
          ...(argv.registryUsername !== undefined ? { registryUsername: argv.registryUsername } : {}),
          ...(argv.registryPassword !== undefined ? { registryPassword: argv.registryPassword } : {}),
          ...(argv.registryBearerToken !== undefined ? { registryBearerToken: argv.registryBearerToken } : {}),
        },
        transport,
      );
      process.exit(await running.done);
    },
  );
}
