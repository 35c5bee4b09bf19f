//! The service layer: each thing a user does, as one function over the [`Workspace`] that takes
//! typed input and returns a finished view or a typed error. The window's commands
//! (`shell/commands`) and the command line (`cli/`) call these and nothing under them: neither
//! holds a database connection (the workspace's handle is crate-private), so a rule, a gate or a
//! view is written once, here — in the manner of GitButler's controllers.
//!
//! Gates: a change takes the passphrase (the functions go through `with_unlocked`); a read the
//! window shows goes behind the lock in the window's commands; the command line may read key
//! and agent metadata without it, as it always could.
//!
//! [`Workspace`]: crate::workspace::Workspace

pub mod agents;
pub mod chat;
pub mod connect;
pub mod keys;
pub mod local;
pub mod prices;
pub mod privacy;
pub mod proxy;
pub mod usage;
pub mod vault;
