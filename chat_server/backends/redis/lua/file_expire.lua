-- Remove one upload only if no message sent it, in its conversation's slot (issue 15). A
-- record is `records.stored_file_to_json`: a JSON array whose last item is the seq, null
-- until append.lua binds it.
--
-- KEYS: 1 the conversation's file records, 2 the file's bytes, 3 its thumbnail.
-- ARGV: 1 the file id.
-- Returns 1 when removed, 0 when sent (or gone already).
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record or string.sub(record, -6) ~= ',null]' then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('UNLINK', KEYS[2], KEYS[3])
return 1
