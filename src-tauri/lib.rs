//! Keyhold: bring-your-own-key AI desktop app.
//!
//! The app crate has two thin fronts over [`keyhold_core`], which knows nothing of windows (it
//! is its own crate with no tauri dependency, so the compiler holds that line):
//! - [`shell`]: the Tauri app (window, tray, thin commands) that shows the core's state.
//! - [`cli`]: the `keyhold` command line, a second thin front over the same core.

pub mod cli;
pub mod shell;
