-- Changes the runtime stubs every replica serves and moves their version on, in one step.
-- KEYS: the stubs hash (id -> route as JSON), the version. ARGV: 'add' then id, route, ...;
-- 'remove' then id; 'clear'; or 'read'. Answers the version, then for 'read' the stubs
-- (id, route, ...), for 'remove' whether there was one.
local op = ARGV[1]
if op == 'read' then
  return {redis.call('GET', KEYS[2]) or '0', redis.call('HGETALL', KEYS[1])}
end
local changed = 1
if op == 'add' then
  for i = 2, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
elseif op == 'remove' then
  changed = redis.call('HDEL', KEYS[1], ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
if changed == 0 then
  return {redis.call('GET', KEYS[2]) or '0', 0}
end
return {tostring(redis.call('INCR', KEYS[2])), 1}
