// The gateway's SSE reader: every line ending, the end of the stream, bounds, and text that is
// not UTF-8.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatEvent, SseError, SseReader, type SseItem } from '../../gateway/mcp/sse.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
function read(chunks: Array<string | Uint8Array>, max = 1 << 20): SseItem[] {
  const reader = new SseReader(max);
  const out: SseItem[] = [];
  for (const c of chunks) out.push(...reader.feed(typeof c === 'string' ? bytes(c) : c));
  out.push(...reader.end());
  return out;
}
const events = (items: SseItem[]) => items.filter((i) => i.kind === 'event');
const RUNS = Number(process.env.PORTCULLIS_FUZZ_RUNS ?? 300);

describe('SseReader', () => {
  it.each([['\n'], ['\r\n'], ['\r']])('reads events with %j line endings, the last one too', (eol) => {
    const text = `data: one${eol}${eol}id: 7${eol}data: two${eol}data: lines${eol}${eol}`;
    expect(events(read([text]))).toEqual([
      { kind: 'event', name: '', id: undefined, data: 'one' },
      { kind: 'event', name: '', id: '7', data: 'two\nlines' },
    ]);
  });
  it('treats \\r\\n split across chunks as one line ending', () => {
    expect(events(read(['data: a\r', '\n\r', '\n']))).toEqual([{ kind: 'event', name: '', id: undefined, data: 'a' }]);
  });
  it('dispatches a final event ended by bare \\r at once, and discards one without its blank line', () => {
    const reader = new SseReader(1000);
    expect(reader.feed(bytes('data: last\r\r'))).toEqual([{ kind: 'event', name: '', id: undefined, data: 'last' }]);
    expect(reader.end()).toEqual([]);
    const cut = new SseReader(1000);
    expect(cut.feed(bytes('data: cut\r'))).toEqual([]);
    expect(cut.partial).toBe(true);
    expect(cut.end()).toEqual([]);
  });
  it('discards an event the stream cut off, and says it was partial', () => {
    const reader = new SseReader(1000);
    reader.feed(bytes('data: {"jsonrpc":"2.0"'));
    expect(reader.partial).toBe(true);
    expect(reader.end()).toEqual([]);
  });
  it('reads plain JSON sent as an event stream as no events at all', () => {
    expect(events(read(['{"jsonrpc":"2.0","id":1,"result":{}}']))).toEqual([]);
  });
  it('keeps event names, comments and retry apart from data', () => {
    expect(read([': secret comment\n\nevent: custom\ndata: x\n\nretry: 1500\n\nretry: soon\n\n'])).toEqual([
      { kind: 'comment' }, { kind: 'event', name: 'custom', id: undefined, data: 'x' }, { kind: 'retry', ms: 1500 },
    ]);
  });
  it('ignores ids with NUL or longer than 256', () => {
    expect(events(read(['id: a\u0000b\ndata: x\n\n', `id: ${'z'.repeat(257)}\ndata: y\n\n`])).map((e) => (e as { id?: string }).id)).toEqual([undefined, undefined]);
  });
  it('keeps priming events (an id, empty data)', () => {
    expect(events(read(['id: p1\ndata: \n\n', 'id: p2\n\n']))).toEqual([
      { kind: 'event', name: '', id: 'p1', data: '' }, { kind: 'event', name: '', id: 'p2', data: '' },
    ]);
  });
  it('refuses an event larger than the bound while it is still arriving', () => {
    const reader = new SseReader(100);
    expect(() => {
      for (let i = 0; i < 20; i++) reader.feed(bytes('data: 0123456789'));
    }).toThrow(SseError);
  });
  it('refuses bytes that are not UTF-8 (binary, gzip)', () => {
    expect(() => read([new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe])])).toThrow(SseError);
    expect(() => read([new Uint8Array([0x64, 0x61, 0x74, 0x61, 0x3a, 0xc3])])).toThrow(SseError);
  });
  it('reads the same events however the bytes are chunked (seeded)', () => {
    const text = 'id: 1\r\ndata: {"a":"é😀"}\r\n\r\n: c\n\ndata: b\rdata: c\r\r';
    const whole = read([text]);
    const all = bytes(text);
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: all.length - 1 }), { maxLength: 8 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const chunks: Uint8Array[] = [];
      let at = 0;
      for (const p of [...points, all.length]) {
        chunks.push(all.subarray(at, p));
        at = p;
      }
      expect(read(chunks)).toEqual(whole);
    }), { numRuns: RUNS, seed: 11 });
  });
});

describe('formatEvent', () => {
  it('writes only an id and data lines', () => {
    expect(formatEvent({ id: 'g.1', data: '{"a":1}' })).toBe('id: g.1\ndata: {"a":1}\n\n');
    expect(formatEvent({ data: 'a\r\nb\rc' })).toBe('data: a\ndata: b\ndata: c\n\n');
  });
});
