// What every route handler gets: the registry client, the core's defaults, and per-request access.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { familiarName, type ImageReference } from '../../protocol/reference.ts';
import type { Platform } from '../../protocol/routes.ts';
import type { SizeBook } from '../archive/layer-sizes.ts';
import type { Access, RegistryClient } from '../registry/client.ts';
import { clientIdentity, schemeFrom } from './request.ts';

export interface CoreContext {
  registry: RegistryClient;
  sizes: SizeBook;
  defaultImage?: ImageReference;
  defaultPlatform: Platform;
  startedAt: number;
  /** Called after the /quit answer has been sent. */
  onQuit: () => void;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, ctx: CoreContext, rest: string, query: URLSearchParams, signal: AbortSignal) => Promise<void>;

export function accessFor(req: IncomingMessage, ctx: CoreContext, ref: ImageReference, query: URLSearchParams, signal: AbortSignal): Access {
  const scheme = schemeFrom(query);
  return {
    identity: ctx.registry.auth.identityFor(ref.registry, clientIdentity(req)),
    signal,
    ...(scheme ? { scheme } : {}),
  };
}

/** `tag=` wins; otherwise the name people expect (`nginx:1.27`), none for a digest-only reference. */
export function repoTags(ref: ImageReference, query: URLSearchParams): string[] {
  const tag = query.get('tag');
  if (tag) return [tag];
  return ref.tag !== undefined ? [`${familiarName(ref)}:${ref.tag}`] : [];
}
