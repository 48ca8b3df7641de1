-- Index one closed conversation for search (issue 16), only while it is there and closed
-- (retention may have removed it since Python read it). Indexed again, it keeps its rank.
--
-- KEYS: 1 the conversation's live hash, 2 its held set, 3 meta, 4 words, 5 all, 6 floors,
--       7 terms.
-- ARGV: 1 cid, 2 created (ms), 3 site, 4 topic, 5 name, 6 email (folded; '' for none),
--       7 the words (' a b c '), 8 word key prefix, 9 agent key prefix, 10 email key
--       prefix, 11 how many postings a common word keeps (and the least that make it
--       common), 12 the share of all
--       conversations that does (1/n), 13 how often (in conversations indexed) words are
--       checked for that, 14 the first slot of a millisecond this index takes and 15 the
--       step between its slots (0 and 1; partition p of N: p and N, so that the partitions
--       of a spread installation never give two conversations one rank), 16.. agents who
--       wrote in it or hold it now.
-- A word in more conversations than both bounds is common: its postings keep only the
-- newest ARGV[11], and its floor says below which rank they are cut (a query walks them
-- down to there, then reads candidates' words from another source: see search.py).
-- Every word goes into the terms (the prefixes' dictionary).
-- Returns the rank, or false when the conversation is not closed (or gone).
if redis.call('HGET', KEYS[1], 'state') ~= 'closed' then return false end
local cid = ARGV[1]
local K = {meta = KEYS[3], words = KEYS[4], all = KEYS[5], floors = KEYS[6], terms = KEYS[7],
  held = KEYS[2], word = ARGV[8], agent = ARGV[9], email = ARGV[10]}

local rank = redis.call('ZSCORE', K.all, cid)
if rank then
  search_forget(cid, K)
else
  local low = tonumber(ARGV[2]) * 1024
  local top = redis.call('ZREVRANGEBYSCORE', K.all, string.format('%.0f', low + 1022),
    string.format('%.0f', low), 'WITHSCORES', 'LIMIT', 0, 1)
  rank = top[2] and tonumber(top[2]) + tonumber(ARGV[15]) or low + tonumber(ARGV[14])
end
rank = string.format('%.0f', tonumber(rank))

for i = 16, #ARGV do redis.call('SADD', K.held, ARGV[i]) end
local agents = redis.call('SMEMBERS', K.held)
table.sort(agents)
redis.call('HSET', K.meta, cid, table.concat({ARGV[3], ARGV[4], ARGV[5], ARGV[6],
  '|' .. table.concat(agents, '|') .. '|'}, '\31'))
redis.call('HSET', K.words, cid, ARGV[7])
redis.call('ZADD', K.all, rank, cid)

-- per word: its postings (one call a word: the cost of an index); whether they grew past
-- the bound is checked at every ARGV[13]th conversation indexed, so they pass it by a few
local indexed = redis.call('ZCARD', K.all)
local keep = tonumber(ARGV[11])
local threshold = math.max(keep, math.floor(indexed / tonumber(ARGV[12])))
local check = indexed % tonumber(ARGV[13]) == 0
local listed = {}
for w in string.gmatch(ARGV[7], '%S+') do
  local key = K.word .. w
  redis.call('ZADD', key, rank, cid)
  if check then
    local size = redis.call('ZCARD', key)
    local floor = redis.call('HGET', K.floors, w)
    if size > (floor and keep or threshold) then  -- common: keep the newest, mark the cut
      local cut = redis.call('ZRANGE', key, size - keep - 1, size - keep - 1, 'WITHSCORES')
      redis.call('ZREMRANGEBYRANK', key, 0, size - keep - 1)
      local below = math.max(tonumber(floor or '0'), tonumber(cut[2]) + 1)
      redis.call('HSET', K.floors, w, string.format('%.0f', below))
    end
  end
  listed[#listed + 1] = 0
  listed[#listed + 1] = w
  if #listed >= 1000 then  -- unpack's bound: a long conversation's, in parts
    redis.call('ZADD', K.terms, unpack(listed))
    listed = {}
  end
end
if #listed > 0 then redis.call('ZADD', K.terms, unpack(listed)) end
for _, a in ipairs(agents) do redis.call('ZADD', K.agent .. a, rank, cid) end
if ARGV[6] ~= '' then redis.call('ZADD', K.email .. ARGV[6], rank, cid) end
return rank
