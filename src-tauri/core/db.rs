//! `keyhold.db`: the SQLite database (WAL) and its migrations.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{Migrations, M};

/// Schema history. Append only: a shipped migration is never edited.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE settings (
                key   TEXT PRIMARY KEY,
                value TEXT NOT NULL
            ) STRICT;",
        ),
        // Provider keys: the secret only as AES-GCM ciphertext (salt, nonce, ciphertext are NULL
        // for a local Ollama, which has no key). `masked` is what the UI shows.
        M::up(
            "CREATE TABLE provider_keys (
                id          TEXT PRIMARY KEY,
                provider    TEXT NOT NULL,
                label       TEXT NOT NULL UNIQUE COLLATE NOCASE,
                base_url    TEXT,
                salt        BLOB,
                nonce       BLOB,
                ciphertext  BLOB,
                masked      TEXT NOT NULL,
                active      INTEGER NOT NULL DEFAULT 1,
                is_default  INTEGER NOT NULL DEFAULT 0,
                created_at  TEXT NOT NULL,
                rotated_at  TEXT
            ) STRICT;
            CREATE UNIQUE INDEX provider_keys_one_default ON provider_keys(provider) WHERE is_default = 1;",
        ),
        // Key tests: the model list fetched by the last successful test, and the last verdict.
        M::up(
            "ALTER TABLE provider_keys ADD COLUMN models TEXT;
             ALTER TABLE provider_keys ADD COLUMN models_fetched_at TEXT;
             ALTER TABLE provider_keys ADD COLUMN last_test TEXT;
             ALTER TABLE provider_keys ADD COLUMN last_tested_at TEXT;",
        ),
        // Agents, their fallback chains, the user's price overrides, and the ledger: one row per
        // attempt, costs in integer nano-dollars (NULL when the price is unknown).
        M::up(
            "CREATE TABLE agents (
                id            TEXT PRIMARY KEY,
                name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
                model         TEXT NOT NULL,
                key_id        TEXT,
                system_prompt TEXT,
                temperature   REAL,
                max_tokens    INTEGER NOT NULL,
                budget_nano   INTEGER,
                when_over     TEXT NOT NULL CHECK (when_over IN ('local', 'refuse')),
                created_at    TEXT NOT NULL,
                updated_at    TEXT NOT NULL
            ) STRICT;
            CREATE TABLE agent_steps (
                agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
                idx      INTEGER NOT NULL,
                key_id   TEXT NOT NULL,
                model    TEXT NOT NULL,
                PRIMARY KEY (agent_id, idx)
            ) STRICT;
            CREATE TABLE price_overrides (
                model       TEXT PRIMARY KEY,
                input       INTEGER NOT NULL,
                output      INTEGER NOT NULL,
                cache_read  INTEGER NOT NULL,
                cache_write INTEGER NOT NULL
            ) STRICT;
            CREATE TABLE ledger (
                id           INTEGER PRIMARY KEY,
                at           TEXT NOT NULL,
                agent        TEXT NOT NULL,
                key_id       TEXT,
                key_label    TEXT,
                provider     TEXT NOT NULL,
                model        TEXT NOT NULL,
                mode         TEXT NOT NULL,
                step         INTEGER NOT NULL,
                outcome      TEXT NOT NULL,
                input_tokens       INTEGER NOT NULL,
                output_tokens      INTEGER NOT NULL,
                cache_read_tokens  INTEGER NOT NULL,
                cache_write_tokens INTEGER NOT NULL,
                cost_nano    INTEGER,
                estimated    INTEGER NOT NULL,
                latency_ms   INTEGER NOT NULL,
                ttft_ms      INTEGER,
                local        INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX ledger_agent_at ON ledger(agent, at);
            CREATE INDEX ledger_at ON ledger(at);",
        ),
        // Local proxy tokens: only a SHA-256 of each token is kept; the token is shown once.
        M::up(
            "CREATE TABLE agent_tokens (
                id         TEXT PRIMARY KEY,
                agent_id   TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
                label      TEXT NOT NULL,
                hash       TEXT NOT NULL UNIQUE,
                hint       TEXT NOT NULL,
                created_at TEXT NOT NULL,
                revoked_at TEXT
            ) STRICT;",
        ),
        // Hourly rollup of the ledger, kept by a trigger, so charts over months read thousands of
        // rows instead of millions. Hours are UTC; days are made from them in the user's zone.
        M::up(
            "CREATE TABLE ledger_hourly (
                hour     TEXT NOT NULL,
                agent    TEXT NOT NULL,
                provider TEXT NOT NULL,
                model    TEXT NOT NULL,
                local    INTEGER NOT NULL,
                requests INTEGER NOT NULL,
                failures INTEGER NOT NULL,
                input_tokens       INTEGER NOT NULL,
                output_tokens      INTEGER NOT NULL,
                cache_read_tokens  INTEGER NOT NULL,
                cache_write_tokens INTEGER NOT NULL,
                cost_nano    INTEGER NOT NULL,
                unknown_cost INTEGER NOT NULL,
                PRIMARY KEY (hour, agent, provider, model, local)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX ledger_hourly_agent ON ledger_hourly(agent, hour);
            CREATE TRIGGER ledger_rollup AFTER INSERT ON ledger BEGIN
                INSERT INTO ledger_hourly VALUES (
                    substr(NEW.at, 1, 13) || ':00:00Z', NEW.agent, NEW.provider, NEW.model, NEW.local, 1,
                    NEW.outcome <> 'ok', NEW.input_tokens, NEW.output_tokens, NEW.cache_read_tokens,
                    NEW.cache_write_tokens, COALESCE(NEW.cost_nano, 0), NEW.cost_nano IS NULL)
                ON CONFLICT (hour, agent, provider, model, local) DO UPDATE SET
                    requests = requests + 1, failures = failures + excluded.failures,
                    input_tokens = input_tokens + excluded.input_tokens,
                    output_tokens = output_tokens + excluded.output_tokens,
                    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                    cost_nano = cost_nano + excluded.cost_nano,
                    unknown_cost = unknown_cost + excluded.unknown_cost;
            END;
            INSERT INTO ledger_hourly
                SELECT substr(at, 1, 13) || ':00:00Z', agent, provider, model, local, COUNT(*), SUM(outcome <> 'ok'),
                       SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),
                       SUM(COALESCE(cost_nano, 0)), SUM(cost_nano IS NULL)
                FROM ledger GROUP BY 1, agent, provider, model, local;",
        ),
        // Budgets follow an agent's id, not its name: renaming an agent must not reset what it
        // spent today. Earlier rows get the id of the agent that has their name now. The name
        // index served only the spend query, so the id index replaces it.
        M::up(
            "ALTER TABLE ledger ADD COLUMN agent_id TEXT;
            UPDATE ledger SET agent_id = (SELECT id FROM agents WHERE agents.name = ledger.agent);
            DROP INDEX ledger_agent_at;
            CREATE INDEX ledger_agent_id_at ON ledger(agent_id, at);",
        ),
        // The ledger never holds a negative count or cost (a CHECK, as a trigger: SQLite cannot
        // add a CHECK to a table that exists). The router clamps first; this is the backstop.
        M::up(
            "CREATE TRIGGER ledger_no_negative_values BEFORE INSERT ON ledger
             WHEN NEW.input_tokens < 0 OR NEW.output_tokens < 0 OR NEW.cache_read_tokens < 0
               OR NEW.cache_write_tokens < 0 OR NEW.cost_nano < 0 OR NEW.latency_ms < 0
             BEGIN SELECT RAISE(ABORT, 'a ledger row cannot hold a negative count or cost'); END;",
        ),
        // Authenticated configuration (see `integrity`): a tag on every row that decides where a
        // key goes or what may be spent; per-key consent to plain http and to count a LAN
        // server as local; tokens stored as HMAC(master, token) (`scheme` 'hmac'; 'sha256' for
        // tokens issued before, whose digest the row's tag now binds).
        M::up(
            "ALTER TABLE provider_keys ADD COLUMN allow_insecure_http INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE provider_keys ADD COLUMN marked_local INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE provider_keys ADD COLUMN mac BLOB;
             ALTER TABLE agents ADD COLUMN mac BLOB;
             ALTER TABLE agent_tokens ADD COLUMN scheme TEXT NOT NULL DEFAULT 'sha256';
             ALTER TABLE agent_tokens ADD COLUMN mac BLOB;
             ALTER TABLE settings ADD COLUMN mac BLOB;",
        ),
        // Local anonymization: each agent's privacy policy (new agents hide secrets), the
        // dictionary's terms sealed like key rows, and what each ledger row's request had
        // replaced (`email:2 secret:1`).
        M::up(
            "ALTER TABLE agents ADD COLUMN privacy TEXT NOT NULL DEFAULT 'secrets'
               CHECK (privacy IN ('off', 'secrets', 'pii', 'block'));
             CREATE TABLE dictionary_terms (
                id         TEXT PRIMARY KEY,
                salt       BLOB NOT NULL,
                nonce      BLOB NOT NULL,
                ciphertext BLOB NOT NULL,
                created_at TEXT NOT NULL
             ) STRICT;
             ALTER TABLE ledger ADD COLUMN redacted TEXT;",
        ),
        // The optional outbound payload log: each cloud request body as it left, sealed.
        M::up(
            "CREATE TABLE outbound_payloads (
                id         TEXT PRIMARY KEY,
                at         TEXT NOT NULL,
                agent      TEXT NOT NULL,
                provider   TEXT NOT NULL,
                model      TEXT NOT NULL,
                bytes      INTEGER NOT NULL,
                salt       BLOB NOT NULL,
                nonce      BLOB NOT NULL,
                ciphertext BLOB NOT NULL
             ) STRICT;
             CREATE INDEX outbound_payloads_at ON outbound_payloads(at);",
        ),
        // Local days, kept as rows arrive: the Usage page's daily charts, breakdowns and ranges of
        // whole days read a few thousand rows instead of turning every hour of the hourly rollup
        // into a local day (which was most of its time), and a zone half an hour off UTC gets its
        // days exactly. The day is the process's local date of the row, SQLite's 'localtime'. It
        // is filled by `usage::daily::ensure`, which also rebuilds it when the zone changed.
        M::up(
            "CREATE TABLE ledger_daily (
                day      TEXT NOT NULL,
                agent    TEXT NOT NULL,
                provider TEXT NOT NULL,
                model    TEXT NOT NULL,
                local    INTEGER NOT NULL,
                requests INTEGER NOT NULL,
                failures INTEGER NOT NULL,
                input_tokens       INTEGER NOT NULL,
                output_tokens      INTEGER NOT NULL,
                cache_read_tokens  INTEGER NOT NULL,
                cache_write_tokens INTEGER NOT NULL,
                cost_nano    INTEGER NOT NULL,
                unknown_cost INTEGER NOT NULL,
                PRIMARY KEY (day, agent, provider, model, local)
            ) STRICT, WITHOUT ROWID;
            CREATE TRIGGER ledger_daily_rollup AFTER INSERT ON ledger BEGIN
                INSERT INTO ledger_daily VALUES (
                    date(NEW.at, 'localtime'), NEW.agent, NEW.provider, NEW.model, NEW.local, 1,
                    NEW.outcome <> 'ok', NEW.input_tokens, NEW.output_tokens, NEW.cache_read_tokens,
                    NEW.cache_write_tokens, COALESCE(NEW.cost_nano, 0), NEW.cost_nano IS NULL)
                ON CONFLICT (day, agent, provider, model, local) DO UPDATE SET
                    requests = requests + 1, failures = failures + excluded.failures,
                    input_tokens = input_tokens + excluded.input_tokens,
                    output_tokens = output_tokens + excluded.output_tokens,
                    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                    cost_nano = cost_nano + excluded.cost_nano,
                    unknown_cost = unknown_cost + excluded.unknown_cost;
            END;",
        ),
        // Chat history (see `conversations`): sealed, kept per agent.
        M::up(
            "CREATE TABLE conversations (
                id         TEXT PRIMARY KEY,
                agent_id   TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                salt       BLOB NOT NULL,
                nonce      BLOB NOT NULL,
                ciphertext BLOB NOT NULL
             ) STRICT;
             CREATE INDEX conversations_agent ON conversations(agent_id, updated_at);",
        ),
        // A key test's verdict as a kind, beside its sentence: health is read from this, never
        // parsed from words. Rows tested before are classified once from their sentence.
        M::up(
            "ALTER TABLE provider_keys ADD COLUMN last_verdict TEXT;
             UPDATE provider_keys SET last_verdict = CASE
                 WHEN last_test IS NULL THEN NULL
                 WHEN last_test LIKE 'Valid%' OR last_test LIKE 'Ollama % is running%' THEN 'valid'
                 WHEN last_test LIKE 'Rejected%' THEN 'rejected'
                 WHEN last_test LIKE 'Rate limited%' THEN 'rate_limited'
                 WHEN last_test LIKE '%unreachable%' THEN 'unreachable'
                 ELSE 'unexpected' END;",
        ),
        // The ledger made tamper-evident (see `ledger::chain`): each row's link covers its opening
        // and the link of the row before it, its seal how it ended. An attempt is written in
        // flight before it is sent and settled in place, so the rollups count a row when it
        // settles, not when it opens. Rows from before are chained by the next unlock. The
        // no-negative backstop covers updates too, not only inserts.
        M::up(
            "ALTER TABLE ledger ADD COLUMN chain BLOB;
             ALTER TABLE ledger ADD COLUMN seal BLOB;
             ALTER TABLE ledger ADD COLUMN reserved_nano INTEGER;
             CREATE INDEX ledger_unsettled ON ledger(id) WHERE outcome IN ('in_flight', 'interrupted');
             DROP TRIGGER ledger_rollup;
             CREATE TRIGGER ledger_rollup AFTER INSERT ON ledger WHEN NEW.outcome <> 'in_flight' BEGIN
                INSERT INTO ledger_hourly VALUES (
                    substr(NEW.at, 1, 13) || ':00:00Z', NEW.agent, NEW.provider, NEW.model, NEW.local, 1,
                    NEW.outcome <> 'ok', NEW.input_tokens, NEW.output_tokens, NEW.cache_read_tokens,
                    NEW.cache_write_tokens, COALESCE(NEW.cost_nano, 0), NEW.cost_nano IS NULL)
                ON CONFLICT (hour, agent, provider, model, local) DO UPDATE SET
                    requests = requests + 1, failures = failures + excluded.failures,
                    input_tokens = input_tokens + excluded.input_tokens,
                    output_tokens = output_tokens + excluded.output_tokens,
                    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                    cost_nano = cost_nano + excluded.cost_nano,
                    unknown_cost = unknown_cost + excluded.unknown_cost;
             END;
             CREATE TRIGGER ledger_rollup_settled AFTER UPDATE OF outcome ON ledger
             WHEN OLD.outcome = 'in_flight' AND NEW.outcome <> 'in_flight' BEGIN
                INSERT INTO ledger_hourly VALUES (
                    substr(NEW.at, 1, 13) || ':00:00Z', NEW.agent, NEW.provider, NEW.model, NEW.local, 1,
                    NEW.outcome <> 'ok', NEW.input_tokens, NEW.output_tokens, NEW.cache_read_tokens,
                    NEW.cache_write_tokens, COALESCE(NEW.cost_nano, 0), NEW.cost_nano IS NULL)
                ON CONFLICT (hour, agent, provider, model, local) DO UPDATE SET
                    requests = requests + 1, failures = failures + excluded.failures,
                    input_tokens = input_tokens + excluded.input_tokens,
                    output_tokens = output_tokens + excluded.output_tokens,
                    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                    cost_nano = cost_nano + excluded.cost_nano,
                    unknown_cost = unknown_cost + excluded.unknown_cost;
             END;
             DROP TRIGGER ledger_daily_rollup;
             CREATE TRIGGER ledger_daily_rollup AFTER INSERT ON ledger WHEN NEW.outcome <> 'in_flight' BEGIN
                INSERT INTO ledger_daily VALUES (
                    date(NEW.at, 'localtime'), NEW.agent, NEW.provider, NEW.model, NEW.local, 1,
                    NEW.outcome <> 'ok', NEW.input_tokens, NEW.output_tokens, NEW.cache_read_tokens,
                    NEW.cache_write_tokens, COALESCE(NEW.cost_nano, 0), NEW.cost_nano IS NULL)
                ON CONFLICT (day, agent, provider, model, local) DO UPDATE SET
                    requests = requests + 1, failures = failures + excluded.failures,
                    input_tokens = input_tokens + excluded.input_tokens,
                    output_tokens = output_tokens + excluded.output_tokens,
                    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                    cost_nano = cost_nano + excluded.cost_nano,
                    unknown_cost = unknown_cost + excluded.unknown_cost;
             END;
             CREATE TRIGGER ledger_daily_rollup_settled AFTER UPDATE OF outcome ON ledger
             WHEN OLD.outcome = 'in_flight' AND NEW.outcome <> 'in_flight' BEGIN
                INSERT INTO ledger_daily VALUES (
                    date(NEW.at, 'localtime'), NEW.agent, NEW.provider, NEW.model, NEW.local, 1,
                    NEW.outcome <> 'ok', NEW.input_tokens, NEW.output_tokens, NEW.cache_read_tokens,
                    NEW.cache_write_tokens, COALESCE(NEW.cost_nano, 0), NEW.cost_nano IS NULL)
                ON CONFLICT (day, agent, provider, model, local) DO UPDATE SET
                    requests = requests + 1, failures = failures + excluded.failures,
                    input_tokens = input_tokens + excluded.input_tokens,
                    output_tokens = output_tokens + excluded.output_tokens,
                    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                    cost_nano = cost_nano + excluded.cost_nano,
                    unknown_cost = unknown_cost + excluded.unknown_cost;
             END;
             CREATE TRIGGER ledger_no_negative_updates BEFORE UPDATE ON ledger
             WHEN NEW.input_tokens < 0 OR NEW.output_tokens < 0 OR NEW.cache_read_tokens < 0
               OR NEW.cache_write_tokens < 0 OR NEW.cost_nano < 0 OR NEW.latency_ms < 0
             BEGIN SELECT RAISE(ABORT, 'a ledger row cannot hold a negative count or cost'); END;",
        ),
        // Provider-side tools a reply used (`web_search:2`): their fees are in cost_nano; the
        // column says what they were for. Sealed with the row when not empty.
        M::up("ALTER TABLE ledger ADD COLUMN tools TEXT;"),
        // What an agent's tool calls get back of the values its policy replaced: `restore`
        // (all but secrets) or `placeholders`. In the agent's tag when not `restore`.
        M::up("ALTER TABLE agents ADD COLUMN tool_values TEXT NOT NULL DEFAULT 'restore';"),
        // A price override's cache rates may be left out (NULL): the price file's apply, not
        // the override's input rate. Existing rows keep theirs; their tag is unchanged.
        M::up(
            "CREATE TABLE price_overrides_next (
                model       TEXT PRIMARY KEY,
                input       INTEGER NOT NULL,
                output      INTEGER NOT NULL,
                cache_read  INTEGER,
                cache_write INTEGER
            ) STRICT;
            INSERT INTO price_overrides_next SELECT model, input, output, cache_read, cache_write FROM price_overrides;
            DROP TABLE price_overrides;
            ALTER TABLE price_overrides_next RENAME TO price_overrides;",
        ),
        // What a paid step under a budget does with input the provider fetches (a document by
        // URL, a file id): `reserve` its context window or `refuse`. In the agent's tag when not
        // `reserve`.
        M::up("ALTER TABLE agents ADD COLUMN fetched TEXT NOT NULL DEFAULT 'reserve';"),
    ])
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("The database {path} is damaged or is not a Keyhold database ({detail}). It was left untouched: restore it from a backup or move it away.")]
    Damaged { path: PathBuf, detail: String },
    #[error(
        "The database {path} was written by a newer Keyhold (schema {found}, this one knows {known}). Update Keyhold."
    )]
    TooNew { path: PathBuf, found: i64, known: usize },
    #[error("Database error on {path}: {detail}")]
    Sqlite { path: PathBuf, detail: String },
}

impl crate::error::Kinded for DbError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Database
    }
}

const MIGRATION_COUNT: usize = 19;

pub fn open(path: &Path) -> Result<Connection, DbError> {
    let damaged = |e: rusqlite::Error| DbError::Damaged { path: path.into(), detail: e.to_string() };
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(damaged)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(damaged)?;
    // The request path runs the same few dozen statements on every call: parse each once.
    conn.set_prepared_statement_cache_capacity(128);
    // The first statement that reads the file is where a non-database file shows itself.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(damaged)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(damaged)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(damaged)?;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(damaged)?;
    let known = MIGRATION_COUNT;
    if found > known as i64 {
        return Err(DbError::TooNew { path: path.into(), found, known });
    }
    migrations().to_latest(&mut conn).map_err(|e| DbError::Sqlite { path: path.into(), detail: e.to_string() })?;
    Ok(conn)
}

/// Moves WAL checkpoints off the request path: the writing connection stops checkpointing by
/// itself, and a background thread with its own connection checkpoints passively once a second
/// (a passive checkpoint never blocks the writer). Without this, every ~1000th ledger write paid
/// for a checkpoint, which showed in the proxy's p99 latency.
pub fn checkpoint_in_background(conn: &Connection, path: &Path) {
    if conn.pragma_update(None, "wal_autocheckpoint", 0).is_err() {
        return;
    }
    let path = path.to_path_buf();
    let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
        let Ok(c) =
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        else {
            return;
        };
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            if c.cached_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).is_err() && !path.exists() {
                return;
            }
        }
    });
    if spawned.is_err() {
        // No thread, no background checkpoints: let SQLite do them itself again.
        let _ = conn.pragma_update(None, "wal_autocheckpoint", 1000);
    }
}

/// `query_row` through the connection's statement cache: the statement is parsed once per
/// connection, not on every call (parsing was a sixth of the proxy's time per request).
pub trait Cached {
    fn cached_row<T, P: rusqlite::Params, F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn cached_row<T, P: rusqlite::Params, F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

pub fn get_setting(conn: &Connection, key: &str) -> Result<Option<String>, rusqlite::Error> {
    use rusqlite::OptionalExtension;
    conn.cached_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()
}

pub fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<(), rusqlite::Error> {
    conn.execute(
        // An unsigned write drops any signature the row had: an old signature must never vouch
        // for a new value.
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value, mac = NULL",
        [key, value],
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid_and_settings_round_trip() {
        assert!(migrations().validate().is_ok());

        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("k.db")).unwrap();
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATION_COUNT, "MIGRATION_COUNT must equal the number of migrations");
        assert_eq!(mode, "wal");
        set_setting(&conn, "a", "1").unwrap();
        set_setting(&conn, "a", "2").unwrap();
        assert_eq!(get_setting(&conn, "a").unwrap().as_deref(), Some("2"));
        assert_eq!(get_setting(&conn, "b").unwrap(), None);
    }

    #[test]
    fn an_existing_ledger_learns_which_agent_id_each_row_belongs_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            migrations().to_version(&mut conn, 6).unwrap();
            conn.execute_batch(
                "INSERT INTO agents VALUES ('id-w', 'Writer', 'm', NULL, NULL, NULL, 1, 5, 'local', 't', 't');
                 INSERT INTO ledger (at, agent, provider, model, mode, step, outcome, input_tokens, output_tokens,
                   cache_read_tokens, cache_write_tokens, cost_nano, estimated, latency_ms, local)
                 VALUES ('2026-11-30T10:00:00.000Z', 'Writer', 'openai', 'm', 'agent', 0, 'ok', 1, 1, 0, 0, 7, 0, 1, 0),
                        ('2026-11-30T10:00:00.000Z', 'Gone', 'openai', 'm', 'agent', 0, 'ok', 1, 1, 0, 0, 9, 0, 1, 0);",
            )
            .unwrap();
        }
        let conn = open(&path).unwrap();
        let ids: Vec<(String, Option<String>)> = conn
            .prepare("SELECT agent, agent_id FROM ledger ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ids, [("Writer".to_string(), Some("id-w".to_string())), ("Gone".to_string(), None)]);
    }

    #[test]
    fn the_ledger_refuses_a_negative_count_or_cost() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("k.db")).unwrap();
        let insert = |output: i64, cost: i64| {
            conn.execute(
                "INSERT INTO ledger (at, agent, provider, model, mode, step, outcome, input_tokens, output_tokens,
                   cache_read_tokens, cache_write_tokens, cost_nano, estimated, latency_ms, local)
                 VALUES ('2026-11-30T10:00:00.000Z', 'a', 'openai', 'm', 'agent', 0, 'ok', 1, ?1, 0, 0, ?2, 0, 1, 0)",
                rusqlite::params![output, cost],
            )
        };
        assert!(insert(5, 7).is_ok());
        assert!(insert(-1_000_000, 7).unwrap_err().to_string().contains("negative"));
        assert!(insert(5, -600_000_000).is_err());
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let junk = b"this is certainly not an SQLite database, just some text that is long enough".repeat(20);
        std::fs::write(&path, &junk).unwrap();
        let err = open(&path).unwrap_err();
        assert!(matches!(err, DbError::Damaged { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }

    #[test]
    fn a_database_from_a_newer_keyhold_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(open(&path), Err(DbError::TooNew { found: 99, .. })));
    }
}
