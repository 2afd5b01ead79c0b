-- Puts a resource's data in place: its seed when the definition is new to this Redis
-- (mode "ensure": kept when the fingerprint is already there, so replicas seed it once), or
-- data given whole (mode "force": a reset or an import). A new generation tells every
-- other replica's copy to read it all again. Answers the change number the data stands at
-- (0: kept).
-- KEYS: meta, records, order, log. ARGV: mode, fingerprint, kind, next id, count, generation,
-- seconds the keys outlive their last write (0: for ever), then key and JSON of each record
-- in order.
local meta, records, order, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttl = tonumber(ARGV[7])
local function touch()
  if ttl > 0 then
    for _, k in ipairs(KEYS) do redis.call('EXPIRE', k, ttl) end
  end
end
if ARGV[1] == 'ensure' and redis.call('HGET', meta, 'fp') == ARGV[2] then
  touch()
  return 0
end
redis.call('DEL', records, order, log)
redis.call('HSET', meta, 'fp', ARGV[2], 'kind', ARGV[3], 'next', ARGV[4], 'count', ARGV[5],
  'gen', ARGV[6], 'pos', 0, 'logbytes', 0)
local seq = redis.call('HINCRBY', meta, 'seq', 1)
local pos = 0
for i = 8, #ARGV, 2 do
  pos = pos + 1
  redis.call('HSET', records, ARGV[i], ARGV[i + 1])
  redis.call('ZADD', order, pos, ARGV[i])
end
redis.call('HSET', meta, 'pos', pos)
touch()
return seq
