//! The `phonehook` command. Everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    phonehook::cli::main()
}
