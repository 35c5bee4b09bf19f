//! The local-day rollup (`ledger_daily`): filled by a trigger as rows arrive, with each row's
//! local date in the zone of the process that wrote it. When the zone is not the one the rollup
//! was built for (first use, or the user moved), it is rebuilt from the ledger once.

use rusqlite::{params, Connection};

use super::{Point, UsageError};
use crate::db;

const ZONE: &str = "usage.daily_zone";

/// The zone as SQLite's `localtime` sees it: the local time of four fixed instants (winter and
/// summer, two years), so a change of zone or of its daylight-saving rule shows.
fn zone(conn: &Connection) -> rusqlite::Result<String> {
    use crate::db::Cached;
    conn.cached_row(
        "SELECT datetime('2025-01-15 12:00', 'localtime') || ' ' || datetime('2025-07-15 12:00', 'localtime') || ' ' ||
                datetime('2026-01-15 12:00', 'localtime') || ' ' || datetime('2026-07-15 12:00', 'localtime')",
        [],
        |r| r.get(0),
    )
}

const AGGREGATE: &str = "SELECT date(at, 'localtime'), agent, provider, model, local, COUNT(*), SUM(outcome <> 'ok'),
        SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),
        SUM(COALESCE(cost_nano, 0)), SUM(cost_nano IS NULL)
    FROM ledger WHERE id > ?1 AND id <= ?2 AND outcome <> 'in_flight' GROUP BY 1, agent, provider, model, local";

/// Makes sure the rollup is in the current zone, rebuilding it when not. Cheap when it is.
///
/// The rebuild reads the ledger in a read transaction, which never blocks the ledger's writer
/// (WAL), and writes the result in a short write transaction that also folds in the rows that
/// arrived meanwhile: on a big ledger the read takes seconds, and a write lock held that long
/// would make the router's own ledger writes time out.
pub fn ensure(conn: &Connection) -> Result<(), UsageError> {
    let now = zone(conn)?;
    if db::get_setting(conn, ZONE)?.as_deref() == Some(now.as_str()) {
        return Ok(());
    }
    let started = std::time::Instant::now();
    type Row = (String, String, String, String, i64, [i64; 8]);
    let read = |tx: &Connection, after: i64, upto: i64| -> rusqlite::Result<Vec<Row>> {
        let mut stmt = tx.prepare(AGGREGATE)?;
        let rows = stmt.query_map(params![after, upto], |r| {
            let mut sums = [0i64; 8];
            for (i, v) in sums.iter_mut().enumerate() {
                *v = r.get(5 + i)?;
            }
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, sums))
        })?;
        rows.collect()
    };
    // 1. Everything up to now, from one snapshot, without the write lock.
    let (upto, base) = {
        let tx = conn.unchecked_transaction()?;
        let upto: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM ledger", [], |r| r.get(0))?;
        let base = read(&tx, 0, upto)?;
        tx.commit()?;
        (upto, base)
    };
    // 2. Swap it in, with what arrived since, in one short write.
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch("DELETE FROM ledger_daily")?;
    let newest: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM ledger", [], |r| r.get(0))?;
    let late = read(&tx, upto, newest)?;
    {
        let mut add = tx.prepare(
            "INSERT INTO ledger_daily VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (day, agent, provider, model, local) DO UPDATE SET
                requests = requests + excluded.requests, failures = failures + excluded.failures,
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                cost_nano = cost_nano + excluded.cost_nano,
                unknown_cost = unknown_cost + excluded.unknown_cost",
        )?;
        for (day, agent, provider, model, local, n) in base.iter().chain(&late) {
            add.execute(params![day, agent, provider, model, local, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]])?;
        }
    }
    db::set_setting(&tx, ZONE, &now)?;
    tx.commit()?;
    tracing::info!(ms = started.elapsed().as_millis() as u64, "daily usage rebuilt for this time zone");
    Ok(())
}

/// The daily series over local days `first` (inclusive) to `after` (exclusive).
pub fn series(conn: &Connection, first: &str, after: &str, agent: Option<&str>) -> Result<Vec<Point>, UsageError> {
    ensure(conn)?;
    let mut stmt = conn.prepare_cached(
        "SELECT day, agent, SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),
                SUM(cost_nano), SUM(requests), SUM(failures), SUM(unknown_cost)
         FROM ledger_daily
         WHERE day >= ?1 AND day < ?2 AND (?3 IS NULL OR agent = ?3 COLLATE NOCASE)
         GROUP BY day, agent ORDER BY day, agent",
    )?;
    let rows = stmt.query_map(params![first, after, agent], super::point)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{self, tests::attempt};

    #[test]
    fn rows_written_before_the_rollup_existed_are_counted_once_and_a_zone_change_rebuilds_it() {
        let dir = tempfile::tempdir().unwrap();
        let conn = db::open(&dir.path().join("k.db")).unwrap();
        let now = chrono::Utc::now();
        for _ in 0..3 {
            ledger::record(&conn, &attempt("a", Some(10), now)).unwrap();
        }
        let day = now.with_timezone(&chrono::Local).date_naive();
        let (first, after) = (day.to_string(), day.succ_opt().unwrap().to_string());
        let total =
            |conn: &Connection| series(conn, &first, &after, None).unwrap().iter().map(|p| p.requests).sum::<u32>();
        assert_eq!(total(&conn), 3, "the first use builds it from the ledger, counting each row once");
        ledger::record(&conn, &attempt("a", Some(10), now)).unwrap();
        assert_eq!(total(&conn), 4, "later rows arrive through the trigger");
        // Built for another zone: rebuilt, still exact.
        db::set_setting(&conn, ZONE, "elsewhere").unwrap();
        conn.execute("UPDATE ledger_daily SET requests = 99", []).unwrap();
        assert_eq!(total(&conn), 4);
    }
}
