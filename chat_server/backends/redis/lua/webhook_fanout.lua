-- Move outbox events to the queues of the endpoints that take them, each event once: an
-- event already gone from the outbox (another node moved it) is skipped whole, and so is
-- a delivery to an endpoint removed since Python read them.
--
-- KEYS: 1 the outbox stream, 2 the deliveries hash (n -> record), 3 the delivery counter,
--       4 the endpoints hash, then the endpoints' queues (sorted sets of n scored by n).
-- ARGV: per event: its stream id, how many deliveries, then per delivery: its queue's
--       index in KEYS, its endpoint's id and its record (JSON).
-- Returns how many events were moved.
local moved = 0
local i = 1
while i <= #ARGV do
  local entry, count = ARGV[i], tonumber(ARGV[i + 1])
  local here = redis.call('XDEL', KEYS[1], entry) == 1
  if here then moved = moved + 1 end
  for j = 0, count - 1 do
    local at = i + 2 + 3 * j
    if here and redis.call('HEXISTS', KEYS[4], ARGV[at + 1]) == 1 then
      local n = redis.call('INCR', KEYS[3])
      redis.call('HSET', KEYS[2], n, ARGV[at + 2])
      redis.call('ZADD', KEYS[tonumber(ARGV[at])], n, n)
    end
  end
  i = i + 2 + 3 * count
end
return moved
