// Outside review of the masking fast paths (gate, per-call clean strings, plan key cache,
// recurrence skip). Each case is an input a hostile upstream can send where a value the plan
// masks reaches the client unmasked. These tests fail until the engine is fixed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyMask, maskText } from '../../../gateway/masking/index.ts';
import type { MaskInstruction } from '../../../gateway/policy/decision.ts';
import { plan } from './helpers.ts';

const exampleData = JSON.parse(readFileSync(new URL('../../../rego/example/data.json', import.meta.url), 'utf8')) as {
  mcp: { masks: { customer_record: { instructions: MaskInstruction[] } } };
};
const customerRecord = exampleData.mcp.masks.customer_record.instructions;

describe('plan key cache (names in text remembered as clean without a detector scan)', () => {
  // textkeys' tag() remembers a short identifier-like name it read in text as "clean" on the
  // plan (shared by every call using the same mask list) without scanning it for detectors;
  // a member name equal to it is then never scanned (walk.ts name(): info.clean).
  it.each([
    ['iban', 'GB82WEST12345698765432'],
    ['aws_access_key', 'AKIAIOSFODNN7EXAMPLE'],
    ['stripe_key', 'sk_live_4eC39HqLyjWDarjt'],
  ])('a %s used as a member name is masked after an earlier call wrote it as NAME=value', (_det, secret) => {
    const p = plan(customerRecord);
    applyMask({ content: [{ type: 'text', text: `${secret}=1` }] }, p);
    const later = JSON.stringify(applyMask({ accounts: { [secret]: { balance: 1 } } }, p).value);
    expect(later).not.toContain(secret);
  });

  it('within one message: a name in text, then the same secret as a member name', () => {
    const p = plan(customerRecord);
    const secret = 'GB82WEST12345698765432';
    const out = JSON.stringify(applyMask({ content: [{ type: 'text', text: `${secret}: active` }], accounts: { [secret]: 1 } }, p).value);
    expect(out).not.toContain(secret);
  });
});

describe('basic_auth: a user shaped like part of a marker (regression of f159c17/2841de3)', () => {
  // The user is now "a whole [MASKED:…] marker or does not start like one"; a user that starts
  // like a marker but is not one whole (no "]", or text after it) matches neither alternative, so
  // the password after it is not masked. Before the change the password was masked.
  it.each([
    'curl -u [MASKED:a]b:hunter2 https://x',
    'curl -u [MASKED:x:hunter2 https://x',
    'curl --user=[MASKED:a]b:hunter2 https://x',
    'curl -u "[MASKED:a]b:hunter2" https://x',
  ])('masks the password in %s', (text) => {
    expect(maskText(text, plan(customerRecord)).text).not.toContain('hunter2');
    expect(maskText(text, plan([{ detector: 'basic_auth' }])).text).not.toContain('hunter2');
  });
});

describe('old gaps found while attacking the fast paths (present before 5c9fa1f too)', () => {
  it.each([
    ['fullwidth', 'ｐａｓｓｗｏｒｄ'],
    ['zero-width space inside', 'pass\u200bword'],
    ['soft hyphen inside', 'pass\u00adword'],
  ])('names given as data: a %s name in {name, value} keys its value like the same member name would', (_how, name) => {
    const p = plan(customerRecord);
    // The same name as a member name is masked (fold.ts); as data in a name/value pair it is not.
    expect(JSON.stringify(applyMask({ [name]: 'hunter2' }, p).value)).not.toContain('hunter2');
    const out = JSON.stringify(applyMask({ env: [{ name, value: 'hunter2' }] }, p).value);
    expect(out).not.toContain('hunter2');
  });

  it.each([
    ['an exponent', '4242424242424242e0', '4242424242424242'],
    ['a fraction', '4242424242424242.0', '4242424242424242'],
    ['a 19-digit literal with a fraction', '6212345678901234569.0', '6212345678901234569'],
  ])('a card number written as a JSON number literal with %s inside JSON text is masked', (_how, literal, digits) => {
    const p = plan(customerRecord);
    const out = JSON.stringify(applyMask({ content: [{ type: 'text', text: `{"n":${literal}}` }] }, p).value);
    // A client's JSON.parse reads the card's digits from it (JSON.parse('4242424242424242e0') === 4242424242424242).
    expect(out).not.toContain(digits);
  });

  it('a 19-digit card number as a raw number literal with a fraction (JSON.rawJSON, as the gateway parser hands it over) is masked', () => {
    const raw = (JSON as unknown as { rawJSON(t: string): unknown }).rawJSON('6212345678901234569.0');
    const out = JSON.stringify(applyMask({ structuredContent: { n: raw } }, plan(customerRecord)).value);
    expect(out).not.toContain('6212345678901234569');
  });

  it.each([
    ['U+3164 HANGUL FILLER', '\u3164'],
    ['U+FFA0 HALFWIDTH HANGUL FILLER', '\uffa0'],
    ['U+115F HANGUL CHOSEONG FILLER', '\u115f'],
  ])('an invisible %s (a letter, not Cf, so not dropped by folding) hides neither a key name nor a card number', (_name, filler) => {
    const p = plan(customerRecord);
    expect(JSON.stringify(applyMask({ [`pass${filler}word`]: 'hunter2' }, p).value)).not.toContain('hunter2');
    expect(maskText(`pass${filler}word=hunter2`, p).text).not.toContain('hunter2');
    expect(maskText(`card 4242${filler}4242${filler}4242${filler}4242`, p).text).not.toMatch(/4242.4242/u);
  });

  it('a card number in circled numbers shorter than the detector minimum before folding is masked (credit_card alone)', () => {
    // "㊷" folds (NFKC) to "42": 8 characters read as 16 digits. The plan's minimum length is
    // checked on the unfolded string (13 for credit_card alone); with the pii group it is masked.
    const text = '㊷㊷㊷㊷㊷㊷㊷㊷';
    expect(applyMask({ v: text }, plan([{ detector: 'pii' }])).value).toEqual({ v: '[MASKED:credit_card]' });
    expect(applyMask({ v: text }, plan([{ detector: 'credit_card' }])).value).toEqual({ v: '[MASKED:credit_card]' });
  });

  it('an email shorter than the email minimum before folding is masked (email alone)', () => {
    // "㎝" folds to "cm": "a@b.㎝" is 5 characters, "a@b.cm" 6 (masked with the customer_record list).
    expect(JSON.stringify(applyMask({ v: 'a@b.㎝' }, plan(customerRecord)).value)).not.toContain('a@b');
    expect(applyMask({ v: 'a@b.㎝' }, plan([{ detector: 'email' }])).value).toEqual({ v: '[MASKED:email]' });
  });

  it.each([
    'curl -u [MASKED:email hmac:0123456789abcdef]:hunter2 https://x',
    'curl -u [MASKED:token ...abcd]:hunter2 https://x',
  ])('basic_auth: a user that is a whole hash/last-style marker (it has a space) still has its password masked: %s', (text) => {
    // Text masked once already (an upstream behind another masking hop) keeps such users.
    expect(maskText(text, plan([{ detector: 'basic_auth' }])).text).not.toContain('hunter2');
  });

});
