// The core's settings. Every field comes from a flag or, failing that, the environment
// variable of the same meaning (DESIGN.md, "Configuration").
import { DOCKER_HUB, isDockerHub, parseReference, type ImageReference } from '../protocol/reference.ts';
import { parsePlatform, type Platform } from '../protocol/routes.ts';
import type { StaticAuth } from './registry/auth.ts';

export interface CoreSettings {
  image?: string;
  platform?: string;
  insecureRegistries?: string[];
  registryUrl?: string;
  registryAuthUrl?: string;
  registryService?: string;
  registryUsername?: string;
  registryPassword?: string;
  registryBearerToken?: string;
}

export interface CoreConfig {
  defaultImage?: ImageReference;
  platform: Platform;
  insecureHosts: string[];
  staticAuth: StaticAuth;
  /** The configured registry's host, and its scheme when REGISTRY_URL names one. */
  registry: { host: string; scheme?: 'http' | 'https' };
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter((s) => s !== '');
}

/** `https://registry.example.com[:port][/…]` → host and scheme; Docker Hub's aliases → docker.io. */
export function registryFromUrl(url: string | undefined): { host: string; scheme?: 'http' | 'https' } {
  if (!url) return { host: DOCKER_HUB };
  const parsed = new URL(url.includes('://') ? url : `https://${url}`);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`REGISTRY_URL must be http:// or https://, not ${parsed.protocol}`);
  if (isDockerHub(parsed.host)) return { host: DOCKER_HUB };
  return { host: parsed.host.toLowerCase(), scheme: parsed.protocol === 'http:' ? 'http' : 'https' };
}

export function resolveCoreConfig(settings: CoreSettings, env: NodeJS.ProcessEnv = process.env): CoreConfig {
  const registry = registryFromUrl(settings.registryUrl ?? env.REGISTRY_URL);
  const pick = (flag: string | undefined, ...names: string[]) => flag ?? names.map((n) => env[n]).find((v) => v !== undefined && v !== '');
  const staticAuth: StaticAuth = { registry: registry.host };
  const authUrl = pick(settings.registryAuthUrl, 'REGISTRY_AUTH_URL');
  const service = pick(settings.registryService, 'REGISTRY_SERVICE');
  const username = pick(settings.registryUsername, 'REGISTRY_USERNAME');
  const password = pick(settings.registryPassword, 'REGISTRY_PASSWORD');
  const bearerToken = pick(settings.registryBearerToken, 'REGISTRY_BEARER_TOKEN', 'REGISTRY_TOKEN');
  if (authUrl) staticAuth.authUrl = authUrl;
  if (service) staticAuth.service = service;
  if (username) staticAuth.username = username;
  if (password) staticAuth.password = password;
  if (bearerToken) staticAuth.bearerToken = bearerToken;
  const insecureHosts = [...(settings.insecureRegistries ?? []), ...list(env.REGISTRY_INSECURE_HOSTS)];
  const config: CoreConfig = {
    platform: parsePlatform(pick(settings.platform, 'PLATFORM') ?? 'linux/amd64'),
    insecureHosts,
    staticAuth,
    registry,
  };
  if (settings.image) config.defaultImage = parseReference(settings.image);
  return config;
}
