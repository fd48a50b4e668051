-- What a listing shows of one recording.
-- KEYS[1]  the recording's stream
-- KEYS[2]  the recording's meta hash
-- Returns false when the recording is gone (expired), else
-- {target, era, sessionId, principal, entries, first entry's time, last entry's time}.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local meta = redis.call('HMGET', KEYS[2], 'target', 'era', 'sessionId', 'principal')
local function time_of(entry)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 't' then return fields[i + 1] end
  end
  return '0'
end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
return {meta[1] or '', meta[2] or '', meta[3] or '', meta[4] or '', redis.call('XLEN', KEYS[1]), time_of(first[1]), time_of(last[1])}
