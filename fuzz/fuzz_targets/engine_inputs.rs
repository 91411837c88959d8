//! Any bytes as an estate and a sequence of engine inputs: no panic, only transitions the lifecycle
//! allows, outputs drained after every step. The decoding and the checks are
//! `drsim::fuzzing::engine_inputs`, which the corpus test also runs on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    drsim::fuzzing::engine_inputs(data);
});
