-- What routing reads that the replicas share, in one call: the runtime stubs' version and,
-- when the spec has scenarios, every scenario's state (name, state, name, state, ...).
-- KEYS: the stubs' version, the scenarios hash. ARGV: '1' to read the scenarios.
local version = redis.call('GET', KEYS[1]) or '0'
if ARGV[1] == '1' then
  return {version, redis.call('HGETALL', KEYS[2])}
end
return {version, {}}
