-- remember-server-request: notes a server-initiated request forwarded to the client, and its
-- method; forgets the oldest past the cap; refreshes the TTL.
-- KEYS[1..8] as in create-session-8.lua.
-- ARGV[1] idle TTL in ms, ARGV[2] request id (JSON), ARGV[3] method, ARGV[4] cap.
-- Returns 1 remembered, -1 no such session.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local now = redis.call('TIME')
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[5], now[1] * 1000000 + now[2], ARGV[2])
local over = redis.call('ZCARD', KEYS[5]) - tonumber(ARGV[4])
if over > 0 then
  -- ZPOPMIN answers member, score, member, score, ...
  local popped = redis.call('ZPOPMIN', KEYS[5], over)
  for i = 1, #popped, 2 do redis.call('HDEL', KEYS[4], popped[i]) end
end
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return 1
