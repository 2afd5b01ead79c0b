-- Appends one request to the journal every replica writes (a stream trimmed to about the
-- journal's length), numbered from one counter so ids are the same on every replica.
-- KEYS: the stream, the counter. ARGV: the length kept, the entry's head (JSON), its body,
-- seconds both outlive this append (0: for ever; a session's).
local n = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'n', n, 'h', ARGV[2], 'b', ARGV[3])
if tonumber(ARGV[4]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return n
