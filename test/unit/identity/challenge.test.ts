// WWW-Authenticate challenges, AuthError responses and the RFC 9728 metadata document.
import { describe, expect, it } from 'vitest';
import { identityConfigSchema } from '../../../gateway/identity/config.ts';
import { AuthError, AuthErrorCode, bearerChallenge, insufficientScope, invalidToken, missingToken, providerUnavailable } from '../../../gateway/identity/errors.ts';
import { protectedResourceMetadata, resourceMetadataPath, resourceMetadataUrl, resourceUrl } from '../../../gateway/identity/metadata.ts';
import { GatewayError } from '../../../gateway/errors.ts';

const META = 'https://gw.example/.well-known/oauth-protected-resource/mcp/crm';

describe('challenges', () => {
  it('401 without a token: resource_metadata only (no error code, RFC 6750 §3.1)', async () => {
    const err = missingToken(META, 'send a token');
    expect(err.status).toBe(401);
    expect(err.wwwAuthenticate).toBe(`Bearer resource_metadata="${META}"`);
    const res = err.toResponse(7);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${META}"`);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', id: 7, error: { code: AuthErrorCode.Unauthorized, message: 'Unauthorized: send a token' } });
  });

  it('401 with a refused token: invalid_token and a description', () => {
    const err = invalidToken(META, 'token expired');
    expect(err.wwwAuthenticate).toBe(`Bearer error="invalid_token", error_description="token expired", resource_metadata="${META}"`);
    expect(err.bearerError).toBe('invalid_token');
  });

  it('403 insufficient_scope names the scopes', () => {
    const err = insufficientScope(META, ['crm:write', 'crm:admin']);
    expect(err.status).toBe(403);
    expect(err.code).toBe(AuthErrorCode.InsufficientScope);
    expect(err.wwwAuthenticate).toBe(`Bearer error="insufficient_scope", error_description="the token lacks the scopes crm:write crm:admin", scope="crm:write crm:admin", resource_metadata="${META}"`);
  });

  it('503 carries Retry-After and no challenge', () => {
    const err = providerUnavailable('identity provider https://idp.example is unreachable (ECONNREFUSED)', 2.2);
    expect(err.status).toBe(503);
    expect(err.headers).toEqual({ 'retry-after': '3' });
    expect(err.message).toMatch(/unreachable \(ECONNREFUSED\); the request was not forwarded/);
  });

  it('is a GatewayError, so the route answers it with its JSON-RPC body', () => {
    expect(invalidToken(META, 'x')).toBeInstanceOf(GatewayError);
    expect(invalidToken(META, 'x')).toBeInstanceOf(AuthError);
  });

  it('quoted values cannot break out of the header', () => {
    const value = bearerChallenge({ error: 'invalid_token', description: 'a"b\\c\r\nSet-Cookie: x=1 é' });
    expect(value).toBe('Bearer error="invalid_token", error_description="abcSet-Cookie: x=1 "');
  });
});

describe('protected resource metadata (RFC 9728)', () => {
  const config = identityConfigSchema.parse({
    public_base_url: 'https://gw.example/',
    scopes_supported: ['mcp:tools'],
    issuers: [{ issuer: 'https://login.example.com' }, { issuer: 'https://other.example/oauth2' }],
  });

  it('per target', () => {
    expect(protectedResourceMetadata(config, 'crm')).toEqual({
      resource: 'https://gw.example/mcp/crm',
      authorization_servers: ['https://login.example.com', 'https://other.example/oauth2'],
      scopes_supported: ['mcp:tools'],
      bearer_methods_supported: ['header'],
      resource_name: 'Portcullis MCP target crm',
    });
  });

  it('omits scopes_supported when none are configured', () => {
    expect(protectedResourceMetadata({ ...config, scopes_supported: [] }, 'crm')).not.toHaveProperty('scopes_supported');
  });

  it('URLs: the well-known segment goes before the resource path', () => {
    expect(resourceUrl('https://gw.example', 'crm')).toBe('https://gw.example/mcp/crm');
    expect(resourceMetadataUrl('https://gw.example', 'crm')).toBe(META);
    expect(resourceMetadataUrl('https://gw.example/prefix', 'crm')).toBe('https://gw.example/.well-known/oauth-protected-resource/prefix/mcp/crm');
    expect(resourceMetadataPath('crm')).toBe('/.well-known/oauth-protected-resource/mcp/crm');
  });
});
