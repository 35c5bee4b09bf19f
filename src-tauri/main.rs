// Keep a release build from opening a console window on Windows; harmless elsewhere.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`keyhold usage | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        // Every file Keyhold creates (vault, header, database, logs, lock, exports) is the
        // user's alone, whatever the folder's mode or the file system does with a chmod.
        libc::umask(0o077);
    }
    std::process::exit(keyhold::cli::main());
}
