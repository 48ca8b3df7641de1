-- A visitor started a conversation (issue 16): count the visit once per local day, under
-- the days since their previous visit ('new' for a first visit ever), in one step.
-- KEYS: 1 the visitor's last visit day, then today's visits hash of each dimension.
-- ARGV: 1 today (a day ordinal), 2 how long (ms) the last visit day is kept, 3 how long
--       (ms) today's visits hashes are kept.
-- Returns 1 when the visit counted, 0 when the visitor had come today already (or on a
-- later day: a node whose clock is behind).
local today = tonumber(ARGV[1])
local last = redis.call('GET', KEYS[1])
if last and tonumber(last) >= today then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local field = 'new'
if last then field = tostring(today - tonumber(last)) end
for i = 2, #KEYS do
  redis.call('HINCRBY', KEYS[i], field, 1)
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
end
return 1
