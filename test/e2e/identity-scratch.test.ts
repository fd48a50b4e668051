import { expect, it } from 'vitest';
import { startLegacyUpstream } from '../fixtures/upstreams/index.ts';
import { startIdentityStack, legacyMessage, INITIALIZE_PARAMS, parseBody } from '../helpers/identity-stack.ts';

it('cross-identity cancel through a stateless-classified notification', async () => {
  let legacy: Awaited<ReturnType<typeof startLegacyUpstream>> | undefined;
  const s = await startIdentityStack({ targets: () => ({}) });
  legacy = await startLegacyUpstream({ legacyResponse: 'sse' });
  // reuse 'other' target? need a target pointing at legacy: start a new stack instead
  await s.close();
  const s2 = await startIdentityStack({ targets: () => ({ legacy: { url: legacy!.url } }) });
  try {
    s2.idp.setResource(s2.resource('legacy'), 'jwt');
    const a = await s2.callerToken('legacy');
    const init = await s2.send('legacy', legacyMessage('initialize', INITIALIZE_PARAMS, 1), a);
    const sid = init.headers.get('mcp-session-id')!;
    console.log('init', init.status, sid);
    await s2.send('legacy', legacyMessage('notifications/initialized', undefined, undefined, sid), a);
    const slowP = s2.send('legacy', { ...legacyMessage('tools/call', { name: 'slow', arguments: { ms: 2000, steps: 2 } }, 7, sid) }, a);
    await new Promise((r) => setTimeout(r, 300));
    const bob = await s2.idp.sign(s2.idp.validClaims(s2.resource('legacy'), { sub: 'bob' }));
    const notif = { headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid }, body: { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7, reason: 'bob says so', _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } } };
    const r = await s2.send('legacy', notif, bob);
    console.log('bob cancel', r.status, r.text);
    await new Promise((r) => setTimeout(r, 500));
    void slowP.catch(() => {});
    console.log('aborted', legacy!.abortedCalls, 'completed', legacy!.completedSlowCalls);
    console.log(JSON.stringify(s2.gw.audit.slice(-3).map(r => [r.principal, r.era, r.method, r.session_id])));
  } finally { await s2.close(); await legacy?.close(); }
});
