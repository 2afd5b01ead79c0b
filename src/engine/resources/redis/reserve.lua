-- Hands out numbers for creates, so replicas creating at once never plan the same id: a block
-- of the next free integer ids (the first for the create asking, the rest kept by its replica
-- for its next ones) and/or the collection's count with this create. {} / '' for what was not
-- asked; {0} when the generation moved on (plan again on the new data).
-- `next` moves past the block, so no replica's claim of its copy's next id takes one of them
-- (see commit.lua).
-- KEYS: meta, records, order, log. ARGV: generation, '1' for ids, '1' for a count, how many
-- ids.
local meta, records = KEYS[1], KEYS[2]
if redis.call('HGET', meta, 'gen') ~= ARGV[1] then
  return {0}
end
local ids, count = {}, ''
if ARGV[2] == '1' then
  local n = tonumber(redis.call('HGET', meta, 'next') or '1')
  local want = tonumber(ARGV[4])
  while #ids < want do
    -- Past 2^53 Lua's numbers are no longer integers.
    if n >= 9007199254740992 then
      if #ids == 0 then return {0, 'exhausted'} end
      break
    end
    local id = string.format('%d', n)
    if redis.call('HEXISTS', records, id) == 0 then
      ids[#ids + 1] = id
    end
    n = n + 1
  end
  redis.call('HSET', meta, 'next', string.format('%d', n))
end
if ARGV[3] == '1' then
  count = tostring(redis.call('HINCRBY', meta, 'count', 1))
end
return {1, ids, count}
