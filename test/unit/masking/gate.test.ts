// The plan's gate (MaskPlan.mayMatch) leaves out alternatives another one implies; it must never
// say "no" where the plain join of every condition the scan tests (fold triggers, names in text,
// member openers, every detector's hint and anchors) says "maybe". Checked for several plans on
// strings built from pieces of those conditions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MaskInstruction } from '../../../gateway/policy/decision.ts';
import { DETECTOR_GROUPS, DETECTOR_NAMES, detector, type Detector, type DetectorName } from '../../../gateway/masking/detectors.ts';
import { escapeRegExp } from '../../../gateway/masking/regex.ts';
import { plan } from './helpers.ts';

const isLiteral = (h: string) => !/[\\^$.*+?()[\]{}|]/.test(h);
const literalsOf = (ds: readonly Detector[]) => ds.flatMap((d) => [...(d.hint !== undefined && d.hint !== '' && isLiteral(d.hint) ? [d.hint] : []), ...(d.anchors ?? [])]);

/** Every condition, joined without pruning. */
function reference(ds: readonly Detector[], keyRules: boolean): RegExp {
  const alts = ['[^\\x00-\\x7f]', '\\\\u[0-9A-Fa-f]{4}', '%[0-9A-Fa-f]{2}'];
  if (keyRules || ds.some((d) => d.keyed !== undefined)) alts.push('[:=\\n]', '--', ' -');
  if (keyRules) alts.push('"\\s*:');
  for (const l of literalsOf(ds)) alts.push(escapeRegExp(l));
  for (const d of ds) if (d.hint !== undefined && d.hint !== '' && !isLiteral(d.hint)) alts.push(d.hint);
  return new RegExp(alts.join('|'));
}

const ALL = DETECTOR_NAMES.map(detector);
const pieces = [
  ...literalsOf(ALL).flatMap((l) => [l, l.slice(0, Math.ceil(l.length / 2)), l.slice(Math.ceil(l.length / 2))]),
  'secret_key', 'SECRET_ACCESS_KEY', 'key', 'bearer', 'Bearer', 'Authorization', 'SK', 'SK0123456789abcdef0123456789abcdef',
  '0123456789abcdef', 'DE89', 'GB82', 'AA10', '4242 4242 4242 4', '4242.4242-4242 4', '1234567890123', '4242',
  ' ', '-', '.', '_', ':', '=', '"', '\n', '\t', 'a', 'x', 'K', 'J', '\\u0040', '\\u00', '%40', '%4', 'ｅ', '\u00a0',
];
const text = fc.array(fc.constantFrom(...pieces), { maxLength: 12 }).map((p) => p.join(''));

const detectorsOf = (name: string): readonly DetectorName[] => (Object.hasOwn(DETECTOR_GROUPS, name) ? DETECTOR_GROUPS[name]! : [name as DetectorName]);

describe('the plan gate', () => {
  const cases: [string, MaskInstruction[], readonly DetectorName[], boolean][] = [
    ['all detectors', [{ detector: 'all' }], DETECTOR_NAMES, false],
    ['key rules and all detectors', [{ key: '*password*' }, { detector: 'all' }], DETECTOR_NAMES, true],
    ['key rules only', [{ key: '*password*' }], [], true],
    ...DETECTOR_NAMES.map((n): [string, MaskInstruction[], readonly DetectorName[], boolean] => [n, [{ detector: n }], detectorsOf(n), false]),
  ];

  it.each(cases)('says "maybe" wherever the joined conditions match: %s', (_name, instructions, names, keyRules) => {
    const p = plan(instructions);
    const re = reference(names.map(detector), keyRules);
    fc.assert(fc.property(text, (s) => s.length < p.minScanLength || !re.test(s) || p.mayMatch(s)), { numRuns: 300 });
  });

  it('says "no" to plain ids, dates and prose (it is a filter, not a constant)', () => {
    const p = plan([{ key: '*password*' }, { detector: 'all' }]);
    for (const s of ['ord_100007', 'SKU-12', 'processing', 'Springfield', '1Z999AA10000100007', 'Order shipped and delivered.']) {
      expect(p.mayMatch(s), s).toBe(false);
    }
    for (const s of ['a=b', 'x@y', 'ｘyz', 'a\\u0041', 'p%41', 'ghp_', 'DE89', '4242 4242 4242 4', 'SK0123456789abcdef0123456789abcdef', 'Bearer x']) {
      expect(p.mayMatch(s), s).toBe(true);
    }
  });
});
