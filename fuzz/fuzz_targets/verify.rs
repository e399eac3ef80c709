//! Fuzz target `verify`: see [`source_auth_fuzz::verify`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| source_auth_fuzz::verify(data));
