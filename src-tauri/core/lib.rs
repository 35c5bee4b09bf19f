//! The core: what Keyhold knows and does, with no knowledge of windows or IPC.

pub mod activity;
pub mod agents;
pub mod app;
pub mod autostart;
pub mod budget;
pub mod conversations;
pub mod datadir;
pub mod db;
pub mod error;
pub mod integrity;
pub mod keys;
pub mod ledger;
pub mod logging;
pub mod manifest;
pub mod money;
pub mod ollama;
pub mod overview;
pub mod passphrase;
pub mod prices;
pub mod privacy;
pub mod providers;
pub mod proxy;
pub mod router;
pub mod seal;
pub mod sealing;
#[cfg(any(test, feature = "test-support"))]
pub mod tamper;
pub mod usage;
pub mod vault;
pub mod workspace;
