-- Read one dimension's buckets of figures over time (issue 16), sealing the finished ones.
-- A bucket is written as a hash (record_figures.lua: one HINCRBYFLOAT per field); once it
-- is finished (no more figures expected, though a late one still counts) it is sealed:
-- merged into its packed form (backends/packed.py: msgpack of {counters, {histogram:
-- {first bin, count, count...}}}) and the hash deleted. A report then reads a year as a
-- few dozen strings instead of thousands of fields, and a bucket takes less memory.
-- KEYS: per bucket, its hash then its packed form (one dimension's: one hash tag, one slot).
-- ARGV: 1 'read' or 'seal', then per bucket '1' when it is finished, '0' when not.
-- Returns ('read') per bucket {its packed form, its hash packed the same way} ('' for
-- none; a finished bucket's hash is sealed first); ('seal') how many were sealed.

local function unpacked(blob)
  local counters, histograms = {}, {}
  if not blob then return counters, histograms end
  local parts = cmsgpack.unpack(blob)
  for name, value in pairs(parts[1]) do counters[name] = value end
  for name, dense in pairs(parts[2]) do
    local bins = {}
    for i = 2, #dense do
      if dense[i] ~= 0 then bins[dense[1] + i - 2] = dense[i] end
    end
    histograms[name] = bins
  end
  return counters, histograms
end

local function packed(counters, histograms)
  local dense_of = {}
  for name, bins in pairs(histograms) do
    local low, high
    for bin in pairs(bins) do
      if not low or bin < low then low = bin end
      if not high or bin > high then high = bin end
    end
    if low then
      local dense = {low}
      for bin = low, high do dense[#dense + 1] = bins[bin] or 0 end
      dense_of[name] = dense
    end
  end
  return cmsgpack.pack({counters, dense_of})
end

local function add_fields(flat, counters, histograms)
  for i = 1, #flat, 2 do
    local field, value = flat[i], tonumber(flat[i + 1])
    if string.sub(field, 1, 2) == 'c:' then
      local name = string.sub(field, 3)
      counters[name] = (counters[name] or 0) + value
    else
      local name, bin = string.match(field, '^h:(.+):(%d+)$')
      if name then
        bin = tonumber(bin)
        local bins = histograms[name] or {}
        histograms[name] = bins
        bins[bin] = (bins[bin] or 0) + value
      end
    end
  end
end

local function seal(hash, pack_key)
  local flat = redis.call('HGETALL', hash)
  if #flat == 0 then return false end
  local old = redis.call('GET', pack_key)
  local counters, histograms = unpacked(old)
  add_fields(flat, counters, histograms)
  local ttl = math.max(redis.call('PTTL', hash), old and redis.call('PTTL', pack_key) or -1)
  if ttl > 0 then
    redis.call('SET', pack_key, packed(counters, histograms), 'PX', ttl)
  else
    redis.call('SET', pack_key, packed(counters, histograms))
  end
  redis.call('DEL', hash)
  return true
end

local reading = ARGV[1] == 'read'
local out, sealed = {}, 0
for i = 1, #KEYS, 2 do
  local finished = ARGV[1 + (i + 1) / 2] == '1'
  if finished and seal(KEYS[i], KEYS[i + 1]) then sealed = sealed + 1 end
  if reading then
    local live = ''
    if not finished then
      local flat = redis.call('HGETALL', KEYS[i])
      if #flat > 0 then
        local counters, histograms = {}, {}
        add_fields(flat, counters, histograms)
        live = packed(counters, histograms)
      end
    end
    out[#out + 1] = {redis.call('GET', KEYS[i + 1]) or '', live}
  end
end
if reading then return out end
return sealed
