-- One node writes where its agents and visitors are: each change is (kind, identity,
-- here or not) for THIS node only, written when an identity appears on the node or leaves
-- it (not per connection, not per heartbeat). Atomic, so a connection made on another node
-- at the same moment is never counted as gone.
--
-- KEYS[1]            nodes: sorted set, node id -> when its heartbeat expires (ms)
-- KEYS[2 + 3(k-1)..] for kind k (1 agent, 2 visitor): online set, gone sorted set, this
--                    node's identities of that kind (a set)
-- KEYS[8..]          one per change: the set of nodes holding that identity
-- ARGV[1], ARGV[2]   node id, expiry to register the node with if it is not registered
-- ARGV[3..]          per change, 4 values: kind index, identity, '1' here / '0' left, now ms
--
-- Returns 1 when the node was not in `nodes` (first write, or it was reaped): the caller
-- then writes every identity it holds again.
local node = ARGV[1]
local joined = redis.call('ZADD', KEYS[1], 'NX', ARGV[2], node)
local change = 0
for i = 3, #ARGV, 4 do
  local k = 3 * (tonumber(ARGV[i]) - 1)
  local online, gone, mine = KEYS[2 + k], KEYS[3 + k], KEYS[4 + k]
  local ident, holders = ARGV[i + 1], KEYS[8 + change]
  if ARGV[i + 2] == '1' then
    redis.call('SADD', holders, node)
    redis.call('SADD', mine, ident)
    redis.call('SADD', online, ident)
    redis.call('ZREM', gone, ident)
  else
    redis.call('SREM', mine, ident)
    redis.call('SREM', holders, node)
    -- gone only if no node holds it, and only once (a repeated write or one after
    -- forget_gone must not start the timer again)
    if redis.call('SCARD', holders) == 0 and redis.call('SREM', online, ident) == 1 then
      redis.call('ZADD', gone, 'NX', ARGV[i + 3], ident)
    end
  end
  change = change + 1
end
return joined
