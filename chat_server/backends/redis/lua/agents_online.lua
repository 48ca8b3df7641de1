-- Whether one of these agents is a person (not a bot) with the status `online`: the
-- widget's availability asks it of every connected agent each second, and decoding a large
-- team's rows on the node held its event loop; here it is a few microseconds a row.
-- KEYS: the agents' rows (JSON arrays, `records.agent_row`). Returns 1 or 0.
for _, key in ipairs(KEYS) do
  local raw = redis.call('GET', key)
  if raw then
    local row = cjson.decode(raw)
    if row[8] == 'online' and row[4] ~= 'bot' then
      return 1
    end
  end
end
return 0
