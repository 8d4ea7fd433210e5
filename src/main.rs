fn main() {
    // Panics are reported by color-eyre, after the terminal is given back
    // (ratatui's recipe): the restore first, whatever state the console was in.
    let (panic_hook, eyre_hook) = color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .into_hooks();
    let _ = eyre_hook.install();
    let panic_hook = panic_hook.into_panic_hook();
    // SIGPIPE stays ignored (Rust's default): a peer that resets a provider
    // connection mid-write must be an error on that connection, not the end
    // of the console with the terminal left raw. A reader of our stdout that
    // goes away (`history | head`) ends the process quietly instead.
    std::panic::set_hook(Box::new(move |info| {
        if is_broken_stdout(info) {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        beacon_console::tui::give_back_terminal();
        panic_hook(info);
    }));
    std::process::exit(beacon_console::cli::main());
}

/// What a shell reports for a process ended by SIGPIPE (128 + 13), as before.
const EXIT_BROKEN_PIPE: i32 = 141;

/// `println!` panics when stdout is a closed pipe: "failed printing to stdout: Broken pipe".
fn is_broken_stdout(info: &std::panic::PanicHookInfo<'_>) -> bool {
    let payload = info.payload();
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    text.starts_with("failed printing to std") && text.contains("Broken pipe")
}
