-- Forget one connection (ARGV[1], may be empty) and every expired one of an identity;
-- if none is left, the identity is gone since ARGV[2]. Atomic, so a connection made on
-- another node at the same moment is never counted as gone.
-- KEYS: presence zset, present set, gone zset. ARGV: conn id, now ms, identity.
if ARGV[1] ~= '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then
  if redis.call('SREM', KEYS[2], ARGV[3]) == 1 then
    redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[3])
  end
end
return left
