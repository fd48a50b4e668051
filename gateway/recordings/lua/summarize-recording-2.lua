-- What a listing shows of one recording.
-- KEYS[1]  the recording's stream
-- KEYS[2]  the recording's meta hash
-- Returns false when the recording is gone (expired), else
-- {target, era, sessionId, principal, entries, earliest time, latest time (meta; else the ends'), last entry's id}.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local meta = redis.call('HMGET', KEYS[2], 'target', 'era', 'sessionId', 'principal', 'first', 'last')
local function time_of(entry)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 't' then return fields[i + 1] end
  end
  return '0'
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local first = meta[5]
if not first then first = time_of(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]) end
return {meta[1] or '', meta[2] or '', meta[3] or '', meta[4] or '', redis.call('XLEN', KEYS[1]), first, meta[6] or time_of(last[1]), last[1][1]}
