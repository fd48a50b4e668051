// The plan's gate (gate.ts) is written by hand for speed; it must never say "no" where the plain
// join of the conditions it stands for (a regex: fold triggers, names in text, member openers,
// every detector's hint and anchors) says "maybe". Checked per detector and for all of them, with
// and without names in text, on strings built from pieces of those conditions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DETECTOR_NAMES, detector, type Detector } from '../../../gateway/masking/detectors.ts';
import { Gate } from '../../../gateway/masking/gate.ts';
import { escapeRegExp } from '../../../gateway/masking/regex.ts';

const isLiteral = (h: string) => !/[\\^$.*+?()[\]{}|]/.test(h);
const literalsOf = (ds: readonly Detector[]) => ds.flatMap((d) => [...(d.hint !== undefined && d.hint !== '' && isLiteral(d.hint) ? [d.hint] : []), ...(d.anchors ?? [])]);

function reference(ds: readonly Detector[], keyed: boolean, fragments: boolean): RegExp {
  const alts = ['[^\\x00-\\x7f]', '\\\\u[0-9A-Fa-f]{4}', '%[0-9A-Fa-f]{2}'];
  if (keyed) alts.push('[:=\\n]', '--', ' -');
  if (fragments) alts.push('"\\s*:');
  for (const l of literalsOf(ds)) alts.push(escapeRegExp(l));
  for (const d of ds) if (d.hint !== undefined && d.hint !== '' && !isLiteral(d.hint)) alts.push(d.hint);
  return new RegExp(alts.join('|'));
}

const gateOf = (ds: readonly Detector[], keyed: boolean, fragments: boolean) =>
  new Gate({ literals: literalsOf(ds), triggers: ds.flatMap((d) => (d.gate !== undefined ? [d.gate] : [])), keyed, fragments });

const ALL = DETECTOR_NAMES.map(detector);

// Pieces: every literal and its halves, the words and shapes of the pattern hints, and filler.
const pieces = [
  ...literalsOf(ALL).flatMap((l) => [l, l.slice(0, Math.ceil(l.length / 2)), l.slice(Math.ceil(l.length / 2))]),
  'secret_key', 'SECRET_ACCESS_KEY', 'key', 'Key', 'bearer', 'Bearer', 'BEARER', 'authorization', 'Authorization', 'auth',
  'SK', 'SKU', '0123456789abcdef', '0123456789ABCDEF', 'DE89', 'GB82', 'AA10', 'XX00', 'DE', '89', '4242', '4242 ', '4242-', '4242.',
  'SK0123456789abcdef0123456789abcdef', '4242 4242 4242 4', '4242.4242-4242 4', '1234567890123', 'aws_secret_access_key', 'AUTHORIZATION',
  ' ', '-', '.', '_', ':', '=', '"', '\n', '\t', 'a', 'x', 'y', 'z', 'Z', 'K', 'J', 'Q', '\\u0040', '\\u00', '%40', '%4', 'ｅ', '\u00a0',
];
const text = fc.array(fc.constantFrom(...pieces), { maxLength: 12 }).map((p) => p.join(''));

describe('the hand-written gate', () => {
  const cases: [string, readonly Detector[], boolean, boolean][] = [
    ['all detectors, names in text', ALL, true, true],
    ['all detectors alone', ALL, false, false],
    ...DETECTOR_NAMES.map((n): [string, readonly Detector[], boolean, boolean] => [n, [detector(n)], false, false]),
  ];

  it.each(cases)('says "maybe" wherever the joined conditions match: %s', (_name, ds, keyed, fragments) => {
    const re = reference(ds, keyed, fragments);
    const gate = gateOf(ds, keyed, fragments);
    fc.assert(fc.property(text, (s) => !re.test(s) || gate.mayChange(s)), { numRuns: 400 });
  });

  it('says "no" to plain ids, dates and prose (it is a filter, not a constant)', () => {
    const gate = gateOf(ALL, true, true);
    for (const s of ['ord_100007', 'SKU-12', 'processing', 'Springfield', '1Z999AA10000100007', 'Order shipped and delivered.']) {
      expect(gate.mayChange(s), s).toBe(false);
    }
    for (const s of ['a=b', 'x@y', 'ｘ', 'a\\u0041', 'p%41', 'ghp_', 'DE89', '4242 4242 4242 4', 'SK0123456789abcdef0123456789abcdef', 'Bearer x', 'my_key']) {
      expect(gate.mayChange(s), s).toBe(true);
    }
  });
});
