-- Open a conversation in one step: only while the visitor has no open conversation (the
-- key of their open conversation is the lock), write it whole: the conversation, its
-- indexes, its first message and their PUBLISH (see batch.py and Transitions.write).
--
-- KEYS: 1 the visitor's open conversation, then every key the commands touch.
-- ARGV: the commands, each as: how many arguments follow the key, the command, the key's
--       index in KEYS (0 for none), the arguments.
-- Returns {'ok'}, or {'held', the cid that holds the visitor's open conversation} (ours
-- when this step ran before and its reply was lost).
local holder = redis.call('GET', KEYS[1])
if holder then return {'held', holder} end

local i = 1
while i <= #ARGV do
  local n, command, key = tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2])
  local args = {}
  if key > 0 then args[1] = KEYS[key] end
  for j = 1, n do args[#args + 1] = ARGV[i + 2 + j] end
  redis.call(command, unpack(args))
  i = i + 3 + n
end
return {'ok'}
