-- write-approval: one state transition, compare-and-set. The machine (machine.ts) computed the
-- new record from version ARGV[1]; it is written only if the record is still at that version and
-- the guard holds by Redis' clock (one clock for every replica), together with its audit event,
-- and waiters on any replica are woken.
-- KEYS[1] record (hash), KEYS[2] its events (stream), KEYS[3] its bucket's open pointer.
-- ARGV[1] expected version, ARGV[2] new JSON, ARGV[3] new version, ARGV[4] new state,
-- ARGV[5] audit event JSON, ARGV[6] guard ('none' | 'before' | 'after'), ARGV[7] guard time ms,
-- ARGV[8] retention ms, ARGV[9] wake-up channel, ARGV[10] record id, ARGV[11] '1' if terminal,
-- ARGV[12] new deadline (ms).
-- Returns 1 written, -1 version conflict, -2 no such record, -3 guard failed.
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return -2 end
if version ~= ARGV[1] then return -1 end
if ARGV[6] ~= 'none' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local at = tonumber(ARGV[7])
  if ARGV[6] == 'before' and now >= at then return -3 end
  if ARGV[6] == 'after' and now < at then return -3 end
end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'version', ARGV[3], 'state', ARGV[4], 'deadline', ARGV[12])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000', '*', 'event', ARGV[5])
-- An ended record stops holding its bucket, except a denial until its deadline (create-approval).
if ARGV[11] == '1' and ARGV[4] ~= 'denied' and redis.call('GET', KEYS[3]) == ARGV[10] then redis.call('DEL', KEYS[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
redis.call('PUBLISH', ARGV[9], ARGV[3])
return 1
