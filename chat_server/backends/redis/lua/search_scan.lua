-- One bounded step of a search (issue 16): walk candidates newest first from one source or
-- the union of several (sorted sets scored by rank), keep those every filter holds for.
-- Python calls it again from where it stopped until the page is full or the source ends,
-- so Redis is never held for long.
--
-- KEYS: 1 meta, 2 words, 3.. the sources.
-- ARGV: 1 the highest rank ('(n' excludes n), 2 the lowest, 3 how many candidates to read
--       from each source, 4 how many matches are wanted, 5 site, 6 topic, 7 a part of the
--       visitor's name or email, 8 the visitor's email, 9 agent ('' for any of these),
--       10 rating ('', 'rated', 'unrated', or a csat '1'..'5'), 11 and 12 the rating key
--       around the cid, 13 the prefix ('' for none), 14.. whole words.
-- Returns {matches (cid, rank, ...), the next highest ('(rank'), or false when the
-- sources are exhausted}.
local high, low, batch, want = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local site, topic, part, email, agent = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local rating, prefix = ARGV[10], ARGV[13]
local need_meta = site ~= '' or topic ~= '' or part ~= '' or email ~= '' or agent ~= ''
local need_words = prefix ~= '' or #ARGV >= 14

local candidates, full = {}, false
for i = 3, #KEYS do
  local page = redis.call('ZREVRANGEBYSCORE', KEYS[i], high, low, 'WITHSCORES', 'LIMIT', 0, batch)
  for j = 1, #page, 2 do candidates[#candidates + 1] = {page[j], tonumber(page[j + 1])} end
  if #page == 2 * batch then full = true end
end
if #KEYS > 3 then
  table.sort(candidates, function(a, b) return a[2] > b[2] end)
end

local function passes(cid)
  if need_meta then
    local meta = redis.call('HGET', KEYS[1], cid)
    if not meta then return false end
    local f = {}
    for v in string.gmatch(meta .. '\31', '(.-)\31') do f[#f + 1] = v end
    if site ~= '' and f[1] ~= site then return false end
    if topic ~= '' and f[2] ~= topic then return false end
    if email ~= '' and f[4] ~= email then return false end
    if part ~= '' and not string.find(f[3], part, 1, true)
      and not string.find(f[4], part, 1, true) then return false end
    if agent ~= '' and not string.find(f[5], '|' .. agent .. '|', 1, true) then return false end
  end
  if need_words then
    local words = redis.call('HGET', KEYS[2], cid)
    if not words then return false end
    for i = 14, #ARGV do
      if not string.find(words, ' ' .. ARGV[i] .. ' ', 1, true) then return false end
    end
    if prefix ~= '' and not string.find(words, ' ' .. prefix, 1, true) then return false end
  end
  if rating ~= '' then
    local raw = redis.call('GET', ARGV[11] .. cid .. ARGV[12])
    if rating == 'unrated' then return not raw end
    if not raw then return false end
    if rating ~= 'rated' and cjson.decode(raw)[3] ~= tonumber(rating) then return false end
  end
  return true
end

-- the first `batch` candidates of the union are all there is above the last of them: a
-- source that filled its page has nothing unread above its own last one
local found, seen, last, done = {}, {}, nil, 0
for i = 1, math.min(#candidates, batch) do
  if #found >= 2 * want then break end
  local c = candidates[i]
  last, done = c[2], i
  if not seen[c[1]] then
    seen[c[1]] = true
    if passes(c[1]) then
      found[#found + 1] = c[1]
      found[#found + 1] = string.format('%.0f', c[2])
    end
  end
end
if not full and done == #candidates then return {found, false} end
return {found, '(' .. string.format('%.0f', last)}
