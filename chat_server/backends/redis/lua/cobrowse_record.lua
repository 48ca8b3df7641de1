-- Keep a co-browse batch for late joiners (contract §5 Replay), atomically.
-- KEYS: the list of batches, its meta hash (size, snap). ARGV: batch, restarts (1/0), max
-- bytes, how long both keys live (ms: a forgotten co-browse cleans itself up), set here so
-- no key is ever left without it.
-- Returns 0 when the bound was passed: the buffer is dropped and a fresh snapshot is needed.
local function kept(result)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return result
end
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'size', 0, 'snap', 1)
end
if redis.call('HGET', KEYS[2], 'snap') ~= '1' then
  return kept(1)
end
local size = tonumber(redis.call('HGET', KEYS[2], 'size') or '0')
if size + string.len(ARGV[1]) > tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'size', 0, 'snap', 0)
  return kept(0)
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'size', string.len(ARGV[1]))
return kept(1)
