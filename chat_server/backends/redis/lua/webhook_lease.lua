-- Take or renew an endpoint's delivery lease: one node at a time delivers to it.
-- KEYS: 1 the lease. ARGV: 1 the holder (a node), 2 its time to live in ms.
-- Returns 1 while the holder has it, 0 when another node does.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
