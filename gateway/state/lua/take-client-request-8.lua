-- take-client-request: reads and forgets the pending client request an answer belongs to.
-- KEYS[1..8] as in create-session-8.lua.
-- ARGV[1] idle TTL in ms, ARGV[2] request id (JSON).
-- Returns the pending request (JSON), or false when none (or no such session).
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local pending = redis.call('HGET', KEYS[2], ARGV[2])
if pending then
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
end
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return pending
