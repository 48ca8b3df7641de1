-- A rating and its webhook events in one step: the first rating stays (SET NX); the events
-- go to the outbox only with it. A resent rating whose first run's reply was lost finds its
-- own value, and adds nothing.
-- KEYS: 1 the rating, 2 the webhook outbox stream.
-- ARGV: 1 the rating, 2 how many fields per event, then the events' fields and values.
-- Returns 1 (stored, or ours already), 0 (rated before).
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  local width = tonumber(ARGV[2])
  local i = 3
  while i <= #ARGV do
    redis.call('XADD', KEYS[2], '*', unpack(ARGV, i, i + width - 1))
    i = i + width
  end
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
