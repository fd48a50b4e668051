import { describe, expect, it } from 'vitest';
import { applyMask, DETECTOR_NAMES, maskText, type DetectorName } from '../../../gateway/masking/index.ts';
import { ibanChecksumOk, luhn } from '../../../gateway/masking/detectors.ts';
import { CARDS, IBANS, plan } from './helpers.ts';

const only = (name: DetectorName) => plan([{ detector: name }]);
const M = (name: string) => `[MASKED:${name}]`;

const b64url = (s: string) => Buffer.from(s).toString('base64url');
const JWT = `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url('{"sub":"u1","exp":1798761600}')}.${b64url('signature-bytes-here')}`;
const JWE = `${b64url('{"alg":"dir","enc":"A256GCM"}')}..${b64url('iv-bytes-12')}.${b64url('ciphertext')}.${b64url('tag-bytes-16')}`;
const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx8b3kq9vZ\nQw2eR5tY7uI9oP+/==\n-----END RSA PRIVATE KEY-----';
const GHP = `ghp_${'a1B2c3D4e5'.repeat(3)}abcdef`;
const ALNUM = 'a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ';
const run = (n: number, alphabet = ALNUM) => Array.from({ length: n }, (_, i) => alphabet[(i * 7) % alphabet.length]).join('');
const HEX = '0123456789abcdef';
export const TOKENS = {
  stripe: `sk_live_${run(24)}`,
  stripeWebhook: `whsec_${run(32)}`,
  google: `AIza${run(35)}`,
  googleOauth: `GOCSPX-${run(28)}`,
  twilio: `SK${run(32, HEX)}`,
  sendgrid: `SG.${run(22)}.${run(43)}`,
  npm: `npm_${run(36)}`,
  pypi: `pypi-AgEIcHlwaS5vcmc${run(60)}`,
  azureClient: `abc8Q~${run(34)}`,
  azureAccountKey: `${run(86, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')}==`,
  gcpKeyId: run(40, HEX),
  openai: `sk-proj-${run(20)}T3BlbkFJ${run(20)}`,
  anthropic: `sk-ant-api03-${run(90)}`,
  huggingface: `hf_${run(34, 'abcdefghijklmnopqrstuvwxyzABCDEFGH')}`,
};

/** [detector, input, expected output] — the expected output shows exactly which span is masked. */
const POSITIVE: [DetectorName, string, string][] = [
  ['private_key', `key:\n${PEM}\nend`, `key:\n${M('private_key')}\nend`],
  ['private_key', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----', M('private_key')],
  ['private_key', '-----BEGIN ENCRYPTED PRIVATE KEY-----\\nMIIFHDBOBgkqhkiG9w0BBQ0w\\n-----END ENCRYPTED PRIVATE KEY-----', M('private_key')],
  ['private_key', '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF1\n-----END PGP PRIVATE KEY BLOCK-----', M('private_key')],
  // Truncated output: no END line; masked through the base64 body.
  ['private_key', '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1\nduRSxKVLAGoyhxpd', M('private_key')],
  ['jwt', `token=${JWT};`, `token=${M('jwt')};`],
  ['jwt', `JWE ${JWE}.`, `JWE ${M('jwt')}.`],
  ['jwt', `${b64url('{"alg":"none"}')}.${b64url('{"sub":"x"}')}.`, M('jwt')],
  ['aws_access_key', 'key AKIAIOSFODNN7EXAMPLE here', `key ${M('aws_access_key')} here`],
  ['aws_access_key', 'ASIAY34FZKBOKMUTVV7A', M('aws_access_key')],
  ['aws_access_key', 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', `aws_secret_access_key = ${M('aws_access_key')}`],
  ['aws_access_key', 'AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', `AWS_SECRET_ACCESS_KEY: "${M('aws_access_key')}"`],
  ['github_token', `use ${GHP} now`, `use ${M('github_token')} now`],
  ['github_token', `gho_${'x'.repeat(36)}`, M('github_token')],
  ['github_token', `github_pat_11ABCDEFG0123456789_${'abcdefghij'.repeat(6)}`, M('github_token')],
  ['gitlab_token', 'export GITLAB=glpat-xYz12AbCdEfGhIjKlMnO.', `export GITLAB=${M('gitlab_token')}.`],
  ['gitlab_token', 'glrt-t1_abcdefghijklmnopqrstu', M('gitlab_token')],
  ['gitlab_token', 'glpat-abcdefghijklmnopqrstuvwxyz012.01.0z1b2c3d4', M('gitlab_token')],
  ['slack_token', 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx', M('slack_token')],
  ['slack_token', 'xapp-1-A0123456789-1234567890123-abcdef0123456789', M('slack_token')],
  ['slack_token', 'post to https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX please', `post to ${M('slack_token')} please`],
  ['bearer_token', 'Authorization: Bearer abcDEF123456ghiJKL789', `Authorization: Bearer ${M('bearer_token')}`],
  ['bearer_token', '"authorization": "Basic dXNlcjpwYXNzd29yZA=="', `"authorization": "Basic ${M('bearer_token')}"`],
  ['bearer_token', 'Proxy-Authorization: sk-live-4242abcd', `Proxy-Authorization: ${M('bearer_token')}`],
  ['bearer_token', 'curl -H "Authorization: token ghs_16C7e42F292c6912E7710c838347Ae178B4a"', `curl -H "Authorization: token ${M('bearer_token')}"`],
  ['bearer_token', 'the bearer 9f8e7d6c5b4a39281706abcdef was sent', `the bearer ${M('bearer_token')} was sent`],
  ['url_password', 'postgres://app:s3cret-pw@db.internal:5432/app', `postgres://app:${M('url_password')}@db.internal:5432/app`],
  ['url_password', 'see https://user:p@ss:w0rd@example.com/x?y=1', `see https://user:${M('url_password')}@example.com/x?y=1`],
  ['url_password', 'redis://:hunter2@cache:6379', `redis://:${M('url_password')}@cache:6379`],
  ['connection_string_password', 'Server=db;User Id=sa;Password=Pa55w0rd!;Encrypt=true', `Server=db;User Id=sa;Password=${M('connection_string_password')};Encrypt=true`],
  ['connection_string_password', "host=db user=app password='two words' sslmode=require", `host=db user=app password='${M('connection_string_password')}' sslmode=require`],
  ['connection_string_password', 'DRIVER={x};UID=sa;PWD={p@ss;word};', `DRIVER={x};UID=sa;PWD={${M('connection_string_password')}};`],
  ['connection_string_password', 'jdbc:mysql://db/app?user=app&password=s3cr3t&ssl=true', `jdbc:mysql://db/app?user=app&password=${M('connection_string_password')}&ssl=true`],
  ['email', 'mail ada.lovelace@lovelace-analytics.example, now', `mail ${M('email')}, now`],
  ['email', 'Send to ap@lovelace-analytics.example.', `Send to ${M('email')}.`],
  ['email', '<First.Last+tag@Sub.Example.CO.UK>', `<${M('email')}>`],
  ['email', 'a@b.co', M('email')],
  ['email', 'user@xn--bcher-kva.xn--p1ai', M('email')],
  ['email', 'https://example.com/contact?to=ada@example.com', `https://example.com/contact?to=${M('email')}`],
  ['email', 'mailto:ada@example.com', `mailto:${M('email')}`],
  ['credit_card', `card ${CARDS.visa} on file`, `card ${M('credit_card')} on file`],
  ['credit_card', 'card 4242 4242 4242 4242.', `card ${M('credit_card')}.`],
  ['credit_card', 'amex 3782-822463-10005', `amex ${M('credit_card')}`],
  ['credit_card', `${CARDS.mastercard2series},${CARDS.diners};${CARDS.jcb}`, `${M('credit_card')},${M('credit_card')};${M('credit_card')}`],
  ['credit_card', '19 digits 6212345678901234569', `19 digits ${M('credit_card')}`],
  ['credit_card', '19 digits grouped 6212 3456 7890 1234 569', `19 digits grouped ${M('credit_card')}`],
  ['credit_card', 'qty 2 card 5555 5555 5555 4444 3 left', `qty 2 card ${M('credit_card')} 3 left`],
  ['iban', 'IBAN GB82WEST12345698765432 ok', `IBAN ${M('iban')} ok`],
  ['iban', 'IBAN: GB82 WEST 1234 5698 7654 32, thanks', `IBAN: ${M('iban')}, thanks`],
  ['iban', 'FR1420041010050500013M02606', M('iban')],
  ['iban', 'NO9386011117947 NL91ABNA0417164300', `${M('iban')} ${M('iban')}`],
  ['stripe_key', `STRIPE=${TOKENS.stripe}`, `STRIPE=${M('stripe_key')}`],
  ['stripe_key', `secret ${TOKENS.stripeWebhook}.`, `secret ${M('stripe_key')}.`],
  ['google_api_key', `key=${TOKENS.google}&q=1`, `key=${M('google_api_key')}&q=1`],
  ['google_api_key', `"${TOKENS.googleOauth}"`, `"${M('google_api_key')}"`],
  ['twilio_key', `twilio ${TOKENS.twilio}`, `twilio ${M('twilio_key')}`],
  ['sendgrid_key', `SENDGRID_API_KEY=${TOKENS.sendgrid}`, `SENDGRID_API_KEY=${M('sendgrid_key')}`],
  ['npm_token', `//registry.npmjs.org/:_authToken=${TOKENS.npm}`, `//registry.npmjs.org/:_authToken=${M('npm_token')}`],
  ['pypi_token', `password = ${TOKENS.pypi}`, `password = ${M('pypi_token')}`],
  ['azure_secret', `client_secret: ${TOKENS.azureClient}`, `client_secret: ${M('azure_secret')}`],
  ['azure_secret', `DefaultEndpointsProtocol=https;AccountName=x;AccountKey=${TOKENS.azureAccountKey};EndpointSuffix=core.windows.net`, `DefaultEndpointsProtocol=https;AccountName=x;AccountKey=${M('azure_secret')};EndpointSuffix=core.windows.net`],
  ['azure_secret', `https://x.blob.core.windows.net/c?sv=2022&sig=${run(44)}`, `https://x.blob.core.windows.net/c?sv=2022&sig=${M('azure_secret')}`],
  ['gcp_service_account', `{"type": "service_account", "private_key_id": "${TOKENS.gcpKeyId}"`, `{"type": "service_account", "private_key_id": "${M('gcp_service_account')}"`],
  ['llm_api_key', `OPENAI_API_KEY=${TOKENS.openai}`, `OPENAI_API_KEY=${M('llm_api_key')}`],
  ['llm_api_key', `x-api-key: ${TOKENS.anthropic}`, `x-api-key: ${M('llm_api_key')}`],
  ['llm_api_key', `token ${TOKENS.huggingface}`, `token ${M('llm_api_key')}`],
  ['basic_auth', 'curl -u admin:hunter2 https://api.example.com', `curl -u admin:${M('basic_auth')} https://api.example.com`],
  ['basic_auth', "wget --user=ops --password='s3cr3t!' https://x", `wget --user=ops --password='${M('basic_auth')}' https://x`],
  ['generic_secret', 'client_secret=abcd1234efgh', `client_secret=${M('generic_secret')}`],
  ['generic_secret', 'headers: {"X-Api-Key": "k3y-Value-99"}', `headers: {"X-Api-Key": "${M('generic_secret')}"}`],
  ['url_password', 'postgres://app:p@ss/w#rd?x@db.internal:5432/app', `postgres://app:${M('url_password')}@db.internal:5432/app`],
  ['email', 'write to 用户@例子.广告 now', `write to ${M('email')} now`],
  ['email', 'ada＠example．com', M('email')],
  ['email', 'josé.garcía@bücher.de', M('email')],
  ['credit_card', '４２４２４２４２４２４２４２４２', M('credit_card')],
  ['credit_card', '4242\u00a04242\u00a04242\u00a04242'.replace(/\\u00a0/g, '\u00a0'), M('credit_card')],
  ['credit_card', 'card 4242.4242.4242.4242 ok', `card ${M('credit_card')} ok`],
  ['credit_card', 'ref 00424242424242424200', `ref ${M('credit_card')}`],
  ['credit_card', '42424242424242424242', M('credit_card')], // a card inside a longer digit run
];

/** [detector, input] that must be left alone. */
const NEGATIVE: [DetectorName, string][] = [
  ['private_key', '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----'],
  ['private_key', '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----'],
  ['private_key', 'How to generate a private key: run openssl genpkey.'],
  ['jwt', 'eyJ is how base64 of {" starts'],
  ['jwt', 'eyJhbGciOiJIUzI1NiJ9'], // a header alone
  ['jwt', `x${JWT}`.replace(/\./g, ' ')],
  ['aws_access_key', 'AKIAIOSFODNN7EXAMPL'], // 19 characters
  ['aws_access_key', 'XAKIAIOSFODNN7EXAMPLE'],
  ['aws_access_key', 'AKIAIOSFODNN7EXAMPLEX'],
  ['aws_access_key', 'the aws secret key is rotated monthly'],
  ['github_token', 'ghp_tooshort123'],
  ['github_token', 'see the gh_pages branch and ghp_ prefix docs'],
  ['gitlab_token', 'glpat-short'],
  ['gitlab_token', 'a glass-of-water-is-just-a-glass'],
  ['slack_token', 'xoxb-123'],
  ['slack_token', 'https://hooks.slack.com/'],
  ['bearer_token', 'The bearer token is rotated; the token expires.'],
  ['bearer_token', 'Bearer bonds are a bearer instrument.'],
  ['bearer_token', 'authorization: required for administrators'],
  ['bearer_token', 'Authorization: Bearer short1'],
  ['bearer_token', 'Bearer instrumentation-independent'],
  ['url_password', 'https://example.com/path?email=a@b.com'],
  ['url_password', 'ssh://git@github.com/org/repo.git'],
  ['url_password', 'http://[::1]:8080/x and https://host:443/'],
  ['url_password', 'mailto:user:x@example.com'],
  ['connection_string_password', 'your password must be 12 characters'],
  ['connection_string_password', 'bypass=true compass=north'],
  ['connection_string_password', 'password_policy_url=https://example.com/policy'],
  ['email', 'root@localhost'], // no TLD
  ['email', 'a@b.c'], // one-letter TLD
  ['email', 'x@1.2.3.4'], // numeric TLD
  ['email', 'ping @handle or @@ or a@ or @b.com'],
  ['email', 'user@-bad.example'],
  ['email', 'dots.@example.com'],
  ['email', 'postgres://app:s3cret@db.example/app and https://ada@example.com/'], // URL userinfo, not addresses
  ['credit_card', '4242424242424241'], // fails Luhn
  ['credit_card', '4242 4242 4242 4241'],
  ['credit_card', '1767225600000000'], // µs timestamp (starts with 1)
  ['credit_card', '9999999999999995'], // Luhn-valid, but no network starts with 9
  ['credit_card', '424242424242'], // 12 digits
  ['credit_card', '4242424242424242424242'.slice(0, 12)],
  ['credit_card', 'x4242424242424242'],
  ['credit_card', '4242424242424242x'],
  ['credit_card', 'id 0.4242424242424242 and 4242424242424242.5'],
  ['credit_card', '4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2'],
  ['credit_card', 'tracking 1Z999AA10123456784, FedEx 794644790132, phone +1 202 555 0142'],
  ['iban', 'GB82WEST12345698765433'], // bad checksum
  ['iban', 'GB82WEST1234569876543'], // wrong length for GB
  ['iban', 'ZZ82WEST12345698765432'], // unknown country
  ['iban', 'XGB82WEST12345698765432'],
  ['iban', 'GB82WEST12345698765432X'],
  ['iban', 'gb82west12345698765432'], // lowercase is not matched
  ['iban', 'SKU AB12CDEF3456789012 and ORDER US12 3456'],
  ['stripe_key', 'sk_live_short and pk_live_abcdefghijklmnop1234 (publishable)'],
  ['google_api_key', 'AIzaShort and the AIza prefix'],
  ['twilio_key', `SK${run(31, HEX)} and ASK${run(32, HEX)}`],
  ['sendgrid_key', 'SG.short.value'],
  ['npm_token', 'npm_config_cache and npm_ short'],
  ['pypi_token', 'pypi-AgEI too short'],
  ['azure_secret', 'the Q~ sign and sig=short'],
  ['gcp_service_account', '"private_key_id": "not-hex"'],
  ['llm_api_key', 'sk-proj-abc and hf_short'],
  ['basic_auth', 'curl -u admin https://x and --user-agent=x'],
  ['generic_secret', 'token_type=bearer password_policy_url=https://x secret_name=db'],
];

describe('detectors', () => {
  it('cover the documented list', () => {
    expect([...DETECTOR_NAMES].sort()).toEqual(
      ['aws_access_key', 'azure_secret', 'basic_auth', 'bearer_token', 'connection_string_password', 'credit_card', 'email', 'gcp_service_account', 'generic_secret', 'github_token',
        'gitlab_token', 'google_api_key', 'iban', 'jwt', 'llm_api_key', 'npm_token', 'private_key', 'pypi_token', 'sendgrid_key', 'slack_token', 'stripe_key', 'twilio_key', 'url_password'],
    );
    for (const name of DETECTOR_NAMES) {
      expect(POSITIVE.some(([d]) => d === name), `positive case for ${name}`).toBe(true);
      expect(NEGATIVE.some(([d]) => d === name), `negative case for ${name}`).toBe(true);
    }
  });

  it.each(POSITIVE)('%s masks %j', (name, input, expected) => {
    const r = maskText(input, only(name));
    expect(r.text).toBe(expected);
    expect(r.changed).toBe(true);
    expect(Object.keys(r.counts)).toEqual([name]);
  });

  it.each(NEGATIVE)('%s leaves %j alone', (name, input) => {
    const r = maskText(input, only(name));
    expect(r.text).toBe(input);
    expect(r.changed).toBe(false);
    expect(r.counts).toEqual({});
  });

  it.each(NEGATIVE)('all detectors together leave the %s near-miss %j alone unless another detector applies', (name, input) => {
    // Near-misses of one detector may legitimately be hits of another (e.g. an e-mail inside a URL);
    // this only checks that the detector itself stays quiet when all run.
    const r = maskText(input, plan([{ detector: 'all' }]));
    expect(r.counts[name] ?? 0).toBe(0);
  });

  it.each([
    ['a short random string', 'Xy7Qp2'],
    ['an alphanumeric id', 'a1b2c3d4e5f6'],
    ['a UUID', '123e4567-e89b-12d3-a456-426614174000'],
    ['a git SHA', '9fceb02d0ae598e95dc970b74767f19372d61af8'],
    ['a SHA-256 digest', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['order and customer ids', 'ord_5004 cus_1001 INC-2041 SKU-ENT-SEAT'],
    ['timestamps', '2026-11-18T07:42:00Z 1767225600 1767225600000 2026.11.30'],
    ['a phone number', '+1 202 555 0142'],
    ['an IP address and port', '10.0.0.12:5432 and ::1'],
    ['a URL without credentials', 'https://status.example.com/incidents/2041?ref=mail&page=2#top'],
    ['a file path', '/var/lib/postgresql/data/base/16384'],
    ['a semver and a price', 'v1.32.2 costs 1234.56 USD'],
    ['a tracking number', '1Z999AA10123456784'],
    ['prose about secrets', 'Rotate the API key and the access token; never share your password or secret.'],
  ])('ordinary values are left alone: %s', (_name, text) => {
    expect(maskText(text, plan([{ detector: 'all' }]))).toEqual({ text, counts: {}, changed: false });
  });

  it('base64 blobs (images, files) are left alone', () => {
    let seed = 7;
    const bytes = Buffer.alloc(150_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (const blob of [bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')]) {
      expect(maskText(blob, plan([{ detector: 'all' }])).changed).toBe(false);
    }
  });

  it('finds every published test card and valid IBAN', () => {
    const p = plan([{ detector: 'pii' }]);
    for (const card of Object.values(CARDS)) expect(maskText(`#${card}#`, p).text).toBe('#[MASKED:credit_card]#');
    for (const iban of IBANS) expect(maskText(`(${iban})`, p).text).toBe('(' + M('iban') + ')');
  });

  it('checks card numbers held as JSON numbers, not other numbers', () => {
    const p = only('credit_card');
    const r = applyMask({ card: 4242424242424242, total: 4242424242424241, ts: 1767225600000, small: 42 }, p, 'strict');
    expect(r.value).toEqual({ card: M('credit_card'), total: 4242424242424241, ts: 1767225600000, small: 42 });
    expect(r.counts).toEqual({ credit_card: 1 });
  });

  it('scans member names too', () => {
    const r = applyMask({ 'ada@example.com': { role: 'admin' }, 'bob@example.com': 1, other: 2 }, only('email'), 'strict');
    expect(r.value).toEqual({ '[MASKED:email]': { role: 'admin' }, '[MASKED:email]#2': 1, other: 2 });
    expect(r.counts).toEqual({ email: 2 });
  });

  it('masks the union of overlapping matches once, under the earliest match', () => {
    const p = plan([{ detector: 'jwt' }, { detector: 'bearer_token' }]);
    const r = maskText(`Authorization: Bearer ${JWT}`, p);
    expect(r.text).toBe(`Authorization: Bearer ${M('jwt')}`);
    expect(r.counts).toEqual({ jwt: 1 });
  });

  it('luhn and mod-97 checks', () => {
    expect(luhn('79927398713')).toBe(true);
    expect(luhn('79927398710')).toBe(false);
    for (const iban of IBANS) expect(ibanChecksumOk(iban)).toBe(true);
    expect(ibanChecksumOk('GB82WEST12345698765433')).toBe(false);
  });
});
