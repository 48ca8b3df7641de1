-- Shared by search_index.lua and retention_remove.lua (prepended to each when loaded): how
-- one conversation leaves the search index (issue 16). `K` names the index's keys:
-- meta, words (hashes by conversation), all (its rank), floors (the common words' cut),
-- terms, held (the conversation's own set of agents), and the prefixes of the word, agent
-- and email keys. Only the entries this conversation's own fields name are touched. A word
-- stays in the terms while a conversation has it: its postings, or its floor, say so.
local function search_fields(meta)
  local f = {}
  for v in string.gmatch(meta .. '\31', '(.-)\31') do f[#f + 1] = v end
  return f
end

local function search_forget(cid, K)
  local words = redis.call('HGET', K.words, cid)
  if words then
    for w in string.gmatch(words, '%S+') do
      local key = K.word .. w
      if redis.call('ZREM', key, cid) == 1 and redis.call('EXISTS', key) == 0
        and redis.call('HEXISTS', K.floors, w) == 0 then
        redis.call('ZREM', K.terms, w)
      end
    end
  end
  local meta = redis.call('HGET', K.meta, cid)
  if meta then
    local f = search_fields(meta)
    if f[4] ~= '' then redis.call('ZREM', K.email .. f[4], cid) end
    for a in string.gmatch(f[5], '[^|]+') do redis.call('ZREM', K.agent .. a, cid) end
  end
  for _, a in ipairs(redis.call('SMEMBERS', K.held)) do
    redis.call('ZREM', K.agent .. a, cid)
  end
  redis.call('HDEL', K.meta, cid)
  redis.call('HDEL', K.words, cid)
  redis.call('ZREM', K.all, cid)
end
