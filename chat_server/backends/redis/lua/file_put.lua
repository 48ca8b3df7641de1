-- Keep an upload in one step (issue 15): its bytes (and thumbnail), written piece by piece
-- into expiring staging keys, are renamed into place and made permanent, its record is
-- written and it joins the unsent uploads. A half upload is never visible, and a node that
-- dies while writing leaves only keys that expire.
--
-- KEYS: 1 the conversation's file records, 2 the unsent uploads (scored by creation), then
--       pairs of staging key and final key: the bytes, then the thumbnail if any.
-- ARGV: 1 the file id, 2 its record (unsent), 3 its creation time (ms).
-- Returns 1, or 0 when a staging key is gone (expired): then nothing is written.
for i = 3, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 0 then return 0 end
end
for i = 3, #KEYS, 2 do
  redis.call('RENAME', KEYS[i], KEYS[i + 1])
  redis.call('PERSIST', KEYS[i + 1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
