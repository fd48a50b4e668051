-- Appends messages to one recording and applies its retention, atomically.
-- KEYS[1]  the recording's stream (fields u: uid, t: time in ms, m: the message JSON)
-- KEYS[2]  the recording's meta hash (target, era, sessionId, principal), written once
-- ARGV[1]  max messages kept (XADD MAXLEN ~: whole stream nodes are trimmed, so a few more may stay)
-- ARGV[2]  retention in seconds: older entries are trimmed (XTRIM MINID ~, by Redis time) and
--          both keys expire this long after the last append
-- ARGV[3..6] target, era, sessionId, principal
-- ARGV[7..] triples: uid, time, message JSON
-- Returns the number of entries appended.
local retention = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'target', ARGV[3], 'era', ARGV[4], 'sessionId', ARGV[5], 'principal', ARGV[6])
end
local n = 0
for i = 7, #ARGV, 3 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'u', ARGV[i], 't', ARGV[i + 1], 'm', ARGV[i + 2])
  n = n + 1
end
local now = redis.call('TIME')
redis.call('XTRIM', KEYS[1], 'MINID', '~', (tonumber(now[1]) - retention) * 1000)
redis.call('EXPIRE', KEYS[1], retention)
redis.call('EXPIRE', KEYS[2], retention)
return n
