-- Appends messages to one recording and applies its retention, atomically.
-- KEYS[1]  the recording's stream (fields u: uid, t: time in ms, m: the message JSON)
-- KEYS[2]  the recording's meta hash (target, era, sessionId, principal), written by the first append;
--          and first/last: the earliest and latest message time kept (replicas' writes interleave),
--          lastId: the last entry's id (so a listing reads no message)
-- ARGV[1]  max messages kept (XADD MAXLEN ~: whole stream nodes are trimmed, so a few more may stay)
-- ARGV[2]  retention in seconds: older entries are trimmed (XTRIM MINID ~, by Redis time) and
--          both keys expire this long after the last append
-- ARGV[3..6] target, era, sessionId, principal of every message given
-- ARGV[7..] triples: uid, time, message JSON
-- Returns the number of entries appended, or -1 (nothing written) when the recording's meta says
-- another target, era, session or principal: a recording is never shared.
local retention = tonumber(ARGV[2])
local meta = redis.call('HMGET', KEYS[2], 'target', 'era', 'sessionId', 'principal')
if meta[1] then
  if meta[1] ~= ARGV[3] or meta[2] ~= ARGV[4] or meta[3] ~= ARGV[5] or meta[4] ~= ARGV[6] then return -1 end
else
  redis.call('HSET', KEYS[2], 'target', ARGV[3], 'era', ARGV[4], 'sessionId', ARGV[5], 'principal', ARGV[6])
end
local before = redis.call('XLEN', KEYS[1])
local first = tonumber(redis.call('HGET', KEYS[2], 'first') or '')
local last = tonumber(redis.call('HGET', KEYS[2], 'last') or '')
local n = 0
local id
for i = 7, #ARGV, 3 do
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'u', ARGV[i], 't', ARGV[i + 1], 'm', ARGV[i + 2])
  local t = tonumber(ARGV[i + 1])
  if first == nil or t < first then first = t end
  if last == nil or t > last then last = t end
  n = n + 1
end
local now = redis.call('TIME')
redis.call('XTRIM', KEYS[1], 'MINID', '~', (tonumber(now[1]) - retention) * 1000)
if redis.call('XLEN', KEYS[1]) < before + n then
  -- Trimmed: the earliest kept is (about) the first entry's time.
  local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  if head then
    for j = 1, #head[2], 2 do
      if head[2][j] == 't' then first = tonumber(head[2][j + 1]) end
    end
  end
end
redis.call('HSET', KEYS[2], 'first', first, 'last', last, 'lastId', id)
redis.call('EXPIRE', KEYS[1], retention)
redis.call('EXPIRE', KEYS[2], retention)
return n
