//! The libc calls plugin handling needs besides loading itself, kept in
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

/// Takes an exclusive `flock` on `file` without waiting: `Ok(false)` when
/// another open file holds it. The kernel drops the lock when the holder's
/// file is closed, including when its process is killed.
// `File::try_lock` does the same from Rust 1.89; the workspace supports 1.85.
pub fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor `file` keeps open for the whole call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    if error.kind() == std::io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(error)
    }
}
