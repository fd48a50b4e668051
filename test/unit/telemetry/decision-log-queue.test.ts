// The decision log's queue against a plain-array model, over a long seeded run of pushes, drops,
// batches and settles (compaction included), and its edge cases.
import { describe, expect, it } from 'vitest';
import { EventQueue, type QueuedEvent } from '../../../gateway/telemetry/decision-log-queue.ts';

const ev = (i: number): QueuedEvent => ({ json: `{"n":${i}}`, bytes: `{"n":${i}}`.length });

describe('EventQueue', () => {
  it('behaves like a plain array over 20000 seeded operations', () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const q = new EventQueue();
    let model: QueuedEvent[] = [];
    let inFlight = 0;
    let next = 0;
    for (let step = 0; step < 20_000; step++) {
      const r = rand();
      if (r < 0.55) {
        const e = ev(next++);
        q.push(e);
        model.push(e);
      } else if (r < 0.7) {
        const dropped = q.dropOldestWaiting();
        expect(dropped).toBe(model.length > inFlight);
        if (dropped) model.splice(inFlight, 1);
      } else if (r < 0.85 && inFlight === 0 && model.length > 0) {
        const batch = q.takeBatch(1 + Math.floor(rand() * 20), 2 + Math.floor(rand() * 200));
        expect(batch.length).toBeGreaterThanOrEqual(1);
        expect(batch).toEqual(model.slice(0, batch.length));
        inFlight = batch.length;
      } else if (inFlight > 0) {
        const remove = rand() < 0.7;
        q.settle(remove);
        if (remove) model = model.slice(inFlight);
        inFlight = 0;
      }
      expect(q.length).toBe(model.length);
      expect(q.waiting).toBe(model.length - inFlight);
      expect(q.waitingBytes).toBe(model.slice(inFlight).reduce((s, e) => s + e.bytes, 0));
    }
    if (inFlight > 0) q.settle(false);
    expect(q.takeBatch(model.length, Number.MAX_SAFE_INTEGER)).toEqual(model);
  });

  it('caps a batch by bytes as a JSON array, but always takes one event', () => {
    const q = new EventQueue();
    for (let i = 0; i < 3; i++) q.push({ json: 'x'.repeat(10), bytes: 10 });
    // [a,b] is 2 + 10 + 1 + 10 = 23 bytes.
    expect(q.takeBatch(10, 23)).toHaveLength(2);
    q.settle(false);
    expect(q.takeBatch(10, 22)).toHaveLength(1);
    q.settle(false);
    expect(q.takeBatch(10, 5)).toHaveLength(1);
  });

  it('drops nothing while every event is in flight', () => {
    const q = new EventQueue();
    q.push(ev(1));
    q.takeBatch(5, 1000);
    expect(q.dropOldestWaiting()).toBe(false);
    expect(q.length).toBe(1);
  });
});
