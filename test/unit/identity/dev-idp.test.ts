// The development provider `npm start` uses: its tokens are accepted by an authenticator that
// trusts it, and the curl command it prints works as printed.
import { exec } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevIdp, type DevIdp } from '../../../demo/dev-idp.ts';
import { identityConfigSchema } from '../../../gateway/identity/config.ts';
import { oidcAuthenticator } from '../../../gateway/identity/oidc.ts';

const GATEWAY = 'http://127.0.0.1:8080';
const DEMO = `${GATEWAY}/mcp/demo`;
let idp: DevIdp;

beforeAll(async () => {
  idp = await startDevIdp({ port: 0, gatewayResources: [DEMO] });
});
afterAll(async () => {
  await idp?.close();
});

const authenticator = () => oidcAuthenticator(identityConfigSchema.parse({ public_base_url: GATEWAY, issuers: [{ issuer: idp.issuer }] }), { log: () => undefined });
const request = (token: string) => new Request(DEMO, { headers: { authorization: `Bearer ${token}` } });

describe('dev IdP (DEVELOPMENT ONLY)', () => {
  it('issues at+jwt tokens the gateway accepts, with the demo groups', async () => {
    const a = authenticator();
    expect((await a.authenticate(request(await idp.token('agent', DEMO)), 'demo')).subject).toMatchObject({ type: 'service', sub: 'dev-agent', groups: ['engineering'], scopes: ['mcp:tools'] });
    expect((await a.authenticate(request(await idp.token('guest', DEMO)), 'demo')).subject).toMatchObject({ sub: 'dev-guest', groups: [] });
  });

  it('refuses resources it was not told about', async () => {
    await expect(idp.token('agent', 'http://127.0.0.1:8080/mcp/elsewhere')).rejects.toThrow(/invalid_target/);
  });

  it('says what it is, and its curl command works as printed', async () => {
    expect(idp.howToGetToken).toMatch(/^DEVELOPMENT ONLY identity provider: http:\/\/127\.0\.0\.1:\d+ \(loopback only/);
    expect(idp.howToGetToken).toContain(`${GATEWAY}/.well-known/oauth-protected-resource/mcp/demo`);
    const lines = idp.howToGetToken.split('\n');
    const at = lines.findIndex((l) => l.includes('TOKEN=$(curl'));
    const command = `${lines[at]!.trim().replace(/\\$/, '')} ${lines[at + 1]!.trim()}; printf %s "$TOKEN"`;
    const { stdout } = await promisify(exec)(command, { shell: '/bin/bash', timeout: 10_000 });
    const identity = await authenticator().authenticate(request(stdout), 'demo');
    expect(identity.subject.sub).toBe('dev-agent');
  });

  it('listens on loopback only', async () => {
    await expect(startDevIdp({ port: 0, gatewayResources: [DEMO], host: '0.0.0.0' })).rejects.toThrow(/DEVELOPMENT ONLY, loopback addresses only/);
  });
});
