// Maps verified token claims (a JWT payload or an introspection response) into the policy's
// `subject`. Pure functions: everything here is table-tested.
import type { Subject } from '../policy/input.ts';
import type { IssuerConfig, ServiceAccountRule } from './config.ts';
import { TokenRejected } from './issuer.ts';

export type Claims = Record<string, unknown>;

/** A parsed claim path: the literal name (tried first as a top-level claim) and its segments. */
export interface ClaimPath {
  literal: string;
  segments: string[];
}

/** Parses "a.b.c" (with `\.` for a literal dot) into segments; keeps the literal for URL-named claims. */
export function parseClaimPath(path: string): ClaimPath {
  const segments: string[] = [];
  let current = '';
  for (let i = 0; i < path.length; i++) {
    const ch = path[i]!;
    if (ch === '\\' && path[i + 1] === '.') {
      current += '.';
      i++;
    } else if (ch === '.') {
      segments.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  segments.push(current);
  return { literal: path, segments };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The claim at `path`: the top-level claim named exactly `path.literal` when present (URL-named
 * claims contain dots), else the nested value along the segments. Own properties only.
 */
export function claimAt(claims: Claims, path: ClaimPath): unknown {
  if (Object.hasOwn(claims, path.literal)) return claims[path.literal];
  if (path.segments.length < 2) return undefined;
  let value: unknown = claims;
  for (const segment of path.segments) {
    if (!isRecord(value) || !Object.hasOwn(value, segment)) return undefined;
    value = value[segment];
  }
  return value;
}

/** Strings from a claim that is a string or an array (non-strings are dropped). */
export function stringList(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (!Array.isArray(value)) return [];
  return value.filter((v): v is string => typeof v === 'string' && v !== '');
}

/**
 * Scopes from `scope` (RFC 9068/7662: space-separated string) and `scp` (array, or a
 * space-separated string as some issuers send it), merged without duplicates.
 */
export function scopesOf(claims: Claims): string[] {
  const out = new Set<string>();
  for (const source of [claims.scope, claims.scp]) {
    if (typeof source === 'string') {
      for (const s of source.split(' ')) if (s !== '') out.add(s);
    } else if (Array.isArray(source)) {
      for (const s of source) if (typeof s === 'string' && s !== '') out.add(s);
    }
  }
  return [...out];
}

/** The OAuth client: `client_id` (RFC 9068, RFC 7662), else `azp`; '' when neither is a non-empty string. */
export function clientIdOf(claims: Claims): string {
  if (typeof claims.client_id === 'string' && claims.client_id !== '') return claims.client_id;
  if (typeof claims.azp === 'string' && claims.azp !== '') return claims.azp;
  return '';
}

/**
 * The token's subject (`sub`) as a string, or undefined when the token has none (absent or
 * null, as some introspection answers write it). RFC 7519 wants a string, but issuers exist that
 * write numeric ids: a number is a subject, not a missing one, and becomes its decimal text, so
 * `42` and `"42"` from one issuer are one subject (the policy sees the same `subject.sub` either
 * way). Only safe integers: above 2^53 JSON parsing rounds, and two users would become one.
 * Anything else (empty string, float, boolean, object) is refused rather than guessed at.
 */
export function subjectClaim(claims: Claims): string | undefined {
  const sub = claims.sub;
  if (sub === undefined || sub === null) return undefined;
  if (typeof sub === 'string') {
    if (sub === '') throw new TokenRejected('token subject (sub) is empty');
    return sub;
  }
  if (typeof sub === 'number') {
    if (!Number.isSafeInteger(sub)) throw new TokenRejected('token subject (sub) is a number that is not an exact integer');
    return String(sub);
  }
  throw new TokenRejected('token subject (sub) must be a string');
}

export interface CompiledRule {
  path: ClaimPath;
  test: (value: unknown) => boolean;
}

export function compileRule(rule: ServiceAccountRule): CompiledRule {
  const path = parseClaimPath(rule.claim);
  if (rule.present) return { path, test: (v) => v !== undefined && v !== null };
  if (rule.prefix !== undefined) {
    const prefix = rule.prefix;
    return { path, test: (v) => typeof v === 'string' && v.startsWith(prefix) };
  }
  const equals = rule.equals;
  return { path, test: (v) => v === equals };
}

/** Everything needed to map one issuer's claims, compiled once. */
export interface ClaimMapping {
  issuer: string;
  /** What a token naming neither a subject nor a client gets (see config `subjectless_tokens`). */
  subjectless: 'refuse' | 'per_token';
  groups: ClaimPath[];
  email: ClaimPath;
  serviceRules: CompiledRule[];
  copied: ClaimPath[];
}

export function claimMapping(config: Pick<IssuerConfig, 'issuer' | 'groups_claim' | 'email_claim' | 'service_account_rules' | 'claims'> & Partial<Pick<IssuerConfig, 'subjectless_tokens'>>): ClaimMapping {
  const groups = typeof config.groups_claim === 'string' ? [config.groups_claim] : config.groups_claim;
  return {
    issuer: config.issuer,
    subjectless: config.subjectless_tokens ?? 'refuse',
    groups: groups.map(parseClaimPath),
    email: parseClaimPath(config.email_claim),
    serviceRules: config.service_account_rules.map(compileRule),
    copied: config.claims.map(parseClaimPath),
  };
}

/**
 * A service account (client credentials) when the token has no `sub`, when `sub` equals the
 * client id (RFC 9068 §2.2: "in cases of access tokens obtained through grants where no resource
 * owner is involved, such as the client credentials grant, the value of sub SHOULD correspond to
 * an identifier the authorization server uses to indicate the client application"), or when a
 * configured rule matches (e.g. Auth0 `gty: client-credentials`, Keycloak
 * `preferred_username` prefix `service-account-`, Entra `idtyp: app`).
 */
export function isServiceAccount(claims: Claims, sub: string | undefined, clientId: string, rules: readonly CompiledRule[]): boolean {
  if (sub === undefined) return true;
  if (clientId !== '' && sub === clientId) return true;
  return rules.some((r) => r.test(claimAt(claims, r.path)));
}

/**
 * The policy subject for verified claims. `sub` is the token's subject, or for a service token
 * without one its client id. A token naming neither is refused (a principal must name someone:
 * otherwise every such token would share one session and one audit identity), unless the issuer
 * is configured with `subjectless_tokens: per_token`.
 */
export function subjectFromClaims(claims: Claims, mapping: ClaimMapping): Subject {
  const clientId = clientIdOf(claims);
  const subject = subjectClaim(claims);
  if (subject === undefined && clientId === '' && mapping.subjectless === 'refuse') {
    throw new TokenRejected('token names no subject (sub) and no client (client_id, azp)');
  }
  const service = isServiceAccount(claims, subject, clientId, mapping.serviceRules);
  const sub = subject ?? clientId;
  const groups = new Set<string>();
  for (const path of mapping.groups) for (const g of stringList(claimAt(claims, path))) groups.add(g);
  const email = claimAt(claims, mapping.email);
  const copied: Record<string, unknown> = {};
  for (const path of mapping.copied) {
    const value = claimAt(claims, path);
    if (value !== undefined) copied[path.literal] = value;
  }
  return {
    authenticated: true,
    type: service ? 'service' : 'user',
    sub,
    issuer: mapping.issuer,
    client_id: clientId,
    email: typeof email === 'string' ? email : '',
    groups: [...groups],
    scopes: scopesOf(claims),
    claims: copied,
  };
}
