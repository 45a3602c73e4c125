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

/// [`COMPARE_AND_SWAP`] for a `next` that is revoked: the same check and
/// writes, then — only if they happened — the revocation recorded in its
/// bucket's index of recent revocations and published on the feed's
/// channel. One script, so one atomic step: a swap that loses writes and
/// publishes nothing, and a subscriber connected when it runs cannot miss
/// it (Redis hands the message to every subscriber's connection inside
/// the `PUBLISH`, before it runs the next command of any client).
///
/// The index is trimmed on the way, by the server's clock (`TIME`, so
/// that one revoking instance whose clock runs ahead cannot trim what the
/// others still need): entries older than the history are dropped, and
/// the key expires after one history without a revocation in its bucket.
/// It is on logouts only, so the refresh path keeps its six calls.
///
/// `KEYS`: session hash, subject set, expiry index, revocation index.
/// `ARGV`: as [`COMPARE_AND_SWAP`], then revoked at (ms), the notice,
/// the channel, the history (ms).
pub(crate) const COMPARE_AND_SWAP_REVOKING: &str = r"
local stored = redis.call('HMGET', KEYS[1], 'v', 'u')
if stored[1] ~= ARGV[1] or stored[2] ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[4], 'r', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[6], 'GT')
redis.call('PEXPIRE', KEYS[3], ARGV[6], 'GT')
local t = redis.call('TIME')
local oldest = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[11])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', string.format('(%.0f', oldest))
redis.call('ZADD', KEYS[4], ARGV[8], ARGV[9])
redis.call('PEXPIRE', KEYS[4], ARGV[11])
redis.call('PUBLISH', ARGV[10], ARGV[9])
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

/// [`COMPARE_AND_SWAP_REVOKING`], with its SHA-1 computed once.
pub(crate) static COMPARE_AND_SWAP_REVOKING_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(COMPARE_AND_SWAP_REVOKING));

/// [`PURGE_ONE`], with its SHA-1 computed once.
pub(crate) static PURGE_ONE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(PURGE_ONE));

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [&str; 4] = [
        INSERT,
        COMPARE_AND_SWAP,
        COMPARE_AND_SWAP_REVOKING,
        PURGE_ONE,
    ];

    #[test]
    fn scripts_touch_only_the_keys_they_are_given() {
        // Every key a script touches must come from KEYS (cluster routing
        // and slot checks rely on it): no key is built inside a script.
        // `TIME` takes no key; `PUBLISH` takes a channel, given in ARGV.
        for script in ALL {
            for call in script.split("redis.call(").skip(1) {
                let mut args = call.split([',', ')']).map(str::trim);
                match (args.next(), args.next().unwrap_or("")) {
                    (Some("'TIME'"), _) => {}
                    (Some("'PUBLISH'"), channel) => assert!(channel.starts_with("ARGV["), "{call}"),
                    (_, key) => assert!(key.starts_with("KEYS["), "{call}"),
                }
            }
        }
    }

    #[test]
    fn the_revoking_swap_is_the_swap_then_the_index_and_the_publish() {
        let (plain, revoking) = (COMPARE_AND_SWAP.trim(), COMPARE_AND_SWAP_REVOKING.trim());
        let body = plain.strip_suffix("return 1").unwrap();
        assert!(
            revoking.starts_with(body),
            "the same check and writes first"
        );
        let publish = revoking.find("'PUBLISH'").unwrap();
        assert!(
            revoking.find("return 0").unwrap() < publish,
            "nothing published on a conflict"
        );
        assert!(revoking[publish..].trim_start_matches(|c| c != '\n').trim() == "return 1");
    }

    #[test]
    fn scripts_use_no_transaction_commands() {
        for script in ALL {
            for word in ["WATCH", "MULTI", "EXEC", "KEYS'", "SCAN"] {
                assert!(!script.contains(word), "{word}");
            }
        }
    }
}
