-- touch-session: reads a session's record and keeps everything it holds alive for another TTL.
-- KEYS[1..8] as in create-session-8.lua.
-- ARGV[1] idle TTL in ms.
-- Returns the record (JSON), or false when there is no such session.
local record = redis.call('GET', KEYS[1])
if not record then return false end
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return record
