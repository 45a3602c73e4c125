//! The table, its migration and the five statements.

/// The table the store keeps its sessions in. It is created in the first
/// schema of the connection's `search_path` (normally `public`), so it may
/// share a database with the application's own tables.
pub const TABLE: &str = "tokenlife_sessions";

/// The migration, as the store runs it when it connects (unless
/// [`Options::without_migration`](crate::Options::without_migration)):
/// idempotent DDL, for a migration tool of your own to run instead.
///
/// `subject` is `bytea`, not `text`: a subject is any UTF-8 string up to
/// [`tokenlife::MAX_SUBJECT_LEN`] bytes, NUL included, which PostgreSQL's
/// `text` cannot hold; `bytea` also compares byte for byte, whatever the
/// database's collation. `record` is `text`, not `jsonb`, for the same
/// reason (`jsonb` refuses `\u0000`) and because it must read back exactly
/// as written.
pub const MIGRATION: &str = "\
CREATE TABLE IF NOT EXISTS tokenlife_sessions (
    id         text   NOT NULL PRIMARY KEY,
    subject    bytea  NOT NULL,
    version    bigint NOT NULL,
    expires_at bigint NOT NULL,
    record     text   NOT NULL
);
CREATE INDEX IF NOT EXISTS tokenlife_sessions_subject ON tokenlife_sessions (subject);
CREATE INDEX IF NOT EXISTS tokenlife_sessions_expires_at ON tokenlife_sessions (expires_at);
ALTER TABLE tokenlife_sessions ADD COLUMN IF NOT EXISTS revoked_at bigint;
CREATE INDEX IF NOT EXISTS tokenlife_sessions_revoked_at ON tokenlife_sessions (revoked_at)
    WHERE revoked_at IS NOT NULL;
";

/// The channel the revocation feed `NOTIFY`s on and `LISTEN`s to. Its
/// payload is `<session id> <revoked at, ms> <reason>`: no secret.
pub const CHANNEL: &str = "tokenlife_revocations";

/// [`MIGRATION`] behind a transaction-scoped advisory lock, sent as one
/// simple query: its statements run in one implicit transaction, rolled
/// back whole on error. The lock serialises instances that start together:
/// concurrent `CREATE TABLE IF NOT EXISTS` can otherwise fail on a
/// duplicate catalog entry. The key is `"tokenlif"` read as a big-endian
/// `i64`.
pub(crate) fn locked_migration() -> String {
    format!("SELECT pg_advisory_xact_lock(8390042714202990950);\n{MIGRATION}")
}

/// `INSERT … ON CONFLICT (id) DO NOTHING`: no row inserted is a conflict.
pub(crate) const INSERT: &str = "\
INSERT INTO tokenlife_sessions (id, subject, version, expires_at, record, revoked_at) \
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING";

/// A primary-key lookup.
pub(crate) const GET: &str = "SELECT record FROM tokenlife_sessions WHERE id = $1";

/// The compare-and-swap: exactly one changed row is a win. The subject is
/// compared too, so that a swap can never move a session to another subject.
pub(crate) const COMPARE_AND_SWAP: &str = "\
UPDATE tokenlife_sessions SET version = $3, expires_at = $4, record = $5, revoked_at = $7 \
WHERE id = $1 AND version = $2 AND subject = $6";

/// The compare-and-swap that revokes: the same `UPDATE`, and a `NOTIFY`
/// of the revocation ($8) if and only if it changed the row — one
/// statement, so one transaction: a lost swap or a rollback notifies no
/// one, and a committed revocation cannot be missed by a connected
/// listener. Returns the changed-row count.
pub(crate) const COMPARE_AND_SWAP_REVOKING: &str = "\
WITH updated AS (\
UPDATE tokenlife_sessions SET version = $3, expires_at = $4, record = $5, revoked_at = $7 \
WHERE id = $1 AND version = $2 AND subject = $6 RETURNING 1), \
notified AS (SELECT pg_notify('tokenlife_revocations', $8) FROM updated) \
SELECT (SELECT count(*) FROM updated), (SELECT count(*) FROM notified)";

/// The revocations a feed resynchronises from (by the partial index on
/// `revoked_at`).
pub(crate) const REVOKED_SINCE: &str = "\
SELECT record FROM tokenlife_sessions WHERE revoked_at IS NOT NULL AND revoked_at >= $1";

/// By the subject index; ordered so that listings are stable.
pub(crate) const LIST_BY_SUBJECT: &str =
    "SELECT record FROM tokenlife_sessions WHERE subject = $1 ORDER BY id";

/// By the expiry index.
pub(crate) const PURGE_EXPIRED: &str = "DELETE FROM tokenlife_sessions WHERE expires_at <= $1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_names_the_table() {
        for sql in [
            MIGRATION,
            INSERT,
            GET,
            COMPARE_AND_SWAP,
            COMPARE_AND_SWAP_REVOKING,
            REVOKED_SINCE,
            LIST_BY_SUBJECT,
            PURGE_EXPIRED,
        ] {
            assert!(sql.contains(TABLE), "{sql}");
        }
    }

    #[test]
    fn the_revoking_swap_notifies_on_the_feed_channel() {
        assert!(COMPARE_AND_SWAP_REVOKING.contains(&format!("pg_notify('{CHANNEL}'")));
    }

    #[test]
    fn the_advisory_lock_key_spells_tokenlif() {
        assert_eq!(
            i64::from_be_bytes(*b"tokenlif").to_string(),
            "8390042714202990950"
        );
        assert!(locked_migration().contains("8390042714202990950"));
    }
}
