-- Remove one closed conversation in one step (issue 16, retention): its keys (all in its
-- hash slot), its entries in every index, and its search entries (search_forget.lua, loaded
-- ahead of this). Its files are gone already (files.forget).
--
-- KEYS: 1 live, 2 the all-conversations index, 3 the closed index, 4 the queue, 5 the
--       visitor's conversations, 6 to 14 the conversation's own keys (conv, msgs, cmids,
--       rating, files, the three co-browse keys, the agents who held it), 15 to 19 the
--       search index's (meta, words, all, floors, terms), 20 its tags set (issue 17), then
--       each agent's conversations and the index of each of its tags.
-- ARGV: 1 the conversation id, 2 to 4 the search word, agent and email key prefixes.
-- Returns 1 when removed, 0 when gone already (another node removed it), -1 when it is not
-- closed (refused: nothing changes).
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
if state ~= 'closed' then return -1 end
local cid = ARGV[1]
search_forget(cid, {meta = KEYS[15], words = KEYS[16], all = KEYS[17], floors = KEYS[18],
  terms = KEYS[19], held = KEYS[14], word = ARGV[2], agent = ARGV[3], email = ARGV[4]})
for i = 2, #KEYS do
  if i <= 5 or i >= 21 then
    redis.call('ZREM', KEYS[i], cid)
  end
end
redis.call('UNLINK', KEYS[1], KEYS[20], unpack(KEYS, 6, 14))
return 1
