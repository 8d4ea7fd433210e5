fn main() {
    // Like any Unix filter: `beacon-console history | head` ends quietly when
    // the reader goes away, instead of panicking on a broken pipe.
    // SAFETY: called first thing, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(beacon_console::cli::main());
}
