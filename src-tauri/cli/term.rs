//! The terminal a command talks to. Run in a process of its own, that is the process's standard
//! streams; run by a Keyhold that is already running (`remote`), it is the user's terminal at
//! the other end of the socket. Every command writes and reads through here, so the same code
//! answers in both places.

use std::cell::RefCell;
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;

/// What a command may do with the user's terminal.
pub trait Terminal {
    fn write_out(&mut self, text: &str) -> io::Result<()>;
    fn write_err(&mut self, text: &str) -> io::Result<()>;
    fn stdin_is_terminal(&self) -> bool;
    fn stdout_is_terminal(&self) -> bool;
    /// Standard input, to its end.
    fn read_stdin(&mut self) -> io::Result<String>;
    /// One line of standard input.
    fn read_line(&mut self) -> io::Result<String>;
    /// A file named by the user, relative to where they typed the command.
    fn read_file(&mut self, path: &Path) -> io::Result<String>;
    /// A hidden prompt on the user's terminal (passphrases, keys).
    fn prompt_hidden(&mut self, label: &str) -> io::Result<String>;
}

/// This process's own standard streams.
pub struct Local;

impl Terminal for Local {
    fn write_out(&mut self, text: &str) -> io::Result<()> {
        let mut o = io::stdout().lock();
        o.write_all(text.as_bytes())?;
        o.flush()
    }
    fn write_err(&mut self, text: &str) -> io::Result<()> {
        io::stderr().lock().write_all(text.as_bytes())
    }
    fn stdin_is_terminal(&self) -> bool {
        io::stdin().is_terminal()
    }
    fn stdout_is_terminal(&self) -> bool {
        io::stdout().is_terminal()
    }
    fn read_stdin(&mut self) -> io::Result<String> {
        let mut s = String::new();
        io::stdin().read_to_string(&mut s)?;
        Ok(s)
    }
    fn read_line(&mut self) -> io::Result<String> {
        let mut s = String::new();
        io::stdin().read_line(&mut s)?;
        Ok(s)
    }
    fn read_file(&mut self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn prompt_hidden(&mut self, label: &str) -> io::Result<String> {
        rpassword::prompt_password(label)
    }
}

thread_local! {
    static TERMINAL: RefCell<Box<dyn Terminal>> = RefCell::new(Box::new(Local));
}

/// The terminal of the command running on this thread.
pub fn with<R>(f: impl FnOnce(&mut dyn Terminal) -> R) -> R {
    TERMINAL.with(|t| f(t.borrow_mut().as_mut()))
}

/// Makes `t` this thread's terminal until the guard is dropped.
pub fn install(t: Box<dyn Terminal>) -> Installed {
    TERMINAL.with(|cell| *cell.borrow_mut() = t);
    Installed
}

pub struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        TERMINAL.with(|cell| *cell.borrow_mut() = Box::new(Local));
    }
}

/// Writes to the command's standard output; an error means the reader went away.
pub fn out(text: &str) -> io::Result<()> {
    with(|t| t.write_out(text))
}

/// Writes to the command's standard error (best effort: there is no one else to tell).
pub fn err(text: &str) {
    let _ = with(|t| t.write_err(text));
}

pub fn stdin_is_terminal() -> bool {
    with(|t| t.stdin_is_terminal())
}

pub fn stdout_is_terminal() -> bool {
    with(|t| t.stdout_is_terminal())
}

/// `println!` to the command's terminal.
#[macro_export]
macro_rules! outln {
    () => {{ let _ = $crate::cli::term::out("\n"); }};
    ($($arg:tt)*) => {{ let _ = $crate::cli::term::out(&format!("{}\n", format_args!($($arg)*))); }};
}

/// `print!` to the command's terminal.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{ let _ = $crate::cli::term::out(&format!($($arg)*)); }};
}

/// `eprintln!` to the command's terminal.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::term::err(&format!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` to the command's terminal.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::cli::term::err(&format!($($arg)*)) };
}
