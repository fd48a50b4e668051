-- create-approval: stores a new approval record unless an open one holds its bucket.
-- KEYS[1] the bucket's open pointer, KEYS[2] new record (hash), KEYS[3] new record's events
-- (stream), KEYS[4] the record the pointer named when the caller read it ('' key if none).
-- ARGV[1] expected pointer value ('' for none), ARGV[2] new id, ARGV[3] record JSON,
-- ARGV[4] version, ARGV[5] state, ARGV[6] audit event JSON, ARGV[7] retention ms.
-- ARGV[8] new record's deadline (ms).
-- Returns 1 created, 0 the pointer changed or its record still holds the bucket (re-read and
-- attach): open, or denied and not yet past the deadline it had (a denial is not re-asked at once).
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
if current then
  local state = redis.call('HGET', KEYS[4], 'state')
  if state == 'pending' or state == 'approved' then return 0 end
  if state == 'denied' then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    if now < tonumber(redis.call('HGET', KEYS[4], 'deadline') or '0') then return 0 end
  end
end
redis.call('HSET', KEYS[2], 'json', ARGV[3], 'version', ARGV[4], 'state', ARGV[5], 'deadline', ARGV[8])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', '1000', '*', 'event', ARGV[6])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
return 1
