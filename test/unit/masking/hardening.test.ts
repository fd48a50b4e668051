// Issue 8: masking that holds against a hostile upstream. One describe per principle; every case
// asserts the planted secret is gone (and, where it matters, what is kept).
import { describe, expect, it } from 'vitest';
import { applyMask, maskText } from '../../../gateway/masking/index.ts';
import { foldKey } from '../../../gateway/masking/fold.ts';
import { CARDS, plan } from './helpers.ts';

const M = (c: string) => `[MASKED:${c}]`;
const keys = plan([{ key: '*password*' }, { key: '*token*' }, { key: 'ssn' }]);
const all = plan([{ key: '*password*' }, { key: 'ssn' }, { detector: 'all' }]);

/** JSON.parse keeping number literals that a double would change, as the gateway's parser does. */
const parseRaw = (text: string): unknown =>
  (JSON.parse as (t: string, r: (k: string, v: unknown, c: { source?: string }) => unknown) => unknown)(text, (_k, v, c) =>
    typeof v === 'number' && c.source !== undefined && String(v) !== c.source ? (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON(c.source) : v);

describe('keys are matched as a person reads them', () => {
  it.each([
    ['fullwidth', 'ｐａｓｓｗｏｒｄ'],
    ['zero-width space inside', 'pass\u200bword'],
    ['zero-width joiner and soft hyphen', 'pa\u200dss\u00adword'],
    ['bidi control', '\u202epassword'],
    ['Cyrillic a', 'p\u0430ssword'],
    ['Cyrillic o and Greek o', 'passw\u043erd'],
    ['Greek omicron', 'passw\u03bfrd'],
    ['combining mark', 'pa\u0301ssword'],
    ['mathematical bold', '\u{1d429}\u{1d41a}\u{1d42c}\u{1d42c}\u{1d430}\u{1d428}\u{1d42b}\u{1d41d}'],
    ['upper case with Cyrillic', 'DB_P\u0410SSWORD'],
    ['variation selector', 'password\ufe0f'],
  ])('%s', (_name, key) => {
    expect(foldKey(key)).toContain('password');
    const r = applyMask({ [key]: 'hunter2', ok: 'visible' }, keys, 'strict');
    expect(JSON.stringify(r.value)).not.toContain('hunter2');
    expect((r.value as Record<string, string>).ok).toBe('visible');
  });

  it('folds key names in text forms and embedded JSON the same way', () => {
    expect(maskText('{"p\u0430ssword": "hunter2"}', keys).text).not.toContain('hunter2');
    expect(maskText('P\u0410SSWORD=hunter2', keys).text).not.toContain('hunter2');
    expect(maskText('pass\u200bword: hunter2', keys).text).not.toContain('hunter2');
  });

  it('does not map ASCII letters (a rule with "m" still reads as written)', () => {
    const p = plan([{ key: 'admin_pin' }]);
    expect(applyMask({ admin_pin: '1234' }, p, 'strict').value).toEqual({ admin_pin: M('admin_pin') });
    expect(applyMask({ adrnin_pin: '1234' }, p, 'strict').value).toEqual({ adrnin_pin: '1234' });
  });

  it('masks every occurrence of a duplicated key in JSON text, not only the last one JSON.parse keeps', () => {
    for (const text of [
      '{"password":"hunter2","password":"[MASKED:password]"}',
      '{"password":"hunter2","password":"other"}',
      '{"a":{"password":"hunter2","password":null}}',
      '{"note":"ada@example.com","note":"nothing"}',
    ]) {
      const r = applyMask({ content: [{ type: 'text', text }] }, all, 'strict');
      const out = JSON.stringify(r.value);
      expect(out).not.toContain('hunter2');
      expect(out).not.toContain('ada@example.com');
    }
  });

  it('leaves JSON text without duplicates byte for byte when nothing is masked', () => {
    const text = '{ "a" : 1.0, "b": "x" }';
    expect(applyMask({ t: text }, all, 'strict').value).toEqual({ t: text });
  });

  it('a value that begins with something shaped like a marker is still scanned', () => {
    const cases: [unknown, string][] = [
      [{ password: '[MASKED:password]hunter2' }, 'hunter2'],
      [{ password: '[MASKED:password ...ter2]hunter2' }, 'hunter2'],
      [{ note: 'Server=x;Password=[MASKED:connection_string_password]hunter2;' }, 'hunter2'],
      [{ note: 'https://u:[MASKED:url_password]hunter2@db.example/x' }, 'hunter2'],
      [{ note: '[MASKED:email]ada@example.com' }, 'ada@example.com'],
      [{ note: `[MASKED:credit_card]${CARDS.visa}` }, CARDS.visa],
      [{ note: 'password=[MASKED:x]hunter2' }, 'hunter2'],
    ];
    for (const [doc, secret] of cases) expect(JSON.stringify(applyMask(doc, all, 'strict').value)).not.toContain(secret);
  });
});

describe('key rules apply beyond JSON members', () => {
  const p = plan([{ key: '*password*' }, { key: '*secret*' }, { key: 'authorization' }, { key: 'ssn' }, { key: '*api_key*' }]);
  it.each([
    ['env', 'PASSWORD=hunter2\nUSER=ada', 'USER=ada'],
    ['env, prefixed name', 'DB_PASSWORD=hunter2', 'DB_'],
    ['export', 'export DB_PASSWORD="hunter2"', 'export'],
    ['export, unquoted with spaces', 'export APP_SECRET=correct horse battery', 'export'],
    ['ini', '[db]\npassword = hunter2\nhost = db1', 'host = db1'],
    ['YAML', 'db:\n  user: ada\n  password: hunter2\n  host: db1', 'host: db1'],
    ['YAML list item', '- password: hunter2\n- user: ada', 'user: ada'],
    ['YAML block scalar', 'secret: |\n  line-one-hunter2\n  line-two\nnext: 1', 'next: 1'],
    ['YAML nested value', 'secret:\n  value: hunter2\nnext: 1', 'next: 1'],
    ['query string', 'GET /login?user=ada&password=hunter2&next=/', 'next=/'],
    ['header line', 'GET / HTTP/1.1\nAuthorization: Bearer hunter2hunter2\nAccept: */*', 'Accept: */*'],
    ['CSV with a header row', 'user,password,city\nada,hunter2,London\nbob,"s3 cr,et",Paris', 'London'],
    ['TSV', 'user\tssn\nada\t078-05-1120', 'ada'],
    ['Markdown table', '| user | password |\n|---|---|\n| ada | hunter2 |', 'ada'],
    ['Python dict', "{'user': 'ada', 'password': 'hunter2'}", "'user': 'ada'"],
    ['JS object literal', '{ user: "ada", password: "hunter2" }', 'user: "ada"'],
    ['log fields', 'level=info user=ada password="hunter2" msg=ok', 'msg=ok'],
    ['log fields unquoted', 'ts=1 password=hunter2 msg=ok', 'msg=ok'],
    ['escaped JSON inside a string', 'body="{\\"user\\":\\"ada\\",\\"password\\":\\"hunter2\\"}"', 'ada'],
    ['command-line flag', 'mysql --password=hunter2 -h db', '-h db'],
    ['command-line flag with a space', 'tool --password hunter2 --verbose', '--verbose'],
    ['Go/struct print', 'Config{User:ada Password:hunter2}', 'User:ada'],
    ['arrow assignment', "{ :password => 'hunter2' }", '=>'],
    ['walrus', 'password := "hunter2"', ':='],
  ])('%s', (_name, text, kept) => {
    const out = maskText(text, p).text;
    for (const secret of ['hunter2', 'correct horse', '078-05-1120', 's3 cr,et']) expect(out).not.toContain(secret);
    expect(out).toContain(kept);
  });

  it('leaves URLs, times, comparisons and prose alone', () => {
    const text = 'see https://example.com/a?b=c at 10:30; if a == b then x != y. The password policy is strict.';
    expect(maskText(text, p).text).toBe(text);
  });

  it('a detector that knows NAME: value also knows {"NAME": "value"} and NAME=value', () => {
    const d = plan([{ detector: 'secrets' }]);
    const doc = {
      authorization: 'abc123XYZ789tok',
      Authorization: 'Bearer abc123XYZ789tok2',
      aws_secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      password: 'hunter2',
      client_secret: 'sup3r-s3cret',
      apiKey: 'Key-4242-abcd',
      token_type: 'Bearer',
      password_policy_url: 'https://example.com/p',
    };
    const out = applyMask(doc, d, 'strict').value as Record<string, string>;
    for (const k of ['authorization', 'aws_secret_access_key', 'password', 'client_secret', 'apiKey']) expect(out[k]).toMatch(/^\[MASKED:/);
    expect(out.Authorization).not.toContain('abc123XYZ789tok2');
    expect(out.token_type).toBe('Bearer');
    const proto = { progressToken: 'abc-123-def-456', nextPageToken: 'Cursor0123456789', usage: { input_tokens: '12345678', maxTokens: '40960000' } };
    expect(applyMask(proto, d, 'strict').value).toEqual(proto); // protocol fields and counts, not secrets
    expect(out.password_policy_url).toBe('https://example.com/p');
    expect(maskText('CLIENT_SECRET=sup3r-s3cret', d).text).toBe(`CLIENT_SECRET=${M('generic_secret')}`);
  });
});

describe('names given as data', () => {
  it('masks the value of a name/value pair by the name', () => {
    const doc = {
      env: [{ name: 'DB_PASSWORD', value: 'hunter2-pair' }, { name: 'HOST', value: 'db1' }],
      headers: [['Authorization', 'abc123XYZ789tok'], ['Accept', 'text/plain']],
      fields: [{ key: 'client_secret', value: 's3cr3t-pair' }],
    };
    const p = plan([{ key: '*password*' }, { detector: 'secrets' }]);
    const out = JSON.stringify(applyMask(doc, p, 'strict').value);
    for (const s of ['hunter2-pair', 'abc123XYZ789tok', 's3cr3t-pair']) expect(out).not.toContain(s);
    for (const s of ['db1', 'text/plain', 'DB_PASSWORD', 'Authorization']) expect(out).toContain(s);
  });
});

describe('detectors read normalized text', () => {
  const d = plan([{ detector: 'all' }]);
  it.each([
    ['fullwidth digits', `card ${'４２４２４２４２４２４２４２４２'}`],
    ['fullwidth at sign', 'ada＠example.com'],
    ['small at sign', 'ada\ufe6bexample.com'],
    ['NBSP between groups', 'card 4242\u00a04242\u00a04242\u00a04242'],
    ['thin spaces between groups', 'card 4242\u20094242\u20094242\u20094242'],
    ['zero-width inside a card', 'card 4242\u200b4242\u200b4242\u200b4242'],
    ['dots between groups', 'card 4242.4242.4242.4242'],
    ['a card inside a digit run', 'ref 9942424242424242429'],
    ['Arabic-Indic digits', 'card ٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢'],
    ['IDN address', 'mail josé@bücher.de'],
    ['non-ASCII local part and domain', 'mail 用户@例子.广告'],
    ['fullwidth AWS key', 'ＡＫＩＡＩＯＳＦＯＤＮＮ７ＥＸＡＭＰＬＥ'],
    ['Cyrillic in the header name', 'Аuthorization: Bearer abcDEF123456ghiJKL789'],
    ['percent-encoded at sign', 'to=josé%40bücher.de&x=1'.replace('é', 'e').replace('ü', 'u')],
    ['JSON escape for the at sign', '{"to": "josé\\u0040example.com", "cut'],
  ])('%s', (_name, text) => {
    const r = maskText(text, d);
    expect(r.changed).toBe(true);
    expect(r.text).not.toMatch(/4242|٤٢|josé|用户|ＡＫＩＡ|abcDEF123456/);
  });

  it('masks only the span, in the original text', () => {
    expect(maskText('Kontakt: ada＠example.com, danke', d).text).toBe(`Kontakt: ${M('email')}, danke`);
  });

  it.each([
    ['PyPI token', 'pypi-AgEIcHlwaS5vcmc' + 'A'.repeat(60)],
    ['curl -u', 'curl -u admin:hunter2 https://x'],
    ['URL password with unescaped characters', 'mongodb+srv://app:p@ss:w/rd#1@cluster0.example.net/db'],
    ['GCP service-account JSON', JSON.stringify({ type: 'service_account', private_key_id: 'a'.repeat(40), private_key: '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n' })],
  ])('%s', (_name, text) => {
    const out = maskText(text, d).text;
    expect(out).not.toMatch(/hunter2|AAAAAAAAAA|ss:w\/rd|aaaaaaaaaa|MIIEvQIBADAN/);
  });
});

describe('values, not just places', () => {
  it('a value masked by key is masked wherever else it appears in the message', () => {
    const msg = {
      structuredContent: { user: 'ada', password: 'hunter2-horse' },
      content: [{ type: 'text', text: 'Your new password is hunter2-horse, keep it safe.' }],
      _meta: { echo: ['hunter2-horse'] },
    };
    const out = JSON.stringify(applyMask(msg, keys, 'strict').value);
    expect(out).not.toContain('hunter2-horse');
    expect(out).toContain('Your new password is');
  });

  it('a value masked by path recurs as a number too', () => {
    const p = plan([{ path: 'structuredContent.pin' }]);
    const r = applyMask({ structuredContent: { pin: '7391' }, content: [{ type: 'text', text: 'pin 7391' }], other: 7391 }, p, 'strict');
    expect(JSON.stringify(r.value)).not.toContain('7391');
  });

  it('short values only recur as whole words', () => {
    const r = applyMask({ ssn: 'abcd', note: 'abcdef and abcd' }, keys, 'strict');
    expect((r.value as { note: string }).note).toBe(`abcdef and ${M('ssn')}`);
  });

  it('adjacent text blocks are scanned as one text', () => {
    const msg = { content: [{ type: 'text', text: 'key AKIAIOSF' }, { type: 'text', text: 'ODNN7EXAMPLE ok' }, { type: 'text', text: 'mail ada@exa' }, { type: 'text', text: 'mple.com' }] };
    const r = applyMask(msg, all, 'strict');
    const out = JSON.stringify(r.value);
    expect(out).not.toMatch(/AKIAIOSF|ODNN7EXAMPLE|ada@exa|mple\.com/);
    expect((r.value as typeof msg).content).toHaveLength(4);
    expect(r.counts).toEqual({ aws_access_key: 1, email: 1 });
  });

  it('a split key/value pair across blocks is found', () => {
    const msg = { content: [{ type: 'text', text: 'password=' }, { type: 'text', text: 'hunter2' }] };
    expect(JSON.stringify(applyMask(msg, keys, 'strict').value)).not.toContain('hunter2');
  });
});

describe('blobs', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const res = (blob: string, mimeType?: string) => ({ contents: [{ uri: 'file:///x', ...(mimeType ? { mimeType } : {}), blob }] });
  const blobOf = (v: unknown) => Buffer.from((v as { contents: [{ blob: string }] }).contents[0].blob, 'base64').toString();

  it('decodes, masks and re-encodes a text-like blob', () => {
    for (const mime of ['text/plain', 'application/json', 'application/yaml', 'application/vnd.api+json', 'text/csv; charset=utf-8']) {
      const r = applyMask(res(b64('{"password":"hunter2","user":"ada"}'), mime), all, 'strict');
      expect(blobOf(r.value)).toBe('{"password":"[MASKED:password]","user":"ada"}');
    }
  });

  it('reads printable UTF-8 as text whatever the mimeType claims', () => {
    const r = applyMask(res(b64('mail ada@example.com'), 'application/octet-stream'), all, 'strict');
    expect(blobOf(r.value)).toBe(`mail ${M('email')}`);
  });

  it('passes binary blobs by default and withholds them when the plan says so', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 3]).toString('base64');
    expect(applyMask(res(png, 'image/png'), all, 'strict').changed).toBe(false);
    const w = plan([{ detector: 'email' }, { blobs: 'withhold' }]);
    const r = applyMask({ content: [{ type: 'image', mimeType: 'image/png', data: png }, { type: 'resource', resource: { uri: 'x:', mimeType: 'image/png', blob: png } }] }, w, 'strict');
    expect(JSON.stringify(r.value)).not.toContain(png);
    expect(r.counts).toEqual({ blob: 2 });
    expect(plan([{ blobs: 'pass' }, { blobs: 'withhold' }]).blobRule).toBeNull();
  });

  it('masks text inside image/audio data that is really text', () => {
    const r = applyMask({ content: [{ type: 'image', mimeType: 'image/png', data: b64('password=hunter2') }] }, all, 'strict');
    expect(Buffer.from((r.value as { content: [{ data: string }] }).content[0].data, 'base64').toString()).not.toContain('hunter2');
  });
});

describe('JSON numbers are masked from their literal text', () => {
  const card19 = CARDS.unionpay19;
  it('a raw literal (JSON.rawJSON) card number becomes the marker', () => {
    const doc = parseRaw(`{"n": ${card19}, "m": 12345678901234567890123, "small": 42}`) as Record<string, unknown>;
    const r = applyMask(doc, all, 'strict');
    const v = r.value as Record<string, unknown>;
    expect(v.n).toBe(M('credit_card'));
    expect(JSON.stringify(v)).toContain('"small":42');
    expect(JSON.stringify(v)).not.toContain(card19);
  });

  it('an unmasked raw literal keeps its exact text', () => {
    const doc = parseRaw('{"big": 12345678901234567890123}');
    const r = applyMask(doc, plan([{ detector: 'email' }]), 'strict');
    expect(JSON.stringify(r.value)).toBe('{"big":12345678901234567890123}');
  });

  it('key and path rules mask raw literals as numbers', () => {
    const doc = parseRaw('{"pin": 12345678901234567890, "x": {"y": 98765432109876543210}}');
    const r = applyMask(doc, plan([{ key: 'pin' }, { path: 'x.y' }]), 'strict');
    expect(r.value).toEqual({ pin: M('pin'), x: { y: M('y') } });
  });

  it('ordinary numbers are masked from their text', () => {
    expect(applyMask({ n: 4242424242424242 }, all, 'strict').value).toEqual({ n: M('credit_card') });
    expect(applyMask({ n: 1767225600000 }, all, 'strict').value).toEqual({ n: 1767225600000 });
  });

  it('a 19-digit card in JSON text inside a string is read from its literal', () => {
    const text = `{"card": ${card19}, "note": "x"}`;
    const r = applyMask({ content: [{ type: 'text', text }] }, all, 'strict');
    expect(JSON.stringify(r.value)).not.toContain(card19.slice(0, 15));
  });
});

describe('no over-masking of schemas', () => {
  const tools = {
    tools: [{
      name: 'login',
      description: 'Logs in',
      inputSchema: {
        type: 'object',
        properties: {
          user: { type: 'string', default: 'ada' },
          password: { type: 'string', description: 'the password', default: 'hunter2', examples: ['hunter3'] },
          token: { type: 'object', properties: { value: { type: 'string', const: 'tok-secret-1' } } },
        },
        required: ['user', 'password'],
        password: 'hunter4',
      },
      outputSchema: { type: 'object', properties: { password_hash: { type: 'string' } } },
    }],
  };

  it('keeps the structure, masks the data a schema carries', () => {
    const r = applyMask(tools, keys, 'strict');
    const t = (r.value as typeof tools).tools[0]!;
    expect(t.inputSchema.type).toBe('object');
    expect(t.inputSchema.properties.password.type).toBe('string');
    expect(t.inputSchema.properties.password.description).toBe('the password');
    expect(t.inputSchema.required).toEqual(['user', 'password']);
    expect(t.inputSchema.properties.user.default).toBe('ada');
    expect(t.outputSchema.properties.password_hash).toEqual({ type: 'string' });
    const out = JSON.stringify(r.value);
    for (const s of ['hunter2', 'hunter3', 'hunter4', 'tok-secret-1']) expect(out).not.toContain(s);
  });
});
