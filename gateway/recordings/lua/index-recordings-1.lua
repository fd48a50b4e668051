-- Notes recordings as written, in the one index `list` reads, and keeps the index bounded.
-- KEYS[1]  the index: a sorted set, member the recording id, score its last message's time (ms)
-- ARGV[1]  now (ms); ARGV[2] retention (ms): members last written before now - retention go, and
--          the index itself expires that long after the last write (every key has a TTL)
-- ARGV[3]  most members kept: the least recently written go first
-- ARGV[4..] pairs: time, recording id
-- Returns the index's size.
for i = 4, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], 'GT', ARGV[i], ARGV[i + 1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2])))
local max = tonumber(ARGV[3])
local size = redis.call('ZCARD', KEYS[1])
if size > max then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, size - max - 1)
  size = max
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return size
