// Provider credential formats, as data. Coverage follows the gitleaks default rule set
// (github.com/gitleaks/gitleaks, config/gitleaks.toml, MIT): the formats below were learned from
// its rules and the providers' own documentation, and written here (no pattern copied). Each entry
// is a literal anchor every match contains (the cheap prefilter) and a global regex confirming
// it; `group` picks the secret out of a longer match. Tests: test/unit/masking/detectors.test.ts
// and the e2e corpus (test/e2e/masking-corpus.test.ts) have a positive and a near miss per rule.

export interface TokenRule {
  /** Detector name (also the default class). */
  readonly name: string;
  /** What it matches, for the README table. */
  readonly doc: string;
  readonly minLength: number;
  /** The text must contain one of these (case-sensitive) before the regex runs … */
  readonly anchors: readonly string[];
  /** … or, for anchors too common to filter with ("SK"), match this regex source instead. */
  readonly hint?: string;
  readonly re: RegExp;
  readonly group?: number;
}

// Boundaries: a token does not touch characters of its own alphabet on either side.
export const TOKEN_RULES: readonly TokenRule[] = [
  {
    name: 'stripe_key',
    doc: 'Stripe secret and restricted keys `sk_`/`rk_` + `live_`/`test_`/`prod_` + 10+ alphanumerics; webhook secrets `whsec_` + 24+',
    minLength: 18,
    anchors: ['sk_', 'rk_', 'whsec_'],
    re: /(?<![A-Za-z0-9_])(?:(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,247}|whsec_[A-Za-z0-9+/=]{24,128})(?![A-Za-z0-9])/g,
  },
  {
    name: 'google_api_key',
    doc: 'Google API keys `AIza` + 35 of `A-Za-z0-9_-`; OAuth client secrets `GOCSPX-` + 20+; OAuth access tokens `ya29.` + 20+',
    minLength: 27,
    anchors: ['AIza', 'GOCSPX-', 'ya29.'],
    re: /(?<![A-Za-z0-9_-])(?:AIza[0-9A-Za-z_-]{35}|GOCSPX-[0-9A-Za-z_-]{20,64}|ya29\.[0-9A-Za-z_-]{20,2048})(?![A-Za-z0-9_-])/g,
  },
  {
    name: 'twilio_key',
    doc: 'Twilio API key SIDs `SK` + 32 hex digits',
    minLength: 34,
    anchors: [],
    hint: 'SK[0-9a-fA-F]{32}',
    re: /(?<![A-Za-z0-9])SK[0-9a-fA-F]{32}(?![A-Za-z0-9])/g,
  },
  {
    name: 'sendgrid_key',
    doc: 'SendGrid API keys `SG.` + 22 + `.` + 43 of `A-Za-z0-9_-`',
    minLength: 69,
    anchors: ['SG.'],
    re: /(?<![A-Za-z0-9_-])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g,
  },
  {
    name: 'npm_token',
    doc: 'npm access tokens `npm_` + 36 alphanumerics',
    minLength: 40,
    anchors: ['npm_'],
    re: /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])/g,
  },
  {
    name: 'pypi_token',
    doc: 'PyPI and TestPyPI upload tokens (`pypi-` + the macaroon for pypi.org / test.pypi.org + 50+ characters)',
    minLength: 70,
    anchors: ['pypi-AgE'],
    re: /pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,}/g,
  },
  {
    name: 'azure_secret',
    doc: 'Azure AD client secrets (3 characters, a digit, `Q~`, 31–34 more); storage `AccountKey=`/`SharedAccessKey=` values (base64, 20+); SAS `sig=` signatures',
    minLength: 20,
    anchors: ['Q~', 'AccountKey=', 'SharedAccessKey=', 'sig='],
    re: /(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])|(?<=(?:AccountKey|SharedAccessKey)=)[A-Za-z0-9+/]{20,}={0,2}|(?<=[?&]sig=)[A-Za-z0-9%+/=]{20,}/g,
  },
  {
    name: 'gcp_service_account',
    doc: 'the `private_key_id` (40 hex digits) of a GCP service-account JSON key, in JSON text (its `private_key` is `private_key`\'s match)',
    minLength: 58,
    anchors: ['private_key_id'],
    re: /private_key_id\\?["']?\s*[:=]\s*\\?["']?([0-9a-f]{40})(?![0-9a-f])/g,
    group: 1,
  },
  {
    name: 'llm_api_key',
    doc: 'OpenAI keys (`sk-`, `sk-proj-`, `sk-svcacct-`, `sk-admin-` with the `T3BlbkFJ` marker), Anthropic keys `sk-ant-api03-`/`sk-ant-admin01-` + 80+, Hugging Face tokens `hf_` + 34 letters',
    minLength: 37,
    anchors: ['T3BlbkFJ', 'sk-ant-', 'hf_'],
    re: /(?<![A-Za-z0-9_-])(?:sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,200}T3BlbkFJ[A-Za-z0-9_-]{16,200}|sk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{80,200}|hf_[A-Za-z]{34})(?![A-Za-z0-9_-])/g,
  },
  {
    name: 'basic_auth',
    doc: 'the password of `user:password` after `curl`/`wget`-style `-u`, `--user`, `--proxy-user`, `--password`, `--http-password`',
    minLength: 6,
    // A flag may also start the text or a line (not only follow a blank).
    anchors: ['-u ', '-u\t', '-u=', '--user', '--proxy-user', '-password'],
    // The user is a run of whole "[MASKED:…]" markers (spaces and colons allowed inside) and other
    // characters, so the colon inside a complete marker ("-u [MASKED:gitlab_token]") is not read as
    // user:password, while anything merely shaped like part of one ("[MASKED:a]b:", "[MASKED:x:")
    // is an ordinary user whose password is masked.
    re: /(?<![A-Za-z0-9_-])(?:-u|--user|--proxy-user)(?:[ \t]+|=)['"]?(?:\[MASKED:[^\]\n]{0,128}\]|(?!\[MASKED:[^\]\n]{0,128}\])[^\s:'"]){1,256}:([^\s'"]{1,1024})|(?<![A-Za-z0-9_-])--(?:http-|ftp-)?password(?:[ \t]+|=)['"]?([^\s'"]{1,1024})/g,
  },
];
