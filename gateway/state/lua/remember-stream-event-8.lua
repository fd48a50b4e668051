-- remember-stream-event: notes the upstream event id behind an event id the gateway issued, for
-- Last-Event-ID resumption; forgets the oldest past the cap; refreshes the TTL.
-- KEYS[1..8] as in create-session-8.lua.
-- ARGV[1] idle TTL in ms, ARGV[2] gateway event id, ARGV[3] upstream event id, ARGV[4] cap.
-- Returns 1 remembered, -1 no such session.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local now = redis.call('TIME')
redis.call('HSET', KEYS[6], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[7], now[1] * 1000000 + now[2], ARGV[2])
local over = redis.call('ZCARD', KEYS[7]) - tonumber(ARGV[4])
if over > 0 then
  -- ZPOPMIN answers member, score, member, score, ...
  local popped = redis.call('ZPOPMIN', KEYS[7], over)
  for i = 1, #popped, 2 do redis.call('HDEL', KEYS[6], popped[i]) end
end
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return 1
