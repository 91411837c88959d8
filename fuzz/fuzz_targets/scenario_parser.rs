//! Any bytes as a scenario file: parsing and building give a result or an `InputError`, never a panic.
//! The logic is `drsim::fuzzing::scenario_bytes`, which the corpus test also runs on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    drsim::fuzzing::scenario_bytes(data);
});
