// The trail with nothing to do is the no-op one: the request path builds nothing.
import { describe, expect, it } from 'vitest';
import { MaskPlanCache } from '../../../gateway/masking/index.ts';
import { noRecordings } from '../../../gateway/recordings/entry.ts';
import { noTrail, trails, WITHHELD } from '../../../gateway/telemetry/index.ts';
import { keepable } from '../../../gateway/telemetry/record.ts';

const masks = new MaskPlanCache({ hashKey: new Uint8Array(32) });
const request = [new Headers(), 't', undefined] as const;

describe('trails', () => {
  it('opens the no-op trail when nothing is traced, measured or recorded', () => {
    const open = trails({ telemetry: undefined, recordings: noRecordings, masks, sha256Of: () => '', log: () => {} });
    expect(open(...request)).toBe(noTrail);
    expect(noTrail.stage('portcullis.authenticate', () => 42)).toBe(42);
    expect(noTrail.admits()).toBe(true);
  });

  it('opens a recording trail when only recordings are on, and asks the sink to admit', () => {
    let room = false;
    const open = trails({ telemetry: undefined, recordings: { enabled: true, admit: () => room, record: () => true }, masks, sha256Of: () => '', log: () => {} });
    const trail = open(...request);
    expect(trail.active).toBe(true);
    expect(trail.admits()).toBe(false);
    room = true;
    expect(trail.admits()).toBe(true);
  });

  it('keeps a request whose strict mask cannot be applied without its content, and masks the rest', () => {
    const shallow = new MaskPlanCache({ hashKey: new Uint8Array(32), maxDepth: 8 });
    let deep: unknown = 'secret-in-the-depths';
    for (let i = 0; i < 12; i++) deep = { deeper: deep };
    const message = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: { a: 'secret', deep } } };
    const kept = keepable({ direction: 'client_to_server', origin: 'client', message, mask: { instructions: [{ key: 'a' }], mode: 'strict' } }, shallow);
    expect(kept.message).toEqual({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: WITHHELD });
    const masked = keepable({ direction: 'client_to_server', origin: 'client', message: { ...message, params: { name: 'x', arguments: { a: 'secret' } } }, mask: { instructions: [{ key: 'a' }], mode: 'strict' } }, masks);
    expect(JSON.stringify(masked.message)).not.toContain('secret');
    expect(masked.counts).toEqual({ a: 1 });
  });
});
