-- Makes planned writes to one resource, in order, each only if what it was planned on still
-- holds: the same generation, and the record free (create), present (delete) or unchanged
-- (update, set). Answers, per write, the change's number, or 0 with why it did not hold. A
-- replica's worker sends the writes that waited together in one call (see batch.rs): each
-- script call costs Redis more than the few commands a write runs.
-- The answer starts with the generation and what the replica's copy lacked of the changes
-- made before this call (it says where the copy stood when the call was sent): their log
-- lines, or 'far' when the copy must catch up on its own (another generation, Redis behind
-- the copy, or more lines than CATCH or the log holds). So a replica that writes keeps its copy
-- current without a catch-up call of its own before each write (see serve.rs).
-- KEYS: meta, records, order, log, then each write's record's turn.
-- ARGV: the log's length, seconds the keys outlive these writes (0: for ever), the log's bytes
-- (its lines are kept up to both bounds; `logbytes` in meta counts them), the copy's last
-- change, then per write (PER of them): generation, op, key, the old record's JSON (update,
-- set, delete: refused if it changed since), the new record's JSON, an integer id's successor
-- (or ''), '1' when a create counts itself (no reserved count), the log line, where a
-- create's integer id came from — '1': the next one as the replica's copy saw it (refused when
-- below `next`: taken, deleted or reserved since, as every id below it may be — ids are never
-- given twice), '2': reserved (refused unless below `next`, as reserving moves `next` past it:
-- a Redis that went back in time has forgotten the reservation), '0': elsewhere — then this
-- request's token for the record's turn.
-- The turn keeps a write from losing for ever: a replica whose write to an existing record
-- lost takes the record's turn (if no one holds it), and until it has written, or the turn
-- has lapsed, other replicas' writes to that record answer 'turn' and wait. Without it, the
-- replica that has just written plans its next write on a fresher copy and keeps winning.
local meta, records, order, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local keep, ttl, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local from = tonumber(ARGV[4])
local HEAD = 4
local PER = 10
local CATCH = 1024
local TURN_MS = 500
-- The counters are read once and written once per call; the writes of the call see each
-- other's records, as each runs its commands in turn.
local m = redis.call('HMGET', meta, 'gen', 'seq', 'pos', 'count', 'next', 'logbytes')
local gen = m[1]
local seq, pos, count = tonumber(m[2] or '0'), tonumber(m[3] or '0'), tonumber(m[4] or '0')
local next = m[5] or '1'
local logbytes = tonumber(m[6] or '0')
local before = seq
local lines = {}

-- Decimal strings compared as numbers, without Lua's doubles losing digits.
local function above(a, b)
  return #a > #b or (#a == #b and a > b)
end

local function write(turn, g, op, key, old, new, after, counts, line, claimed, mine)
  if gen ~= g then
    return 0, 'generation'
  end
  local cur = redis.call('HGET', records, key)
  local holder = false
  if op ~= 'create' then
    holder = redis.call('GET', turn)
    if holder and holder ~= mine then return 0, 'turn' end
  end
  if op == 'create' then
    if cur then return 0, 'taken' end
    -- `next` passes every id created, deleted or reserved: a claim below it comes from a copy
    -- that missed one of those.
    if claimed == '1' and above(next, key) then return 0, 'gone' end
    if claimed == '2' and not above(next, key) then return 0, 'gone' end
  elseif op == 'delete' and not cur then
    -- Planned again, the delete finds nothing to delete: the turn would only hold others up.
    if holder then redis.call('DEL', turn) end
    return 0, 'gone'
  elseif cur ~= old then
    if cur and not holder and mine ~= '' then redis.call('SET', turn, mine, 'PX', TURN_MS) end
    return 0, 'changed'
  end
  if holder then redis.call('DEL', turn) end
  seq = seq + 1
  if op == 'delete' then
    redis.call('HDEL', records, key)
    redis.call('ZREM', order, key)
  else
    redis.call('HSET', records, key, new)
    if op == 'create' then
      pos = pos + 1
      redis.call('ZADD', order, pos, key)
      if counts == '1' then count = count + 1 end
    end
  end
  if after ~= '' and above(after, next) then
    next = after
  end
  lines[#lines + 1] = string.format('%d', seq) .. ' ' .. line
  return seq, 'ok'
end

-- The generation and what the copy lacked (set at the end), then two items per write.
local out = {gen or '', 'far'}
local writes = (#ARGV - HEAD) / PER
for i = 0, writes - 1 do
  local a = HEAD + i * PER
  local n, why = write(KEYS[5 + i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4],
    ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9], ARGV[a + 10])
  out[#out + 1] = n
  out[#out + 1] = why
end
local length
if #lines > 0 then
  length = redis.call('RPUSH', log, unpack(lines))
  for _, line in ipairs(lines) do logbytes = logbytes + #line end
  -- The oldest lines go, beyond the count or the bytes (but the newest line stays): each
  -- line is popped once, so this costs a write one pop on average.
  local over = length - keep
  if over > 0 then
    for _, line in ipairs(redis.call('LRANGE', log, 0, over - 1)) do
      logbytes = logbytes - #line
    end
    redis.call('LTRIM', log, over, -1)
    length = keep
  end
  while logbytes > most and length > 1 do
    logbytes = logbytes - #redis.call('LPOP', log)
    length = length - 1
  end
  if logbytes > most then
    -- Only a count gone wrong (meta edited, restored apart from the log) gets here, with the
    -- newest line alone left: count that.
    logbytes = #redis.call('LINDEX', log, -1)
  end
  redis.call('HSET', meta, 'seq', string.format('%d', seq), 'pos', string.format('%d', pos),
    'count', string.format('%d', count), 'next', next, 'logbytes', string.format('%d', logbytes))
  if ttl > 0 then
    for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ttl) end
  end
else
  length = redis.call('LLEN', log)
end
-- The lines of changes from + 1 .. before sit just ahead of this call's own.
local lacked = before - from
local catch = 'far'
if gen and lacked >= 0 and lacked <= CATCH and lacked + #lines <= length then
  catch = {}
  if lacked > 0 then
    catch = redis.call('LRANGE', log, -(lacked + #lines), -(#lines + 1))
  end
end
out[2] = catch
return out
