// Origin and Host checks compare parsed values exactly: every lookalike of a loopback or
// configured name is refused, and only the exact serialized forms a browser sends pass.
import { describe, expect, it } from 'vitest';
import { hostPolicy, isLoopbackHostname, originPolicy } from '../../gateway/origin.ts';

const LOOKALIKE_ORIGINS = [
  'http://127.evil.example', 'http://127.0.0.1.evil.com', 'http://127.0.0.1.nip.io', 'http://127.1', 'http://127.0.1',
  'http://0x7f.0.0.1', 'http://2130706433', 'http://0177.0.0.1', 'http://127.000.000.001', 'http://user@127.0.0.1',
  'http://127.0.0.1@evil.com', 'http://evil.com@127.0.0.1', 'http://evil.com#@localhost', 'http://localhost.', 'http://LOCALHOST',
  'HTTP://localhost', 'http://Localhost:3000', 'http://localhost:80', 'https://localhost:443', 'http://localhost/', 'http://localhost/x',
  'http://localhost.evil.com', 'http://evil-localhost', 'http://localhost%2e', 'http://[::ffff:127.0.0.1]', 'http://[::ffff:7f00:1]',
  'http://[0:0:0:0:0:0:0:1]', 'http://[::1%25eth0]', 'http://[::2]', 'http://128.0.0.1', 'http://126.255.255.255', 'http://0.0.0.0',
  'null', '', ' http://localhost', 'http://localhost ', 'file://localhost', 'ws://localhost', 'chrome-extension://localhost',
  'http://ｌocalhost', 'http://127。0。0。1', 'http://localhost\u0000', 'http://localhost,http://evil.com', 'http://localhost http://evil.com',
  'http://loca\u200Blhost', 'http://127.0.0.1:65536', 'http://localhost:0x50', '//localhost', 'localhost', '127.0.0.1',
];
const LOOPBACK_ORIGINS = ['http://localhost', 'http://localhost:3000', 'https://localhost:8443', 'http://127.0.0.1', 'http://127.1.2.3:9', 'http://[::1]', 'http://[::1]:6274'];

describe('loopback names', () => {
  it.each(['localhost', '127.0.0.1', '127.255.255.255', '127.0.0.0', '[::1]', '::1'])('%s is loopback', (name) => {
    expect(isLoopbackHostname(name)).toBe(true);
  });
  it.each(['127.evil.example', '127.0.0.1.evil.com', '127.1', '127.0.0.01', '127.0.0.256', 'localhost.', 'LOCALHOST', '[::ffff:7f00:1]', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1', '127', '', '1127.0.0.1', '127.0.0.1 '])('%j is not', (name) => {
    expect(isLoopbackHostname(name)).toBe(false);
  });
});

describe('Origin check', () => {
  const loopback = originPolicy([], '127.0.0.1');
  it.each(LOOKALIKE_ORIGINS)('refuses %j on a loopback gateway', (origin) => {
    expect(loopback(origin)).toBe(false);
    expect(loopback(origin)).toBe(false); // the remembered answer too
  });
  it.each(LOOPBACK_ORIGINS)('admits %s on a loopback gateway', (origin) => {
    expect(loopback(origin)).toBe(true);
  });
  it('admits no loopback origin when the gateway listens beyond loopback', () => {
    const open = originPolicy([], '0.0.0.0');
    for (const origin of LOOPBACK_ORIGINS) expect(open(origin)).toBe(false);
  });
  it('admits configured origins only as serialized, exactly', () => {
    const policy = originPolicy(['https://app.example.com/', 'http://tools.example.org:8080'], '0.0.0.0');
    expect(policy('https://app.example.com')).toBe(true);
    expect(policy('http://tools.example.org:8080')).toBe(true);
    for (const origin of ['https://app.example.com/', 'https://APP.example.com', 'http://app.example.com', 'https://app.example.com:443',
      'https://app.example.com.evil.com', 'https://evil.com@app.example.com', 'https://app.example.co', 'http://tools.example.org',
      'http://tools.example.org:8081', 'null', 'https://app.example.com.']) {
      expect(policy(origin), origin).toBe(false);
    }
  });
});

describe('Host check', () => {
  const loopback = hostPolicy([], '127.0.0.1');
  it.each(['localhost', 'localhost:8080', '127.0.0.1', '127.0.0.1:80', '127.9.9.9:1', '[::1]', '[::1]:8080', 'LOCALHOST:8080'])('admits %s on a loopback gateway', (host) => {
    expect(loopback(host)).toBe(true);
  });
  it.each([
    '', 'evil.com', '127.0.0.1.evil.com', '127.0.0.1.evil.com:80', '127.evil.example', '127.1', '127.1:8080', '2130706433', '0x7f000001',
    'localhost.', 'localhost.:8080', 'localhost:8080:8080', 'localhost:', 'user@localhost', 'localhost@evil.com', 'evil.com#@localhost',
    'localhost/evil', 'localhost evil.com', 'localhost,evil.com', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]:80', '[0:0:0:0:0:0:0:1]', '::1',
    '[::1', 'localhost\u0000', 'localhost:123456', 'ｌocalhost', 'localhost.evil.com', 'xlocalhost', '127.0.0.01',
  ])('refuses %j on a loopback gateway', (host) => {
    expect(loopback(host)).toBe(false);
  });
  it('admits configured names exactly, any port, case-insensitively', () => {
    const policy = hostPolicy(['mcp.example.com'], '0.0.0.0');
    expect(policy('mcp.example.com')).toBe(true);
    expect(policy('MCP.example.com:443')).toBe(true);
    for (const host of ['mcp.example.com.', 'mcp.example.com.evil.com', 'evil.mcp.example.com', 'localhost', 'mcp.example.com@evil', 'mcp.example.co']) {
      expect(policy(host), host).toBe(false);
    }
  });
  it('admits any well-formed Host beyond loopback when none are configured, but never a malformed one', () => {
    const open = hostPolicy([], '0.0.0.0');
    expect(open('anything.example:80')).toBe(true);
    for (const host of ['', 'a b', 'a@b', 'a/b', 'a:b']) expect(open(host), host).toBe(false);
  });
});
