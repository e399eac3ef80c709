//! Fuzz target `credentials`: see [`source_auth_fuzz::credentials`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| source_auth_fuzz::credentials(data));
