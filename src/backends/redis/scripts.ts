/**
 * The Lua scripts behind every write and every queue read: each is one round trip and runs
 * atomically on the server. See keys.ts for the key layout.
 *
 * Every script first checks the epoch key against the epoch the client knows: a missing or
 * different epoch means the server lost Baton's data (a restart without persistence, a flush, a
 * failover to a replica that never had it), and the script answers `BATON_EPOCH` instead of acting
 * on a dataset that is not the one the client's sessions and tokens came from.
 *
 * Every script that reads a queue also drops the entries of sessions whose key has expired and
 * publishes their deletion, so an expired holder's waiters are woken by whoever looks next.
 *
 * Numbers cross the Lua boundary as strings formatted with `%.0f`: Lua's own number-to-string
 * conversion would write revisions above 10^14 in exponent form.
 * @module
 */
import { createHash } from 'node:crypto';

/** Functions shared by the scripts. ARGV[1] is always the key tag, ARGV[2] the expected epoch. */
const PRELUDE = `
local tag = ARGV[1]
local function fmt(n) return string.format('%.0f', n) end
local function checkEpoch(key)
  local current = redis.call('GET', key)
  if current ~= ARGV[2] then return redis.error_reply('BATON_EPOCH ' .. (current or 'none')) end
  return nil
end
local function sessionOf(name) return string.match(name, '^([0-9a-f]+)-') end
local function sessionKey(id) return tag .. 's:' .. id end
-- Drops entries whose session key is gone (expired or ended) and publishes their deletion.
local function sweep(q, v, channel)
  local members = redis.call('ZRANGE', q, 0, -1, 'WITHSCORES')
  local alive = {}
  for i = 1, #members, 2 do
    local name, score = members[i], members[i + 1]
    local id = sessionOf(name)
    if id then
      local ok = alive[id]
      if ok == nil then
        ok = redis.call('EXISTS', sessionKey(id)) == 1
        alive[id] = ok
      end
      if not ok then
        redis.call('ZREM', q, name)
        redis.call('HDEL', v, name)
        redis.call('PUBLISH', channel, 'd ' .. name .. ' ' .. score)
      end
    end
  end
end
-- Keeps a queue's keys at least as long as a live session in it.
local function keepFor(key, ttl)
  if ttl > 0 and redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
-- The next revision: never below the caller's floor (the highest revision it has seen) nor the
-- queue's high-water mark, so a counter that went backwards is lifted before it repeats a token.
local function nextRevision(counter, hw, hwField, floor)
  local current = tonumber(redis.call('GET', counter) or '0')
  local want = tonumber(floor)
  if hwField then
    local mark = tonumber(redis.call('HGET', hw, hwField) or '0')
    if mark > want then want = mark end
  end
  local behind = 0
  if current < want then
    redis.call('SET', counter, fmt(want))
    behind = want - current
  end
  local rev = redis.call('INCR', counter)
  if hwField then redis.call('HSET', hw, hwField, fmt(rev)) end
  return rev, behind
end
-- The earliest expiry (ms from now) among the sessions of a queue's entries, -1 when none.
local function earliestExpiry(q)
  local members = redis.call('ZRANGE', q, 0, -1)
  local earliest = -1
  local seen = {}
  for _, name in ipairs(members) do
    local id = sessionOf(name)
    if id and not seen[id] then
      seen[id] = true
      local ttl = redis.call('PTTL', sessionKey(id))
      if ttl >= 0 and (earliest < 0 or ttl < earliest) then earliest = ttl end
    end
  end
  return earliest
end
`;

/** A script with its source and SHA1, run with EVALSHA and, after NOSCRIPT, with EVAL. */
export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

export function script(name: string, body: string): Script {
  const source = PRELUDE + body;
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Opens a session. KEYS: session, epoch. ARGV: tag, epoch, ttl ms.
 * Returns 1, or 0 when a session of that id exists already.
 */
export const OPEN = script(
  'open',
  `
local bad = checkEpoch(KEYS[2]) if bad then return bad end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], '.', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`,
);

/**
 * Renews a session: its key and the queues it has entries in live another TTL.
 * KEYS: session, epoch. ARGV: tag, epoch, ttl ms, then (prefix, name) of each entry the client
 * believes it has. Returns 0 when the session is gone, else the (1-based) numbers of the named
 * entries that are missing: deleted by someone else.
 */
export const RENEW = script(
  'renew',
  `
local bad = checkEpoch(KEYS[2]) if bad then return bad end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ttl = tonumber(ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
local fields = redis.call('HKEYS', KEYS[1])
for _, prefix in ipairs(fields) do
  if prefix ~= '.' then
    keepFor(tag .. 'q:' .. prefix, ttl)
    keepFor(tag .. 'v:' .. prefix, ttl)
  end
end
local missing = {}
for i = 4, #ARGV, 2 do
  if not redis.call('ZSCORE', tag .. 'q:' .. ARGV[i], ARGV[i + 1]) then missing[#missing + 1] = (i - 2) / 2 end
end
return missing
`,
);

/**
 * Ends a session: deletes its entries (publishing each deletion) and its key. The queues are those
 * the session key lists plus those the client names (the key may have expired already).
 * KEYS: session, epoch. ARGV: tag, epoch, session id, then queue prefixes.
 * Returns the number of entries deleted.
 */
export const END = script(
  'end',
  `
local bad = checkEpoch(KEYS[2]) if bad then return bad end
local prefixes = {}
for _, prefix in ipairs(redis.call('HKEYS', KEYS[1])) do
  if prefix ~= '.' then prefixes[prefix] = true end
end
for i = 4, #ARGV do prefixes[ARGV[i]] = true end
local deleted = 0
for prefix in pairs(prefixes) do
  local q, v, channel = tag .. 'q:' .. prefix, tag .. 'v:' .. prefix, tag .. 'c:' .. prefix
  local members = redis.call('ZRANGE', q, 0, -1, 'WITHSCORES')
  for i = 1, #members, 2 do
    if sessionOf(members[i]) == ARGV[3] then
      redis.call('ZREM', q, members[i])
      redis.call('HDEL', v, members[i])
      redis.call('PUBLISH', channel, 'd ' .. members[i] .. ' ' .. members[i + 1])
      deleted = deleted + 1
    end
  end
end
redis.call('DEL', KEYS[1])
return deleted
`,
);

/**
 * Creates a contender entry (or finds the one an earlier attempt of the same call created: the
 * name is unique per call, so retrying is safe) and lists the queue.
 * KEYS: queue, values, session, counter, high-water marks, epoch.
 * ARGV: tag, epoch, prefix, name, value, floor, channel.
 * Returns {'GONE'} when the session is gone, else {'OK', revision, behind, earliestExpiry,
 * name1, rev1, name2, rev2, ...} in revision order.
 */
export const ENQUEUE = script(
  'enqueue',
  `
local bad = checkEpoch(KEYS[6]) if bad then return bad end
if redis.call('EXISTS', KEYS[3]) == 0 then return {'GONE'} end
local prefix, name, channel = ARGV[3], ARGV[4], ARGV[7]
sweep(KEYS[1], KEYS[2], channel)
local rev = redis.call('ZSCORE', KEYS[1], name)
local behind = 0
if not rev then
  local n
  n, behind = nextRevision(KEYS[4], KEYS[5], prefix, ARGV[6])
  rev = fmt(n)
  redis.call('ZADD', KEYS[1], rev, name)
  redis.call('HSET', KEYS[2], name, ARGV[5])
  redis.call('HINCRBY', KEYS[3], prefix, 1)
  local ttl = redis.call('PTTL', KEYS[3])
  keepFor(KEYS[1], ttl)
  keepFor(KEYS[2], ttl)
  redis.call('PUBLISH', channel, 'c ' .. name .. ' ' .. rev)
end
local reply = {'OK', rev, fmt(behind), fmt(earliestExpiry(KEYS[1]))}
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members do reply[#reply + 1] = members[i] end
return reply
`,
);

/**
 * Lists a queue. KEYS: queue, values, epoch. ARGV: tag, epoch, channel.
 * Returns {earliestExpiry, name1, rev1, ...}.
 */
export const LIST = script(
  'list',
  `
local bad = checkEpoch(KEYS[3]) if bad then return bad end
sweep(KEYS[1], KEYS[2], ARGV[3])
local reply = {fmt(earliestExpiry(KEYS[1]))}
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members do reply[#reply + 1] = members[i] end
return reply
`,
);

/**
 * The answer of {@link GET} and {@link GET_READ_ONLY} once they know the contender entry's
 * revision (nil: no live entry): the entry, else the plain key, else nothing.
 */
const GET_ANSWER = `
local function getAnswer(name, rev)
  if rev then
    local id = sessionOf(name)
    local ttl = id and redis.call('PTTL', sessionKey(id)) or -1
    return {'C', redis.call('HGET', KEYS[2], name) or '', rev, fmt(ttl)}
  end
  local data = redis.call('HMGET', KEYS[3], 'v', 'r')
  if data[2] then return {'D', data[1] or '', data[2]} end
  return {'N'}
end
`;

/**
 * Reads one key: a contender entry, else a plain key written by a guarded write.
 * KEYS: queue, values, data, epoch. ARGV: tag, epoch, channel, name.
 * Returns {'C', value, revision, sessionTtlMs}, {'D', value, revision} or {'N'}.
 */
export const GET = script(
  'get',
  `${GET_ANSWER}
local bad = checkEpoch(KEYS[4]) if bad then return bad end
local name = ARGV[4]
local rev = redis.call('ZSCORE', KEYS[1], name)
if rev then
  sweep(KEYS[1], KEYS[2], ARGV[3])
  rev = redis.call('ZSCORE', KEYS[1], name)
end
return getAnswer(name, rev)
`,
);

/**
 * Deletes a contender entry if it still has the given revision. Deleting is confirmed either way:
 * the entry is gone, or the name carries another revision.
 * KEYS: queue, values, session, epoch. ARGV: tag, epoch, prefix, name, revision ('*': any), channel.
 * Returns 1 when this call deleted it, 0 when it was already gone.
 */
export const REMOVE = script(
  'remove',
  `
local bad = checkEpoch(KEYS[4]) if bad then return bad end
local name = ARGV[4]
local rev = redis.call('ZSCORE', KEYS[1], name)
if not rev or (ARGV[5] ~= '*' and rev ~= ARGV[5]) then return 0 end
redis.call('ZREM', KEYS[1], name)
redis.call('HDEL', KEYS[2], name)
if redis.call('EXISTS', KEYS[3]) == 1 and redis.call('HINCRBY', KEYS[3], ARGV[3], -1) <= 0 then
  redis.call('HDEL', KEYS[3], ARGV[3])
end
redis.call('PUBLISH', ARGV[6], 'd ' .. name .. ' ' .. rev)
return 1
`,
);

/**
 * Sets a contender's value while its entry has the given revision and its session is live.
 * KEYS: queue, values, session, epoch. ARGV: tag, epoch, name, revision, value, channel.
 * Returns 1 when written, 0 when the hold is gone.
 */
export const UPDATE = script(
  'update',
  `
local bad = checkEpoch(KEYS[4]) if bad then return bad end
local name = ARGV[3]
if redis.call('ZSCORE', KEYS[1], name) ~= ARGV[4] or redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
redis.call('HSET', KEYS[2], name, ARGV[5])
redis.call('PUBLISH', ARGV[6], 'u ' .. name .. ' ' .. ARGV[4])
return 1
`,
);

/**
 * A guarded write: applies the operations only while the hold's entry has its revision and its
 * session key is live, all in one atomic step.
 * KEYS: queue, session, counter, epoch, then one data key per operation.
 * ARGV: tag, epoch, name, revision, floor, then per operation: kind ('put'|'delete'), value,
 * channel, name within the channel.
 * Returns 1 when applied, 0 when the hold is gone.
 */
export const GUARDED = script(
  'guarded',
  `
local bad = checkEpoch(KEYS[4]) if bad then return bad end
if redis.call('ZSCORE', KEYS[1], ARGV[3]) ~= ARGV[4] or redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local op = 0
for i = 6, #ARGV, 4 do
  op = op + 1
  local key, kind, value, channel, name = KEYS[4 + op], ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if kind == 'put' then
    local rev = redis.call('HGET', key, 'r')
    if not rev then
      rev = fmt((nextRevision(KEYS[3], nil, nil, ARGV[5])))
      redis.call('HSET', key, 'r', rev)
    end
    redis.call('HSET', key, 'v', value)
    redis.call('PUBLISH', channel, 'u ' .. name .. ' ' .. rev)
  else
    local rev = redis.call('HGET', key, 'r')
    if rev then
      redis.call('DEL', key)
      redis.call('PUBLISH', channel, 'd ' .. name .. ' ' .. rev)
    end
  end
end
return 1
`,
);

/**
 * What a waiter needs to know about one entry: whether it is there (after dropping expired
 * sessions' entries) and when its session expires.
 * KEYS: queue, values, epoch. ARGV: tag, epoch, channel, name.
 * Returns {revision or '', sessionTtlMs}.
 */
export const PROBE = script(
  'probe',
  `
local bad = checkEpoch(KEYS[3]) if bad then return bad end
local name = ARGV[4]
if not redis.call('ZSCORE', KEYS[1], name) then return {'', '-2'} end
sweep(KEYS[1], KEYS[2], ARGV[3])
local rev = redis.call('ZSCORE', KEYS[1], name)
if not rev then return {'', '-2'} end
local id = sessionOf(name)
return {rev, fmt(id and redis.call('PTTL', sessionKey(id)) or -1)}
`,
);

/**
 * One page of the scan, shared by the writing and the read-only scan: each defines
 * `membersOf(queue, q, v)`, a queue's members as name, score pairs (swept first, or live only).
 */
const SCAN_PAGE = `
local prefix = ARGV[3]
local page = redis.call('HSCAN', KEYS[1], ARGV[4], 'MATCH', ARGV[6], 'COUNT', ARGV[5])
local queues = {}
for i = 1, #page[2], 2 do queues[#queues + 1] = page[2][i] end
if ARGV[4] == '0' and prefix ~= '' and redis.call('HEXISTS', KEYS[1], prefix) == 1 then queues[#queues + 1] = prefix end
local reply = {page[1]}
local ttls = {}
for _, queue in ipairs(queues) do
  local v = tag .. 'v:' .. queue
  local members = membersOf(queue, tag .. 'q:' .. queue, v)
  if #members > 0 then
    reply[#reply + 1] = 'q'
    reply[#reply + 1] = queue
    reply[#reply + 1] = fmt(#members / 2)
    for i = 1, #members, 2 do
      local name = members[i]
      reply[#reply + 1] = name
      reply[#reply + 1] = members[i + 1]
      reply[#reply + 1] = redis.call('HGET', v, name) or ''
      local id = sessionOf(name)
      if id and ttls[id] == nil then ttls[id] = redis.call('PTTL', sessionKey(id)) end
    end
  end
end
for id, ttl in pairs(ttls) do
  reply[#reply + 1] = 's'
  reply[#reply + 1] = id
  reply[#reply + 1] = fmt(ttl)
end
return reply
`;

/**
 * One page of the dashboard's scan: the next queues of the high-water hash (which names every
 * queue ever used) whose prefix matches, each swept of expired sessions' entries and read whole.
 * KEYS: high-water marks, epoch. ARGV: tag, epoch, prefix ('' for every queue), cursor, page size,
 * field pattern (the prefix's queues below it).
 * Returns {nextCursor, then per non-empty queue: 'q', prefix, n, n x (name, revision, value),
 * then per session of those entries: 's', id, ttlMs}.
 */
export const SCAN_TREE = script(
  'scan-tree',
  `
local bad = checkEpoch(KEYS[2]) if bad then return bad end
local function membersOf(queue, q, v)
  sweep(q, v, tag .. 'c:' .. queue)
  return redis.call('ZRANGE', q, 0, -1, 'WITHSCORES')
end
${SCAN_PAGE}`,
);

/**
 * A read-only coordinator's reads (`readonly=true`). They write nothing: no epoch check (such a
 * coordinator wrote no epoch and holds no session that a lost dataset could end), and entries of
 * sessions whose key is gone are left out of the answer instead of deleted, to be swept and
 * announced by the next writing client that looks.
 */
const LIVE = `
-- A queue's members as name, score pairs in revision order, without those of ended sessions.
local function live(q)
  local members = redis.call('ZRANGE', q, 0, -1, 'WITHSCORES')
  local out = {}
  local alive = {}
  for i = 1, #members, 2 do
    local name = members[i]
    local id = sessionOf(name)
    local ok = true
    if id then
      ok = alive[id]
      if ok == nil then
        ok = redis.call('EXISTS', sessionKey(id)) == 1
        alive[id] = ok
      end
    end
    if ok then
      out[#out + 1] = name
      out[#out + 1] = members[i + 1]
    end
  end
  return out
end
-- Whether a contender entry's session is live (a name without a session id always is).
local function entryLive(name)
  local id = sessionOf(name)
  return not id or redis.call('EXISTS', sessionKey(id)) == 1
end
`;

/** {@link LIST} that writes nothing. KEYS: queue, values, epoch. ARGV: tag, epoch, channel. */
export const LIST_READ_ONLY = script(
  'list-read-only',
  `${LIVE}
local reply = {fmt(earliestExpiry(KEYS[1]))}
for _, member in ipairs(live(KEYS[1])) do reply[#reply + 1] = member end
return reply
`,
);

/** {@link GET} that writes nothing. KEYS: queue, values, data, epoch. ARGV: tag, epoch, channel, name. */
export const GET_READ_ONLY = script(
  'get-read-only',
  `${LIVE}${GET_ANSWER}
local name = ARGV[4]
local rev = redis.call('ZSCORE', KEYS[1], name)
if rev and not entryLive(name) then rev = nil end
return getAnswer(name, rev)
`,
);

/** {@link PROBE} that writes nothing. KEYS: queue, values, epoch. ARGV: tag, epoch, channel, name. */
export const PROBE_READ_ONLY = script(
  'probe-read-only',
  `${LIVE}
local name = ARGV[4]
local rev = redis.call('ZSCORE', KEYS[1], name)
if not rev or not entryLive(name) then return {'', '-2'} end
local id = sessionOf(name)
return {rev, fmt(id and redis.call('PTTL', sessionKey(id)) or -1)}
`,
);

/** {@link SCAN_TREE} that writes nothing. KEYS: high-water marks, epoch. ARGV as there. */
export const SCAN_TREE_READ_ONLY = script(
  'scan-tree-read-only',
  `${LIVE}
local function membersOf(queue, q, v)
  return live(q)
end
${SCAN_PAGE}`,
);

/** The scripts a coordinator reads queues with: the writing ones sweep, the read-only ones leave out. */
export interface Reads {
  readonly list: Script;
  readonly get: Script;
  readonly probe: Script;
  readonly scanTree: Script;
}

export const WRITING_READS: Reads = { list: LIST, get: GET, probe: PROBE, scanTree: SCAN_TREE };
export const READ_ONLY_READS: Reads = { list: LIST_READ_ONLY, get: GET_READ_ONLY, probe: PROBE_READ_ONLY, scanTree: SCAN_TREE_READ_ONLY };
