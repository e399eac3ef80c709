//! Fuzz target `grant`: see [`source_auth_fuzz::grant`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| source_auth_fuzz::grant(data));
