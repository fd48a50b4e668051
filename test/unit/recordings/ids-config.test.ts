// recordingIdFor (2026-07-28: one recording per target, principal and client) and the
// `recordings` configuration section.
import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../../gateway/config/load.ts';
import { clientOf, recordingIdFor } from '../../../gateway/recordings/index.ts';

const alice = '["user","https://idp.example","alice"]';
const bob = '["user","https://idp.example","bob"]';

describe('recordingIdFor', () => {
  it('is stable for one target, principal and client, and differs when any of them does', () => {
    const id = recordingIdFor({ target: 'crm', principal: alice, subject: { client_id: 'agent' } });
    expect(id).toMatch(/^rec_[0-9a-f]{32}$/);
    expect(recordingIdFor({ target: 'crm', principal: alice, subject: { client_id: 'agent' }, clientName: 'ignored: the token names the client' })).toBe(id);
    expect(recordingIdFor({ target: 'crm', principal: bob, subject: { client_id: 'agent' } })).not.toBe(id);
    expect(recordingIdFor({ target: 'billing', principal: alice, subject: { client_id: 'agent' } })).not.toBe(id);
    expect(recordingIdFor({ target: 'crm', principal: alice, subject: { client_id: 'other' } })).not.toBe(id);
  });

  it('the client is the token client, else the clientInfo name, else "unknown"', () => {
    expect(clientOf({ subject: { client_id: 'agent' }, clientName: 'Claude' })).toBe('agent');
    expect(clientOf({ subject: { client_id: '' }, clientName: 'Claude' })).toBe('Claude');
    expect(clientOf({ subject: { client_id: '' } })).toBe('unknown');
  });

  it('a client name chosen to look like another principal does not reach that principal\'s recording', () => {
    // Without an unambiguous encoding, "alice" + "x|bob" and "alice|x" + "bob" could meet.
    const bobs = recordingIdFor({ target: 'crm', principal: bob, subject: { client_id: '' }, clientName: 'x' });
    for (const clientName of ['x', `x","${bob}`, `${bob}`, `x\u0000${bob}`]) {
      expect(recordingIdFor({ target: 'crm', principal: alice, subject: { client_id: '' }, clientName })).not.toBe(bobs);
    }
  });
});

const minimal = { policy: { bundle: 'b.tar.gz' }, targets: { demo: { url: 'http://127.0.0.1:9090/mcp' } } };

function problems(recordings: unknown): string[] {
  try {
    validateConfig({ ...minimal, recordings }, '/etc/portcullis/gateway.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('recordings configuration', () => {
  it('is off by default, failing closed when on and full', () => {
    expect(validateConfig(minimal, '/x.yaml', {}).recordings).toEqual({
      enabled: false, when_full: 'fail_closed', buffer_messages: 10_000, buffer_bytes: 64 * 1024 * 1024, flush_interval_ms: 100, flush_batch: 500,
      retention_seconds: 604_800, max_messages: 10_000, max_recordings: 100_000,
      max_recordings_per_principal: 100, max_message_bytes: 5 * 1024 * 1024, memory_max_bytes: 256 * 1024 * 1024, close_timeout_ms: 5000, auditor_groups: [],
    });
    expect(validateConfig({ ...minimal, recordings: { enabled: true } }, '/x.yaml', {}).recordings.when_full).toBe('fail_closed');
  });

  it.each([
    ['an unknown when_full', { when_full: 'block' }, 'recordings.when_full: '],
    ['a retention under a minute', { retention_seconds: 5 }, 'recordings.retention_seconds: '],
    ['an empty buffer', { buffer_messages: 0 }, 'recordings.buffer_messages: '],
    ['a trace URL without {trace_id}', { trace_url: 'https://jaeger.example/trace/' }, 'recordings.trace_url: must be an http(s) URL containing {trace_id}'],
    ['a javascript: trace URL', { trace_url: 'javascript:alert(1)//{trace_id}' }, 'recordings.trace_url: must be an http(s) URL containing {trace_id}'],
    ['an unknown key', { enabled: true, masks: [] }, 'recordings: '],
  ])('refuses %s', (_name, recordings, expected) => {
    expect(problems(recordings).some((p) => p.startsWith(expected))).toBe(true);
  });
});
