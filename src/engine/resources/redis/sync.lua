-- What a replica's copy lacks: nothing ("same"), the changes after its position ("entries",
-- while the log still holds them), or everything ("full": another generation, or too far
-- behind; "rewound" when Redis is behind the copy). "missing": nothing was ever loaded (or
-- Redis lost it).
-- KEYS: meta, records, order, log. ARGV: the copy's generation and last change.
local meta, records, order, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local m = redis.call('HMGET', meta, 'gen', 'seq', 'kind', 'next', 'count')
if not m[1] then
  return {'missing'}
end
local seq = tonumber(m[2])
if m[1] == ARGV[1] then
  local behind = seq - tonumber(ARGV[2])
  if behind == 0 then
    return {'same', m[1], seq}
  end
  if behind > 0 and behind <= redis.call('LLEN', log) then
    return {'entries', m[1], seq, redis.call('LRANGE', log, -behind, -1)}
  end
  if behind < 0 then
    -- Redis went back (restarted from an older snapshot, a failover): the copy holds
    -- changes Redis no longer has, and is replaced whole.
    return {'rewound', m[1], seq, m[3], m[4], m[5], redis.call('ZRANGE', order, 0, -1),
      redis.call('HGETALL', records)}
  end
end
return {'full', m[1], seq, m[3], m[4], m[5], redis.call('ZRANGE', order, 0, -1),
  redis.call('HGETALL', records)}
