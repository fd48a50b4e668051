-- What a listing shows of one recording.
-- KEYS[1]  the recording's stream
-- KEYS[2]  the recording's meta hash
-- Returns false when the recording is gone (expired), else
-- {target, era, sessionId, principal, entries, earliest time, latest time, last entry's id}.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local meta = redis.call('HMGET', KEYS[2], 'target', 'era', 'sessionId', 'principal', 'first', 'last', 'lastId')
local entries = redis.call('XLEN', KEYS[1])
if meta[5] and meta[6] and meta[7] then
  -- Kept by every append: no message is read (a message may be max_message_bytes).
  return {meta[1] or '', meta[2] or '', meta[3] or '', meta[4] or '', entries, meta[5], meta[6], meta[7]}
end
local function time_of(entry)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 't' then return fields[i + 1] end
  end
  return '0'
end
-- Written before the meta kept times and the last id: read the ends.
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
return {meta[1] or '', meta[2] or '', meta[3] or '', meta[4] or '', entries, time_of(first[1]), time_of(last[1]), last[1][1]}
