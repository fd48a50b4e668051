-- take-server-request: reads and forgets the method of a server request the client answers.
-- KEYS[1..8] as in create-session-8.lua.
-- ARGV[1] idle TTL in ms, ARGV[2] request id (JSON).
-- Returns the method, or false when none (or no such session).
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local method = redis.call('HGET', KEYS[4], ARGV[2])
if method then
  redis.call('HDEL', KEYS[4], ARGV[2])
  redis.call('ZREM', KEYS[5], ARGV[2])
end
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return method
