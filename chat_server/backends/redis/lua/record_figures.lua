-- Add figure increments to their bucket hashes, in one step (all of them count, or none).
-- KEYS: the bucket hashes. ARGV[1]: msgpack array, one [ttl_ms, {field: increment}] per key.
-- One call instead of a command per field: with many agents (one dimension each), a busy
-- second adds thousands of fields. Sums of seconds (`c:sum:...`) are the only fractions;
-- every other field counts whole, with HINCRBY (a third of HINCRBYFLOAT's time in Redis,
-- which also logs each as an HSET of the formatted result).
local entries = cmsgpack.unpack(ARGV[1])
for i, key in ipairs(KEYS) do
  local entry = entries[i]
  for field, value in pairs(entry[2]) do
    if string.sub(field, 1, 6) == 'c:sum:' then
      redis.call('HINCRBYFLOAT', key, field, value)
    else
      redis.call('HINCRBY', key, field, value)
    end
  end
  redis.call('PEXPIRE', key, entry[1])
end
return #KEYS
