// The memory store's map from the gateway's SSE event ids to the upstream's, for Last-Event-ID
// resumption: per session, bounded, gone with the session.
import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../gateway/sessions/store.ts';

const record = { target: 't', protocolVersion: '2025-11-25', principal: 'p', createdAt: 0 };

describe('stream event ids in the memory session store', () => {
  it('maps an issued id back to the upstream id, per session and target', async () => {
    const store = new MemorySessionStore();
    await store.create('t', 's1', record);
    await store.create('t', 's2', record);
    await store.rememberStreamEvent('t', 's1', 'g.1', 'up-1');
    expect(await store.upstreamEventId('t', 's1', 'g.1')).toBe('up-1');
    expect(await store.upstreamEventId('t', 's2', 'g.1')).toBeUndefined();
    expect(await store.upstreamEventId('other', 's1', 'g.1')).toBeUndefined();
    expect(await store.upstreamEventId('t', 's1', 'up-1')).toBeUndefined();
  });
  it('remembers nothing for a session it does not know, and forgets with the session', async () => {
    const store = new MemorySessionStore();
    await store.rememberStreamEvent('t', 'ghost', 'g.1', 'up-1');
    expect(await store.upstreamEventId('t', 'ghost', 'g.1')).toBeUndefined();
    await store.create('t', 's', record);
    await store.rememberStreamEvent('t', 's', 'g.1', 'up-1');
    await store.delete('t', 's');
    await store.create('t', 's', record);
    expect(await store.upstreamEventId('t', 's', 'g.1')).toBeUndefined();
  });
  it('keeps at most 1024 ids per session, dropping the oldest', async () => {
    const store = new MemorySessionStore();
    await store.create('t', 's', record);
    for (let i = 0; i < 1100; i++) await store.rememberStreamEvent('t', 's', `g.${i}`, `up-${i}`);
    expect(await store.upstreamEventId('t', 's', 'g.0')).toBeUndefined();
    expect(await store.upstreamEventId('t', 's', 'g.75')).toBeUndefined();
    expect(await store.upstreamEventId('t', 's', 'g.76')).toBe('up-76');
    expect(await store.upstreamEventId('t', 's', 'g.1099')).toBe('up-1099');
  });
});
