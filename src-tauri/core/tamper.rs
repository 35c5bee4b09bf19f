//! For the fronts' tests only: what a process running as the user can do to Keyhold's database
//! behind its back (an edit with the sqlite3 tool, say), so a test of the window's commands can
//! make a change outside Keyhold without holding a database connection itself.

use std::path::Path;

/// Runs `sql` on the database at `path` on a connection of its own, as another program would.
pub fn edit_database(path: &Path, sql: &str) {
    crate::db::open(path).expect("the database opens").execute_batch(sql).expect("the edit runs");
}
