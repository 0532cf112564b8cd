// The front end's settings: every variable of DESIGN.md's configuration table, each also a
// flag of `image-passthrough http` (flags win). Unset means the reference service's default.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_HUB, isDockerHub } from '../../protocol/reference.ts';
import { parsePlatform } from '../../protocol/routes.ts';

export type ClientAuthMode = 'optional' | 'required' | 'off';

export interface HttpSettings {
  port?: number;
  host?: string;
  platform?: string;
  registryUrl?: string;
  registryAuthUrl?: string;
  registryService?: string;
  registryName?: string;
  registryUsername?: string;
  registryPassword?: string;
  registryBearerToken?: string;
  registryClientAuth?: string;
  registryDefaultNamespace?: string;
  registryAllowedHosts?: string[];
  registryInsecureHosts?: string[];
  tlsCertFile?: string;
  tlsKeyFile?: string;
  cacheDir?: string;
  cacheMaxBytes?: number;
  otelExporterOtlpEndpoint?: string;
  otelServiceName?: string;
  coreSocket?: string;
  shutdownGraceSeconds?: number;
  logLevel?: string;
}

export interface HttpConfig {
  port: number;
  host: string;
  platform: string;
  /** The registry of /docker/ routes. */
  registry: { host: string; scheme: 'http' | 'https'; name: string };
  defaultNamespace: string | undefined;
  clientAuth: ClientAuthMode;
  allowedHosts: string[];
  insecureHosts: string[];
  tls?: { certFile: string; keyFile: string };
  coreSocket?: string;
  shutdownGraceSeconds: number;
  cacheDir: string;
  cacheMaxBytes?: number;
  /** Environment for the core the front end spawns: registry settings travel here, never on a command line. */
  coreEnv: Record<string, string>;
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter((s) => s !== '');
}

export function resolveHttpConfig(s: HttpSettings, env: NodeJS.ProcessEnv = process.env): HttpConfig {
  const pick = (flag: string | undefined, ...names: string[]): string | undefined => flag ?? names.map((n) => env[n]).find((v) => v !== undefined && v !== '');
  const registryUrl = pick(s.registryUrl, 'REGISTRY_URL');
  let registry: HttpConfig['registry'] = { host: DOCKER_HUB, scheme: 'https', name: 'docker.io' };
  if (registryUrl) {
    const u = new URL(registryUrl.includes('://') ? registryUrl : `https://${registryUrl}`);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`REGISTRY_URL must be http:// or https://, not ${u.protocol}`);
    registry = isDockerHub(u.host) ? registry : { host: u.host.toLowerCase(), scheme: u.protocol === 'http:' ? 'http' : 'https', name: u.host.toLowerCase() };
  }
  registry.name = pick(s.registryName, 'REGISTRY_NAME') ?? registry.name;
  const clientAuth = (pick(s.registryClientAuth, 'REGISTRY_CLIENT_AUTH') ?? 'optional').toLowerCase();
  if (clientAuth !== 'optional' && clientAuth !== 'required' && clientAuth !== 'off') {
    throw new Error(`REGISTRY_CLIENT_AUTH must be optional, required or off, not "${clientAuth}"`);
  }
  const platform = pick(s.platform, 'PLATFORM') ?? 'linux/amd64';
  parsePlatform(platform);
  const port = s.port ?? Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, not "${env.PORT}"`);
  const certFile = pick(s.tlsCertFile, 'TLS_CERT_FILE');
  const keyFile = pick(s.tlsKeyFile, 'TLS_KEY_FILE');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new Error('TLS_CERT_FILE and TLS_KEY_FILE go together');
  const cacheMax = s.cacheMaxBytes ?? (env.CACHE_MAX_BYTES ? Number(env.CACHE_MAX_BYTES) : undefined);

  const coreEnv: Record<string, string> = {};
  const pass = (name: string, value: string | undefined) => {
    if (value !== undefined) coreEnv[name] = value;
  };
  pass('REGISTRY_URL', registryUrl);
  pass('REGISTRY_AUTH_URL', pick(s.registryAuthUrl, 'REGISTRY_AUTH_URL'));
  pass('REGISTRY_SERVICE', pick(s.registryService, 'REGISTRY_SERVICE'));
  pass('REGISTRY_USERNAME', pick(s.registryUsername, 'REGISTRY_USERNAME'));
  pass('REGISTRY_PASSWORD', pick(s.registryPassword, 'REGISTRY_PASSWORD'));
  pass('REGISTRY_BEARER_TOKEN', pick(s.registryBearerToken, 'REGISTRY_BEARER_TOKEN', 'REGISTRY_TOKEN'));
  pass('OTEL_EXPORTER_OTLP_ENDPOINT', pick(s.otelExporterOtlpEndpoint, 'OTEL_EXPORTER_OTLP_ENDPOINT'));
  pass('OTEL_SERVICE_NAME', pick(s.otelServiceName, 'OTEL_SERVICE_NAME'));

  const insecureHosts = [...(s.registryInsecureHosts ?? []), ...list(env.REGISTRY_INSECURE_HOSTS)];
  if (registry.scheme === 'http' && !insecureHosts.includes(registry.host)) insecureHosts.push(registry.host);
  const config: HttpConfig = {
    port,
    host: pick(s.host, 'HOST') ?? '0.0.0.0',
    platform,
    registry,
    defaultNamespace: pick(s.registryDefaultNamespace, 'REGISTRY_DEFAULT_NAMESPACE'),
    clientAuth,
    allowedHosts: [...(s.registryAllowedHosts ?? []), ...list(env.REGISTRY_ALLOWED_HOSTS)],
    insecureHosts,
    shutdownGraceSeconds: s.shutdownGraceSeconds ?? Number(env.SHUTDOWN_GRACE_SECONDS ?? 30),
    cacheDir: pick(s.cacheDir, 'CACHE_DIR') ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'image-passthrough'),
    coreEnv,
  };
  if (cacheMax !== undefined && Number.isFinite(cacheMax)) config.cacheMaxBytes = cacheMax;
  if (certFile !== undefined && keyFile !== undefined) config.tls = { certFile, keyFile };
  const coreSocket = s.coreSocket ?? env.CORE_SOCKET;
  if (coreSocket) config.coreSocket = coreSocket;
  return config;
}
