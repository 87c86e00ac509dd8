//! The template plugin's reading of whatever its vendor answers.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| phonehook_fuzz::vendors::vendor_reply(
    "reply_template",
    data
));
