//! The chain against a real SQLite file, edited the way a process running as the user would.

use std::path::Path;

use super::*;
use crate::db;
use crate::ledger::tests::attempt;
use crate::ledger::Writer;
use crate::money::Money;

fn key() -> ChainKey {
    ChainKey::new(&MasterSecret::from_slice(&[7u8; 32]).unwrap())
}

/// A writer armed on a fresh database with `n` rows written through it.
async fn ledger_of(path: &Path, n: usize) -> Writer {
    let w = Writer::start(path).unwrap();
    w.arm(key(), None).unwrap();
    for i in 0..n {
        w.record(attempt(&format!("a{}", i % 2), Some(1_000 + i as i64), chrono::Utc::now()))
            .committed()
            .await
            .unwrap();
    }
    w
}

fn full_check(path: &Path, mark: Option<&Mark>) -> Checked {
    check(&db::open(path).unwrap(), &key(), Head::genesis(), mark, &|_| false).unwrap()
}

/// Row `id`'s outcome, cost and whether its tokens are estimated, as the database has them.
fn ended(path: &Path, id: i64) -> (String, Option<i64>, bool) {
    db::open(path)
        .unwrap()
        .query_row("SELECT outcome, cost_nano, estimated FROM ledger WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap()
}

fn outside(path: &Path, sql: &str) {
    db::open(path).unwrap().execute_batch(sql).unwrap();
}

#[tokio::test]
async fn rows_keyhold_wrote_verify_and_the_mark_is_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let w = ledger_of(&path, 20).await;
    let mark = w.mark().unwrap();
    assert_eq!(mark.id, 20);
    let c = full_check(&path, Some(&mark));
    assert_eq!(c.breaks, Vec::new());
    assert_eq!((c.rows, c.head.id), (20, 20));
    assert_eq!(hex(&c.head.tag), mark.tag);
}

#[tokio::test]
async fn a_row_deleted_edited_or_put_in_is_named_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let w = ledger_of(&path, 12).await;
    let mark = w.mark().unwrap();
    outside(&path, "DELETE FROM ledger WHERE id IN (3, 4)");
    outside(&path, "UPDATE ledger SET cost_nano = 0 WHERE id = 7");
    outside(&path, "UPDATE ledger SET at = '2020-01-01T00:00:00.000Z' WHERE id = 8");
    outside(&path, "UPDATE ledger SET agent_id = 'someone-else' WHERE id = 9");
    // Row 10's chain copied onto row 11: a valid tag, of another row. Row 12 then cannot be
    // shown to follow row 11 either, and is named too.
    outside(&path, "UPDATE ledger SET chain = (SELECT chain FROM ledger WHERE id = 10) WHERE id = 11");
    let c = full_check(&path, Some(&mark));
    assert_eq!(
        c.breaks,
        vec![
            Break::Deleted { from: 3, to: 4 },
            Break::Edited { id: 7 },
            Break::Edited { id: 8 },
            Break::Edited { id: 9 },
            Break::Edited { id: 11 },
            Break::Edited { id: 12 },
        ]
    );
    assert_eq!(c.breaks[0].to_string(), "usage ledger rows 3 to 4 were deleted outside Keyhold");
}

#[tokio::test]
async fn rows_deleted_from_the_end_are_seen_against_the_mark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let w = ledger_of(&path, 10).await;
    let mark = w.mark().unwrap();
    outside(&path, "DELETE FROM ledger WHERE id > 7");
    assert_eq!(full_check(&path, Some(&mark)).breaks, vec![Break::Truncated { after: 7, to: 10 }]);
    // Every row deleted: still seen.
    outside(&path, "DELETE FROM ledger");
    assert_eq!(full_check(&path, Some(&mark)).breaks, vec![Break::Truncated { after: 0, to: 10 }]);
}

#[tokio::test]
async fn a_row_put_in_without_a_tag_is_named_and_keyholds_next_rows_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let w = ledger_of(&path, 3).await;
    outside(
        &path,
        "INSERT INTO ledger (at, agent, provider, model, mode, step, outcome, input_tokens, output_tokens,
           cache_read_tokens, cache_write_tokens, cost_nano, estimated, latency_ms, local, agent_id)
         VALUES ('2026-12-03T10:00:00.000Z', 'a0', 'openai', 'm', 'agent', 0, 'ok', 1, 1, 0, 0, 5, 0, 1, 0, 'id-a0')",
    );
    // The writer sees a row it did not write where its next would go, names it, and goes past.
    w.record(attempt("a0", Some(9), chrono::Utc::now())).committed().await.unwrap();
    assert_eq!(w.breaks(), vec![Break::Foreign { from: 4, to: 4 }]);
    let c = full_check(&path, w.mark().as_ref());
    assert_eq!(c.breaks, vec![Break::Unchained { id: 4 }]);
    assert_eq!(c.head.id, 5);
}

#[tokio::test]
async fn rows_from_before_chaining_are_adopted_once_then_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    {
        let conn = db::open(&path).unwrap();
        for i in 0..5 {
            crate::ledger::record(&conn, &attempt("old", Some(i), chrono::Utc::now())).unwrap();
        }
    }
    let w = Writer::start(&path).unwrap();
    let c = w.arm(key(), None).unwrap();
    assert_eq!((c.adopted, c.breaks.len()), (5, 0));
    let mark = w.mark().unwrap();
    assert_eq!(full_check(&path, Some(&mark)).breaks, Vec::new());
    outside(&path, "UPDATE ledger SET cost_nano = 0 WHERE id = 2");
    assert_eq!(full_check(&path, Some(&mark)).breaks, vec![Break::Edited { id: 2 }]);
}

#[tokio::test]
async fn the_check_at_unlock_starts_at_the_days_first_row_and_sees_its_edits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let w = ledger_of(&path, 6).await;
    let mark = w.mark().unwrap();
    assert_eq!(mark.day_first, 1, "every row is today's");
    drop(w);
    // A row of today moved to another day, to leave today's sum.
    outside(&path, "UPDATE ledger SET at = '2020-01-01T00:00:00.000Z' WHERE id = 2");
    let again = Writer::start(&path).unwrap();
    let c = again.arm(key(), Some(mark)).unwrap();
    assert_eq!(c.breaks, vec![Break::Edited { id: 2 }]);
    assert_eq!(again.breaks(), vec![Break::Edited { id: 2 }]);
}

#[tokio::test]
async fn an_acknowledged_change_is_chained_as_it_is_and_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let w = ledger_of(&path, 8).await;
    outside(&path, "DELETE FROM ledger WHERE id = 5; UPDATE ledger SET cost_nano = 1 WHERE id = 2");
    let mark = w.mark().unwrap();
    let found = full_check(&path, Some(&mark)).breaks;
    w.note(found.clone());
    assert_eq!(w.accept().unwrap(), found);
    assert!(w.breaks().is_empty());
    w.record(attempt("a0", Some(3), chrono::Utc::now())).committed().await.unwrap();
    assert_eq!(full_check(&path, w.mark().as_ref()).breaks, Vec::new());
}

#[tokio::test]
async fn a_ledger_edited_wholesale_is_named_by_its_first_changes_and_checked_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    // More rows than one chunk, so the check goes on across chunks without a false break.
    let w = ledger_of(&path, 10_500).await;
    let mark = w.mark().unwrap();
    assert_eq!(full_check(&path, Some(&mark)).breaks, Vec::new());
    outside(&path, "UPDATE ledger SET cost_nano = 0 WHERE id % 100 = 0");
    let c = full_check(&path, Some(&mark));
    assert_eq!(c.rows, 10_500);
    assert_eq!(c.breaks.len(), 21);
    assert_eq!(c.breaks[0], Break::Edited { id: 100 });
    assert_eq!(c.breaks[20].to_string(), "and 85 more changes to the usage ledger");
}

#[test]
fn a_row_cannot_be_updated_to_a_negative_cost() {
    let dir = tempfile::tempdir().unwrap();
    let conn = db::open(&dir.path().join("k.db")).unwrap();
    crate::ledger::record(&conn, &attempt("a", Some(5), chrono::Utc::now())).unwrap();
    let err = conn.execute("UPDATE ledger SET cost_nano = -1000000000", []).unwrap_err();
    assert!(err.to_string().contains("negative"), "{err}");
}

#[tokio::test]
async fn an_attempt_opened_before_it_is_sent_and_settled_after_is_one_row_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let w = ledger_of(&path, 2).await;
    let now = chrono::Utc::now();
    let id = w.open(attempt("a0", None, now), Some(Money::from_nanos(90_000))).committed().await.unwrap();
    // Written before the first byte goes upstream: in flight, counted by the reservation only.
    let (outcome, cost, _) = ended(&path, id);
    assert_eq!((outcome.as_str(), cost), ("in_flight", None));
    // Another attempt is recorded while this one streams; then this one ends.
    w.record(attempt("a1", Some(7), now)).committed().await.unwrap();
    w.settle(id, attempt("a0", Some(4_321), now)).committed().await.unwrap();
    let (outcome, cost, _) = ended(&path, id);
    let n: i64 = db::open(&path).unwrap().query_row("SELECT count(*) FROM ledger", [], |r| r.get(0)).unwrap();
    assert_eq!((outcome.as_str(), cost, n), ("ok", Some(4_321), 4));
    assert_eq!(full_check(&path, w.mark().as_ref()).breaks, Vec::new());
    // The settled row is as protected as any other.
    outside(&path, &format!("UPDATE ledger SET cost_nano = 1 WHERE id = {id}"));
    assert_eq!(full_check(&path, w.mark().as_ref()).breaks, vec![Break::Edited { id }]);
}

#[tokio::test]
async fn an_attempt_left_in_flight_by_a_crash_is_settled_as_interrupted_at_its_reservation_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let w = ledger_of(&path, 1).await;
    let id =
        w.open(attempt("a0", None, chrono::Utc::now()), Some(Money::from_nanos(90_000))).committed().await.unwrap();
    let mark = w.mark();
    // The process dies here: the row is never settled.
    drop(w);
    let w = Writer::start(&path).unwrap();
    let checked = w.arm(key(), mark).unwrap();
    assert_eq!(checked.breaks, Vec::new());
    let (outcome, cost, estimated) = ended(&path, id);
    assert_eq!((outcome.as_str(), cost, estimated), ("interrupted", Some(90_000), true));
    // Counted against the agent's budget from now on, and sealed like any other row.
    assert_eq!(w.written_today("id-a0", chrono::Utc::now()), Money::from_nanos(1_000 + 90_000));
    assert_eq!(full_check(&path, w.mark().as_ref()).breaks, Vec::new());
    // The reservation it is settled at cannot be lowered beforehand.
    outside(&path, &format!("UPDATE ledger SET reserved_nano = 0 WHERE id = {id}"));
    assert_eq!(full_check(&path, w.mark().as_ref()).breaks, vec![Break::Edited { id }]);
}

#[tokio::test]
async fn an_attempt_settled_while_locked_or_after_an_acknowledgment_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let w = ledger_of(&path, 3).await;
    // Opened while unlocked, settled after a lock (no key to seal it), sealed at the unlock.
    let id = w.open(attempt("a0", None, chrono::Utc::now()), Some(Money::from_nanos(500))).committed().await.unwrap();
    let mark = w.mark();
    w.disarm();
    w.settle(id, attempt("a0", Some(321), chrono::Utc::now())).committed().await.unwrap();
    assert_eq!(w.arm(key(), mark).unwrap().breaks, Vec::new());
    assert_eq!(full_check(&path, w.mark().as_ref()).breaks, Vec::new());
    // Opened, then the user acknowledges a change (every row after it is chained again,
    // the open one included), then it ends.
    let id = w.open(attempt("a1", None, chrono::Utc::now()), Some(Money::from_nanos(500))).committed().await.unwrap();
    outside(&path, "DELETE FROM ledger WHERE id = 2");
    w.note(full_check(&path, w.mark().as_ref()).breaks);
    assert!(!w.accept().unwrap().is_empty());
    w.settle(id, attempt("a1", Some(654), chrono::Utc::now())).committed().await.unwrap();
    assert_eq!(full_check(&path, w.mark().as_ref()).breaks, Vec::new());
}
