-- Remove one closed conversation in one step (issue 16, retention): its keys (all in its
-- hash slot) and its entries in every index. Its files are gone already (files.forget).
--
-- KEYS: 1 live, 2 the all-conversations index, 3 the closed index, 4 the queue, 5 the
--       visitor's conversations, 6 to 13 the conversation's own keys (conv, msgs, cmids,
--       rating, files, the three co-browse keys), then each agent's conversations.
-- ARGV: 1 the conversation id.
-- Returns 1 when removed, 0 when gone already (another node removed it), -1 when it is not
-- closed (refused: nothing changes).
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
if state ~= 'closed' then return -1 end
local cid = ARGV[1]
for i = 2, #KEYS do
  if i <= 5 or i >= 14 then
    redis.call('ZREM', KEYS[i], cid)
  end
end
redis.call('UNLINK', KEYS[1], unpack(KEYS, 6, 13))
return 1
