-- create-session: starts a session afresh (an id issued again carries nothing over).
-- KEYS[1] session record, KEYS[2] client requests, KEYS[3] their order, KEYS[4] server requests,
-- KEYS[5] their order, KEYS[6] stream events, KEYS[7] their order, KEYS[8] the distinct masks
-- of every client request the session forwarded (one hash tag: one slot).
-- ARGV[1] idle TTL in ms, ARGV[2] the session record (JSON).
-- Returns 1.
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
return 1
