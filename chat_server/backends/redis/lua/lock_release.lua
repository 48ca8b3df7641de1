-- Release a lock (a string set with NX and PX) only while its holder still has it: a holder
-- that outlived its lock must not release the next holder's.
-- KEYS: 1 the lock. ARGV: 1 the holder's token. Returns 1 when released, 0 when not held.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
