// Reasons for failed requests to authorization servers reach callers in error messages: they say
// what failed in the gateway's words, quote only OAuth error codes of the registered shape, and
// never a server's free text or a secret.
import { describe, expect, it } from 'vitest';
import { describeFailure } from '../../../gateway/identity/failure.ts';

describe('describeFailure', () => {
  it.each([
    ['an OAuth error response', { error: 'invalid_client', error_description: 'client <b>acme</b> secret=hunter2 rejected', status: 401 }, 'invalid_client (HTTP 401)'],
    ['a WWW-Authenticate challenge', { status: 401, cause: [{ parameters: { error: 'invalid_token', error_description: 'see https://evil.example/phish' } }] }, 'invalid_token (HTTP 401)'],
    ['an error code of unexpected form', { error: 'Please call +1-555-0100 <script>', status: 400 }, 'an error code of unexpected form (HTTP 400)'],
    ['a network failure', { cause: { code: 'ECONNREFUSED' } }, 'connection refused (ECONNREFUSED)'],
    ['a timeout', { name: 'TimeoutError' }, 'no answer within 250 ms'],
  ])('%s', (_name, err, expected) => {
    expect(describeFailure(err, 250)).toBe(expected);
  });

  it('redacts secrets and control characters from library messages', () => {
    expect(describeFailure(new Error('bad secret s3cr3t-value\nnext line'), 250, ['s3cr3t-value'])).toBe('bad secret [redacted] next line');
  });
});
