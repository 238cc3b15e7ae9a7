"""The Redis scripts of the flash-sale quota (see ``redis_store``). KEYS are always cfg, m, r, due."""

import hashlib

# ARGV: reservation id, person, units, now (ms), due (ms).
# -> {0, remaining} taken | {1, 0} not loaded | {2, 0} not started | {3, 0} ended | {4, held} limit | {5, remaining}
TAKE = """
local cfg = redis.call('HMGET', KEYS[1], 'remaining', 'limit', 'starts', 'ends', 'expire')
if not cfg[2] then return {1, 0} end
local now = tonumber(ARGV[4])
if now < tonumber(cfg[3]) then return {2, 0} end
if now >= tonumber(cfg[4]) then return {3, 0} end
local units = tonumber(ARGV[3])
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if held + units > tonumber(cfg[2]) then return {4, held} end
local remaining = tonumber(cfg[1])
if remaining < units then return {5, remaining} end
redis.call('HSET', KEYS[1], 'remaining', remaining - units)
redis.call('HINCRBY', KEYS[2], ARGV[2], units)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
for i = 2, 4 do redis.call('PEXPIREAT', KEYS[i], cfg[5]) end
return {0, remaining - units}
"""

# ARGV: reservation id. Gives its units back once (HDEL guards it); -> units given back (0: not held).
RELEASE = """
local v = redis.call('HGET', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if not v then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'limit') == 0 then return 0 end
local sep = string.find(v, '|', 1, true)
local person = string.sub(v, 1, sep - 1)
local units = tonumber(string.sub(v, sep + 1))
redis.call('HINCRBY', KEYS[1], 'remaining', units)
if redis.call('HINCRBY', KEYS[2], person, -units) <= 0 then redis.call('HDEL', KEYS[2], person) end
return units
"""

# ARGV: remaining, limit, starts, ends, expire (ms), n, then n x (reservation id, person, units, due or '-').
# Writes only if the session is not loaded; -> 1 loaded, 0 already there. ``due`` is kept, not replaced: an
# entry there only makes the reconciler look at a reservation (MARK may have put one there before a loss).
LOAD = """
if redis.call('HEXISTS', KEYS[1], 'limit') == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'limit', ARGV[2], 'starts', ARGV[3], 'ends', ARGV[4],
           'expire', ARGV[5])
local n = tonumber(ARGV[6])
for i = 0, n - 1 do
  local b = 7 + i * 4
  redis.call('HINCRBY', KEYS[2], ARGV[b + 1], tonumber(ARGV[b + 2]))
  redis.call('HSET', KEYS[3], ARGV[b], ARGV[b + 1] .. '|' .. ARGV[b + 2])
  if ARGV[b + 3] ~= '-' then redis.call('ZADD', KEYS[4], ARGV[b + 3], ARGV[b]) end
end
for i = 1, 4 do redis.call('PEXPIREAT', KEYS[i], ARGV[5]) end
return 1
"""

# ARGV: reservation id, when (ms), expire (ms). Before a transaction that gives the reservation's units back
# commits: make sure the reconciler looks at it by ``when`` (no earlier than an entry already there), so a
# release lost after the commit is applied even for a reservation no longer in ``due`` (a sold one).
MARK = """
local s = redis.call('ZSCORE', KEYS[4], ARGV[1])
if (not s) or tonumber(s) < tonumber(ARGV[2]) then redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1]) end
if redis.call('PTTL', KEYS[4]) == -1 then redis.call('PEXPIREAT', KEYS[4], ARGV[3]) end
return 1
"""

# ARGV: reservation id, cutoff (ms: the reconciler's now). A reservation the reconciler read as sold leaves
# ``due``, unless MARK moved it past the cutoff since (its order was cancelled: that release must stay found).
SETTLE = """
local s = redis.call('ZSCORE', KEYS[4], ARGV[1])
if s and tonumber(s) <= tonumber(ARGV[2]) then redis.call('ZREM', KEYS[4], ARGV[1]) return 1 end
return 0
"""

TAKE_SHA = hashlib.sha1(TAKE.encode()).hexdigest()
