-- Notes recordings as written in a bounded sorted set: the index `list` reads, or one principal's
-- own recordings (its bound evicts only its own oldest).
-- KEYS[1]  the set: member the recording id, score its last message's time (ms)
-- ARGV[1]  now (ms); ARGV[2] retention (ms): members last written before now - retention go, and
--          the set itself expires that long after the last write (every key has a TTL)
-- ARGV[3]  most members kept: the least recently written go first
-- ARGV[4..] pairs: time, recording id
-- Returns the members evicted by the size bound.
for i = 4, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], 'GT', ARGV[i], ARGV[i + 1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2])))
local max = tonumber(ARGV[3])
local size = redis.call('ZCARD', KEYS[1])
local evicted = {}
if size > max then
  evicted = redis.call('ZRANGE', KEYS[1], 0, size - max - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, size - max - 1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return evicted
