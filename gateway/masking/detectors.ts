// Named detectors for secrets and personal data in free text.
//
// Written by hand rather than taken from a secret-scanning library: this runs on every string of
// every masked message (the gateway's hot path), the libraries available scan with one large
// regex per rule over the whole text and pull in rule sets we would then have to audit, and what
// we need is small: a dozen detectors, each with a cheap prefilter (an indexOf of a literal that
// every match must contain, or a character-class table lookup) so that the common string (a name,
// a status, an id) costs a length check and a few indexOf calls, and the expensive confirmation
// (Luhn, IBAN mod-97, URL authority parsing) runs only at candidate positions.
//
// Every detector appends matches as flat [start, end, tag] triples (no per-match objects). A value
// that begins with something shaped like the engine's own "[MASKED:…]" output is still reported,
// marker included: a marker proves nothing, and the engine leaves a span alone only when it is
// exactly an output of the span's own rule (idempotence without trusting the upstream).

export const DETECTOR_NAMES = [
  'private_key',
  'jwt',
  'aws_access_key',
  'github_token',
  'gitlab_token',
  'slack_token',
  'bearer_token',
  'url_password',
  'connection_string_password',
  'email',
  'credit_card',
  'iban',
  'stripe_key',
  'google_api_key',
  'twilio_key',
  'sendgrid_key',
  'npm_token',
  'pypi_token',
  'azure_secret',
  'gcp_service_account',
  'llm_api_key',
  'basic_auth',
  'generic_secret',
] as const;

export type DetectorName = (typeof DETECTOR_NAMES)[number];

/** Names that expand to several detectors (each keeps its own class). */
export const DETECTOR_GROUPS: Readonly<Record<string, readonly DetectorName[]>> = {
  secrets: [
    'private_key', 'jwt', 'aws_access_key', 'github_token', 'gitlab_token', 'slack_token',
    'bearer_token', 'url_password', 'connection_string_password', 'stripe_key', 'google_api_key',
    'twilio_key', 'sendgrid_key', 'npm_token', 'pypi_token', 'azure_secret', 'gcp_service_account',
    'llm_api_key', 'basic_auth', 'generic_secret',
  ],
  pii: ['email', 'credit_card', 'iban'],
  all: DETECTOR_NAMES,
};

export interface Detector {
  readonly name: DetectorName;
  /** No match is shorter than this; shorter strings are not scanned. */
  readonly minLength: number;
  /** Appends [start, end, tag] for every match in `s`; runs its own prefilter first. */
  find(s: string, out: number[], tag: number, present?: ReadonlySet<string> | null): void;
  /** Literals every match contains: the plan looks for all detectors' anchors in one pass and passes `present`. */
  readonly anchors?: readonly string[];
  /**
   * A regex source every text this detector can match in also matches (a necessary condition).
   * The plan joins every detector's hint and anchors into one test, so a string none of them can
   * match costs one regex pass. Detectors with neither always run.
   */
  readonly hint?: string;
  /** The form a match is hashed in, so equal values hash equally whatever their formatting. */
  canon(match: string): string;
  /**
   * Names (folded, lowercase) whose value this detector masks whole: it knows `NAME: value` in
   * text, so it knows `{"NAME": "value"}` and `NAME=value` too. `accept` checks the value's shape.
   */
  readonly keyed?: { readonly name: RegExp; accept(value: string): boolean };
}

export const MASK_PREFIX = '[MASKED:';
/** Exactly a plain marker (nothing but a class): discloses nothing, so it is not a credential. */
const PLAIN_MARKER = /^\[MASKED:[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,63}\]$/;
import { TOKEN_RULES } from './rules.ts';
import { creditCard, iban } from './cards.ts';
export { ibanChecksumOk, integerDigits, isCardLiteral, luhn } from './cards.ts';

// ---------------------------------------------------------------------------------------------
// Character classes, as a 128-entry table of bit flags (non-ASCII code units have no flag).

const DIGIT = 1;
const UPPER = 2;
const LOWER = 4;
const EMAIL_LOCAL = 8; // A-Z a-z 0-9 . _ % + -
const DOMAIN = 16; // A-Z a-z 0-9 . -
const B64URL = 32; // A-Z a-z 0-9 _ -
const ALNUM = DIGIT | UPPER | LOWER;

const CLASS = new Uint8Array(128);
for (let c = 48; c <= 57; c++) CLASS[c] = DIGIT | EMAIL_LOCAL | DOMAIN | B64URL;
for (let c = 65; c <= 90; c++) CLASS[c] = UPPER | EMAIL_LOCAL | DOMAIN | B64URL;
for (let c = 97; c <= 122; c++) CLASS[c] = LOWER | EMAIL_LOCAL | DOMAIN | B64URL;
CLASS[46] = EMAIL_LOCAL | DOMAIN; // .
CLASS[45] = EMAIL_LOCAL | DOMAIN | B64URL; // -
CLASS[95] = EMAIL_LOCAL | B64URL; // _
CLASS[37] = EMAIL_LOCAL; // %
CLASS[43] = EMAIL_LOCAL; // +

const has = (c: number, flag: number): boolean => c < 128 && (CLASS[c]! & flag) !== 0;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isAlnum = (c: number): boolean => has(c, ALNUM);
const WS = /\s/;
const isWs = (c: number): boolean => c === 32 || (c >= 9 && c <= 13) || (c >= 0x80 && WS.test(String.fromCharCode(c)));

/**
 * Does a name ending in one of `words` (lowercase ASCII, matched in any case) stand before one of
 * the separator characters `seps` in `s`, with blanks and at most one quote between (`key" =`)?
 * The prefilter of detectors whose regex needs such an assignment: a look back from each
 * separator (indexOf finds them fast) instead of a case-insensitive regex over the whole text.
 */
function namedBefore(s: string, seps: string, words: readonly string[], quote: boolean): boolean {
  for (let k = 0; k < seps.length; k++) {
    for (let i = s.indexOf(seps[k]!); i !== -1; i = s.indexOf(seps[k]!, i + 1)) {
      let j = i;
      while (j > 0 && isWs(s.charCodeAt(j - 1))) j--;
      if (quote && j > 0 && (s.charCodeAt(j - 1) === 34 || s.charCodeAt(j - 1) === 39)) j--;
      for (const w of words) {
        if (j < w.length) continue;
        let ok = true;
        for (let m = 0; ok && m < w.length; m++) ok = (s.charCodeAt(j - w.length + m) | 0x20) === w.charCodeAt(m);
        if (ok) return true;
      }
    }
  }
  return false;
}

/** Index just past a "[MASKED:…]"-shaped token at `at` (one line, at most 160 characters), or `at`. */
export function pastMarker(s: string, at: number): number {
  if (!s.startsWith(MASK_PREFIX, at)) return at;
  const window = s.slice(at, at + 160);
  const close = window.indexOf(']');
  if (close === -1) return at;
  const nl = window.indexOf('\n');
  return nl !== -1 && nl < close ? at : at + close + 1;
}

/** Non-ASCII code units that can be part of a word (letters of other scripts, surrogates), for e-mail. */
const wordish = (c: number): boolean =>
  c >= 0xc0 && c !== 0xd7 && c !== 0xf7 && !(c >= 0x2000 && c <= 0x2bff) && !(c >= 0x3000 && c <= 0x303f) && c !== 0xfeff && !(c >= 0xff00 && c <= 0xff65);

const identity = (m: string): string => m;

// ---------------------------------------------------------------------------------------------
// Detectors with a literal anchor, confirmed by a sticky or global regex at candidate positions.

/** Runs `re` (global) over `s` when `s` contains one of `anchors`; reports group `group` (0 = whole). */
function regexDetector(
  name: DetectorName,
  minLength: number,
  anchors: readonly string[] | null,
  re: RegExp,
  group = 0,
  accept?: (m: string) => boolean,
): Detector {
  // group -1: the first capture group that took part in the match.
  if (!re.global) throw new Error(`detector ${name}: regex must be global`);
  return {
    name,
    minLength,
    ...(anchors !== null ? { anchors } : {}),
    find(s, out, tag, present) {
      if (anchors !== null) {
        let found = false;
        for (const a of anchors) {
          if (present != null ? present.has(a) : s.includes(a)) {
            found = true;
            break;
          }
        }
        if (!found) return;
      }
      re.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(s)) !== null) {
        let text = group === -1 ? undefined : m[group];
        if (group === -1) {
          for (let k = 1; text === undefined && k < m.length; k++) text = m[k];
          text ??= m[0];
        }
        if (text === undefined || text === '') {
          if (m[0] === '') re.lastIndex++;
          continue;
        }
        const start = text === m[0] ? m.index : m.index + m[0].lastIndexOf(text);
        if (m[0] === '') re.lastIndex++;
        if (accept !== undefined && !accept(text)) continue;
        out.push(start, start + text.length, tag);
      }
    },
    canon: identity,
  };
}

// PEM private keys: "-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED |DSA |PGP ]PRIVATE KEY[ BLOCK]-----"
// through the matching "-----END …-----". Without an END line (truncated output), through the end
// of the base64 body (base64, whitespace, literal "\n" escapes and RFC 1421 header lines).
const PEM_BEGIN = '-----BEGIN ';
const PEM_HEADER = /-----BEGIN ([A-Z0-9]+ ){0,3}PRIVATE KEY( BLOCK)?-----/y;
const PEM_END = /-----END ([A-Z0-9]+ ){0,3}PRIVATE KEY( BLOCK)?-----/g;
const PEM_BODY = /[A-Za-z0-9+/=\s\\:,.-]*/y;

const privateKey: Detector = {
  hint: '-----BEGIN ',
  name: 'private_key',
  minLength: 32,
  find(s, out, tag) {
    let i = s.indexOf(PEM_BEGIN);
    // The next END line at or after some position, searched forward only (never once per BEGIN,
    // which would be quadratic on text full of BEGIN lines without END): -2 unknown, -1 none left.
    let endAt = -2;
    let endLen = 0;
    while (i !== -1) {
      PEM_HEADER.lastIndex = i;
      const h = PEM_HEADER.exec(s);
      if (h === null) {
        i = s.indexOf(PEM_BEGIN, i + 1);
        continue;
      }
      const bodyStart = i + h[0].length;
      if (endAt === -2 || (endAt !== -1 && endAt < bodyStart)) {
        PEM_END.lastIndex = bodyStart;
        const e = PEM_END.exec(s);
        endAt = e === null ? -1 : e.index;
        endLen = e === null ? 0 : e[0].length;
      }
      let end: number;
      // An END line further than 64 KiB away belongs to something else.
      if (endAt !== -1 && endAt - bodyStart <= 65536) {
        end = endAt + endLen;
      } else {
        PEM_BODY.lastIndex = bodyStart;
        PEM_BODY.exec(s);
        end = PEM_BODY.lastIndex;
        // Do not swallow the dashes of a following marker.
        while (end > bodyStart && s.charCodeAt(end - 1) === 45) end--;
      }
      out.push(i, end, tag);
      i = s.indexOf(PEM_BEGIN, end);
    }
  },
  canon: identity,
};

// JWT / JWS / JWE compact serialization: a base64url header that decodes to '{"' (so it starts
// with "eyJ"), then two (JWS) or four (JWE) more dot-separated base64url parts.
const JWT_BODY = /eyJ[A-Za-z0-9_-]{12,}(?:\.[A-Za-z0-9_-]*){2}(?:(?:\.[A-Za-z0-9_-]*){2})?/y;

const jwt: Detector = {
  hint: 'eyJ',
  name: 'jwt',
  minLength: 20,
  find(s, out, tag) {
    let i = s.indexOf('eyJ');
    while (i !== -1) {
      if (i > 0 && has(s.charCodeAt(i - 1), B64URL)) {
        i = s.indexOf('eyJ', i + 3);
        continue;
      }
      JWT_BODY.lastIndex = i;
      const m = JWT_BODY.exec(s);
      // At least one non-empty part after the header (a bare "eyJ…..") is not a token).
      if (m !== null && m[0].length - m[0].indexOf('.') > 3) {
        out.push(i, i + m[0].length, tag);
        i = s.indexOf('eyJ', i + m[0].length);
      } else {
        i = s.indexOf('eyJ', i + 3);
      }
    }
  },
  canon: identity,
};

// AWS access key ids (AKIA long-term, ASIA temporary, ABIA, ACCA, A3T…), plus the secret key in an
// explicit assignment (aws_secret_access_key = …, AWS_SECRET_ACCESS_KEY: …), since the 40-character
// secret has no recognizable shape of its own.
const AWS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])/g;
const AWS_SECRET = /aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi;
const awsKeyId = regexDetector('aws_access_key', 20, ['AKIA', 'ASIA', 'ABIA', 'ACCA', 'A3T'], AWS_KEY_ID);
const awsSecret = regexDetector('aws_access_key', 40, null, AWS_SECRET, 1);

const awsAccessKey: Detector = {
  hint: '(?i:secret_?(?:access_?)?key)',
  name: 'aws_access_key',
  minLength: 20,
  anchors: awsKeyId.anchors!, // the key id's; the secret's assignment has its own hint below
  find(s, out, tag, present) {
    awsKeyId.find(s, out, tag, present);
    // The assignment ends in `key`, an optional quote, blanks and `:` or `=`.
    if (s.length >= 40 && namedBefore(s, ':=', ['key'], true)) awsSecret.find(s, out, tag);
  },
  canon: identity,
  keyed: { name: /^aws_?secret_?(?:access_?)?key$/, accept: (v) => /^[A-Za-z0-9/+=]{40}$/.test(v) },
};

// GitHub: classic tokens gh[pousr]_ + 36+ base62 characters, fine-grained github_pat_ + 22+.
const githubToken = regexDetector(
  'github_token',
  40,
  ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'],
  /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])/g,
);

// GitLab: glpat- (personal/project/group access), gldt- (deploy), glrt- (runner), glptt- (pipeline
// trigger), glcbt- (CI job), glimt- (incoming mail), gloas- (OAuth app secret), glsoat- (SCIM),
// glffct- (feature flags client), glft- (feed), glagent- (agent); 20+ characters, including the
// routable ".01.xxxxxxxxx" suffix of newer tokens. A trailing '.' (end of sentence) is not taken.
const gitlabToken = regexDetector(
  'gitlab_token',
  25,
  ['glpat-', 'gldt-', 'glrt-', 'glptt-', 'glcbt-', 'glimt-', 'gloas-', 'glsoat-', 'glffct-', 'glft-', 'glagent-'],
  /(?<![A-Za-z0-9_-])gl(?:pat|dt|rt|ptt|cbt|imt|oas|soat|ffct|ft|agent)-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]+)*/g,
);

// Slack: xox[abposre]- tokens, xapp- app-level tokens, and incoming-webhook/workflow URLs.
const slackToken = regexDetector(
  'slack_token',
  15,
  ['xox', 'xapp-', 'hooks.slack.com'],
  /(?<![A-Za-z0-9])(?:xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[0-9]+-[A-Za-z0-9-]{10,}|https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{8,})/g,
);

// Bearer tokens and other credentials in HTTP authorization syntax:
//  (a) after "Authorization:" / "Authorization=" (also Proxy-Authorization, quoted keys), an
//      optional scheme word (Bearer, Basic, Token, …) and the credential;
//  (b) "Bearer <credential>" anywhere.
// Only the credential is masked, and only when it looks like one: 8+ characters (16+ for (b)) of
// the token68 alphabet that include a digit, one of . _ ~ + / =, or an uppercase letter after the
// first character. "bearer token", "Authorization: required for admins" are prose and stay.
const AUTH_HEADER = /authorization["']?\s*[:=]\s*["']?(?:([A-Za-z][A-Za-z0-9_-]{1,20})[ \t]+)?([A-Za-z0-9._~+/=%:-]{8,4096})/gi;
const BEARER = /(?<![A-Za-z0-9])bearer[ \t]+([A-Za-z0-9._~+/=-]{16,4096})/gi;
const BEARER_HINT = /bearer|authorization/i;

function looksLikeCredential(t: string): boolean {
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (isDigit(c) || c === 46 || c === 95 || c === 126 || c === 43 || c === 47 || c === 61) return true;
    if (i > 0 && c >= 65 && c <= 90) return true;
  }
  return false;
}

const bearerToken: Detector = {
  hint: '(?i:bearer|authorization)',
  name: 'bearer_token',
  minLength: 22,
  find(s, out, tag) {
    if (!BEARER_HINT.test(s)) return;
    for (const re of [AUTH_HEADER, BEARER]) {
      re.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(s)) !== null) {
        const cred = re === AUTH_HEADER ? m[2]! : m[1]!;
        const start = m.index + m[0].length - cred.length;
        if (!looksLikeCredential(cred)) continue;
        out.push(start, start + cred.length, tag);
      }
    }
  },
  canon: identity,
  keyed: {
    name: /^(?:proxy-)?authorization$/,
    accept: (v) => {
      const cred = /^(?:[A-Za-z][A-Za-z0-9_-]{1,20}[ \t]+)?(\S{8,})$/.exec(v.trim())?.[1];
      return cred !== undefined && looksLikeCredential(cred) && !PLAIN_MARKER.test(cred);
    },
  },
};

// Passwords in URLs: scheme://user:PASSWORD@host, also when the password holds characters that
// should have been percent-encoded (@ / ? # :). The URL runs from "://" to whitespace, a quote,
// '<', '>' or '`'; userinfo is what precedes the LAST '@' in it that is followed by a host; the
// user name is up to the first ':' and must not contain / ? #; the password is the rest. A
// "password" that is a port followed by a path (host:8080/@scope) is not one.
const PORT_PATH = /^[0-9]{1,5}\//;

const urlPassword: Detector = {
  hint: '://',
  name: 'url_password',
  minLength: 10,
  find(s, out, tag) {
    let i = s.indexOf('://');
    while (i !== -1) {
      const from = i + 3;
      let j = from;
      let at = -1;
      for (; j < s.length && j - from < 4096; j++) {
        const c = s.charCodeAt(j);
        if (c === 34 || c === 39 || c === 60 || c === 62 || c === 96 || c <= 32) break;
        if (c === 64 && j + 1 < s.length && (isAlnum(s.charCodeAt(j + 1)) || s.charCodeAt(j + 1) === 91 || s.charCodeAt(j + 1) >= 0x80)) at = j;
      }
      if (at > from && i > 0 && isAlnum(s.charCodeAt(i - 1))) {
        const colon = s.indexOf(':', from);
        if (colon !== -1 && colon < at - 1) {
          const user = s.slice(from, colon);
          const pass = s.slice(colon + 1, at);
          if (!/[/?#]/.test(user) && !PORT_PATH.test(pass)) out.push(colon + 1, at, tag);
        }
      }
      i = s.indexOf('://', Math.max(j, from));
    }
  },
  canon: identity,
};

// Passwords in key=value connection strings (ADO.NET, ODBC, libpq, JDBC query strings):
// password / passwd / pwd / pass, '=', then a quoted value, an ODBC {braced} value, or a bare value
// up to ';', '&', whitespace or a quote.
const CONN_PASSWORD =
  /(?<![A-Za-z0-9_])(?:password|passwd|pwd|pass)\s*=\s*(?:'((?:[^'\\]|\\.){1,1024})'|"((?:[^"\\]|\\.){1,1024})"|\{([^}]{1,1024})\}|([^;&\s'"]{1,1024}))/gi;
const CONN_NAMES = ['password', 'passwd', 'pwd', 'pass'];

const connectionStringPassword: Detector = {
  hint: '=',
  name: 'connection_string_password',
  minLength: 6,
  find(s, out, tag) {
    if (!namedBefore(s, '=', CONN_NAMES, false)) return;
    CONN_PASSWORD.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = CONN_PASSWORD.exec(s)) !== null) {
      const v = m[1] ?? m[2] ?? m[3] ?? m[4]!;
      // The value is the last thing matched, possibly followed by a closing quote or brace.
      const closing = m[4] !== undefined ? 0 : 1;
      const start = m.index + m[0].length - closing - v.length;
      let end = start + v.length;
      if (m[4] !== undefined) {
        // A bare value that starts with a marker-shaped token runs on past it ("[MASKED:x ...ab]rest").
        const past = pastMarker(s, start);
        if (past > start) {
          end = past;
          while (end < s.length && !/[;&\s'"]/.test(s[end]!)) end++;
          CONN_PASSWORD.lastIndex = Math.max(CONN_PASSWORD.lastIndex, end);
        }
      }
      out.push(start, end, tag);
    }
  },
  canon: identity,
  keyed: { name: /^(?:password|passwd|pwd|pass)$/, accept: (v) => v.length > 0 },
};

// ---------------------------------------------------------------------------------------------
// E-mail addresses: for each '@', the local part to its left (A-Z a-z 0-9 . _ % + -, 1–64, not
// starting or ending with '.') and the domain to its right: 2+ labels of A-Z a-z 0-9 '-' (not
// starting or ending with '-'), separated by single dots, whose last label (the TLD) is 2+
// letters or an "xn--" IDN label. "root@localhost", "a@b.c", "@handle" are not addresses.

function emailDomainEnd(s: string, from: number): number {
  let i = from;
  let labelStart = from;
  let labels = 0;
  let lastLabelStart = -1;
  let lastLabelEnd = -1;
  const limit = Math.min(s.length, from + 253);
  while (i < limit) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (i === labelStart) break; // empty label
      labels++;
      lastLabelStart = labelStart;
      lastLabelEnd = i;
      labelStart = i + 1;
      i++;
      continue;
    }
    if (!has(c, DOMAIN) && !wordish(c)) break;
    i++;
  }
  if (i > labelStart) {
    labels++;
    lastLabelStart = labelStart;
    lastLabelEnd = i;
  }
  // Trailing '.' or '-' (end of sentence, dash) are not part of the address.
  let end = lastLabelEnd;
  while (end > lastLabelStart && s.charCodeAt(end - 1) === 45) end--;
  if (labels < 2 || end <= lastLabelStart) return -1;
  // Validate the TLD.
  const tldLen = end - lastLabelStart;
  if (tldLen < 2) return -1;
  if (!s.startsWith('xn--', lastLabelStart)) {
    for (let k = lastLabelStart; k < end; k++) {
      const c = s.charCodeAt(k);
      if (!(has(c, UPPER) || has(c, LOWER) || wordish(c))) return -1;
    }
  }
  // Labels must not start or end with '-'.
  let ls = from;
  for (let k = from; k <= end; k++) {
    if (k === end || s.charCodeAt(k) === 46) {
      if (k === ls || s.charCodeAt(ls) === 45 || s.charCodeAt(k - 1) === 45) return -1;
      ls = k + 1;
    }
  }
  return end;
}

/** Is the '@' whose userinfo starts at `a` inside a URL authority ("scheme://user:pw@host")? */
function inUrlUserinfo(s: string, a: number): boolean {
  for (let k = a - 1, min = Math.max(0, a - 256); k >= min; k--) {
    const c = s.charCodeAt(k);
    if (c === 47) return k >= 2 && s.charCodeAt(k - 1) === 47 && s.charCodeAt(k - 2) === 58;
    // whitespace, ? # @ " ' < > end the authority
    if (c <= 32 || c === 63 || c === 35 || c === 64 || c === 34 || c === 39 || c === 60 || c === 62) return false;
  }
  return false;
}

const email: Detector = {
  hint: '@',
  name: 'email',
  minLength: 6,
  find(s, out, tag) {
    let at = s.indexOf('@');
    while (at !== -1) {
      let a = at;
      const min = Math.max(0, at - 64);
      while (a > min && (has(s.charCodeAt(a - 1), EMAIL_LOCAL) || wordish(s.charCodeAt(a - 1)))) a--;
      while (a < at && s.charCodeAt(a) === 46) a++;
      let next = at + 1;
      // "user:password@host" in a URL is not an address (url_password masks the password).
      if (a < at && s.charCodeAt(at - 1) !== 46 && !inUrlUserinfo(s, a)) {
        const end = emailDomainEnd(s, at + 1);
        if (end !== -1) {
          out.push(a, end, tag);
          next = end;
        }
      }
      at = s.indexOf('@', next);
    }
  },
  canon: (m) => m.toLowerCase(),
};

// ---------------------------------------------------------------------------------------------

// generic_secret: no shape of its own; the value of a name that says it is a secret (the key names
// of gitleaks' generic-api-key rule: secret, token, password, api key, credentials, …) in JSON
// members, text assignments (`NAME=value`, `NAME: value`) and table columns. Names that describe a
// secret rather than hold one (`token_type`, `password_policy_url`, `secret_name`) are left, and
// token-like names need a token-like value (8+ characters, no spaces, a digit or mixed case).
const SECRET_NAME = /(?:secret|passw|passphrase|pwd|token|api[_.-]?key|apikey|access[_.-]?key|private[_.-]?key|credential|auth[_.-]?key|session[_.-]?(?:id|key)|cookie|signing[_.-]?key|encryption[_.-]?key)/;
const DESCRIBES = /(?:^|[_.-])(?:type|url|uri|endpoint|expires?|expiry|expiration|ttl|at|in|count|len|length|name|names|policy|hint|prompt|label|format|kind|id_field|required|enabled|set|changed|reset|min|max|rotation)$|tokens$|^(?:progress|page|next_?page|continuation|sync)[_.-]?token$/;
const PASSWORDISH = /secret|passw|passphrase|pwd|private[_.-]?key|credential/;

const genericSecret: Detector = {
  hint: '', // finds nothing in text by itself (names in text are the plan's job)
  name: 'generic_secret',
  minLength: Infinity,
  find() {},
  canon: identity,
  keyed: {
    name: { test: (n: string) => SECRET_NAME.test(n) && !DESCRIBES.test(n) } as RegExp,
    accept: (v) => {
      if (v.length === 0 || v.length > 8192 || /^(?:true|false|null|none|undefined|n\/a|\*+|x+|-+)$/i.test(v)) return false;
      return true;
    },
  },
};

/** generic_secret's stricter check for names that are not plainly passwords (token, api key, …). */
export function genericAccepts(name: string, v: string): boolean {
  if (!genericSecret.keyed!.accept(v)) return false;
  if (PASSWORDISH.test(name)) return true;
  return v.length >= 8 && !/\s/.test(v) && /[0-9]|[a-z][A-Z]|[A-Z][a-z]*[0-9A-Z]/.test(v);
}

const gcpKeyed = { name: /^private_key_id$/, accept: (v: string) => /^[0-9a-f]{40}$/.test(v) };
const fromRules = Object.fromEntries(
  TOKEN_RULES.map((r) => {
    const d = r.hint !== undefined
      ? { ...regexDetector(r.name as DetectorName, r.minLength, null, r.re, r.group ?? -1), hint: r.hint }
      : regexDetector(r.name as DetectorName, r.minLength, r.anchors, r.re, r.group ?? -1);
    return [r.name, r.name === 'gcp_service_account' ? { ...d, keyed: gcpKeyed } : d];
  }),
) as Record<string, Detector>;

const DETECTORS = {
  ...fromRules,
  generic_secret: genericSecret,
  private_key: privateKey,
  jwt,
  aws_access_key: awsAccessKey,
  github_token: githubToken,
  gitlab_token: gitlabToken,
  slack_token: slackToken,
  bearer_token: bearerToken,
  url_password: urlPassword,
  connection_string_password: connectionStringPassword,
  email,
  credit_card: creditCard,
  iban,
} as Readonly<Record<DetectorName, Detector>>;

export function detector(name: DetectorName): Detector {
  return DETECTORS[name];
}

export const isDetectorName = (name: string): name is DetectorName => Object.hasOwn(DETECTORS, name);
