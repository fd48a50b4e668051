// openRecordings, as gateway/app.ts uses it: off costs nothing (the shared no-op sink, no routes);
// on with memory state, what the sink records is served by the routes after close writes it.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../gateway/config/load.ts';
import { anonymousAuthenticator } from '../../../gateway/identity/index.ts';
import { noRecordings, openRecordings } from '../../../gateway/recordings/index.ts';
import { recorded } from './messages.ts';

const config = (recordings: Record<string, unknown>, groups: string[]) => validateConfig({
  policy: { bundle: 'b.tar.gz' }, targets: { demo: { url: 'http://127.0.0.1:9/mcp' } },
  identity: { anonymous: { sub: 'dev', groups } }, recordings,
}, '/x.yaml', {});
const memory = { redis: undefined, keyPrefix: '' };

describe('openRecordings', () => {
  it('off: the no-op sink, no reader, no routes', async () => {
    const c = config({}, []);
    const opened = openRecordings(c, memory, { authenticator: anonymousAuthenticator(c.identity), log: () => {} });
    expect(opened.sink).toBe(noRecordings);
    expect(opened.reader).toBeUndefined();
    expect(opened.routes).toBeUndefined();
    await opened.close();
  });

  it('on with memory state: recorded messages are written at close; an anonymous subject is no auditor, whatever its groups', async () => {
    const logs: string[] = [];
    const c = config({ enabled: true, auditor_groups: ['auditors'] }, ['auditors']);
    const opened = openRecordings(c, memory, { authenticator: anonymousAuthenticator(c.identity), log: (m) => logs.push(m) });
    expect(opened.sink.enabled).toBe(true);
    expect(opened.sink.admit()).toBe(true);
    const m = recorded('mem-1', 1);
    opened.sink.record(m);
    await opened.close();
    expect(opened.stats()).toMatchObject({ written: 1, dropped: 0, buffered: 0 });
    expect((await opened.reader!.read('mem-1'))?.messages).toEqual([m]);
    // A development subject (identity.anonymous) is not authenticated: it never reads recordings.
    const res = await opened.routes!.request('/api/sessions/mem-1');
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe('forbidden');
    expect(logs).toEqual([]);
  });

  it('no auditor groups: logged at start, and everyone is refused', async () => {
    const logs: string[] = [];
    const c = config({ enabled: true }, ['auditors']);
    const opened = openRecordings(c, memory, { authenticator: anonymousAuthenticator(c.identity), log: (m) => logs.push(m) });
    expect(logs).toEqual(['portcullis: recordings.auditor_groups is empty: nobody can read recordings']);
    expect((await opened.routes!.request('/api/sessions')).status).toBe(403);
    await opened.close();
  });
});
