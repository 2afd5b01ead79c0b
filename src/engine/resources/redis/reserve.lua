-- Hands out numbers for creates, so replicas creating at once never plan the same id: a block
-- of the next free integer ids (the first for the create asking, the rest kept by its replica
-- for its next ones) and/or the collection's count with this create. {} / '' for what was not
-- asked; {0} when the generation moved on (plan again on the new data).
-- KEYS: meta, records, order, log, deleted ids, ids handed out (a replica's claim of the
-- copy's next id must not take one: see commit.lua). ARGV: generation, '1' for ids, '1' for a
-- count, seconds the keys outlive this (0: for ever; a session's), how many ids.
local meta, records, handed = KEYS[1], KEYS[2], KEYS[6]
if redis.call('HGET', meta, 'gen') ~= ARGV[1] then
  return {0}
end
local ids, count = {}, ''
if ARGV[2] == '1' then
  local n = tonumber(redis.call('HGET', meta, 'next') or '1')
  local want = tonumber(ARGV[5])
  while #ids < want do
    -- Past 2^53 Lua's numbers are no longer integers.
    if n >= 9007199254740992 then
      if #ids == 0 then return {0, 'exhausted'} end
      break
    end
    local id = string.format('%d', n)
    if redis.call('HEXISTS', records, id) == 0 then
      ids[#ids + 1] = id
      redis.call('ZADD', handed, n, id)
    end
    n = n + 1
  end
  redis.call('HSET', meta, 'next', string.format('%d', n))
  redis.call('ZREMRANGEBYSCORE', handed, '-inf', '(' .. string.format('%d', n - 65536))
  if tonumber(ARGV[4]) > 0 then
    redis.call('EXPIRE', handed, ARGV[4])
  end
end
if ARGV[3] == '1' then
  count = tostring(redis.call('HINCRBY', meta, 'count', 1))
end
return {1, ids, count}
