-- Count one dimension's visits over the days first..last (issue 16): the first visits
-- ever, and for each `since` the visits whose previous visit day p has since <= p < first.
-- KEYS: the visits hashes of consecutive days within first..last, in order (field: days
--       since the previous visit, or 'new'; value: how many).
-- ARGV: 1 first (a day ordinal), 2 the day of KEYS[1], then the `since` days.
-- Returns {new, back for each since}.
local first, start = tonumber(ARGV[1]), tonumber(ARGV[2])
local since, back = {}, {}
for i = 3, #ARGV do
  since[#since + 1] = tonumber(ARGV[i])
  back[#back + 1] = 0
end
local new = 0
for k, key in ipairs(KEYS) do
  local day = start + k - 1
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do
    local count = tonumber(flat[i + 1])
    if flat[i] == 'new' then
      new = new + count
    else
      local previous = day - tonumber(flat[i])
      if previous < first then
        for j = 1, #since do
          if since[j] <= previous then back[j] = back[j] + count end
        end
      end
    end
  end
end
local out = {new}
for j = 1, #back do out[#out + 1] = back[j] end
return out
