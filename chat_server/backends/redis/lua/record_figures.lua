-- Add figure increments to their bucket hashes, in one step (all of them count, or none).
-- KEYS: the bucket hashes. ARGV[1]: msgpack array, one [ttl_ms, {field: increment}] per key.
-- One call instead of an HINCRBYFLOAT per field: with many agents (one dimension each),
-- a busy second adds thousands of fields.
local entries = cmsgpack.unpack(ARGV[1])
for i, key in ipairs(KEYS) do
  local entry = entries[i]
  for field, value in pairs(entry[2]) do
    redis.call('HINCRBYFLOAT', key, field, value)
  end
  redis.call('PEXPIRE', key, entry[1])
end
return #KEYS
