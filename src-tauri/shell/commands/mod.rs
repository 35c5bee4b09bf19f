//! The commands the window calls: one file per feature, each command a few lines over the core.

pub mod agents;
pub mod chat;
pub mod environment;
pub mod keys;
pub mod prices;
pub mod privacy;
pub mod proxy;
pub mod usage;
pub mod vault;

#[cfg(test)]
mod tests;
