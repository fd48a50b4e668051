// Resource URLs (RFC 8707) and the RFC 9728 protected-resource metadata, per MCP target.
import type { IdentityConfig } from './config.ts';

/** `<public_base_url>/mcp/<target>`: the resource a token for this target must be issued for. */
export function resourceUrl(publicBaseUrl: string, target: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/mcp/${encodeURIComponent(target)}`;
}

/**
 * Where the resource's metadata lives (RFC 9728 §3.1): the well-known segment goes between the
 * origin and the resource's path, so `https://gw.example/mcp/crm` has its metadata at
 * `https://gw.example/.well-known/oauth-protected-resource/mcp/crm`.
 */
export function resourceMetadataUrl(publicBaseUrl: string, target: string): string {
  const resource = new URL(resourceUrl(publicBaseUrl, target));
  return `${resource.origin}/.well-known/oauth-protected-resource${resource.pathname}`;
}

/** The path the gateway serves a target's metadata at, relative to its own origin. */
export function resourceMetadataPath(target: string): string {
  return `/.well-known/oauth-protected-resource/mcp/${encodeURIComponent(target)}`;
}

export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: ['header'];
  resource_name?: string;
}

/** The RFC 9728 document for one target. Pure: the gateway serves it as JSON. */
export function protectedResourceMetadata(
  config: Pick<IdentityConfig, 'public_base_url' | 'issuers' | 'scopes_supported'>,
  target: string,
): ProtectedResourceMetadata {
  if (config.public_base_url === undefined) throw new Error('identity.public_base_url is required to describe a protected resource');
  const doc: ProtectedResourceMetadata = {
    resource: resourceUrl(config.public_base_url, target),
    authorization_servers: config.issuers.map((i) => i.issuer),
    bearer_methods_supported: ['header'],
    resource_name: `Portcullis MCP target ${target}`,
  };
  if (config.scopes_supported.length > 0) doc.scopes_supported = [...config.scopes_supported];
  return doc;
}
