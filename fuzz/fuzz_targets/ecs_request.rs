#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vault::fuzzing::ecs_request(data));
