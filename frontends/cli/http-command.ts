// `image-passthrough http`: the front end for devices, browsers and curl, with its own core.
import type { Argv } from 'yargs';

export function httpCommand(y: Argv): Argv {
  return y.command(
    'http',
    'run the HTTP front end (Cisco filename routes, /health, web page) with its own core',
    (c) =>
      c
        .option('port', { type: 'number', describe: 'listen port [env PORT, default 8080]' })
        .option('host', { type: 'string', describe: 'listen address [env HOST, default 0.0.0.0]' })
        .option('platform', { type: 'string', describe: 'default platform os/arch[/variant] [env PLATFORM, default linux/amd64]' })
        .option('registry-url', { type: 'string', describe: 'registry of /docker/ routes [env REGISTRY_URL, default https://registry-1.docker.io]' })
        .option('registry-auth-url', { type: 'string', describe: 'its token endpoint [env REGISTRY_AUTH_URL, default: from its challenge]' })
        .option('registry-service', { type: 'string', describe: 'its token service name [env REGISTRY_SERVICE]' })
        .option('registry-name', { type: 'string', describe: 'its display name [env REGISTRY_NAME, default docker.io]' })
        .option('registry-username', { type: 'string', describe: 'static username for it [env REGISTRY_USERNAME]' })
        .option('registry-password', { type: 'string', describe: 'static password or token [env REGISTRY_PASSWORD]' })
        .option('registry-bearer-token', { type: 'string', describe: 'static bearer token [env REGISTRY_BEARER_TOKEN or REGISTRY_TOKEN]' })
        .option('registry-client-auth', { type: 'string', choices: ['optional', 'required', 'off'], describe: 'client Basic credentials on /docker/ routes [env REGISTRY_CLIENT_AUTH, default optional]' })
        .option('registry-default-namespace', { type: 'string', describe: 'namespace for one-component names off Docker Hub [env REGISTRY_DEFAULT_NAMESPACE]' })
        .option('registry-allowed-hosts', { type: 'string', array: true, describe: 'registries a URL may name: host, host:port, *.domain (repeatable) [env REGISTRY_ALLOWED_HOSTS]' })
        .option('registry-insecure-hosts', { type: 'string', array: true, describe: 'registries that may use plain http (repeatable) [env REGISTRY_INSECURE_HOSTS]' })
        .option('tls-cert-file', { type: 'string', describe: 'serve HTTPS with this certificate (PEM) [env TLS_CERT_FILE]' })
        .option('tls-key-file', { type: 'string', describe: 'and this key (PEM) [env TLS_KEY_FILE]' })
        .option('cache-dir', { type: 'string', describe: 'cache directory [env CACHE_DIR] (reserved: the cache is not built yet)' })
        .option('cache-max-bytes', { type: 'number', describe: 'cache size bound [env CACHE_MAX_BYTES] (reserved)' })
        .option('otel-exporter-otlp-endpoint', { type: 'string', describe: 'OTLP endpoint [env OTEL_EXPORTER_OTLP_ENDPOINT] (reserved: tracing is not built yet)' })
        .option('otel-service-name', { type: 'string', describe: 'service name for traces [env OTEL_SERVICE_NAME] (reserved)' })
        .option('core-socket', { type: 'string', describe: 'use the core already listening on this Unix socket instead of spawning one [env CORE_SOCKET]' })
        .option('shutdown-grace-seconds', { type: 'number', describe: 'on SIGTERM, how long downloads may finish [env SHUTDOWN_GRACE_SECONDS, default 30]' })
        .option('log-level', { type: 'string', choices: ['debug', 'info', 'warn', 'error', 'off'], describe: 'log level [env LOG_LEVEL, else RUST_LOG, default info]' }),
    async (argv) => {
      // Loaded only when this command runs, so `save` and `core` stay small.
      const [{ log, setLogLevel }, { resolveHttpConfig }, { startFrontEnd }, { externalCore, superviseCore }] = await Promise.all([
        import('../../core/log.ts'),
        import('../http/config.ts'),
        import('../http/server.ts'),
        import('../http/supervisor.ts'),
      ]);
      if (argv.logLevel) setLogLevel(argv.logLevel);
      const defined = <T>(key: string, value: T | undefined) => (value === undefined ? {} : { [key]: value });
      const config = resolveHttpConfig({
        ...defined('port', argv.port),
        ...defined('host', argv.host),
        ...defined('platform', argv.platform),
        ...defined('registryUrl', argv.registryUrl),
        ...defined('registryAuthUrl', argv.registryAuthUrl),
        ...defined('registryService', argv.registryService),
        ...defined('registryName', argv.registryName),
        ...defined('registryUsername', argv.registryUsername),
        ...defined('registryPassword', argv.registryPassword),
        ...defined('registryBearerToken', argv.registryBearerToken),
        ...defined('registryClientAuth', argv.registryClientAuth),
        ...defined('registryDefaultNamespace', argv.registryDefaultNamespace),
        ...defined('registryAllowedHosts', argv.registryAllowedHosts),
        ...defined('registryInsecureHosts', argv.registryInsecureHosts),
        ...defined('tlsCertFile', argv.tlsCertFile),
        ...defined('tlsKeyFile', argv.tlsKeyFile),
        ...defined('cacheDir', argv.cacheDir),
        ...defined('cacheMaxBytes', argv.cacheMaxBytes),
        ...defined('otelExporterOtlpEndpoint', argv.otelExporterOtlpEndpoint),
        ...defined('otelServiceName', argv.otelServiceName),
        ...defined('coreSocket', argv.coreSocket),
        ...defined('shutdownGraceSeconds', argv.shutdownGraceSeconds),
      });
      const coreFlags = ['--platform', config.platform, '--log-level', argv.logLevel ?? process.env.LOG_LEVEL ?? 'info'];
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
