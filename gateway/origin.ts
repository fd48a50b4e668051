// Who may reach the gateway from a browser (Origin) and under which names (Host, the
// DNS-rebinding defence). Both compare parsed values exactly: a prefix or a lenient parse is how a
// page on `http://127.evil.example` once passed as loopback and had its Origin echoed by CORS.

/** A dotted-quad IPv4 literal written canonically (no leading zeros, each part 0-255). */
const CANONICAL_IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Loopback means `localhost`, an IPv4 literal in 127.0.0.0/8, or `[::1]` (or `::1`, as a listen
 * address is written), in canonical form, and nothing else: not `localhost.`, not
 * `127.0.0.1.evil.com`, not the IPv4-mapped `[::ffff:7f00:1]`.
 */
export function isLoopbackHostname(name: string): boolean {
  if (name === 'localhost' || name === '[::1]' || name === '::1') return true;
  return CANONICAL_IPV4.test(name) && name.startsWith('127.');
}

/**
 * An Origin header as a browser sends it: a serialized origin, exactly. Anything a browser would
 * not send (`null`, a path, userinfo, uppercase, `127.1`, a default port) is refused rather than
 * normalized, so what CORS echoes is always a value that was checked as written.
 */
function parsedOrigin(origin: string): URL | undefined {
  if (!URL.canParse(origin)) return undefined;
  const url = new URL(origin);
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin) return undefined;
  return url;
}

/**
 * Browser Origins allowed in: the configured list (compared as serialized origins), plus, when
 * the gateway listens on loopback only, loopback origins (a page on this machine).
 */
export function originPolicy(configured: string[], listenHost: string): (origin: string) => boolean {
  const allowed = new Set(configured.map((o) => new URL(o).origin));
  const loopbackOnly = isLoopbackHostname(listenHost);
  // Browsers send few distinct Origins; remembering the answers keeps URL parsing off the hot path.
  const seen = new Map<string, boolean>();
  return (origin) => {
    let answer = seen.get(origin);
    if (answer === undefined) {
      const url = parsedOrigin(origin);
      answer = url !== undefined && (allowed.has(url.origin) || (loopbackOnly && isLoopbackHostname(url.hostname)));
      if (seen.size < 1024) seen.set(origin, answer);
    }
    return answer;
  };
}

/** `name[:port]` as RFC 9110 writes a Host header: a reg-name or an IP literal, nothing else. */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::\d{1,5})?$/;

/**
 * Host header values allowed: the configured names (case-insensitive, exact), or, when none are
 * configured and the gateway listens on loopback, loopback names; otherwise any well-formed Host.
 */
export function hostPolicy(configured: string[], listenHost: string): (host: string) => boolean {
  const names = new Set(configured.map((h) => h.toLowerCase()));
  const check: (name: string) => boolean = names.size > 0
    ? (name) => names.has(name)
    : isLoopbackHostname(listenHost) ? isLoopbackHostname : () => true;
  return (host) => {
    const match = HOST_HEADER.exec(host);
    return match !== null && check(match[1]!.toLowerCase());
  };
}
