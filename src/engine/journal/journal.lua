-- Appends requests to the journal every replica writes (a stream trimmed to about the
-- journal's length), each numbered from its journal's counter so ids are the same on every
-- replica. One call carries the requests a worker finished together.
-- KEYS: per request, its stream and its counter (the shared journal's, or a session's).
-- ARGV: the length kept, then per request its head (JSON), its body and the seconds its keys
-- outlive this append (0: for ever; a session's).
for i = 1, #KEYS / 2 do
  local stream, counter = KEYS[2 * i - 1], KEYS[2 * i]
  local head, body, ttl = ARGV[3 * i - 1], ARGV[3 * i], tonumber(ARGV[3 * i + 1])
  local n = redis.call('INCR', counter)
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[1], '*', 'n', n, 'h', head, 'b', body)
  if ttl > 0 then
    redis.call('EXPIRE', stream, ttl)
    redis.call('EXPIRE', counter, ttl)
  end
end
return #KEYS / 2
