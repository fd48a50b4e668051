// The adversarial masking corpus: one row per case, named. Each row is what a hostile upstream
// answers to `tools/call {case: name}` and the bytes it planted (`secrets`), none of which may
// reach the client through the gateway (test/fixtures/rego/masking-corpus masks with keys, paths,
// every detector, binary blobs withheld). `keep` (optional) are bytes that must survive, so a
// case cannot pass by withholding everything.
import type { PlantedAnswer } from '../fixtures/planted-upstream.ts';

export interface CorpusCase {
  name: string;
  answer: PlantedAnswer;
  secrets: string[];
  keep?: string[];
  /** Also sent through an SDK upstream's `echo` tool (the text becomes its result). */
  echo?: string;
}

const ALNUM = 'a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ';
const HEX = '0123456789abcdef';
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const run = (n: number, alphabet = ALNUM, seed = 0) => Array.from({ length: n }, (_, i) => alphabet[(i * 7 + seed * 3) % alphabet.length]).join('');
let serial = 0;
/** A distinctive planted secret (never a word, never a substring of another). */
const S = () => `Pl4nt${String(++serial).padStart(3, '0')}qZ`;

const text = (t: string, sse = false): PlantedAnswer => ({ result: { content: [{ type: 'text', text: t }] }, sse });
const structured = (sc: Record<string, unknown>, copy = true): PlantedAnswer => ({
  result: { content: [{ type: 'text', text: copy ? JSON.stringify(sc) : 'see structured content' }], structuredContent: sc },
});
const b64 = (s: string) => Buffer.from(s).toString('base64');

const cases: CorpusCase[] = [];
const add = (name: string, answer: PlantedAnswer, secrets: string[], keep?: string[], echo?: string) =>
  cases.push({ name, answer, secrets, ...(keep ? { keep } : {}), ...(echo !== undefined ? { echo } : {}) });
/** A text case that is also echoed through the SDK upstream. */
const addText = (name: string, t: string, secrets: string[], keep?: string[], sse = false) => add(name, text(t, sse), secrets, keep, t);

// --- Key rules in text forms (principle 2) ---------------------------------------------------
const textForms: [string, (s: string) => string, string?][] = [
  ['env KEY=value', (s) => `PASSWORD=${s}\nUSER=ada`, 'USER=ada'],
  ['env prefixed DB_PASSWORD', (s) => `DB_PASSWORD=${s}`],
  ['env export quoted', (s) => `export APP_SECRET="${s}"`],
  ['env export unquoted with spaces', (s) => `export DB_PASSWORD=${s} and more words`],
  ['ini', (s) => `[db]\npassword = ${s}\nhost = db1`, 'host = db1'],
  ['YAML', (s) => `db:\n  user: ada\n  password: ${s}\n  host: db1`, 'host: db1'],
  ['YAML list item', (s) => `- password: ${s}\n- user: ada`, 'user: ada'],
  ['YAML block scalar', (s) => `client_secret: |\n  ${s}\n  second line\nnext: 1`, 'next: 1'],
  ['YAML nested block', (s) => `secret:\n  value: ${s}\nnext: 1`, 'next: 1'],
  ['YAML quoted', (s) => `password: '${s}'`],
  ['query string', (s) => `GET /login?user=ada&password=${s}&next=/home`, 'next=/home'],
  ['URL-ish fragment', (s) => `https://example.com/cb#access_token=${s}&state=xyz`, 'state=xyz'],
  ['HTTP header line', (s) => `GET / HTTP/1.1\nAuthorization: ${s}\nAccept: */*`, 'Accept: */*'],
  ['header X-Api-Key', (s) => `X-Api-Key: ${s}`],
  ['CSV header row', (s) => `user,password,city\nada,${s},London`, 'London'],
  ['CSV quoted field', (s) => `user,ssn\n"ada","${s}"`],
  ['TSV', (s) => `user\tpassword\nada\t${s}`],
  ['semicolon CSV', (s) => `name;secret_key;x\nada;${s};1`],
  ['Markdown table', (s) => `| user | password |\n|---|---|\n| ada | ${s} |`, 'ada'],
  ['Python dict', (s) => `{'user': 'ada', 'password': '${s}'}`, "'user': 'ada'"],
  ['Python kwargs', (s) => `connect(user='ada', password='${s}')`],
  ['JS object literal', (s) => `{ user: "ada", password: "${s}" }`, 'user: "ada"'],
  ['JS template', (s) => 'const cfg = { apiKey: `' + s + '` }'],
  ['log fields quoted', (s) => `level=info user=ada password="${s}" msg=ok`, 'msg=ok'],
  ['log fields bare', (s) => `ts=1 secret=${s} msg=ok`, 'msg=ok'],
  ['escaped JSON in a log line', (s) => `body="{\\"user\\":\\"ada\\",\\"password\\":\\"${s}\\"}"`],
  ['double-escaped JSON', (s) => `payload: "{\\\\\\"password\\\\\\":\\\\\\"${s}\\\\\\"}"`],
  ['truncated JSON', (s) => `{"user":"ada","password":"${s}`],
  ['JSON lines', (s) => `{"a":1}\n{"password":"${s}"}\n{"b":2}`],
  ['command-line flag =', (s) => `mysql --password=${s} -h db`, '-h db'],
  ['command-line flag space', (s) => `tool --password ${s} --verbose`, '--verbose'],
  ['Go struct print', (s) => `Config{User:ada Password:${s}}`],
  ['Ruby hash', (s) => `{ :password => '${s}' }`],
  ['walrus', (s) => `password := "${s}"`],
  ['XML-ish attribute', (s) => `<db password="${s}" host="h"/>`],
  ['prose name: value', (s) => `Your new password: ${s} (change it)`, '(change it)'],
  ['Authorization header in curl', (s) => `curl -H 'Authorization: Basic ${s}' https://x`],
];
for (const [name, make, keep] of textForms) {
  const s = S();
  addText(`text form: ${name}`, make(s), [s], keep ? [keep] : undefined, cases.length % 2 === 0);
}

// --- Keys matched as a person reads them (principle 1) ---------------------------------------
const lookalikes: [string, string][] = [
  ['fullwidth', 'ｐａｓｓｗｏｒｄ'],
  ['zero-width space', 'pass\u200bword'],
  ['zero-width joiner + soft hyphen', 'pa\u200dss\u00adword'],
  ['bidi override', '\u202epassword'],
  ['Cyrillic a', 'p\u0430ssword'],
  ['Cyrillic o', 'passw\u043erd'],
  ['Greek omicron', 'passw\u03bfrd'],
  ['combining acute', 'pa\u0301ssword'],
  ['mathematical bold', '\u{1d429}\u{1d41a}\u{1d42c}\u{1d42c}\u{1d430}\u{1d428}\u{1d42b}\u{1d41d}'],
  ['upper case Cyrillic', 'DB_P\u0410SSWORD'],
  ['variation selector', 'password\ufe0f'],
  ['mixed case', 'PaSsWoRd'],
  ['JSON escape in name', 'pass\\u0077ord'],
];
for (const [name, key] of lookalikes) {
  const s1 = S();
  const s2 = S();
  const s3 = S();
  const jsonKey = key.includes('\\u') ? key : JSON.stringify(key).slice(1, -1);
  add(`key lookalike in structuredContent: ${name}`, structured(key.includes('\\u') ? { password: s1 } : { [key]: s1, ok: 'visible' }), [s1]);
  add(`key lookalike in JSON text: ${name}`, { raw: `{"content":[{"type":"text","text":${JSON.stringify(`{"${jsonKey}": "${s2}", "ok": 1}`)}}]}` }, [s2]);
  add(`key lookalike in env text: ${name}`, text(`${key.replace('\\u0077', 'w')}=${s3}`), [s3]);
}

// --- Duplicates and markers (principle 1) ------------------------------------------------------
{
  const s = [S(), S(), S(), S(), S()];
  add('duplicate key in JSON text, last one masked already', text(`{"password":"${s[0]}","password":"[MASKED:password]"}`), [s[0]!]);
  add('duplicate key in JSON text, both planted', text(`{"password":"${s[1]}","password":"x"}`), [s[1]!]);
  add('duplicate key nested', text(`{"a":{"secret":"${s[2]}","secret":null},"b":1}`), [s[2]!]);
  add('duplicate member hides an e-mail', text(`{"note":"${s[3]}@example.com","note":"ok"}`), [`${s[3]}@example.com`]);
  add('duplicate in structured result JSON body', { raw: `{"content":[{"type":"text","text":"hi"}],"structuredContent":{"password":"${s[4]}","password":"[MASKED:password]"}}` }, [s[4]!]);
}
{
  const m = [S(), S(), S(), S(), S(), S()];
  add('marker prefix before a key value', structured({ password: `[MASKED:password]${m[0]}` }), [m[0]!]);
  add('marker prefix with tail shape', structured({ password: `[MASKED:password ...${m[1]}]` }), [m[1]!]);
  add('marker prefix in a connection string', text(`Server=x;Password=[MASKED:connection_string_password]${m[2]};`), [m[2]!]);
  add('marker prefix in a URL password', text(`postgres://u:[MASKED:url_password]${m[3]}@db.example.net/x`), [m[3]!]);
  add('marker prefix before an e-mail', text(`[MASKED:email]${m[4]}@example.org`), [`${m[4]}@example.org`]);
  add('marker prefix in env', text(`PASSWORD=[MASKED:x]${m[5]}`), [m[5]!]);
}

// --- Detectors: provider credentials in three placements (principle 3) ------------------------
const tokens: [string, () => string][] = [
  ['AWS access key id', () => `AKIA${run(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', ++serial)}`],
  ['GitHub token', () => `ghp_${run(36, ALNUM, ++serial)}`],
  ['GitHub fine-grained PAT', () => `github_pat_11${run(20, ALNUM, ++serial)}_${run(59, ALNUM, serial)}`],
  ['GitLab PAT', () => `glpat-${run(20, ALNUM, ++serial)}`],
  ['Slack bot token', () => `xoxb-${run(12, HEX, ++serial)}-${run(24, ALNUM, serial)}`],
  ['Stripe secret key', () => `sk_live_${run(24, ALNUM, ++serial)}`],
  ['Stripe restricted key', () => `rk_test_${run(24, ALNUM, ++serial)}`],
  ['Stripe webhook secret', () => `whsec_${run(32, ALNUM, ++serial)}`],
  ['Google API key', () => `AIza${run(35, ALNUM, ++serial)}`],
  ['Google OAuth client secret', () => `GOCSPX-${run(28, ALNUM, ++serial)}`],
  ['Twilio API key', () => `SK${run(32, HEX, ++serial)}`],
  ['SendGrid key', () => `SG.${run(22, ALNUM, ++serial)}.${run(43, ALNUM, serial)}`],
  ['npm token', () => `npm_${run(36, ALNUM, ++serial)}`],
  ['PyPI token', () => `pypi-AgEIcHlwaS5vcmc${run(60, ALNUM, ++serial)}`],
  ['Azure AD client secret', () => `a${run(2, ALNUM, ++serial)}8Q~${run(34, ALNUM, serial)}`],
  ['OpenAI key', () => `sk-proj-${run(20, ALNUM, ++serial)}T3BlbkFJ${run(20, ALNUM, serial)}`],
  ['Anthropic key', () => `sk-ant-api03-${run(90, ALNUM, ++serial)}`],
  ['Hugging Face token', () => `hf_${run(34, 'abcdefghijklmnopqrstuvwxyzABCDEFGH', ++serial)}`],
  ['JWT', () => `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(`{"sub":"${++serial}"}`).toString('base64url')}.${run(43, ALNUM, serial)}`],
  ['Slack webhook', () => `https://hooks.slack.com/services/T${run(8, 'ABCDEFGHIJ', ++serial)}/B${run(8, 'ABCDEFGHIJ', serial)}/${run(24, ALNUM, serial)}`],
];
for (const [name, make] of tokens) {
  const a = make();
  const b = make();
  const c = make();
  addText(`token in prose: ${name}`, `Here is the credential ${a} for the deploy.`, [a], ['for the deploy']);
  add(`token in JSON text: ${name}`, text(JSON.stringify({ config: { value: a === b ? b : b, note: 'x' } })), [b]);
  add(`token in structuredContent: ${name}`, structured({ items: [{ v: c }] }), [c]);
}
{
  const keyId = run(40, HEX, ++serial);
  const pem = `-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC${run(40, B64, serial)}\n-----END PRIVATE KEY-----\n`;
  const sa = { type: 'service_account', project_id: 'p', private_key_id: keyId, private_key: pem, client_email: 'svc@p.iam.gserviceaccount.com' };
  add('GCP service-account JSON as text', text(JSON.stringify(sa, null, 2)), [keyId, 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', 'svc@p.iam']);
  add('GCP service-account JSON as structuredContent', structured(sa), [keyId, 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC']);
  const storage = run(86, B64, ++serial);
  add('Azure storage connection string', text(`DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${storage}==;EndpointSuffix=core.windows.net`), [storage]);
  const sig = run(44, ALNUM, ++serial);
  add('Azure SAS URL', text(`https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sig=${sig}`), [sig]);
}
{
  const pw = [S(), S(), S(), S(), S(), S(), S(), S()];
  addText('postgres URL password', `DATABASE_URL=postgres://app:${pw[0]}@db.internal:5432/app`, [pw[0]!]);
  addText('mongodb+srv URL password', `mongodb+srv://app:${pw[1]}@cluster0.example.net/db`, [pw[1]!]);
  addText('URL password with unescaped @ / # ?', `redis://user:p@ss/${pw[2]}#x?y@cache.example.com:6379`, [pw[2]!]);
  addText('ADO.NET connection string', `Server=db;User Id=sa;Password=${pw[3]};Encrypt=true`, [pw[3]!]);
  addText('ODBC braced password', `DRIVER={x};UID=sa;PWD={${pw[4]};x};`, [pw[4]!]);
  addText('JDBC query password', `jdbc:mysql://db/app?user=app&password=${pw[5]}&ssl=true`, [pw[5]!]);
  addText('curl -u user:password', `curl -u admin:${pw[6]} https://api.example.com/v1`, [pw[6]!]);
  addText('wget --password', `wget --user=ops --password=${pw[7]} https://x.example.com/f`, [pw[7]!]);
  const b = run(24, ALNUM, ++serial);
  addText('Bearer token in prose', `sent with Bearer ${b} yesterday`, [b]);
  const pem = `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA${run(40, B64, ++serial)}\n-----END OPENSSH PRIVATE KEY-----`;
  addText('OpenSSH private key', `key:\n${pem}`, ['b3BlbnNzaC1rZXktdjEAAAAA']);
  const aws = `wJalrXUtnFEMI/K7MDENG/bPxRfi${run(12, ALNUM, ++serial)}`;
  add('AWS secret key as JSON member', structured({ aws_secret_access_key: aws }), [aws]);
  const auth = `Tok${run(20, ALNUM, ++serial)}`;
  add('authorization member without scheme', structured({ headers: { Authorization: auth } }), [auth]);
  const env = S();
  add('Kubernetes env name/value pair', structured({ env: [{ name: 'DB_PASSWORD', value: env }, { name: 'HOST', value: 'db1' }] }), [env], ['db1']);
  const hdr = `Tok${run(20, ALNUM, ++serial)}`;
  add('header list as pairs', structured({ headers: [['Authorization', hdr], ['Accept', 'text/plain']] }), [hdr], ['text/plain']);
  const gen = `k3y${run(16, ALNUM, ++serial)}`;
  add('generic api key member', structured({ settings: { apiKey: gen } }), [gen]);
}

// --- Normalized text before detecting (principle 3) -------------------------------------------
{
  const fw = (s: string) => [...s].map((c) => (c >= '!' && c <= '~' ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join('');
  addText('fullwidth card digits', `card ${fw('4242424242424242')} on file`, [fw('4242424242424242')]);
  addText('fullwidth at sign', `mail ada.planted${++serial}＠example.com`, [`ada.planted${serial}＠example.com`]);
  addText('fullwidth e-mail', fw(`bob${++serial}@example.com`), [fw(`bob${serial}@example.com`)]);
  addText('NBSP between card groups', 'card 4111\u00a01111\u00a01111\u00a01111 ok', ['4111\u00a01111\u00a01111\u00a01111']);
  addText('narrow NBSP between card groups', 'card 5555\u202f5555\u202f5555\u202f4444 ok', ['5555\u202f5555\u202f5555\u202f4444']);
  addText('dots between card groups', 'card 4242.4242.4242.4242 ok', ['4242.4242.4242.4242']);
  addText('zero-width inside a card', 'card 4242\u200b4242\u200b4242\u200b4242', ['4242\u200b4242\u200b4242\u200b4242']);
  addText('card inside a digit run', 'ref 0042424242424242424200 ok', ['4242424242424242']);
  addText('Arabic-Indic card digits', 'card ٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢', ['٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢']);
  addText('IDN e-mail', `mail josé${++serial}@bücher.de today`, [`josé${serial}@bücher.de`]);
  addText('non-ASCII e-mail', `mail 用户${++serial}@例子.广告 today`, [`用户${serial}@例子.广告`]);
  addText('punycode e-mail', `mail user${++serial}@xn--bcher-kva.de`, [`user${serial}@xn--bcher-kva.de`]);
  addText('fullwidth AWS key', fw(`AKIA${run(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', ++serial)}`), [fw('AKIA')]);
  addText('Cyrillic in a header name', `\u0410uthorization: Bearer ${run(24, ALNUM, ++serial)}`, [run(24, ALNUM, serial)]);
  addText('IBAN with NBSP', 'IBAN GB82\u00a0WEST\u00a01234\u00a05698\u00a07654\u00a032', ['WEST\u00a01234']);
  addText('plain IBAN', 'IBAN DE89370400440532013000 please', ['DE89370400440532013000'], ['please']);
  addText('percent-encoded at sign in a query', `GET /invite?to=pct${++serial}%40example.com&x=1`, [`pct${serial}%40example.com`], ['x=1']);
  addText('JSON escape for the at sign in truncated JSON', `{"to": "esc${++serial}\\u0040example.com", "cut`, [`esc${serial}\\u0040example.com`]);
  const pe = S();
  addText('percent-encoded key name in a query', `GET /login?user=ada&pass%77ord=${pe}&x=1`, [pe], ['x=1']);
}

// --- Values, not just places; adjacent blocks; blobs; numbers (principle 4) -------------------
{
  const v = [S(), S(), S(), S()];
  add('masked value repeated in prose', {
    result: { content: [{ type: 'text', text: `Your password is ${v[0]} - keep it` }], structuredContent: { password: v[0] } },
  }, [v[0]!], ['keep it']);
  add('masked value repeated in another member', structured({ secret: v[1], echo: { copy: `copy: ${v[1]}` } }), [v[1]!]);
  add('path-masked value repeated in text', {
    result: { content: [{ type: 'text', text: `dob on file: ${v[2]}` }], structuredContent: { profile: { dob: v[2] } } },
  }, [v[2]!]);
  add('masked value inside an embedded JSON text', {
    result: { content: [{ type: 'text', text: JSON.stringify({ log: `token was ${v[3]}` }) }], structuredContent: { token: v[3] } },
  }, [v[3]!]);
  const aws = `AKIA${run(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', ++serial)}`;
  add('AWS key split across text blocks', { result: { content: [{ type: 'text', text: `key ${aws.slice(0, 9)}` }, { type: 'text', text: `${aws.slice(9)} ok` }] } }, [aws.slice(0, 9), aws.slice(9)]);
  add('e-mail split across text blocks', { result: { content: [{ type: 'text', text: `mail split${++serial}@exa` }, { type: 'text', text: 'mple.com' }] } }, [`split${serial}@exa`]);
  const p = S();
  add('key and value split across text blocks', { result: { content: [{ type: 'text', text: 'password=' }, { type: 'text', text: p }] } }, [p]);
  add('card split across three blocks', { result: { content: [{ type: 'text', text: '4242 4242' }, { type: 'text', text: ' 4242 ' }, { type: 'text', text: '4242' }] } }, ['4242 4242']);
  const q = S();
  add('resource contents text blocks split', { result: { content: [{ type: 'text', text: 'secret: ' }, { type: 'text', text: q }] }, sse: true }, [q]);
}
{
  const s = [S(), S(), S(), S(), S()];
  const resource = (blob: string, mimeType: string) => ({ result: { content: [{ type: 'resource', resource: { uri: 'file:///x', mimeType, blob } }] } });
  add('text/plain blob', resource(b64(`password=${s[0]}`), 'text/plain'), [b64(`password=${s[0]}`)]);
  add('application/json blob', resource(b64(JSON.stringify({ secret: s[1] })), 'application/json'), [b64(JSON.stringify({ secret: s[1] }))]);
  add('octet-stream blob that is text', resource(b64(`mail blob${s[2]}@example.com`), 'application/octet-stream'), [b64(`mail blob${s[2]}@example.com`)]);
  add('image data that is really text', { result: { content: [{ type: 'image', mimeType: 'image/png', data: b64(`token: ${s[3]}`) }] } }, [b64(`token: ${s[3]}`)]);
  const bin = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 0xff]), Buffer.from(s[4]!)]).toString('base64');
  add('binary blob withheld by the policy', resource(bin, 'image/png'), [bin]);
  add('binary audio withheld by the policy', { result: { content: [{ type: 'audio', mimeType: 'audio/wav', data: bin }] } }, [bin]);
}
{
  add('19-digit card as a JSON number', { raw: '{"content":[{"type":"text","text":"n"}],"structuredContent":{"n":6212345678901234569}}' }, ['6212345678901234569']);
  add('16-digit card as a JSON number', { raw: '{"content":[{"type":"text","text":"n"}],"structuredContent":{"card_no":4242424242424242}}' }, ['4242424242424242']);
  add('card number in a JSON text number', text('{"card": 5555555555554444, "x": 1}'), ['5555555555554444']);
  add('path-masked number', { raw: '{"content":[{"type":"text","text":"c"}],"structuredContent":{"customer":{"card":4111111111111111111}}}' }, ['4111111111111111111']);
}

// --- No needless withholding, paths (principle 5) ---------------------------------------------
{
  const s = S();
  add('path target of an unexpected type', structured({ customer: { card: { number: '4242424242424242', cvc: s } } }), ['4242424242424242']);
  add('path target is a number', structured({ customer: { card: 4242424242424242 } }), ['4242424242424242']);
}

// --- Errors and SSE ------------------------------------------------------------------------------
{
  const s = [S(), S(), S()];
  add('error message with a token', { error: { code: -32000, message: `upstream failed: ghp_${run(36, ALNUM, ++serial)}` } }, [`ghp_${run(36, ALNUM, serial)}`]);
  add('error data with a password member', { error: { code: -32000, message: 'failed', data: { password: s[0] } } }, [s[0]!]);
  add('error message with a key=value', { error: { code: -32000, message: `bad config DB_PASSWORD=${s[1]}` } }, [s[1]!]);
  add('SSE answer with a planted structured result', { ...structured({ secret: s[2], ok: 'yes' }), sse: true }, [s[2]!], ['yes']);
}

export const CASES: readonly CorpusCase[] = cases;

/** tools/list with planted schema data: defaults, examples, const under masked property names. */
export const PLANTED_TOOLS = (() => {
  const s = [S(), S(), S(), S()];
  return {
    secrets: s,
    answer: {
      result: {
        tools: [{
          name: 'login',
          description: 'Logs in',
          inputSchema: {
            type: 'object',
            properties: {
              user: { type: 'string', default: 'ada' },
              password: { type: 'string', description: 'the password', default: s[0], examples: [s[1]] },
              api_key: { type: 'string', const: s[2] },
            },
            required: ['user', 'password'],
            secret: s[3],
          },
          outputSchema: { type: 'object', properties: { password_hash: { type: 'string' } } },
        }],
      },
    } satisfies PlantedAnswer,
  };
})();

/** resources/read with planted contents. */
export const PLANTED_RESOURCES = (() => {
  const s = [S(), S()];
  return {
    secrets: [b64(`password: ${s[0]}`), `mail res${s[1]}@example.com`],
    answers: {
      'file:///blob': { result: { contents: [{ uri: 'file:///blob', mimeType: 'text/yaml', blob: b64(`password: ${s[0]}`) }] } },
      'file:///text': { result: { contents: [{ uri: 'file:///text', mimeType: 'text/plain', text: `mail res${s[1]}@example.com` }] } },
    } as Record<string, PlantedAnswer>,
  };
})();
