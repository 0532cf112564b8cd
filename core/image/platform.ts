// Choosing a platform from an index the way container runtimes do: architectures and variants
// are normalised first (arm64 is arm64/v8, aarch64 is arm64, x86_64 is amd64).
import { CoreError, ErrorCode } from '../../protocol/errors.ts';
import { formatPlatform, type Platform } from '../../protocol/routes.ts';
import type { Descriptor } from './manifest.ts';

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386', i686: '386' };
const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', arm: 'v7' };

export function normalizePlatform(p: Platform): Required<Pick<Platform, 'os' | 'architecture'>> & { variant: string } {
  const architecture = ARCH_ALIASES[p.architecture.toLowerCase()] ?? p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  if (architecture === 'arm64' && (variant === '8' || variant === '')) variant = 'v8';
  if (architecture === 'arm' && /^\d$/.test(variant)) variant = `v${variant}`;
  if (variant === '') variant = DEFAULT_VARIANT[architecture] ?? '';
  return { os: p.os.toLowerCase(), architecture, variant };
}

export function platformMatches(wanted: Platform, offered: Platform): boolean {
  const w = normalizePlatform(wanted);
  const o = normalizePlatform(offered);
  return w.os === o.os && w.architecture === o.architecture && w.variant === o.variant;
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || d.platform?.os === 'unknown';
}

/** Platforms an index offers, attestation entries left out. */
export function offeredPlatforms(manifests: Descriptor[]): Platform[] {
  return manifests.filter((d) => d.platform !== undefined && !isAttestation(d)).map((d) => d.platform!);
}

export function choosePlatform(manifests: Descriptor[], wanted: Platform, reference: string): Descriptor {
  const candidates = manifests.filter((d) => d.platform !== undefined && !isAttestation(d));
  const exact = candidates.find((d) => platformMatches(wanted, d.platform!));
  if (exact) return exact;
  // An arm image without a variant asked for as plain `linux/arm`: take the only one there is.
  if (wanted.variant === undefined) {
    const sameArch = candidates.filter((d) => {
      const o = normalizePlatform(d.platform!);
      const w = normalizePlatform(wanted);
      return o.os === w.os && o.architecture === w.architecture;
    });
    if (sameArch.length === 1) return sameArch[0]!;
  }
  const offered = offeredPlatforms(manifests).map(formatPlatform);
  throw new CoreError(
    404,
    ErrorCode.PLATFORM_UNKNOWN,
    `${reference} has no image for ${formatPlatform(wanted)}; it offers ${offered.length ? offered.join(', ') : 'no platforms'}`,
    { wanted: formatPlatform(wanted), offered },
  );
}
