//! The Auth0 hook and Actions payload parsers and validation.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| phonehook_fuzz::host_checks::hook_payload(data));
