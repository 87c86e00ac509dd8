//! A bounds check of an ELF file before it goes anywhere near `dlopen`.
//!
//! glibc maps each loadable segment without checking it lies inside the file;
//! touching a page past the end of a truncated file raises SIGBUS and kills the
//! host. A file cut short almost always loses its section header table, which
//! linkers put last, so checking that and every segment against the file's
//! length refuses half-written copies before they are mapped.

/// Why a file is not a complete ELF shared object for this machine.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    /// No ELF magic.
    #[error("not a shared library (no ELF header)")]
    NotElf,
    /// 32-bit, big-endian or another architecture.
    #[error("built for another platform ({0})")]
    WrongPlatform(&'static str),
    /// An executable or object file rather than a shared object.
    #[error("not a shared library (ELF type {0})")]
    NotShared(u16),
    /// Part of the file is missing.
    #[error("truncated: {0} lies beyond the end of the file ({1} bytes)")]
    Truncated(&'static str, usize),
}

const ET_DYN: u16 = 3;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;

#[cfg(target_arch = "x86_64")]
const MACHINE: u16 = 62;
#[cfg(target_arch = "aarch64")]
const MACHINE: u16 = 183;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn within(len: usize, offset: u64, size: u64) -> bool {
    offset
        .checked_add(size)
        .is_some_and(|end| end <= len as u64)
}

/// Checks that `bytes` is a whole 64-bit little-endian shared object for this
/// architecture, with its headers and every loaded segment inside the file.
pub fn check(bytes: &[u8]) -> Result<(), ElfError> {
    let len = bytes.len();
    if !bytes.starts_with(b"\x7fELF") {
        return Err(ElfError::NotElf);
    }
    let truncated = |what| ElfError::Truncated(what, len);
    let header =
        |at, f: fn(&[u8], usize) -> Option<u64>| f(bytes, at).ok_or(truncated("the ELF header"));
    if bytes.get(4) != Some(&2) {
        return Err(ElfError::WrongPlatform("not 64-bit"));
    }
    if bytes.get(5) != Some(&1) {
        return Err(ElfError::WrongPlatform("not little-endian"));
    }
    let e_type = u16_at(bytes, 16).ok_or(truncated("the ELF header"))?;
    if e_type != ET_DYN {
        return Err(ElfError::NotShared(e_type));
    }
    if u16_at(bytes, 18).ok_or(truncated("the ELF header"))? != MACHINE {
        return Err(ElfError::WrongPlatform("another CPU architecture"));
    }
    let phoff = header(32, u64_at)?;
    let shoff = header(40, u64_at)?;
    let read16 = |at| {
        u16_at(bytes, at)
            .map(u64::from)
            .ok_or(truncated("the ELF header"))
    };
    let (phentsize, phnum) = (read16(54)?, read16(56)?);
    let (shentsize, shnum) = (read16(58)?, read16(60)?);

    if !within(len, phoff, phentsize * phnum) {
        return Err(truncated("the program header table"));
    }
    if shoff != 0 && !within(len, shoff, shentsize * shnum) {
        return Err(truncated("the section header table"));
    }
    for i in 0..phnum {
        let at =
            usize::try_from(phoff + i * phentsize).map_err(|_| truncated("a program header"))?;
        let p_type = u32_at(bytes, at).ok_or(truncated("a program header"))?;
        if p_type != PT_LOAD && p_type != PT_DYNAMIC {
            continue;
        }
        let offset = u64_at(bytes, at + 8).ok_or(truncated("a program header"))?;
        let filesz = u64_at(bytes, at + 32).ok_or(truncated("a program header"))?;
        if !within(len, offset, filesz) {
            return Err(truncated("a loadable segment"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn this_test_binary() -> Vec<u8> {
        // Test binaries are PIE executables (ET_DYN) for this architecture,
        // a convenient real ELF file to cut up.
        std::fs::read(std::env::current_exe().expect("exe")).expect("read")
    }

    #[test]
    fn whole_files_pass_and_any_cut_fails() {
        let whole = this_test_binary();
        if check(&whole) == Err(ElfError::NotShared(2)) {
            return; // a non-PIE toolchain: nothing to check against
        }
        assert_eq!(check(&whole), Ok(()));
        for cut in [
            0,
            3,
            63,
            64,
            4096,
            whole.len() / 3,
            whole.len() / 2,
            whole.len() - 1,
        ] {
            assert!(check(&whole[..cut]).is_err(), "cut at {cut} passed");
        }
        assert_eq!(check(b"hello world"), Err(ElfError::NotElf));
    }
}
