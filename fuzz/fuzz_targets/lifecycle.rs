#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tokenlife_fuzz::checks::check_lifecycle(data);
});
