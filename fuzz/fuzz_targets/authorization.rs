//! Fuzz target `authorization`: see [`source_auth_fuzz::authorization`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| source_auth_fuzz::authorization(data));
