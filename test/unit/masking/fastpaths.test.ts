// The fast paths (plan.ts gate, recurrence skip over the structuredContent copy) decide that work
// is not needed; each case here is one where skipping it would leak.
import { describe, expect, it } from 'vitest';
import { applyMask, maskText } from '../../../gateway/masking/index.ts';
import { detector } from '../../../gateway/masking/detectors.ts';
import { plan } from './helpers.ts';

/** What the detector itself finds (its own prefilter and regex; names in text would also catch most of these). */
const ownSpans = (name: 'connection_string_password' | 'aws_access_key', s: string): number => {
  const out: number[] = [];
  detector(name).find(s, out, 0, null);
  return out.length / 3;
};

const M = (c: string) => `[MASKED:${c}]`;
const HEX31 = '0123456789abcdef0123456789abcde';

describe('the gate (can this string change at all?)', () => {
  it('still folds a long ASCII string whose only non-ASCII character is the last one', () => {
    // Without the fullwidth "ｆ" the ASCII text has 31 hex digits after "SK": nothing to find.
    const text = `${'log line without anything to mask '.repeat(100)}key SK${HEX31}ｆ`;
    const r = maskText(text, plan([{ detector: 'twilio_key' }]));
    expect(r.text).toBe(`${'log line without anything to mask '.repeat(100)}key ${M('twilio_key')}`);
  });

  it.each([
    ['github_token', `token ｇｈｐ_${'a1B2c3D4e5'.repeat(4)}`],
    ['jwt', `eyＪ${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url').slice(3)}.${Buffer.from('{"sub":"u1"}').toString('base64url')}.c2lnbmF0dXJl`],
    ['bearer_token', 'Ａｕｔｈｏｒｉｚａｔｉｏｎ: Ｂｅａｒｅｒ abc123DEF456ghi789JKL'],
    ['aws_access_key', 'ＡＫＩＡIOSFODNN7EXAMPLE'],
    ['stripe_key', `ｓｋ＿live_${'a1B2c3D4e5'.repeat(2)}`],
  ] as const)('fires %s when its prefilter keyword appears only in fullwidth form', (name, text) => {
    const r = maskText(text, plan([{ detector: name }]));
    expect(r.counts[name]).toBeGreaterThan(0);
  });

  it('reads an escape as the character it stands for when the escape is the only trigger', () => {
    expect(maskText('write to ada\\u0040example.com today', plan([{ detector: 'email' }])).text).toBe(`write to ${M('email')} today`);
    expect(maskText('?to=ada%40example.com', plan([{ detector: 'email' }])).text).not.toContain('example.com');
  });

  it('keeps literals another trigger implies (a key rule makes every "=" a candidate)', () => {
    const key = 'A'.repeat(86) + '==';
    const p = plan([{ key: 'unrelated' }, { detector: 'azure_secret' }]);
    expect(maskText(`AccountName=x;AccountKey=${key};EndpointSuffix=core.windows.net`, p).text).toBe(`AccountName=x;AccountKey=${M('azure_secret')};EndpointSuffix=core.windows.net`);
    expect(maskText('curl --user ops:hunter2 https://x', plan([{ key: 'unrelated' }, { detector: 'basic_auth' }])).text).toBe(`curl --user ops:${M('basic_auth')} https://x`);
  });

  it('finds a curl -u flag at the start of the text or of a line (not only after a blank)', () => {
    const p = plan([{ detector: 'basic_auth' }]);
    expect(maskText('-u admin:hunter2', p).text).toBe(`-u admin:${M('basic_auth')}`);
    expect(maskText('$ curl \\\n-u admin:hunter2 https://x', p).text).toBe(`$ curl \\\n-u admin:${M('basic_auth')} https://x`);
    expect(maskText('a follow-up note', p).changed).toBe(false);
  });

  it('does not read the colon inside a marker after -u as user:password (idempotence)', () => {
    const all = plan([{ detector: 'all' }]);
    const once = maskText('-u glpat-AAAAAAAAAAAAAAAAAAAA ', all);
    expect(once.text).toBe(`-u ${M('gitlab_token')} `);
    expect(maskText(once.text, all)).toEqual({ text: once.text, counts: {}, changed: false });
    // A marker-shaped user proves nothing: the password after it is still masked.
    expect(maskText('curl -u [MASKED:x]:hunter2', all).text).toBe(`curl -u [MASKED:x]:${M('basic_auth')}`);
  });

  it('scans strings the gate passes exactly as before: names in text, member fragments, digit runs', () => {
    const p = plan([{ key: '*password*' }, { detector: 'credit_card' }, { detector: 'iban' }]);
    expect(maskText('db_password=hunter2', p).text).toBe(`db_password=${M('password')}`);
    expect(maskText('{"password": "hunter2", "x": 1', p).text).toBe(`{"password": "${M('password')}", "x": 1`);
    expect(maskText('card 4242.4242.4242.4242 ok', p).text).toBe(`card ${M('credit_card')} ok`);
    expect(maskText('iban DE89 3704 0044 0532 0130 00.', p).text).toBe(`iban ${M('iban')}.`);
  });
});

describe('prefilters that look back from each separator instead of a case-insensitive regex', () => {
  const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

  it.each([
    ['Server=db;PASSWORD = hunter2;', `Server=db;PASSWORD = ${M('connection_string_password')};`],
    ['Server=db;Pwd\t=\thunter2', `Server=db;Pwd\t=\t${M('connection_string_password')}`],
    ['host=db passwd=hunter2 user=x', `host=db passwd=${M('connection_string_password')} user=x`],
    ['ｐａｓｓｗｏｒｄ＝hunter2;', `ｐａｓｓｗｏｒｄ＝${M('connection_string_password')};`],
  ])('connection_string_password: %j', (input, expected) => {
    expect(maskText(input, plan([{ detector: 'connection_string_password' }])).text).toBe(expected);
    if (!input.includes('ｐ')) expect(ownSpans('connection_string_password', input)).toBe(1);
  });

  it.each([
    [`AWS_SECRET_ACCESS_KEY=${SECRET}`],
    [`"aws_secret_access_key" : "${SECRET}"`],
    [`aws_secret_key:\n  ${SECRET}`],
    [`Ａｗｓ_Secret_Key = ${SECRET}`],
  ])('aws_access_key secret: %j', (input) => {
    const r = maskText(input, plan([{ detector: 'aws_access_key' }]));
    expect(r.text).not.toContain(SECRET);
    expect(r.counts.aws_access_key).toBe(1);
    if (!input.includes('Ａ')) expect(ownSpans('aws_access_key', input)).toBe(1);
  });

  it('still leaves prose that only names them alone', () => {
    const p = plan([{ detector: 'connection_string_password' }, { detector: 'aws_access_key' }]);
    expect(maskText(`the password policy and the secret key rotation (${SECRET} is not assigned)`, p).changed).toBe(false);
  });
});

describe('the recurrence walk skips structuredContent and its copy only when neither holds a masked value', () => {
  const keys = plan([{ key: '*password*' }]);
  const result = (sc: Record<string, unknown>, extra: string) => ({
    content: [{ type: 'text', text: JSON.stringify(sc) }, { type: 'text', text: extra }],
    structuredContent: sc,
  });

  it('masks a recurrence in another block (the copy is skipped, the rest is walked)', () => {
    const r = applyMask(result({ password: 'hunter22', note: 'fine' }, 'your password is hunter22'), keys, 'strict');
    expect(JSON.stringify(r.value)).not.toContain('hunter22');
  });

  it('masks a recurrence inside structuredContent and its copy', () => {
    const r = applyMask(result({ password: 'hunter22', note: 'it is hunter22' }, 'ok'), keys, 'strict');
    const out = r.value as { content: { text: string }[]; structuredContent: { note: string } };
    expect(out.structuredContent.note).toBe(`it is ${M('password')}`);
    expect(out.content[0]!.text).toBe(JSON.stringify(out.structuredContent));
  });

  it('masks a recurrence JSON would escape in the copy (a quote, a line break)', () => {
    for (const secret of ['hun"ter22', 'hunter\n22', 'hunter\\22']) {
      const r = applyMask(result({ password: secret, note: `it is ${secret}` }, 'ok'), keys, 'strict');
      const out = r.value as { content: { text: string }[]; structuredContent: { note: string } };
      expect(out.structuredContent.note).toBe(`it is ${M('password')}`);
      expect(out.content[0]!.text).toBe(JSON.stringify(out.structuredContent));
    }
  });

  it('masks a number that recurs as a masked value', () => {
    const r = applyMask(result({ password: '12345678', pin: 12345678 }, 'ok'), keys, 'strict');
    expect((r.value as { structuredContent: { pin: unknown } }).structuredContent.pin).toBe(M('password'));
  });
});
