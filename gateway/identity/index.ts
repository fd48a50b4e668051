// Who is calling. Two sources behind one interface:
// - `oidcAuthenticator` (oidc.ts): OAuth 2.1 bearer tokens from configured issuers, as the MCP
//   authorization spec wants of a resource server;
// - `anonymousAuthenticator`: DEVELOPMENT ONLY, a fixed unauthenticated subject (or an anonymous
//   caller without groups) when no issuer is configured.
// Design notes and decisions: README.md beside this file.
export { anonymousAuthenticator, identityOf, principalOf } from './identity.ts';
export type { Authenticator, Identity } from './identity.ts';
export { AuthError, AuthErrorCode, bearerChallenge, insufficientScope, invalidToken, missingToken, providerUnavailable } from './errors.ts';
export type { BearerError, ChallengeParams } from './errors.ts';
export { identityConfigSchema, issuerSchema, missingIdentitySecrets, missingUpstreamSecrets, upstreamCredentialsSchema, JWS_ALGORITHMS } from './config.ts';
export type { IdentityConfig, IssuerConfig, UpstreamCredentialsSpec } from './config.ts';
export { oidcAuthenticator } from './oidc.ts';
export type { OidcAuthenticator, OidcAuthenticatorOptions } from './oidc.ts';
export type { IssuerStatus } from './issuer.ts';
export { protectedResourceMetadata, resourceMetadataPath, resourceMetadataUrl, resourceUrl } from './metadata.ts';
export type { ProtectedResourceMetadata } from './metadata.ts';
export { MemoryTokenCache, tokenHash } from './token-cache.ts';
export type { CachedIntrospection, TokenCache } from './token-cache.ts';
export { subjectFromClaims, claimMapping } from './claims.ts';
export { upstreamCredentialProvider, UpstreamCredentialError } from './upstream.ts';
export type { UpstreamCredentialProvider, UpstreamCredentialOptions } from './upstream.ts';
