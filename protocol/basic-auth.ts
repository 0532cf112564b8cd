// `Authorization: Basic …`, read the same way by the front end (to pass it on) and the core (to
// use it upstream).

export interface BasicCredentials {
  username: string;
  password: string;
  /** The header value, normalised to `Basic <base64>`. */
  header: string;
}

/** The credentials in a Basic header; undefined for any other or malformed header. */
export function parseBasic(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), header: `Basic ${m[1]}` };
}
