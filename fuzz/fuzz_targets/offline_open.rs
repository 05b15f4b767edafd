//! Fuzz target: any bytes through the offline data opener (`latchkey_offline::fuzz_check`):
//! as a whole envelope under a fixed server key, and as a payload signed with that key so the
//! payload parser and the verifier behind the signature check are reached. It must never
//! panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = latchkey_offline::fuzz_check(data);
});
