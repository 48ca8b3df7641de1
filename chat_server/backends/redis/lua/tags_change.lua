-- Change one conversation's tags in one step (issue 17): the same rule as core/tags.applied.
--
-- KEYS: 1 the conversation's live hash (it exists while the conversation is stored),
--       2 its tags set, then the index key of each tag in ARGV[7...], in that order.
-- ARGV: 1 the conversation id, 2 its creation (ms, the index score), 3 '1' to replace,
--       4 the most tags a conversation holds, 5 how many tags to add, 6 how many to
--       remove, then the tags to add, the tags to remove, and the tags the caller read in
--       the set (their index keys, for the ones a change drops).
-- Returns the tags after the change (unsorted); -1 when the conversation is not stored,
-- -2 when the change would pass the cap, -3 when the set holds a tag the caller did not
-- name (changed since it was read: read again and retry). Nothing changes unless it
-- returns the tags.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local cid, created, replace = ARGV[1], ARGV[2], ARGV[3] == '1'
local cap, n_add, n_remove = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local index = {}
for i = 7, #ARGV do index[ARGV[i]] = KEYS[i - 4] end
local current = redis.call('SMEMBERS', KEYS[2])
local after = {}
for _, tag in ipairs(current) do
  if not index[tag] then return -3 end
  if not replace then after[tag] = true end
end
for i = 7, 6 + n_add do after[ARGV[i]] = true end
if not replace then
  for i = 7 + n_add, 6 + n_add + n_remove do after[ARGV[i]] = nil end
end
local result = {}
for tag in pairs(after) do result[#result + 1] = tag end
if #result > cap then return -2 end
for _, tag in ipairs(current) do
  if not after[tag] then
    redis.call('SREM', KEYS[2], tag)
    redis.call('ZREM', index[tag], cid)
  end
end
for _, tag in ipairs(result) do
  redis.call('SADD', KEYS[2], tag)
  redis.call('ZADD', index[tag], created, cid)
end
return result
