//! Keyhold: bring-your-own-key AI desktop app.
//!
//! The crate has three layers, kept apart on purpose:
//! - [`core`]: everything Keyhold *knows* (vault, sealing, data dir, storage). It never touches a
//!   window, so all of it is tested without a display.
//! - [`shell`]: the Tauri app (window, tray, thin commands) that shows the core's state.
//! - [`cli`]: the `keyhold` command line, a second thin front over the same core.

pub mod cli;
pub mod core;
pub mod shell;
pub mod sim;
