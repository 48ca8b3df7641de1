-- The active chats of one page that went quiet at or before a time, for the inactivity
-- sweep: the rest (at 5,000 chats, nearly all of them every sweep) never leave Redis.
-- KEYS: the page's live hashes. ARGV: 1 the time (ms).
-- Returns, for each chat that is due a look, its place in KEYS (from 1), its site ('' when
-- the hash does not say) and when it went quiet (its last text, else its start, else 0).
local before = tonumber(ARGV[1])
local found = {}
for i, key in ipairs(KEYS) do
  local state, site, act, created = unpack(redis.call('HMGET', key, 'state', 'site', 'act', 'created'))
  if not state or state == 'active' then -- else it changed since the index was read
    local since = tonumber(act or created or 0) or 0
    if since <= before then
      found[#found + 1] = i
      found[#found + 1] = site or ''
      found[#found + 1] = since
    end
  end
end
return found
