// The Cisco flow: a device sends no Authorization until challenged, then retries with the
// `ip http client username/password` it was given. Those credentials are the upstream registry
// identity for that one request: passed to the core, never stored, never logged.
import { parseBasic } from '../../protocol/basic-auth.ts';
import type { ClientAuthMode } from './config.ts';
import type { RouteKind } from './route.ts';

export const CHALLENGE = 'Basic realm="registry credentials"';

export type CredentialDecision = { kind: 'forward'; authorization: string } | { kind: 'anonymous' } | { kind: 'challenge'; reason: string };

export function decideCredentials(kind: RouteKind, mode: ClientAuthMode, authorization: string | undefined): CredentialDecision {
  const basic = parseBasic(authorization)?.header;
  const required = kind === 'registry-auth' || (kind === 'docker' && mode === 'required');
  if (required) {
    return basic !== undefined ? { kind: 'forward', authorization: basic } : { kind: 'challenge', reason: kind === 'registry-auth' ? '/registry-auth/ routes need registry credentials' : 'this service requires registry credentials (REGISTRY_CLIENT_AUTH=required)' };
  }
  if (mode === 'off' || basic === undefined) return { kind: 'anonymous' };
  return { kind: 'forward', authorization: basic };
}

/** Whether a 401 from the registry should invite the client to send credentials. */
export function mayChallenge(kind: RouteKind, mode: ClientAuthMode): boolean {
  return kind === 'registry-auth' || mode !== 'off';
}
