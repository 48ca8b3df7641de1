-- Reap the nodes whose heartbeat expired (a node that died, or stalled longer than
-- presence_ttl_s), then list who is gone. A dead node's identities that no other node holds
-- become gone since now; the node leaves `nodes` once all its identities are reaped. At most
-- ARGV[2] identities per call, so Redis is never blocked for long: the reply says if more
-- is left (the caller calls again). Usually there is no dead node and this is two reads.
--
-- The per-identity keys are built here from prefixes (the identities are only known inside
-- the script): a single Redis primary, like the rest of the store.
--
-- KEYS[1]  nodes: sorted set, node id -> when its heartbeat expires (ms)
-- KEYS[2]  the gone sorted set to list
-- ARGV[1], ARGV[2], ARGV[3]  now ms, budget (identities), list those gone before this ms
-- ARGV[4..] per kind, 4 values: online set, gone sorted set, prefix of a node's identities
--           (+ node id), prefix of an identity's holders (+ identity)
--
-- Returns {more (0 or 1), gone identity, ...}.
local now, budget = ARGV[1], tonumber(ARGV[2])
local more = 0
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, 16)
for _, node in ipairs(dead) do
  if budget <= 0 then
    more = 1
    break
  end
  local emptied = true
  for k = 4, #ARGV, 4 do
    local online, gone, mine = ARGV[k], ARGV[k + 1], ARGV[k + 2] .. node
    if budget > 0 then
      local idents = redis.call('SPOP', mine, budget)
      budget = budget - #idents
      for _, ident in ipairs(idents) do
        local holders = ARGV[k + 3] .. ident
        redis.call('SREM', holders, node)
        if redis.call('SCARD', holders) == 0 and redis.call('SREM', online, ident) == 1 then
          redis.call('ZADD', gone, 'NX', now, ident)
        end
      end
    end
    if redis.call('EXISTS', mine) == 1 then
      emptied = false
    end
  end
  if emptied then
    redis.call('ZREM', KEYS[1], node)
  else
    more = 1
  end
end
if #dead == 16 then
  more = 1
end
local reply = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
table.insert(reply, 1, more)
return reply
