//! Where a command runs: in a process of its own, which opens the data dir itself, or inside the
//! Keyhold that already holds it (the app or `keyhold serve`, reached through `remote`). The
//! commands are written once against this; the passphrase rules are the same in both places.

use std::cell::OnceCell;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use keyhold_core::datadir::DataDir;
use keyhold_core::error::ErrorKind;
use keyhold_core::passphrase::Passphrase;
use keyhold_core::workspace::{Unlocking, Workspace};

use super::output::Failure;
use super::remote::Host;

pub enum Place<'a> {
    /// This process: the workspace is opened (and the writer lock taken) on first use.
    Own { dir: DataDir, workspace: OnceCell<Arc<Workspace>> },
    /// The running Keyhold, for a terminal at the other end of its socket.
    Running(&'a Host),
}

impl Place<'_> {
    pub fn own(dir: DataDir) -> Self {
        Place::Own { dir, workspace: OnceCell::new() }
    }

    pub fn dir(&self) -> &DataDir {
        match self {
            Place::Own { dir, .. } => dir,
            Place::Running(h) => h.workspace.data_dir(),
        }
    }

    /// The running Keyhold this command reached, if any.
    pub fn host(&self) -> Option<&Host> {
        match self {
            Place::Own { .. } => None,
            Place::Running(h) => Some(h),
        }
    }

    /// The workspace, as it is (locked or not).
    pub fn workspace(&self) -> Result<Arc<Workspace>, Failure> {
        match self {
            Place::Own { dir, workspace } => {
                if let Some(ws) = workspace.get() {
                    return Ok(Arc::clone(ws));
                }
                let ws = Arc::new(Workspace::open(dir.clone())?);
                Ok(Arc::clone(workspace.get_or_init(|| ws)))
            }
            Place::Running(h) => Ok(Arc::clone(&h.workspace)),
        }
    }

    /// The workspace, unlocked with the passphrase for a command that changes something (every
    /// change needs it, from the command line as from the window). `action` says what in the
    /// refusal, e.g. "Adding an agent".
    pub fn unlocked(&self, file: Option<&Path>, action: &str) -> Result<Arc<Workspace>, Failure> {
        let ws = self.workspace()?;
        let p = super::input::passphrase_for(file, action)?;
        self.unlock(&ws, &p)?;
        Ok(ws)
    }

    /// Unlocks with `p`. Inside a running Keyhold that is unlocked already, `p` is checked
    /// against the vault instead: an unlocked window does not stand in for the passphrase. A
    /// running Keyhold that was locked is unlocked by it, and the terminal is told.
    pub fn unlock(&self, ws: &Workspace, p: &Passphrase) -> Result<(), Failure> {
        match self {
            Place::Own { .. } => Ok(ws.unlock(p)?),
            Place::Running(h) => {
                if ws.unlock_or_verify(p)? == Unlocking::Unlocked {
                    crate::errln!("keyhold: note: {} was locked; your passphrase unlocked it.", h.front_name());
                }
                Ok(())
            }
        }
    }

    /// Runs `f` to its end: on a runtime of this command's own, or on the running Keyhold's
    /// (whose HTTP connections and tasks it shares).
    pub fn block_on<F: Future>(&self, f: F) -> Result<F::Output, Failure> {
        match self {
            Place::Own { .. } => {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
                    Failure::from_message(ErrorKind::Internal, format!("Could not start the network runtime: {e}"))
                })?;
                Ok(runtime.block_on(f))
            }
            Place::Running(h) => Ok(h.runtime.block_on(f)),
        }
    }
}
