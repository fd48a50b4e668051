// Maps verified token claims (a JWT payload or an introspection response) into the policy's
// `subject`. Pure functions: everything here is table-tested.
import type { Subject } from '../policy/input.ts';
import type { IssuerConfig, ServiceAccountRule } from './config.ts';

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

/** The OAuth client: `client_id` (RFC 9068, RFC 7662), else `azp`. */
export function clientIdOf(claims: Claims): string {
  if (typeof claims.client_id === 'string') return claims.client_id;
  if (typeof claims.azp === 'string') return claims.azp;
  return '';
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
  groups: ClaimPath[];
  email: ClaimPath;
  serviceRules: CompiledRule[];
  copied: ClaimPath[];
}

export function claimMapping(config: Pick<IssuerConfig, 'issuer' | 'groups_claim' | 'email_claim' | 'service_account_rules' | 'claims'>): ClaimMapping {
  const groups = typeof config.groups_claim === 'string' ? [config.groups_claim] : config.groups_claim;
  return {
    issuer: config.issuer,
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
export function isServiceAccount(claims: Claims, clientId: string, rules: readonly CompiledRule[]): boolean {
  const sub = claims.sub;
  if (typeof sub !== 'string' || sub === '') return true;
  if (clientId !== '' && sub === clientId) return true;
  return rules.some((r) => r.test(claimAt(claims, r.path)));
}

/** The policy subject for verified claims. */
export function subjectFromClaims(claims: Claims, mapping: ClaimMapping): Subject {
  const clientId = clientIdOf(claims);
  const service = isServiceAccount(claims, clientId, mapping.serviceRules);
  const sub = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : clientId;
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
