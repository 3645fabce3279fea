package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"
)

// The Lua scripts. Each runs atomically on the server; every write script
// checks all its preconditions before its first write, because Redis does
// not roll back a script that fails half-way. Batch IDs and leaf indexes
// pass through Lua numbers (doubles), exact below 2^53. Replies are arrays
// whose first element is a status code, so that outcomes are told apart
// without parsing error text.

// Status codes of the write scripts.
const (
	scriptOK       = 0
	scriptConflict = 1 // the precondition failed; element 2 says why
	scriptFenced   = 2 // the caller does not hold the lease
	scriptNotFound = 3 // the batch does not exist
	scriptStaging  = 4 // staged levels are missing or short
	scriptFull     = 5 // the new fingerprints would pass the pending bound
)

// luaLocate is the Lua function locate(sealedKey, startsKey, entry) that
// replies {entry, batch ID, index} for a stored entry: 0, 0 while its
// sequence number is above sealed (pending), else the batch with the
// greatest first sequence number at or below it.
const luaLocate = `
local function locate(ksealed, kstarts, v)
	local seq = struct.unpack('>I8', v, 2)
	if seq > tonumber(redis.call('GET', ksealed) or '0') then return {v, 0, 0} end
	local r = redis.call('ZREVRANGEBYSCORE', kstarts, seq, '-inf', 'LIMIT', 0, 1, 'WITHSCORES')
	return {v, tonumber(r[1]), seq - tonumber(r[2])}
end
`

// submitScript records new fingerprints, and the records of institutions
// that submit a known fingerprint for the first time, unless the new ones
// would take the pending count past a bound.
//
//	KEYS[1] entries, KEYS[2] pending, KEYS[3] fpseq, KEYS[4] subs
//	ARGV[1] the bound on the pending count (0: none)
//	ARGV[2] the fingerprints, 32 bytes each, concatenated
//	ARGV[2+i] received(8) | institution of fingerprint i
//
// With a bound, it first counts the distinct fingerprints it does not
// know; if there are any and they would take the pending list's length
// past the bound, it writes nothing and replies {scriptFull, pending,
// new}. Otherwise a new fingerprint gets the next sequence number, its
// entry and a place at the tail of the pending list. A known one whose
// entry names another institution gets that institution's record in subs
// (fingerprint | institution → 1 | received), unless it is there already.
// The reply is {scriptOK, pending after, results}, with one result per
// fingerprint: 0 if the entry is new, 1 if the record is new (both:
// received as sent), else the received(8) of the institution's record
// (its entry's or its subs record's). A fingerprint repeated in ARGV is
// new the first time and existing after. It reads the entries with HMGET
// (1,000 fingerprints a call) and writes the new ones with HSET (500 a
// call: unpack's bound is on values, two per field), not a call per
// fingerprint, which made an AOF record per fingerprint.
var submitScript = goredis.NewScript(`
local bound, fps = tonumber(ARGV[1]), ARGV[2]
local n = #fps / 32
local keys, cur = {}, {}
for i = 1, n do keys[i] = string.sub(fps, 32*i - 31, 32*i) end
-- The entries there are (false: none), read 1000 at a time (unpack's
-- bound on arguments).
for j = 1, n, 1000 do
	local got = redis.call('HMGET', KEYS[1], unpack(keys, j, math.min(j + 999, n)))
	for k = 1, #got do cur[j + k - 1] = got[k] end
end
if bound > 0 then
	local fresh, seen = 0, {}
	for i = 1, n do
		if not cur[i] and not seen[keys[i]] then
			seen[keys[i]] = true
			fresh = fresh + 1
		end
	end
	local len = redis.call('LLEN', KEYS[2])
	if fresh > 0 and len + fresh > bound then return {5, len, fresh} end
end
local seq = tonumber(redis.call('GET', KEYS[3]) or '0')
local out, new, set, here = {}, {}, {}, {}
for i = 1, n do
	local fp, arg = keys[i], ARGV[i + 2]
	local v = cur[i] or here[fp]
	if not v then
		seq = seq + 1
		v = '\1' .. struct.pack('>I8', seq) .. arg
		here[fp] = v
		set[#set + 1] = fp
		set[#set + 1] = v
		new[#new + 1] = fp
		out[i] = 0
	else
		local inst = string.sub(arg, 9)
		if string.sub(v, 18) == inst then
			out[i] = string.sub(v, 10, 17)
		elseif redis.call('HSETNX', KEYS[4], fp .. inst, '\1' .. string.sub(arg, 1, 8)) == 1 then
			out[i] = 1
		else
			out[i] = string.sub(redis.call('HGET', KEYS[4], fp .. inst), 2, 9)
		end
	end
end
local len = 0
if #new > 0 then
	for j = 1, #set, 1000 do
		redis.call('HSET', KEYS[1], unpack(set, j, math.min(j + 999, #set)))
	end
	redis.call('SET', KEYS[3], string.format('%d', seq))
	for j = 1, #new, 1000 do
		len = redis.call('RPUSH', KEYS[2], unpack(new, j, math.min(j + 999, #new)))
	end
else
	len = redis.call('LLEN', KEYS[2])
end
return {0, len, out}
`)

// entryScript reads one entry and locates it.
//
//	KEYS[1] entries, KEYS[2] sealed, KEYS[3] starts; ARGV[1] fingerprint
//
// It replies {entry, batch ID, index}, or nil if the fingerprint is
// unknown.
var entryScript = goredis.NewScript(luaLocate + `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
return locate(KEYS[2], KEYS[3], v)
`)

// submissionScript reads one institution's record of a fingerprint, with
// the located entry.
//
//	KEYS[1] entries, KEYS[2] sealed, KEYS[3] starts, KEYS[4] subs
//	ARGV[1] fingerprint, ARGV[2] institution
//
// It replies {entry, batch ID, index} if the entry is the institution's,
// {entry, batch ID, index, subs record} if the institution has a record
// in subs, or nil if the fingerprint is unknown or the institution never
// submitted it.
var submissionScript = goredis.NewScript(luaLocate + `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
local r = locate(KEYS[2], KEYS[3], v)
if string.sub(v, 18) == ARGV[2] then return r end
local own = redis.call('HGET', KEYS[4], ARGV[1] .. ARGV[2])
if not own then return false end
r[4] = own
return r
`)

// proofScript reads one entry, locates it and sizes its batch, so a proof
// read can fetch the batch and the path's nodes in one more round trip,
// and reads the statements about it.
//
//	KEYS[1] entries, KEYS[2] sealed, KEYS[3] starts, KEYS[4] about,
//	KEYS[5] stmt; ARGV[1] fingerprint
//
// It replies {entry, batch ID, index, batch size, statements}
// ({entry, 0, 0, 0, statements} while pending), or nil if the fingerprint
// is unknown; statements are the fingerprint and stmt value of each
// statement about it, in the order recorded, one after the other (an
// empty array for most). Batches are
// consecutive runs of sequence numbers, so a batch's size is the next
// batch's first sequence number (or sealed + 1 for the last batch) minus
// its own.
var proofScript = goredis.NewScript(luaLocate + `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
local sts = {}
local ab = redis.call('HGET', KEYS[4], ARGV[1])
if ab then
	for i = 1, #ab / 32 do
		local f = string.sub(ab, 32*i - 31, 32*i)
		sts[2*i - 1], sts[2*i] = f, redis.call('HGET', KEYS[5], f) or ''
	end
end
local r = locate(KEYS[2], KEYS[3], v)
if r[2] == 0 then return {v, 0, 0, 0, sts} end
local first = struct.unpack('>I8', v, 2) - r[3]
local nxt = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. string.format('%d', first), '+inf', 'LIMIT', 0, 1, 'WITHSCORES')
local after = tonumber(redis.call('GET', KEYS[2])) + 1
if nxt[2] then after = tonumber(nxt[2]) end
return {v, r[2], r[3], after - first, sts}
`)

// addStatementScript records a statement unless its fingerprint is
// recorded already.
//
//	KEYS[1] stmt, KEYS[2] stmtlog, KEYS[3] about
//	ARGV[1] statement fingerprint, ARGV[2] subject, ARGV[3] text
//
// It replies {1, stored value} when the fingerprint is recorded (nothing
// written), else appends the fingerprint to stmtlog (its new length is the
// statement's seq), stores 1 | seq(8) | subject | text under it in stmt,
// appends it to the subject's list in about, and replies {0, value}.
var addStatementScript = goredis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then return {1, old} end
local seq = redis.call('RPUSH', KEYS[2], ARGV[1])
local v = '\1' .. struct.pack('>I8', seq) .. ARGV[2] .. ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], v)
redis.call('HSET', KEYS[3], ARGV[2], (redis.call('HGET', KEYS[3], ARGV[2]) or '') .. ARGV[1])
return {0, v}
`)

// pendingStatsScript reads the pending count and the oldest pending
// entry.
//
//	KEYS[1] pending list, KEYS[2] entries hash
var pendingStatsScript = goredis.NewScript(`
local n = redis.call('LLEN', KEYS[1])
if n == 0 then return {0, false} end
return {n, redis.call('HGET', KEYS[2], redis.call('LINDEX', KEYS[1], 0))}
`)

// commitScript seals the head of the pending list as batch ID. The
// entries do not change: the batch's first sequence number goes into
// starts, and sealed moves past its last.
//
//	KEYS[1] lease, KEYS[2] seq, KEYS[3] pending, KEYS[4] sealed,
//	KEYS[5] starts, KEYS[6] the batch hash, KEYS[6+l] level l (1-based;
//	L levels), KEYS[6+L+l] staged level l (staged mode)
//	ARGV[1] the caller's lease value, ARGV[2] ID, ARGV[3] the fingerprints
//	(32 bytes each), ARGV[4] header, ARGV[5] L, ARGV[6] mode: "i" (levels
//	inline) or "s" (staged), ARGV[6+l] level l (inline) or its length
//	(staged)
//
// A retry of a commit that went through (the reply was lost) finds its own
// header under its ID and reports success again.
var commitScript = goredis.NewScript(`
local id = tonumber(ARGV[2])
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
if seq >= id and redis.call('HGET', KEYS[6], 'h') == ARGV[4] then return {0} end
if ARGV[1] == '' or redis.call('GET', KEYS[1]) ~= ARGV[1] then return {2} end
if seq + 1 ~= id then return {1, 'batch ' .. ARGV[2] .. ' was sealed by another commit'} end
local fps = ARGV[3]
local n = #fps / 32
local chunk = 4096
for first = 0, n - 1, chunk do
	local last = math.min(first + chunk, n) - 1
	local head = redis.call('LRANGE', KEYS[3], first, last)
	if #head ~= last - first + 1 then
		return {1, string.format('only %d fingerprints are pending, not %d', first + #head, n)}
	end
	if table.concat(head) ~= string.sub(fps, 32*first + 1, 32*(last + 1)) then
		for j = 1, #head do
			local i = first + j
			if head[j] ~= string.sub(fps, 32*i - 31, 32*i) then
				return {1, string.format('fingerprint %d of %d is not at that place in the pending queue', i - 1, n)}
			end
		end
	end
end
local L = tonumber(ARGV[5])
local staged = ARGV[6] == 's'
if staged then
	for l = 1, L do
		if redis.call('STRLEN', KEYS[6 + L + l]) ~= tonumber(ARGV[6 + l]) then
			return {4, string.format('staged level %d is missing or incomplete', l - 1)}
		end
	end
end
-- All checks passed: only writes from here on.
local sealed = tonumber(redis.call('GET', KEYS[4]) or '0')
redis.call('LTRIM', KEYS[3], n, -1)
redis.call('ZADD', KEYS[5], string.format('%d', sealed + 1), ARGV[2])
redis.call('SET', KEYS[4], string.format('%d', sealed + n))
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[6], 'h', ARGV[4])
for l = 1, L do
	if staged then
		redis.call('RENAME', KEYS[6 + L + l], KEYS[6 + l])
		redis.call('PERSIST', KEYS[6 + l])
	else
		redis.call('SET', KEYS[6 + l], ARGV[6 + l])
	end
end
return {0}
`)

// adoptScript records batch ID with its header alone (store.Store
// AdoptBatch): no starts entry, no levels, sealed unchanged.
//
//	KEYS[1] lease, KEYS[2] seq, KEYS[3] the batch hash
//	ARGV[1] the caller's lease value, ARGV[2] ID, ARGV[3] header
//
// Adopting the batch stored under ID with the same header succeeds again.
var adoptScript = goredis.NewScript(`
local id = tonumber(ARGV[2])
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
if seq >= id and redis.call('HGET', KEYS[3], 'h') == ARGV[3] then return {0} end
if ARGV[1] == '' or redis.call('GET', KEYS[1]) ~= ARGV[1] then return {2} end
if seq + 1 ~= id then return {1, 'batch ' .. ARGV[2] .. ' is not the next batch (latest ' .. string.format('%d', seq) .. ')'} end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], 'h', ARGV[3])
return {0}
`)

// unconfirmedScript lists the batches whose anchor on a chain is missing
// or not confirmed, starting at the chain's low-water mark.
//
//	KEYS[1] lowconf hash, KEYS[2] seq
//	ARGV[1] chain ID, ARGV[2] limit, ARGV[3] the batch key prefix
//
// It replies with {ID, HGETALL of the batch} pairs.
var unconfirmedScript = goredis.NewScript(`
local id = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '1')
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[2])
local state = 's:' .. ARGV[1]
local out = {}
while id <= last and #out < limit do
	local k = ARGV[3] .. string.format('%d', id)
	if redis.call('HGET', k, state) ~= 'confirmed' then
		out[#out + 1] = {string.format('%d', id), redis.call('HGETALL', k)}
	end
	id = id + 1
end
return out
`)

// putAnchorScript writes an anchor record if the stored state is the
// caller's prev, and maintains the chain's low-water mark: it drops to a
// batch below it that is no longer confirmed, and moves past the mark's
// batch (and the confirmed ones after it) when that becomes confirmed.
//
//	KEYS[1] lease, KEYS[2] the batch hash, KEYS[3] lowconf, KEYS[4] seq
//	ARGV[1] the caller's lease value, ARGV[2] batch ID, ARGV[3] chain ID,
//	ARGV[4] prev state ("" for none), ARGV[5] new state, ARGV[6] the
//	record, ARGV[7] the batch key prefix
//
// Writing the very record that is stored succeeds (a retry whose first
// reply was lost).
var putAnchorScript = goredis.NewScript(`
local afield, sfield = 'a:' .. ARGV[3], 's:' .. ARGV[3]
if redis.call('HGET', KEYS[2], afield) == ARGV[6] then return {0} end
if ARGV[1] == '' or redis.call('GET', KEYS[1]) ~= ARGV[1] then return {2} end
if redis.call('HEXISTS', KEYS[2], 'h') == 0 then return {3} end
local cur = redis.call('HGET', KEYS[2], sfield) or ''
if cur ~= ARGV[4] then return {1, cur} end
redis.call('HSET', KEYS[2], afield, ARGV[6], sfield, ARGV[5])
local id = tonumber(ARGV[2])
local low = tonumber(redis.call('HGET', KEYS[3], ARGV[3]) or '1')
if ARGV[5] ~= 'confirmed' and id < low then
	low = id
elseif ARGV[5] == 'confirmed' and id == low then
	local last = tonumber(redis.call('GET', KEYS[4]) or '0')
	low = low + 1
	while low <= last and redis.call('HGET', ARGV[7] .. string.format('%d', low), sfield) == 'confirmed' do
		low = low + 1
	end
else
	return {0}
end
redis.call('HSET', KEYS[3], ARGV[3], string.format('%d', low))
return {0}
`)

// campaignScript acquires, renews or fails to get the lease.
//
//	KEYS[1] lease, KEYS[2] fence
//	ARGV[1] the caller's lease value ("" if it holds none), ARGV[2]
//	replica ID, ARGV[3] TTL in milliseconds
//
// Replies {1} when the caller renewed its lease, {2, value, token} when it
// acquired a new one (with the next token), {0} when another holds it.
var campaignScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
	if ARGV[1] ~= '' and cur == ARGV[1] then
		redis.call('PEXPIRE', KEYS[1], ARGV[3])
		return {1}
	end
	return {0}
end
local token = redis.call('INCR', KEYS[2])
local value = ARGV[2] .. '/' .. string.format('%d', token)
redis.call('SET', KEYS[1], value, 'PX', ARGV[3])
return {2, value, token}
`)

// resignScript deletes the lease if it is the caller's.
//
//	KEYS[1] lease; ARGV[1] the caller's lease value
var resignScript = goredis.NewScript(`
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// run runs script with EVALSHA. When the server does not have it cached
// (NOSCRIPT: the server restarted since Open), it loads the script and
// runs it with EVALSHA again, rather than sending the arguments (32 MiB of
// fingerprints for a commit of 2^20) once more with the source in an
// EVAL.
func (s *Store) run(ctx context.Context, script *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	cmd := script.EvalSha(ctx, s.rdb, keys, args...)
	if !goredis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		return cmd
	}
	if err := script.Load(ctx, s.rdb).Err(); err != nil {
		return script.Eval(ctx, s.rdb, keys, args...)
	}
	return script.EvalSha(ctx, s.rdb, keys, args...)
}

// allScripts are loaded into the server's script cache at Open.
var allScripts = []*goredis.Script{
	submitScript, entryScript, submissionScript, proofScript, pendingStatsScript, commitScript,
	unconfirmedScript, putAnchorScript, campaignScript, resignScript, addStatementScript,
}
