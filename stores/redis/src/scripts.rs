//! The Lua scripts: each runs atomically on the server (Redis runs one
//! script at a time, and no other command between its calls), and names
//! every key it touches in `KEYS`, all of one hash slot.
//!
//! They are sent as `EVALSHA` and, when the server does not know the
//! script yet (after a restart or a failover), loaded and sent again
//! (`redis::Script`'s fallback).

use std::sync::LazyLock;

use redis::Script;

/// Stores a new session unless its id is taken: the hash, its TTL, the
/// subject index and the expiry index, in one step. Returns 1, or 0 when
/// the id is taken (nothing is written).
///
/// An index key new to this write gets the session's TTL (`NX`); one that
/// exists only ever gets a longer one (`GT`), so it outlives every session
/// it lists.
///
/// `KEYS`: session hash, subject set, expiry index.
/// `ARGV`: id, version, subject, expiry (20 digits), record, TTL (ms), expiry member.
pub(crate) const INSERT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'u', ARGV[3], 'e', ARGV[4], 'r', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[7])
for i = 2, 3 do
  if redis.call('PEXPIRE', KEYS[i], ARGV[6], 'NX') == 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[6], 'GT')
  end
end
return 1
";

/// Replaces a session if its stored version is the expected one and its
/// subject the same: the hash, its TTL, the expiry index and the index
/// keys' TTLs in one step (the subject set needs no change: a subject never
/// changes). Returns 1, or 0 when the session is missing, its version moved
/// on or the subject differs (nothing is written).
///
/// It is on every refresh, so it does no more than that: six calls, no
/// reads beyond the one check.
///
/// `KEYS`: session hash, subject set, expiry index.
/// `ARGV`: expected version, next version, subject, expiry, record, TTL, expiry member.
pub(crate) const COMPARE_AND_SWAP: &str = r"
local stored = redis.call('HMGET', KEYS[1], 'v', 'u')
if stored[1] ~= ARGV[1] or stored[2] ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[4], 'r', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[6], 'GT')
redis.call('PEXPIRE', KEYS[3], ARGV[6], 'GT')
return 1
";

/// Deletes one candidate of a purge if its exact expiry is at or before
/// `now`: the hash and both index entries. Returns 1 when it deleted a
/// session; 2 when the session was gone already (its safety-net TTL ran
/// out) and only its index entries were dropped; 0 when it is kept (its
/// score rounded to the same double as `now`, but it ends later).
///
/// Instants are compared as two 10-digit halves, each exact in a Lua
/// number (a double), so the comparison is exact for every `u64`.
///
/// `KEYS`: session hash, subject set, expiry index.
/// `ARGV`: id, expiry member, now (20 digits).
pub(crate) const PURGE_ONE: &str = r"
local e = redis.call('HGET', KEYS[1], 'e')
if e then
  local eh, nh = tonumber(string.sub(e, 1, 10)), tonumber(string.sub(ARGV[3], 1, 10))
  if eh > nh or (eh == nh and tonumber(string.sub(e, 11)) > tonumber(string.sub(ARGV[3], 11))) then
    return 0
  end
end
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[1])
if e then
  redis.call('DEL', KEYS[1])
  return 1
end
return 2
";

/// [`INSERT`], with its SHA-1 computed once.
pub(crate) static INSERT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(INSERT));

/// [`COMPARE_AND_SWAP`], with its SHA-1 computed once.
pub(crate) static COMPARE_AND_SWAP_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(COMPARE_AND_SWAP));

/// [`PURGE_ONE`], with its SHA-1 computed once.
pub(crate) static PURGE_ONE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(PURGE_ONE));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_touch_only_the_keys_they_are_given() {
        // Every key a script touches must come from KEYS (cluster routing
        // and slot checks rely on it): no key is built inside a script.
        for script in [INSERT, COMPARE_AND_SWAP, PURGE_ONE] {
            for call in script.split("redis.call(").skip(1) {
                let key = call.split(',').nth(1).unwrap_or("").trim();
                assert!(key.starts_with("KEYS["), "{call}");
            }
        }
    }

    #[test]
    fn scripts_use_no_transaction_commands() {
        for script in [INSERT, COMPARE_AND_SWAP, PURGE_ONE] {
            for word in ["WATCH", "MULTI", "EXEC", "KEYS'", "SCAN"] {
                assert!(!script.contains(word), "{word}");
            }
        }
    }
}
