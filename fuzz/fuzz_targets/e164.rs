//! E.164 normalization of whatever a caller wrote.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| phonehook_fuzz::host_checks::e164(data));
