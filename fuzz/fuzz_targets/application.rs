//! Fuzz target `application`: see [`source_auth_fuzz::application`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| source_auth_fuzz::application(data));
