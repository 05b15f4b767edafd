//! Cost of classifying one typed code (`authn::codes::classify`), the largest user-space cost
//! of a successful authentication, against the string-based implementation it replaced:
//!
//! ```text
//! cargo bench -p latchkey-core --bench classify -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! `old` is a verbatim copy of the former `classify` and `hotp` (an HMAC keyed per counter, the
//! MAC in a `Vec`, a `String` per candidate, strings compared); before timing anything the
//! bench checks that both give the same answer over a sweep of tokens and codes.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_core::authn::codes::{
    CodeMatch, HOTP_LOOKAHEAD, HOTP_WIDE_LOOKAHEAD, TOTP_WIDE_WINDOW, TOTP_WINDOW, classify,
    classify_exhaustive, clock_step,
};
use latchkey_core::ids::{DomainId, TokenId};
use latchkey_core::model::Token;
use latchkey_crypto::otp::{OtpAlgorithm, OtpKey};
use latchkey_proto::admin::TokenType;

const SEED: &[u8] = b"12345678901234567890";
const NOW: i64 = 1_700_000_000;

/// The former implementation, kept here only to measure against.
mod old {
    use hmac::{Hmac, Mac};
    use latchkey_crypto::CryptoError;
    use latchkey_crypto::otp::OtpAlgorithm;
    use latchkey_crypto::secret::ct_eq;
    use latchkey_proto::admin::TokenType;
    use sha1::Sha1;
    use sha2::{Sha256, Sha512};

    use super::{
        CodeMatch, HOTP_LOOKAHEAD, HOTP_WIDE_LOOKAHEAD, TOTP_WIDE_WINDOW, TOTP_WINDOW, Token,
        clock_step,
    };

    fn hmac_bytes(alg: OtpAlgorithm, key: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let err = |_| CryptoError::InvalidSecret("HMAC rejected the secret");
        Ok(match alg {
            OtpAlgorithm::Sha1 => {
                let mut m = <Hmac<Sha1> as Mac>::new_from_slice(key).map_err(err)?;
                m.update(msg);
                m.finalize().into_bytes().to_vec()
            }
            OtpAlgorithm::Sha256 => {
                let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(err)?;
                m.update(msg);
                m.finalize().into_bytes().to_vec()
            }
            OtpAlgorithm::Sha512 => {
                let mut m = <Hmac<Sha512> as Mac>::new_from_slice(key).map_err(err)?;
                m.update(msg);
                m.finalize().into_bytes().to_vec()
            }
        })
    }

    fn hotp(
        secret: &[u8],
        counter: u64,
        digits: u32,
        alg: OtpAlgorithm,
    ) -> Result<String, CryptoError> {
        if !(6..=8).contains(&digits) {
            return Err(CryptoError::InvalidParameter(
                "OTP digits must be 6, 7 or 8",
            ));
        }
        if secret.is_empty() {
            return Err(CryptoError::InvalidSecret("OTP secret is empty"));
        }
        let mac = zeroize::Zeroizing::new(hmac_bytes(alg, secret, &counter.to_be_bytes())?);
        let broken = || CryptoError::InvalidParameter("HMAC output too short");
        let offset = usize::from(mac.last().ok_or_else(broken)? & 0x0f);
        let window = mac
            .get(offset..offset + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .ok_or_else(broken)?;
        let bin = u32::from_be_bytes(window) & 0x7fff_ffff;
        let code = bin % 10u32.pow(digits);
        let width = usize::try_from(digits).map_err(|_| broken())?;
        Ok(format!("{code:0width$}"))
    }

    fn code_at(token: &Token, seed: &[u8], step: i64) -> Option<String> {
        let counter = u64::try_from(step).ok()?;
        let digits = token.digits;
        match token.token_type {
            TokenType::Totp | TokenType::Hotp => hotp(seed, counter, digits, token.algorithm).ok(),
        }
    }

    #[allow(clippy::collapsible_if)] // verbatim
    pub fn classify(token: &Token, seed: &[u8], code: &str, now: i64, wide: bool) -> CodeMatch {
        let last = token.last_used;
        let (center, lo_normal, hi_normal, lo, hi, base) = match token.token_type {
            TokenType::Totp => {
                let base = clock_step(token, now);
                let center = base.saturating_add(token.drift);
                let w = if wide { TOTP_WIDE_WINDOW } else { TOTP_WINDOW };
                (
                    center,
                    center - TOTP_WINDOW,
                    center + TOTP_WINDOW,
                    center - w,
                    center + w,
                    base,
                )
            }
            TokenType::Hotp => {
                let next = i64::try_from(token.counter).unwrap_or(i64::MAX);
                let ahead = if wide {
                    HOTP_WIDE_LOOKAHEAD
                } else {
                    HOTP_LOOKAHEAD
                };
                (
                    next,
                    next,
                    next + HOTP_LOOKAHEAD - 1,
                    next - HOTP_LOOKAHEAD,
                    next + ahead - 1,
                    0,
                )
            }
        };
        let mut found: Option<i64> = None;
        for step in lo.max(0)..=hi {
            if let Some(expected) = code_at(token, seed, step) {
                if ct_eq(expected.as_bytes(), code.as_bytes())
                    && found.is_none_or(|f| (step - center).abs() < (f - center).abs())
                {
                    found = Some(step);
                }
            }
        }
        let Some(step) = found else {
            return CodeMatch::NoMatch;
        };
        if last.is_some_and(|l| step <= l) || (token.token_type == TokenType::Hotp && step < center)
        {
            return CodeMatch::Reused;
        }
        let drift = match token.token_type {
            TokenType::Totp => step - base,
            TokenType::Hotp => 0,
        };
        if (lo_normal..=hi_normal).contains(&step) {
            CodeMatch::Fresh { step, drift }
        } else {
            CodeMatch::Drifted { step, drift }
        }
    }
}

fn token(kind: TokenType, alg: OtpAlgorithm, digits: u32) -> Token {
    Token {
        id: TokenId(1),
        serial: "BENCH".into(),
        token_type: kind,
        algorithm: alg,
        digits,
        period: 30,
        counter: 0,
        seed_sealed: vec![],
        domain_id: DomainId(1),
        user_id: None,
        enabled: true,
        pin_verifier: None,
        new_pin_required: false,
        last_used: None,
        drift: 0,
        created_at: 0,
    }
}

fn hotp_token() -> Token {
    let mut t = token(TokenType::Hotp, OtpAlgorithm::Sha1, 6);
    t.counter = 1000;
    t.last_used = Some(999);
    t
}

fn totp_token() -> Token {
    let mut t = token(TokenType::Totp, OtpAlgorithm::Sha1, 6);
    t.last_used = Some(clock_step(&t, NOW) - 2);
    t
}

/// The code of `step` as a token shows it.
fn shown(key: &OtpKey, step: i64) -> String {
    let width = usize::try_from(key.digits()).unwrap();
    format!("{:0width$}", key.code(u64::try_from(step).unwrap()))
}

/// A code no step in `steps` has, so it is wrong for every window within them.
fn wrong_code(key: &OtpKey, steps: std::ops::RangeInclusive<i64>) -> String {
    let taken: std::collections::HashSet<u32> =
        steps.map(|s| key.code(u64::try_from(s).unwrap())).collect();
    let value = (0..1_000_000).find(|v| !taken.contains(v)).unwrap();
    let width = usize::try_from(key.digits()).unwrap();
    format!("{value:0width$}")
}

/// Panics unless the old and the new `classify` agree over a sweep of tokens and codes,
/// including seeds whose codes collide inside a window (nearest-to-centre choice).
fn check_same_answers() {
    let seeds: [&[u8]; 5] = [
        SEED,
        b"collide-1135",
        b"collide-1424",
        b"collide-1584",
        b"collide-1674",
    ];
    let mut checked = 0usize;
    for seed in seeds {
        for (kind, digits, alg) in [
            (TokenType::Hotp, 6, OtpAlgorithm::Sha1),
            (TokenType::Totp, 6, OtpAlgorithm::Sha1),
            (TokenType::Totp, 8, OtpAlgorithm::Sha256),
        ] {
            let key = OtpKey::new(seed, alg, digits).unwrap();
            for (center, drift, last) in [
                (5, 0, None),
                (34, 0, Some(33)),
                (41, -2, Some(20)),
                (60, 3, Some(62)),
                (84, -1, None),
            ] {
                let mut t = token(kind, alg, digits);
                t.drift = drift;
                t.last_used = last;
                let now = match kind {
                    TokenType::Hotp => {
                        t.counter = u64::try_from(center).unwrap();
                        0
                    }
                    TokenType::Totp => center * 30 + 7,
                };
                let mut codes: Vec<String> = (0..=center + 110).map(|s| shown(&key, s)).collect();
                codes.extend(["", "12345", "1234567", "12345a"].map(String::from));
                codes.push(wrong_code(&key, 0..=center + 110));
                for code in &codes {
                    for wide in [false, true] {
                        let want = old::classify(&t, seed, code, now, wide);
                        assert_eq!(classify(&t, seed, code, now, wide), want, "{t:?} {code}");
                        if wide {
                            assert_eq!(classify_exhaustive(&t, seed, code, now), want);
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 10_000);
}

fn benches(c: &mut Criterion) {
    check_same_answers();

    let key = OtpKey::new(SEED, OtpAlgorithm::Sha1, 6).unwrap();
    let hotp_t = hotp_token();
    let totp_t = totp_token();
    let step = clock_step(&totp_t, NOW);
    let cases = [
        ("hotp_fresh_wide", &hotp_t, shown(&key, 1003), 0),
        ("hotp_wrong_wide", &hotp_t, wrong_code(&key, 0..=1200), 0),
        ("totp_fresh_wide", &totp_t, shown(&key, step), NOW),
        (
            "totp_wrong_wide",
            &totp_t,
            wrong_code(&key, step - 20..=step + 20),
            NOW,
        ),
    ];
    for (name, t, code, now) in &cases {
        let mut group = c.benchmark_group(*name);
        let want = old::classify(t, SEED, code, *now, true);
        assert_eq!(classify(t, SEED, code, *now, true), want);
        assert_eq!(
            matches!(want, CodeMatch::Fresh { .. }),
            name.contains("fresh")
        );
        group.bench_function("old", |b| {
            b.iter(|| {
                old::classify(
                    black_box(t),
                    black_box(SEED),
                    black_box(code),
                    black_box(*now),
                    true,
                )
            });
        });
        group.bench_function("new", |b| {
            b.iter(|| {
                classify(
                    black_box(t),
                    black_box(SEED),
                    black_box(code),
                    black_box(*now),
                    true,
                )
            });
        });
        // What a token whose PIN did not match costs (`best_match`): never the short path.
        group.bench_function("new_exhaustive", |b| {
            b.iter(|| {
                classify_exhaustive(
                    black_box(t),
                    black_box(SEED),
                    black_box(code),
                    black_box(*now),
                )
            });
        });
        group.finish();
    }
}

criterion_group!(classify_benches, benches);
criterion_main!(classify_benches);
