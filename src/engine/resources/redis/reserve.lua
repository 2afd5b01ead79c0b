-- Hands out numbers for one create, so replicas creating at once never plan the same id:
-- the next free integer id and/or the collection's count with this create. '' for what was
-- not asked; {0} when the generation moved on (plan again on the new data).
-- KEYS: meta, records, order, log, deleted ids, ids handed out (a replica's claim of the
-- copy's next id must not take one: see commit.lua). ARGV: generation, '1' for an id, '1'
-- for a count, seconds the keys outlive this (0: for ever; a session's).
local meta, records, handed = KEYS[1], KEYS[2], KEYS[6]
if redis.call('HGET', meta, 'gen') ~= ARGV[1] then
  return {0}
end
local id, count = '', ''
if ARGV[2] == '1' then
  local n = tonumber(redis.call('HGET', meta, 'next') or '1')
  -- Past 2^53 Lua's numbers are no longer integers.
  if n >= 9007199254740992 then
    return {0, 'exhausted'}
  end
  while redis.call('HEXISTS', records, string.format('%d', n)) == 1 do
    n = n + 1
  end
  id = string.format('%d', n)
  redis.call('HSET', meta, 'next', string.format('%d', n + 1))
  redis.call('ZADD', handed, n, id)
  redis.call('ZREMRANGEBYSCORE', handed, '-inf', '(' .. string.format('%d', n - 65536))
  if tonumber(ARGV[4]) > 0 then
    redis.call('EXPIRE', handed, ARGV[4])
  end
end
if ARGV[3] == '1' then
  count = tostring(redis.call('HINCRBY', meta, 'count', 1))
end
return {1, id, count}
