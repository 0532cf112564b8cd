// WWW-Authenticate parsing (RFC 7235), enough for registries' Bearer and Basic challenges.

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

// Either `name="quoted"` / `name=token`, or a bare word that starts a new challenge.
const TOKEN = /\s*,?\s*(?:([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))|([A-Za-z][A-Za-z0-9_-]*))/gy;

export function parseChallenges(header: string | undefined): Challenge[] {
  const out: Challenge[] = [];
  if (!header) return out;
  let current: Challenge | undefined;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(header); m !== null && m[0] !== ''; m = TOKEN.exec(header)) {
    const [, name, quoted, bare, scheme] = m;
    if (scheme !== undefined) {
      current = { scheme: scheme.toLowerCase(), params: {} };
      out.push(current);
    } else if (name !== undefined && current) {
      current.params[name.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? '');
    }
  }
  return out;
}
