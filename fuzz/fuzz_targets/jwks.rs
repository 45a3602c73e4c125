#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tokenlife_model::check_jwks(data);
});
