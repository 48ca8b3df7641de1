-- Apply one conversation transition (claim, transfer, requeue, close) in one step, only if
-- the conversation is still as Python read it when it decided (with core.conversation):
-- the same JSON, the same live seq (any message moves it), and, for a capacity-checked
-- claim or transfer, the agent still below max_chats. Otherwise nothing is written and
-- Python reads and decides again. The write: the state, its indexes, the system lines (at
-- the seqs core.conversation.number gave them, after the guarded seq) and their PUBLISH.
--
-- KEYS: 1 the conversation's JSON, 2 its live hash, 3 the agent's active set (only read
--       when ARGV[3] is not ''), then every key the commands touch.
-- ARGV: 1 the JSON as read, 2 the live seq as read ('' for none), 3 max_chats ('' for no
--       capacity check), 4.. the commands, each as: how many arguments follow the key, the
--       command, the key's index in KEYS (0 for none), the arguments.
-- Returns 'ok' or 'retry'.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'retry' end
if (redis.call('HGET', KEYS[2], 'seq') or '') ~= ARGV[2] then return 'retry' end
if ARGV[3] ~= '' and redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[3]) then
  return 'retry'
end

local i = 4
while i <= #ARGV do
  local n, command, key = tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2])
  local args = {}
  if key > 0 then args[1] = KEYS[key] end
  for j = 1, n do args[#args + 1] = ARGV[i + 2 + j] end
  redis.call(command, unpack(args))
  i = i + 3 + n
end
return 'ok'
