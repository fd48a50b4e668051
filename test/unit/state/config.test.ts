// The `state` section: defaults, and each refusal naming its key.
import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../../gateway/config/load.ts';

const minimal = { policy: { bundle: 'b.tar.gz' }, targets: { demo: { url: 'http://127.0.0.1:9090/mcp' } } };

function problems(state: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig({ ...minimal, state }, '/etc/portcullis/gateway.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('state configuration', () => {
  it('defaults to memory state', () => {
    const config = validateConfig(minimal, '/etc/portcullis/gateway.yaml', {});
    expect(config.state).toEqual({ backend: 'memory', session_idle_seconds: 3600, max_sessions: 100_000 });
    expect(config.redisAuth).toEqual({});
  });

  it('fills Redis defaults and reads the ACL user and password from the environment', () => {
    const config = validateConfig({ ...minimal, state: { backend: 'redis', redis: { url: 'rediss://redis.internal:6380/2', username_env: 'RU', password_env: 'RP' } } }, '/x.yaml', { RU: 'gw', RP: 's3cret' });
    expect(config.state.redis).toEqual({ url: 'rediss://redis.internal:6380/2', username_env: 'RU', password_env: 'RP', key_prefix: 'portcullis:', command_timeout_ms: 1000, connect_timeout_ms: 5000, share_introspection: false });
    expect(config.redisAuth).toEqual({ username: 'gw', password: 's3cret' });
  });

  it('takes a Redis Cluster node list', () => {
    expect(problems({ backend: 'redis', redis: { cluster: ['redis://10.0.0.1:6379', 'redis://10.0.0.2:6379'] } })).toEqual([]);
  });

  it.each([
    ['redis without its section', { backend: 'redis' }, 'state.redis: required when backend is redis'],
    ['an unknown backend', { backend: 'etcd' }, 'state.backend: '],
    ['neither url nor cluster', { backend: 'redis', redis: {} }, 'state.redis: give exactly one of url or cluster'],
    ['both url and cluster', { backend: 'redis', redis: { url: 'redis://a:1', cluster: ['redis://b:1'] } }, 'state.redis: give exactly one of url or cluster'],
    ['an http URL', { backend: 'redis', redis: { url: 'http://redis:6379' } }, 'state.redis.url: must be a redis:// or rediss:// (TLS) URL'],
    ['a password in the URL', { backend: 'redis', redis: { url: 'redis://:hunter2@redis:6379' } }, 'state.redis.url: must not carry a password'],
    ['a cluster node with a password', { backend: 'redis', redis: { cluster: ['redis://u:pw@a:1'] } }, 'state.redis.cluster.0: must not carry a password'],
    ['braces in the prefix', { backend: 'redis', redis: { url: 'redis://a:1', key_prefix: 'p{x}:' } }, 'state.redis.key_prefix: at most 64 characters, no braces'],
    ['an unknown key', { backend: 'redis', redis: { url: 'redis://a:1', pasword_env: 'X' } }, 'state.redis: Unrecognized key'],
    ['a zero idle time', { session_idle_seconds: 0 }, 'state.session_idle_seconds: '],
    ['a tiny command timeout', { backend: 'redis', redis: { url: 'redis://a:1', command_timeout_ms: 1 } }, 'state.redis.command_timeout_ms: '],
  ])('refuses %s', (_, state, expected) => {
    const found = problems(state);
    expect(found.some((p) => p.startsWith(expected)), found.join('\n')).toBe(true);
    expect(found.join('\n')).not.toContain('hunter2');
  });

  it('names a missing password variable without starting', () => {
    expect(problems({ backend: 'redis', redis: { url: 'redis://a:1', password_env: 'NOPE' } })).toEqual(['state.redis.password_env: environment variable NOPE is not set']);
  });
});
