//! Timing of OAD generation (server) and verification (host), and the raw guessing rates the
//! threat model in `docs/design/offline.md` is built on. Plain `Instant` timing, no harness:
//!
//! ```text
//! cargo bench -p latchkey-offline --bench oad
//! ```
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};

use latchkey_crypto::otp::{OtpAlgorithm, totp};
use latchkey_crypto::password_hash;
use latchkey_offline::{
    BuildRequest, EacSource, EmergencySource, KdfParams, TokenSource, UserState, build, open,
    verifying_key,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const KEY: [u8; 32] = [7u8; 32];
const SEED: &[u8] = b"12345678901234567890";
const T0: i64 = 1_800_000_000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn time<T>(n: usize, mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..n)
            .map(|_| {
                let s = Instant::now();
                std::hint::black_box(f());
                s.elapsed()
            })
            .collect(),
    )
}

fn request(kdf: KdfParams, phc: &str, period: u32) -> BuildRequest<'_> {
    BuildRequest {
        host_id: "host-1",
        user: "alice",
        generated_at: T0,
        days: 14,
        refresh_below_days: 7,
        policy_fingerprint: [0; 32],
        failures_before_online_required: 5,
        failures_before_wipe: 10,
        kdf,
        tokens: vec![TokenSource {
            serial: "000123",
            seed: SEED,
            pin: "4711",
            digits: 6,
            period,
            algorithm: OtpAlgorithm::Sha1,
            drift: 0,
            emergency_tokencode: Some(EmergencySource {
                generation: 1,
                expires_at: T0 + 30 * 86_400,
                value: "EmergTok3kQz",
            }),
        }],
        emergency_passcode: Some(EmergencySource {
            generation: 1,
            expires_at: T0 + 30 * 86_400,
            value: "EmergPass7Xy",
        }),
        eac: Some(EacSource {
            id: "e1",
            one_time: true,
            offline_expires_at: T0 + 86_400,
            phc,
        }),
    }
}

fn main() {
    let mut rng = StdRng::seed_from_u64(1);
    let phc = password_hash(&mut rng, b"AccessCode9").unwrap();
    // The default first; a costlier setting for comparison.
    let candidates = [
        KdfParams::DEFAULT,
        KdfParams {
            m_kib: 32 * 1024,
            t: 2,
            p: 1,
        },
    ];
    for kdf in candidates {
        let one = time(5, || {
            argon2::Argon2::new(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, Some(32)).unwrap(),
            )
            .hash_password_into(b"4711", &[1u8; 16], &mut [0u8; 32])
            .unwrap();
        });
        println!(
            "argon2id m={} KiB t={} p={}: {:.1} ms per derivation ({:.1} guesses/s on one core)",
            kdf.m_kib,
            kdf.t,
            kdf.p,
            one.as_secs_f64() * 1e3,
            1.0 / one.as_secs_f64()
        );
        for period in [60, 30] {
            let req = request(kdf, &phc, period);
            let gen_t = time(5, || build(&req, &KEY, &mut rng).unwrap());
            let blob = build(&req, &KEY, &mut rng).unwrap();
            let open_t = time(5, || open(&blob, &verifying_key(&KEY), "host-1").unwrap());
            let oad = open(&blob, &verifying_key(&KEY), "host-1").unwrap();
            let now = T0 + 5 * 86_400;
            let good = format!(
                "4711{}",
                totp(SEED, now, period, 6, OtpAlgorithm::Sha1).unwrap()
            );
            let ok_t = time(5, || oad.verify(&good, now, &mut UserState::default()));
            // Worst case: a wrong passcode of the emergency passcode's length, so every
            // verifier (PIN key, emergency passcode, emergency tokencode, EAC) is tried.
            let bad_t = time(5, || {
                oad.verify("4711000000zz", now, &mut UserState::default())
            });
            println!(
                "  {period:>2} s steps, 14 days: blob {} bytes; generate {:.1} ms; open {:.2} ms; \
                 verify good tokencode {:.1} ms; verify wrong passcode (worst case) {:.1} ms",
                blob.len(),
                gen_t.as_secs_f64() * 1e3,
                open_t.as_secs_f64() * 1e3,
                ok_t.as_secs_f64() * 1e3,
                bad_t.as_secs_f64() * 1e3,
            );
        }
    }
    // Cost of checking one tokencode guess against one step once K is known (the step after
    // a PIN guess): HMAC-SHA256 over ~30 bytes.
    let n = 200_000u32;
    let t = Instant::now();
    for i in 0..n {
        let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&[3u8; 32]).unwrap();
        m.update(b"latchkey-oad-step\0");
        m.update(&i64::from(i).to_be_bytes());
        m.update(b"123456");
        std::hint::black_box(m.finalize());
    }
    println!(
        "hmac-sha256 step check: {:.2} M/s on one core",
        f64::from(n) / t.elapsed().as_secs_f64() / 1e6
    );
    let t = Instant::now();
    let k = 20;
    for _ in 0..k {
        std::hint::black_box(latchkey_crypto::password_verify(b"wrong", &phc));
    }
    println!(
        "EAC PHC verify (library default argon2id m=19456 t=2): {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3 / f64::from(k)
    );
}
