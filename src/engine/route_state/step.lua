-- Moves a scenario to its next state only if it is still in the state the route matched
-- (when the route names one): two replicas answering at once advance it once.
-- KEYS: the scenarios hash. ARGV: scenario, '1' when the route names a state, that state,
-- the next state, the name of the start state, seconds the hash outlives this write (0: for
-- ever; a session's).
local now = redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[5]
if ARGV[2] == '1' and now ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
if tonumber(ARGV[6]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[6])
end
return 1
