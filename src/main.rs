fn main() {
    std::process::exit(beacon_console::cli::main());
}
