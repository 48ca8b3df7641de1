-- Append one message to a conversation in one step: check, dedupe, allocate the seq,
-- store, publish (so publish order is seq order). Mirrors what the embedded store does in
-- Python: conversation.require_author, ensure_open, and after_message's turn bookkeeping.
--
-- KEYS: 1 the conversation's live hash (seq, state, visitor, agent, created, topic, frt,
--       turn, act, pend, site), 2 its cmids hash, 3 its message stream, 4 the audit stream,
--       5 its file records (only for a message with files, or with a webhook event),
--       6 the webhook outbox stream (only with a webhook event).
-- ARGV: 1 sender role, 2 sender id, 3 '1' when the sender must be the conversation's own
--       visitor or agent, 4 cmid field ('' for none), 5 ts, 6 kind,
--       7/8 the stored row's JSON before/after its seq,
--       9 the conversation's channel, 10/11 its event's msgpack before/after the seq,
--       12/13 the visitor's channel name before/after the visitor id (12 is '' when the
--       visitor does not see this message), 14/15 its event's msgpack before/after the seq,
--       only with KEYS[5]: 16 the sender as an uploader (core.files.owner_key), 17 how many
--       files, then their ids;
--       only with KEYS[6], next: how many sites take the event, those sites, how many event
--       arguments, the event's fields and values (but site and seq, added here): the
--       event goes to the outbox with the message when the conversation's site is listed;
--       then (from 16 without files) how many audit entries to keep ('' for no entry), '*',
--       the entry's fields and values (written with the message, never for a resent one).
-- Returns {'ok', seq, created, topic, frt, turn, pend, site} (the last six as the message
-- found them, '' for none), {'dup', seq}, or {error code} ('no_file' for a file the
-- message may not carry).
local live = redis.call('HMGET', KEYS[1], 'seq', 'state', 'visitor', 'agent',
                        'created', 'topic', 'frt', 'turn', 'pend', 'site')
if not live[2] then return {'not_found'} end
local role = ARGV[1]
if ARGV[3] == '1' then
  if role == 'visitor' and live[3] ~= ARGV[2] then return {'not_found'} end
  if role == 'agent' and live[4] ~= ARGV[2] then return {'forbidden'} end
end
if live[2] == 'closed' then return {'closed'} end
if ARGV[4] ~= '' then
  local seen = redis.call('HGET', KEYS[2], ARGV[4])
  if seen then return {'dup', tonumber(seen)} end
end
local a = 16  -- where the audit entry's arguments start
-- A message's files: each a record of this conversation, sent before (its JSON array ends
-- with the seq) or still unsent (ends with null) and this sender's upload. The unsent ones
-- get this message's seq below.
local unsent = nil
if KEYS[5] then
  unsent = {}
  local last = 17 + tonumber(ARGV[17])
  for i = 18, last do
    local record = redis.call('HGET', KEYS[5], ARGV[i])
    if not record then return {'no_file'} end
    if string.sub(record, -6) == ',null]' then
      if cjson.decode(record)[9] ~= ARGV[16] then return {'no_file'} end
      unsent[ARGV[i]] = record
    end
  end
  a = last + 1
end
local hook = nil  -- the webhook event's arguments, when the site takes it
if KEYS[6] then
  local sites = tonumber(ARGV[a])
  local width = tonumber(ARGV[a + sites + 1])
  for i = a + 1, a + sites do
    if ARGV[i] == live[10] then hook = {a + sites + 2, a + sites + 1 + width} end
  end
  a = a + sites + 2 + width
end

-- The seq: last + 1, as core.conversation.number allocates it (this mirrors it for one
-- message, here inside the atomic step; the contract suite checks both agree).
local seq = tonumber(live[1] or '0') + 1
local s = tostring(seq)
-- A script's writes before an error stay, so the one write that can refuse (XADD, when the
-- id is not above the stream's last) goes first; Redis refuses a script for lack of memory
-- only at its first write. Either way a failed append leaves nothing, and no seq is used up.
redis.call('XADD', KEYS[3], s .. '-0', 'm', ARGV[7] .. s .. ARGV[8])
local moved = {'seq', s}  -- the live fields this message moves, in one HSET
if ARGV[6] == 'text' then
  if role == 'agent' then
    if not live[7] then moved[#moved + 1] = 'frt'; moved[#moved + 1] = ARGV[5] end
    if live[8] then redis.call('HDEL', KEYS[1], 'turn') end
    moved[#moved + 1] = 'act'; moved[#moved + 1] = ARGV[5]
  elseif role == 'visitor' then
    if not live[8] then moved[#moved + 1] = 'turn'; moved[#moved + 1] = ARGV[5] end
    moved[#moved + 1] = 'act'; moved[#moved + 1] = ARGV[5]
  end
end
redis.call('HSET', KEYS[1], unpack(moved))
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], ARGV[4], s) end
if unsent then
  for id, record in pairs(unsent) do
    redis.call('HSET', KEYS[5], id, string.sub(record, 1, -6) .. s .. ']')
  end
end
if hook then
  redis.call('XADD', KEYS[6], '*', 'site', live[10], 'seq', s, unpack(ARGV, hook[1], hook[2]))
end
local packed = cmsgpack.pack(seq)
redis.call('PUBLISH', ARGV[9], ARGV[10] .. packed .. ARGV[11])
if ARGV[a] ~= '' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', unpack(ARGV, a))
end
if ARGV[12] ~= '' then
  redis.call('PUBLISH', ARGV[12] .. live[3] .. ARGV[13], ARGV[14] .. packed .. ARGV[15])
end
return {'ok', seq, live[5], live[6] or '', live[7] or '', live[8] or '', live[9] or '',
        live[10] or ''}
