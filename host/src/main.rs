//! The `phonehook` command. Everything lives in the library; see `cli`.

// The send path allocates many small, short-lived buffers across threads;
// glibc malloc spent ~15% of the host's CPU in the end-to-end benchmark,
// much of it on arena locks. Plugins keep their own allocator: every value
// crossing the ABI carries the vtable of the side that allocated it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    phonehook::cli::main()
}
