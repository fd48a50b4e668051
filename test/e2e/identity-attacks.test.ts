// The attack suite: every forged, broken or misplaced token is refused at the door with 401
// (-32080, a Bearer challenge saying which check failed) and the upstream receives nothing.
// The forged tokens come from test/helpers/idp.ts `attacks()` (built against the running IdP, so
// the table is built at collection time), plus the cases that are about where and how a token is
// sent rather than what it contains.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startIdentityStack, statelessCall, type HttpResult } from '../helpers/identity-stack.ts';

// No clock skew: tokens that expire during the run are refused the moment they expire.
const stack = await startIdentityStack({ identity: { clock_skew_seconds: 0 } });
afterAll(() => stack.close());

const fixture = stack.resource('fixture');
const valid = await stack.callerToken('fixture');
const forged = await stack.idp.attacks(fixture, stack.resource('other'));
const opaqueForOtherTarget = await stack.callerToken('opaque');

/** Asserts a refusal at the door: status, code, challenge, and no echo of the token. */
function expectRefused(res: HttpResult, token: string, bearerError: 'invalid_token' | 'invalid_request', description: RegExp): void {
  expect(res.status).toBe(401);
  expect(res.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32080 } });
  const header = res.headers.get('www-authenticate') ?? '';
  const params = Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  expect(header.startsWith('Bearer ')).toBe(true);
  expect(params.error).toBe(bearerError);
  expect(params.error_description).toMatch(description);
  expect(params.resource_metadata).toBe(stack.metadataUrl('fixture'));
  expect(res.json.error.message).toMatch(description);
  if (token.length >= 16) {
    expect(res.text).not.toContain(token);
    expect(header).not.toContain(token);
  }
}

describe('the attack suite', () => {
  it('baseline: the genuine token for this target is accepted and forwarded', async () => {
    const before = stack.upstream.received.length;
    const res = await stack.send('fixture', statelessCall('echo', { text: 'genuine' }), valid);
    expect(res.status).toBe(200);
    expect(res.json.result.content[0].text).toBe('genuine');
    expect(stack.upstream.received.length).toBe(before + 1);
  });

  it('covers every case the IdP helper forges', () => {
    expect(forged.length).toBeGreaterThanOrEqual(29);
    expect(new Set(forged.map((c) => c.name)).size).toBe(forged.length);
  });

  it.each(forged.map((c) => [c.name, c] as const))('%s: 401 invalid_token, nothing forwarded', async (_, attack) => {
    const before = stack.upstream.received.length;
    const res = await stack.send('fixture', statelessCall('echo', { text: 'forged' }), attack.token);
    expectRefused(res, attack.token, 'invalid_token', attack.expect);
    expect(stack.upstream.received.length).toBe(before);
  });

  const big = randomBytes(9000).toString('base64url');
  it.each([
    ['an oversized opaque token (refused before introspection)', big, /token larger than 8192 bytes/],
    ['an unknown opaque token (introspection: not active)', randomBytes(32).toString('base64url'), /token is not active/],
    ['an opaque token issued for another target (introspection: other audience)', opaqueForOtherTarget, /token audience does not include/],
    ['two bearer tokens in one header', `${valid}, Bearer ${valid}`, /token is malformed/],
    ['a quoted token with a space', '"abc def"', /token is malformed/],
  ])('%s: 401 invalid_token, nothing forwarded', async (name, token, description) => {
    const before = stack.upstream.received.length;
    const introspections = stack.idp.count('/token/introspection');
    const res = await stack.send('fixture', statelessCall('echo', { text: 'x' }), token);
    expectRefused(res, token, 'invalid_token', description);
    expect(stack.upstream.received.length).toBe(before);
    if (name.startsWith('an oversized')) expect(stack.idp.count('/token/introspection')).toBe(introspections);
  });

  it.each([
    ['alone', false],
    ['next to a valid Authorization header', true],
  ])('a token in the query string (%s): 401 invalid_request, nothing forwarded, the URL token never echoed', async (_, withHeader) => {
    const before = stack.upstream.received.length;
    const request = statelessCall('echo', { text: 'x' });
    const res = await fetch(`${fixture}?access_token=${encodeURIComponent(valid)}`, {
      method: 'POST',
      headers: { ...request.headers, ...(withHeader ? { authorization: `Bearer ${valid}` } : {}) },
      body: JSON.stringify(request.body),
    });
    const text = await res.text();
    expectRefused({ status: res.status, headers: res.headers, text, json: JSON.parse(text) }, valid, 'invalid_request', /query string/);
    expect(stack.upstream.received.length).toBe(before);
    expect(stack.gw.logs.join('\n')).not.toContain(valid);
  });

  it('a token in a cookie is no token: 401 without an error code, nothing forwarded', async () => {
    const before = stack.upstream.received.length;
    const res = await stack.send('fixture', statelessCall('echo', { text: 'x' }), undefined, { cookie: `access_token=${valid}` });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${stack.metadataUrl('fixture')}"`);
    expect(res.json.error.code).toBe(-32080);
    expect(stack.upstream.received.length).toBe(before);
  });

  it('a token verified for another target is refused here (the verified-token cache re-checks the audience)', async () => {
    const other = await stack.callerToken('other');
    expect((await stack.send('other', statelessCall('echo', { text: 'x' }), other)).status).toBe(200);
    const before = stack.upstream.received.length;
    const res = await stack.send('fixture', statelessCall('echo', { text: 'x' }), other);
    expectRefused(res, other, 'invalid_token', new RegExp(`token audience does not include ${fixture}`));
    expect(stack.upstream.received.length).toBe(before);
  });

  it('tokens stop working when they expire: from the verified-JWT cache, the introspection cache, and unseen', async () => {
    const opaqueResource = stack.resource('opaque');
    const now = Math.floor(Date.now() / 1000);
    const jwt = await stack.idp.sign(stack.idp.validClaims(fixture, { exp: now + 2 }));
    stack.idp.setResource(opaqueResource, 'opaque', 2);
    const [seenOpaque, unseenOpaque] = [await stack.callerToken('opaque'), await stack.callerToken('opaque')];
    stack.idp.setResource(opaqueResource, 'opaque', 600);
    expect((await stack.send('fixture', statelessCall('echo', { text: 'x' }), jwt)).status).toBe(200);
    expect((await stack.send('opaque', statelessCall('echo', { text: 'x' }), seenOpaque)).status).toBe(200);

    await new Promise((r) => setTimeout(r, Math.max(0, (now + 3) * 1000 - Date.now()) + 50));
    const before = stack.upstream.received.length;
    const expired = await stack.send('fixture', statelessCall('echo', { text: 'x' }), jwt);
    expectRefused(expired, jwt, 'invalid_token', /token expired/);
    for (const token of [seenOpaque, unseenOpaque]) {
      const res = await stack.send('opaque', statelessCall('echo', { text: 'x' }), token);
      expect(res.status).toBe(401);
      expect(res.json.error.code).toBe(-32080);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token", error_description="token (is not active|expired)", resource_metadata="[^"]+\/mcp\/opaque"$/);
    }
    expect(stack.upstream.received.length).toBe(before);
  });

  it('a token in the query string under a percent-encoded name: 401 invalid_request', async () => {
    const request = statelessCall('echo', { text: 'x' });
    const res = await fetch(`${fixture}?access%5Ftoken=${encodeURIComponent(valid)}`, {
      method: 'POST',
      headers: { ...request.headers, authorization: `Bearer ${valid}` },
      body: JSON.stringify(request.body),
    });
    await res.text();
    expect(res.status, 'percent-encoded query token').toBe(401);
  });

  it('an inactive answer is remembered: a repeated unknown token does not ask the IdP again', async () => {
    const token = randomBytes(32).toString('base64url');
    const introspections = stack.idp.count('/token/introspection');
    for (let i = 0; i < 3; i++) expect((await stack.send('fixture', statelessCall('echo', { text: 'x' }), token)).status).toBe(401);
    expect(stack.idp.count('/token/introspection')).toBe(introspections + 1);
  });

  it('after all of it the genuine token still works, and nothing forged left a trace in the logs', async () => {
    const res = await stack.send('fixture', statelessCall('echo', { text: 'still fine' }), valid);
    expect(res.status).toBe(200);
    const log = stack.gw.logs.join('\n');
    for (const token of stack.presented) if (token.length >= 16) expect(log).not.toContain(token);
    expect(JSON.stringify(stack.gw.audit)).not.toContain(valid);
  });
});
