//! A command typed while Keyhold already runs (the app, or `keyhold serve`): the running one
//! executes it, through the same code as a command run on its own, and this process is only the
//! user's terminal. As `lms` talks to LM Studio and `op` to 1Password.
//!
//! The socket is `keyhold.sock` in the data dir (0700; the socket itself 0600), and the running
//! Keyhold answers only a peer of its own user id (checked with `SO_PEERCRED`). What crosses it:
//! the command's words, and whatever the command asks of the terminal — its output, standard
//! input, a file it names (a passphrase file is read by this process, relative to where the
//! user typed), a hidden prompt. A passphrase travels only over this socket and is checked by
//! the running Keyhold, which never logs it.
//!
//! One JSON object per line, both ways.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use keyhold_core::datadir::DataDir;
use keyhold_core::workspace::Workspace;

use super::term::Terminal;

const SOCKET: &str = "keyhold.sock";

/// The socket of the Keyhold that holds `dir`.
pub fn socket_path(dir: &DataDir) -> PathBuf {
    dir.path().join(SOCKET)
}

/// The terminal's first words: the command, and what its streams are.
#[derive(Serialize, Deserialize)]
struct Hello {
    args: Vec<String>,
    stdin_tty: bool,
    stdout_tty: bool,
}

/// What the running Keyhold sends.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ToTerminal {
    Out(String),
    Err(String),
    ReadStdin,
    ReadLine,
    ReadFile(PathBuf),
    Prompt(String),
    Exit(i32),
}

/// The terminal's answer to a read.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FromTerminal {
    Text(String),
    Failed(String),
}

// ---------------------------------------------------------------------------------------------
// The terminal's end

/// Runs the command on the Keyhold that holds `dir`, if one answers there. `None`: nobody does
/// (no socket, or a socket left by a Keyhold that is gone), and the command runs here.
pub fn run_on_running(dir: &DataDir, args: Vec<String>) -> Option<i32> {
    let stream = UnixStream::connect(socket_path(dir)).ok()?;
    Some(match terminal(stream, args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keyhold: the running Keyhold stopped answering ({e}). Check the app, or run the command again.");
            1
        }
    })
}

fn terminal(stream: UnixStream, args: Vec<String>) -> io::Result<i32> {
    use std::io::IsTerminal;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let hello = Hello { args, stdin_tty: io::stdin().is_terminal(), stdout_tty: io::stdout().is_terminal() };
    send(&mut writer, &hello)?;
    let mut local = super::term::Local;
    let mut line = Zeroizing::new(String::new());
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed"));
        }
        let msg: ToTerminal = serde_json::from_str(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let answer = match msg {
            ToTerminal::Out(t) => {
                // A reader that went away ends this process (SIGPIPE, as `keyhold usage | head`),
                // and with it the connection: the running Keyhold stops the command.
                local.write_out(&t)?;
                continue;
            }
            ToTerminal::Err(t) => {
                local.write_err(&t)?;
                continue;
            }
            ToTerminal::Exit(code) => return Ok(code),
            ToTerminal::ReadStdin => local.read_stdin(),
            ToTerminal::ReadLine => local.read_line(),
            ToTerminal::ReadFile(p) => local.read_file(&p),
            ToTerminal::Prompt(label) => local.prompt_hidden(&label),
        };
        let answer = match answer {
            Ok(text) => FromTerminal::Text(text),
            Err(e) => FromTerminal::Failed(e.to_string()),
        };
        send(&mut writer, &answer)?;
    }
}

fn send(w: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    let mut text = Zeroizing::new(serde_json::to_string(value).map_err(io::Error::other)?);
    text.push('\n');
    w.write_all(text.as_bytes())?;
    w.flush()
}

// ---------------------------------------------------------------------------------------------
// The running Keyhold's end

/// What runs commands for the terminals that connect: the running workspace and the runtime its
/// network calls run on.
#[derive(Clone)]
pub struct Host {
    pub workspace: Arc<Workspace>,
    pub runtime: tokio::runtime::Handle,
    pub front: Front,
}

/// Which Keyhold is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Front {
    App,
    Serve,
}

impl Host {
    pub fn front_name(&self) -> &'static str {
        match self.front {
            Front::App => "The Keyhold app",
            Front::Serve => "The running `keyhold serve`",
        }
    }
}

/// The listening socket; dropping it stops listening and removes the file.
pub struct Listening {
    path: PathBuf,
    listener: Arc<UnixListener>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop` and ends.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens for terminals on the data dir's socket. The caller holds the writer lock, so a
/// socket file already there was left by a Keyhold that is gone.
pub fn listen(host: Host) -> io::Result<Listening> {
    let path = socket_path(host.workspace.data_dir());
    let _ = std::fs::remove_file(&path);
    let listener = Arc::new(UnixListener::bind(&path)?);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (l, halt) = (Arc::clone(&listener), Arc::clone(&stop));
    std::thread::Builder::new().name("cli-socket".into()).spawn(move || loop {
        match l.accept() {
            _ if halt.load(std::sync::atomic::Ordering::SeqCst) => break,
            Ok((conn, _)) => {
                let host = host.clone();
                let _ = std::thread::Builder::new().name("cli-session".into()).spawn(move || session(conn, host));
            }
            Err(e) => {
                // Out of descriptors, say: wait, and go on listening.
                tracing::warn!(error = %e, "the command-line socket could not accept a connection");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    })?;
    tracing::info!(socket = %path.display(), "the command line can reach this Keyhold");
    Ok(Listening { path, listener, stop })
}

/// The user id of the process at the other end.
fn peer_uid(s: &UnixStream) -> io::Result<u32> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.uid)
}

fn session(conn: UnixStream, host: Host) {
    let me = unsafe { libc::geteuid() };
    let Ok(writer) = conn.try_clone() else { return };
    let mut remote =
        Remote { reader: BufReader::new(conn), writer: NoSigpipe(writer), stdin_tty: false, stdout_tty: false };
    // The terminal's first words are read before anything is answered (a refusal written while
    // the terminal is still sending would reach it as a broken pipe, not as the refusal). At
    // most 1 MiB: a command line, not a file.
    // A peer that connects and says nothing is not waited for past 10 s.
    let _ = remote.reader.get_ref().set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut line = Zeroizing::new(String::new());
    let read = (&mut remote.reader).take(1 << 20).read_line(&mut line).unwrap_or(0);
    let _ = remote.reader.get_ref().set_read_timeout(None);
    match peer_uid(remote.reader.get_ref()) {
        Ok(uid) if uid == me => {}
        Ok(uid) => {
            tracing::warn!(uid, "refused a command from another user on the command-line socket");
            let _ = remote.tell(&ToTerminal::Err(format!(
                "keyhold: this Keyhold belongs to another user (uid {me}); it takes commands from its own user only.\n"
            )));
            let _ = remote.tell(&ToTerminal::Exit(1));
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not tell who is on the command-line socket; refused");
            return;
        }
    }
    if read == 0 {
        return;
    }
    let Ok(hello) = serde_json::from_str::<Hello>(&line) else { return };
    drop(line);
    remote.stdin_tty = hello.stdin_tty;
    remote.stdout_tty = hello.stdout_tty;
    let mut exit = remote.clone_writer();
    let installed = super::term::install(Box::new(remote));
    let args = std::iter::once("keyhold".to_string()).chain(hello.args);
    let code =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| super::run_here(args, &host))).unwrap_or_else(|_| {
            crate::errln!("keyhold: the command failed inside Keyhold; the log in the data dir says where.");
            101
        });
    drop(installed);
    // Whatever the command changed, the window reads again.
    host.workspace.configuration_changed();
    let _ = send(&mut exit, &ToTerminal::Exit(code));
}

/// A socket write that reports a peer gone as an error rather than a SIGPIPE (the app keeps
/// SIGPIPE's default for the command line's sake, and must not die of a closed terminal).
struct NoSigpipe(UnixStream);

impl Write for NoSigpipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = unsafe { libc::send(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The user's terminal, at the other end of the socket.
struct Remote {
    reader: BufReader<UnixStream>,
    writer: NoSigpipe,
    stdin_tty: bool,
    stdout_tty: bool,
}

impl Remote {
    fn tell(&mut self, msg: &ToTerminal) -> io::Result<()> {
        send(&mut self.writer, msg)
    }

    fn clone_writer(&self) -> NoSigpipe {
        NoSigpipe(self.writer.0.try_clone().expect("a socket's descriptor can be duplicated"))
    }

    fn ask(&mut self, msg: &ToTerminal) -> io::Result<String> {
        self.tell(msg)?;
        let mut line = Zeroizing::new(String::new());
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the terminal went away"));
        }
        match serde_json::from_str::<FromTerminal>(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))? {
            FromTerminal::Text(t) => Ok(t),
            FromTerminal::Failed(e) => Err(io::Error::other(e)),
        }
    }
}

impl Terminal for Remote {
    fn write_out(&mut self, text: &str) -> io::Result<()> {
        self.tell(&ToTerminal::Out(text.to_string()))
    }
    fn write_err(&mut self, text: &str) -> io::Result<()> {
        self.tell(&ToTerminal::Err(text.to_string()))
    }
    fn stdin_is_terminal(&self) -> bool {
        self.stdin_tty
    }
    fn stdout_is_terminal(&self) -> bool {
        self.stdout_tty
    }
    fn read_stdin(&mut self) -> io::Result<String> {
        self.ask(&ToTerminal::ReadStdin)
    }
    fn read_line(&mut self) -> io::Result<String> {
        self.ask(&ToTerminal::ReadLine)
    }
    fn read_file(&mut self, path: &Path) -> io::Result<String> {
        self.ask(&ToTerminal::ReadFile(path.to_path_buf()))
    }
    fn prompt_hidden(&mut self, label: &str) -> io::Result<String> {
        self.ask(&ToTerminal::Prompt(label.to_string()))
    }
}
