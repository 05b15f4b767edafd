//! Fuzz target: any bytes through the RADIUS codec (decode, re-encode, password unhiding,
//! Message-Authenticator and Response Authenticator checks, signing). It must never panic, and
//! the invariants asserted by `latchkey_radius::fuzz_check` must hold.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = latchkey_radius::fuzz_check(data);
});
