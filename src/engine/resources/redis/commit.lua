-- Makes one planned write if what it was planned on still holds: the same generation, and the
-- record free (create), present (delete) or unchanged (update, set). Answers the change's
-- number, or 0 with why it did not hold.
-- KEYS: meta, records, order, log, deleted ids, ids reserved, the record's turn. ARGV:
-- generation, op, key, the old record's JSON (update, set), the new record's JSON, an integer
-- id's successor (or ''), '1' when a create counts itself (no reserved count), the log line,
-- the log's length, seconds the keys outlive this write (0: for ever), '1' when a create's id
-- is the next one as the replica's copy saw it (refused if it was deleted since, or reserved
-- by another create: ids are never given twice), this request's token for the record's turn.
-- The turn keeps a write from losing for ever: a replica whose write to an existing record
-- lost takes the record's turn (if no one holds it), and until it has written, or the turn
-- has lapsed, other replicas' writes to that record answer 'turn' and wait. Without it, the
-- replica that has just written plans its next write on a fresher copy and keeps winning.
local meta, records, order, log, gone, handed = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local turn, mine = KEYS[7], ARGV[12]
local TURN_MS = 500
local WINDOW = 65536
if redis.call('HGET', meta, 'gen') ~= ARGV[1] then
  return {0, 'generation'}
end
local op, key = ARGV[2], ARGV[3]
local cur = redis.call('HGET', records, key)
local holder = false
if op ~= 'create' then
  holder = redis.call('GET', turn)
  if holder and holder ~= mine then return {0, 'turn'} end
end
if op == 'create' then
  if cur then return {0, 'taken'} end
  if ARGV[11] == '1' then
    -- Deleted ids and ids reserved by other creates are kept for the last WINDOW ids below
    -- `next` (a copy is never that far behind: it catches up before each plan); a claim
    -- further down is refused outright.
    local n = tonumber(key)
    local next = tonumber(redis.call('HGET', meta, 'next') or '1')
    if n < next - WINDOW or redis.call('ZSCORE', gone, key)
        or redis.call('ZSCORE', handed, key) then
      return {0, 'gone'}
    end
  end
elseif op == 'delete' and not cur then
  -- Planned again, the delete finds nothing to delete: the turn would only hold others up.
  if holder then redis.call('DEL', turn) end
  return {0, 'gone'}
elseif op ~= 'delete' and cur ~= ARGV[4] then
  if cur and not holder and mine ~= '' then redis.call('SET', turn, mine, 'PX', TURN_MS) end
  return {0, 'changed'}
end
if holder then redis.call('DEL', turn) end
local seq = redis.call('HINCRBY', meta, 'seq', 1)
if op == 'delete' then
  redis.call('HDEL', records, key)
  redis.call('ZREM', order, key)
  local n = string.match(key, '^%d+$') and tonumber(key)
  if n and n < 9007199254740992 then
    redis.call('ZADD', gone, n, key)
    local next = tonumber(redis.call('HGET', meta, 'next') or '1')
    redis.call('ZREMRANGEBYSCORE', gone, '-inf', '(' .. string.format('%d', next - WINDOW))
  end
else
  redis.call('HSET', records, key, ARGV[5])
  if op == 'create' then
    redis.call('ZADD', order, redis.call('HINCRBY', meta, 'pos', 1), key)
    redis.call('ZREM', handed, key)
    if ARGV[7] == '1' then redis.call('HINCRBY', meta, 'count', 1) end
  end
end
local after = ARGV[6]
if after ~= '' then
  -- Decimal strings compared as numbers, without Lua's doubles losing digits.
  local next = redis.call('HGET', meta, 'next') or '1'
  if #after > #next or (#after == #next and after > next) then
    redis.call('HSET', meta, 'next', after)
  end
end
redis.call('RPUSH', log, seq .. ' ' .. ARGV[8])
redis.call('LTRIM', log, -tonumber(ARGV[9]), -1)
local ttl = tonumber(ARGV[10])
if ttl > 0 then
  for i = 1, 6 do redis.call('EXPIRE', KEYS[i], ttl) end
end
return {seq, 'ok'}
