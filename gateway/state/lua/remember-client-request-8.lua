-- remember-client-request: notes a forwarded client request and what its answer requires, unless
-- a request with that id is still unanswered; forgets the oldest past the cap; refreshes the TTL.
-- KEYS[1..8] as in create-session-8.lua.
-- Its mask joins the session's masks, which every message on the session's GET stream carries.
-- ARGV[1] idle TTL in ms, ARGV[2] request id (JSON), ARGV[3] pending request (JSON), ARGV[4] cap,
-- ARGV[5] the request's mask (JSON; '' for none), ARGV[6] cap on the session's distinct masks.
-- Returns 1 remembered, 0 the id is still unanswered, -1 no such session, -2 the session holds
-- as many distinct masks as it may (nothing is changed).
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
if ARGV[5] ~= '' and redis.call('SISMEMBER', KEYS[8], ARGV[5]) == 0 then
  if redis.call('SCARD', KEYS[8]) >= tonumber(ARGV[6]) then return -2 end
  redis.call('SADD', KEYS[8], ARGV[5])
end
local now = redis.call('TIME')
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], now[1] * 1000000 + now[2], ARGV[2])
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if over > 0 then
  -- ZPOPMIN answers member, score, member, score, ...
  local popped = redis.call('ZPOPMIN', KEYS[3], over)
  for i = 1, #popped, 2 do redis.call('HDEL', KEYS[2], popped[i]) end
end
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return 1
