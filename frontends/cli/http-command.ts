// `image-passthrough http`: the front end for devices, browsers and curl, with its own core.
import type { Argv, Options } from 'yargs';
import type { HttpSettings } from '../http/config.ts';

/** The front end's flags; each (but --log-level) also an environment variable, see README. */
const HTTP_OPTIONS: Record<string, Options> = {
  'port': { type: 'number', describe: 'listen port [env PORT, default 8080]' },
  'host': { type: 'string', describe: 'listen address [env HOST, default 0.0.0.0]' },
  'platform': { type: 'string', describe: 'default platform os/arch[/variant] [env PLATFORM, default linux/amd64]' },
  'registry-url': { type: 'string', describe: 'registry of /docker/ routes [env REGISTRY_URL, default https://registry-1.docker.io]' },
  'registry-auth-url': { type: 'string', describe: 'its token endpoint [env REGISTRY_AUTH_URL, default: from its challenge]' },
  'registry-service': { type: 'string', describe: 'its token service name [env REGISTRY_SERVICE]' },
  'registry-name': { type: 'string', describe: 'its display name [env REGISTRY_NAME, default docker.io]' },
  'registry-username': { type: 'string', describe: 'static username for it [env REGISTRY_USERNAME]' },
  'registry-password': { type: 'string', describe: 'static password or token [env REGISTRY_PASSWORD]' },
  'registry-bearer-token': { type: 'string', describe: 'static bearer token [env REGISTRY_BEARER_TOKEN or REGISTRY_TOKEN]' },
  'registry-client-auth': { type: 'string', choices: ['optional', 'required', 'off'], describe: 'client Basic credentials on /docker/ routes [env REGISTRY_CLIENT_AUTH, default optional]' },
  'registry-default-namespace': { type: 'string', describe: 'namespace for one-component names off Docker Hub [env REGISTRY_DEFAULT_NAMESPACE]' },
  'registry-allowed-hosts': { type: 'string', array: true, describe: 'registries a URL may name: host, host:port, *.domain (repeatable) [env REGISTRY_ALLOWED_HOSTS]' },
  'registry-insecure-hosts': { type: 'string', array: true, describe: 'registries that may use plain http (repeatable) [env REGISTRY_INSECURE_HOSTS]' },
  'tls-cert-file': { type: 'string', describe: 'serve HTTPS with this certificate (PEM) [env TLS_CERT_FILE]' },
  'tls-key-file': { type: 'string', describe: 'and this key (PEM) [env TLS_KEY_FILE]' },
  'cache-dir': { type: 'string', describe: 'cache directory [env CACHE_DIR] (reserved: the cache is not built yet)' },
  'cache-max-bytes': { type: 'number', describe: 'cache size bound [env CACHE_MAX_BYTES] (reserved)' },
  'otel-exporter-otlp-endpoint': { type: 'string', describe: 'OTLP endpoint [env OTEL_EXPORTER_OTLP_ENDPOINT] (reserved: tracing is not built yet)' },
  'otel-service-name': { type: 'string', describe: 'service name for traces [env OTEL_SERVICE_NAME] (reserved)' },
  'core-socket': { type: 'string', describe: 'use the core already listening on this Unix socket instead of spawning one [env CORE_SOCKET]' },
  'shutdown-grace-seconds': { type: 'number', describe: 'on SIGTERM, how long downloads may finish [env SHUTDOWN_GRACE_SECONDS, default 30]' },
  'log-level': { type: 'string', choices: ['debug', 'info', 'warn', 'error', 'off'], describe: 'log level [env LOG_LEVEL, else RUST_LOG, default info]' },
};

export function httpCommand(y: Argv): Argv {
  return y.command(
    'http',
    'run the HTTP front end (Cisco filename routes, /health, web page) with its own core',
    (c) => {
      let cmd = c;
      for (const [name, spec] of Object.entries(HTTP_OPTIONS)) cmd = cmd.option(name, spec);
      return cmd;
    },
    async (argv) => {
      // Loaded only when this command runs, so `save` and `core` stay small.
      const [{ log, setLogLevel }, { resolveHttpConfig }, { startFrontEnd }, { externalCore, superviseCore }] = await Promise.all([
        import('../../core/log.ts'),
        import('../http/config.ts'),
        import('../http/server.ts'),
        import('../http/supervisor.ts'),
      ]);
      const logLevel = typeof argv.logLevel === 'string' ? argv.logLevel : undefined;
      if (logLevel) setLogLevel(logLevel);
      // Every flag but --log-level is the camel-cased HttpSettings field of the same name.
      const settings: Record<string, unknown> = {};
      for (const name of Object.keys(HTTP_OPTIONS)) {
        const key = name.replace(/-([a-z])/g, (_m, ch: string) => ch.toUpperCase());
        if (name !== 'log-level' && argv[key] !== undefined) settings[key] = argv[key];
      }
      const config = resolveHttpConfig(settings as HttpSettings);
      const coreFlags = ['--platform', config.platform, '--log-level', logLevel ?? process.env.LOG_LEVEL ?? 'info'];
      for (const host of config.insecureHosts) coreFlags.push('--insecure-registry', host);
      const core = config.coreSocket ? externalCore(config.coreSocket) : await superviseCore(coreFlags, config.coreEnv, log.warn);
      const front = await startFrontEnd(config, core, log.info);
      log.info('front end listening', { url: front.url, registry: config.registry.name, clientAuth: config.clientAuth, core: config.coreSocket ?? 'private' });
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        core.expectExit();
        log.info('stopping: finishing downloads', { graceSeconds: config.shutdownGraceSeconds });
        await front.close(config.shutdownGraceSeconds * 1000);
        await core.stop();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop());
      process.on('SIGINT', () => void stop());
    },
  );
}
