//! The two libc calls plugin handling needs besides loading itself, kept in
//! one place so `unsafe` stays out of the rest of the crate (the workspace
//! denies `unsafe_code`; `loader` and `generation` are the other exceptions).
#![allow(unsafe_code)]

/// This process's user id (private staging directories, trusted owners).
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// A load reads a whole plugin file (megabytes) on a blocking-pool thread;
/// glibc keeps the freed buffer in that thread's arena, so without this the
/// RSS of a host that reloads often settles tens of MiB above what it uses.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
