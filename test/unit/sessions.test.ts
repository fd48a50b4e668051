import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../gateway/sessions/store.ts';

const record = (principal: string) => ({ target: 't', protocolVersion: '2025-11-25', principal, createdAt: 0 });

describe('in-memory session store', () => {
  it('expires idle sessions', async () => {
    let now = 0;
    const store = new MemorySessionStore({ idleMs: 1000, maxSessions: 10, now: () => now });
    await store.create('t', 's1', record('alice'));
    now = 999;
    expect(await store.get('t', 's1')).toBeDefined();
    now = 2000;
    expect(await store.get('t', 's1')).toBeUndefined();
  });

  it('evicts the least recently used session when full', async () => {
    const store = new MemorySessionStore({ idleMs: 60_000, maxSessions: 2 });
    await store.create('t', 'old-but-busy', record('a'));
    await store.create('t', 'idle', record('b'));
    await store.get('t', 'old-but-busy');
    await store.create('t', 'new', record('c'));
    expect(await store.get('t', 'old-but-busy')).toBeDefined();
    expect(await store.get('t', 'idle')).toBeUndefined();
  });

  it('keeps sessions of different targets apart', async () => {
    const store = new MemorySessionStore();
    await store.create('a', 'same-id', record('alice'));
    expect(await store.get('b', 'same-id')).toBeUndefined();
  });

  it('refuses a client request id that is still unanswered, and frees it once answered', async () => {
    const store = new MemorySessionStore();
    await store.create('t', 's', record('alice'));
    const pending = { method: 'tools/call', name: 'echo', inspectResponse: false };
    expect(await store.rememberClientRequest('t', 's', 7, pending)).toBe(true);
    expect(await store.rememberClientRequest('t', 's', 7, pending)).toBe(false);
    expect(await store.rememberClientRequest('t', 's', '7', pending)).toBe(true);
    expect(await store.takeClientRequest('t', 's', 7)).toEqual(pending);
    expect(await store.takeClientRequest('t', 's', 7)).toBeUndefined();
    expect(await store.rememberClientRequest('t', 's', 7, pending)).toBe(true);
  });

  it('answers each server request once', async () => {
    const store = new MemorySessionStore();
    await store.create('t', 's', record('alice'));
    await store.rememberServerRequest('t', 's', 1, 'elicitation/create');
    expect(await store.takeServerRequest('t', 's', 1)).toBe('elicitation/create');
    expect(await store.takeServerRequest('t', 's', 1)).toBeUndefined();
  });
});
