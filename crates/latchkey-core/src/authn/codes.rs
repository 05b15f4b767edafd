//! Matching a typed code against a token: clock-drift windows, HOTP look-ahead, replay.
//!
//! Pure functions of (token, seed, code, now): no storage. Every candidate is compared in
//! constant time and the whole window is always scanned, so the time taken does not depend
//! on where (or whether) the code matched.

use latchkey_crypto::otp::{hotp, totp_step};
use latchkey_crypto::secret::ct_eq;
use latchkey_proto::admin::TokenType;

use crate::model::Token;

/// Normal window: ±1 TOTP step around the drift-corrected step, 10 HOTP counters ahead.
pub const TOTP_WINDOW: i64 = 1;
/// Re-synchronisation window: ±10 TOTP steps.
pub const TOTP_WIDE_WINDOW: i64 = 10;
/// Offsets up to this many steps outside the normal window are refused outright instead of
/// starting a re-synchronisation: a code one step beyond the window is far more likely a
/// stale code typed late than a drifted clock (drift is re-learned at every success, so only
/// a token unused for months drifts further than a step, and then by more than two).
pub const TOTP_NO_RESYNC: i64 = 2;
/// HOTP look-ahead in normal use.
pub const HOTP_LOOKAHEAD: i64 = 10;
/// HOTP look-ahead when re-synchronising.
pub const HOTP_WIDE_LOOKAHEAD: i64 = 100;

/// What a code is for this token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeMatch {
    /// Valid in the normal window, not used before: `step` (TOTP step or HOTP counter) and
    /// the drift it implies.
    Fresh {
        /// Matched step or counter.
        step: i64,
        /// New drift (TOTP: matched step minus the clock's step).
        drift: i64,
    },
    /// Valid only in the wide window: the token has drifted and must be re-synchronised.
    Drifted {
        /// Matched step or counter.
        step: i64,
        /// Drift it implies.
        drift: i64,
    },
    /// The code of a step at or below the last accepted one: a replay.
    Reused,
    /// Not a code of this token near now.
    NoMatch,
}

/// The token's own step at `now` (TOTP), before drift correction.
pub fn clock_step(token: &Token, now: i64) -> i64 {
    i64::try_from(totp_step(now, token.period)).unwrap_or(i64::MAX)
}

fn code_at(token: &Token, seed: &[u8], step: i64) -> Option<String> {
    let counter = u64::try_from(step).ok()?;
    let digits = token.digits;
    match token.token_type {
        TokenType::Totp | TokenType::Hotp => hotp(seed, counter, digits, token.algorithm).ok(),
    }
}

/// Classifies `code` for `token` at `now`. `wide` also searches the re-synchronisation window.
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
            // Look back as far as ahead, only to recognise replays of used counters.
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
            // Scan everything; keep the match nearest the centre.
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
    if last.is_some_and(|l| step <= l) || (token.token_type == TokenType::Hotp && step < center) {
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

/// Refuses to start a re-synchronisation from a TOTP code only [`TOTP_NO_RESYNC`] steps
/// outside the normal window (see there); other matches pass unchanged.
pub fn may_start_resync(token: &Token, m: CodeMatch) -> CodeMatch {
    match m {
        CodeMatch::Drifted { drift, .. }
            if token.token_type == TokenType::Totp
                && (drift - token.drift).abs() <= TOTP_NO_RESYNC =>
        {
            CodeMatch::NoMatch
        }
        other => other,
    }
}

/// Splits a passcode into (PIN, tokencode) for a token with `digits` digits.
pub fn split_passcode(passcode: &str, digits: u32) -> Option<(&str, &str)> {
    let digits = usize::try_from(digits).ok()?;
    let at = passcode.len().checked_sub(digits)?;
    let (pin, code) = passcode.split_at_checked(at)?;
    code.bytes()
        .all(|b| b.is_ascii_digit())
        .then_some((pin, code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DomainId, TokenId};
    use latchkey_crypto::otp::{OtpAlgorithm, totp};

    const SEED: &[u8] = b"12345678901234567890";

    fn token(kind: TokenType) -> Token {
        Token {
            id: TokenId(1),
            serial: "T".into(),
            token_type: kind,
            algorithm: OtpAlgorithm::Sha1,
            digits: 6,
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

    fn code(t: i64) -> String {
        totp(SEED, t, 30, 6, OtpAlgorithm::Sha1).unwrap()
    }

    #[test]
    fn totp_window_replay_and_drift() {
        let now = 1_700_000_000;
        let mut t = token(TokenType::Totp);
        let step = now / 30;
        assert_eq!(
            classify(&t, SEED, &code(now), now, false),
            CodeMatch::Fresh { step, drift: 0 }
        );
        assert_eq!(
            classify(&t, SEED, &code(now - 30), now, false),
            CodeMatch::Fresh {
                step: step - 1,
                drift: -1
            }
        );
        assert_eq!(
            classify(&t, SEED, &code(now - 60), now, false),
            CodeMatch::NoMatch
        );
        assert_eq!(
            classify(&t, SEED, &code(now - 150), now, true),
            CodeMatch::Drifted {
                step: step - 5,
                drift: -5
            }
        );
        t.last_used = Some(step);
        assert_eq!(
            classify(&t, SEED, &code(now), now, false),
            CodeMatch::Reused
        );
        assert_eq!(
            classify(&t, SEED, &code(now - 30), now, false),
            CodeMatch::Reused
        );
        assert_eq!(
            classify(&t, SEED, &code(now + 30), now, false),
            CodeMatch::Fresh {
                step: step + 1,
                drift: 1
            }
        );
        // A learned drift moves the window.
        t.last_used = None;
        t.drift = -5;
        assert_eq!(
            classify(&t, SEED, &code(now - 150), now, false),
            CodeMatch::Fresh {
                step: step - 5,
                drift: -5
            }
        );
    }

    #[test]
    fn hotp_lookahead_and_replay() {
        let mut t = token(TokenType::Hotp);
        let c = |n| hotp(SEED, n, 6, OtpAlgorithm::Sha1).unwrap();
        t.counter = 5;
        t.last_used = Some(4);
        assert_eq!(
            classify(&t, SEED, &c(5), 0, false),
            CodeMatch::Fresh { step: 5, drift: 0 }
        );
        assert_eq!(
            classify(&t, SEED, &c(14), 0, false),
            CodeMatch::Fresh { step: 14, drift: 0 }
        );
        assert_eq!(classify(&t, SEED, &c(40), 0, false), CodeMatch::NoMatch);
        assert_eq!(
            classify(&t, SEED, &c(40), 0, true),
            CodeMatch::Drifted { step: 40, drift: 0 }
        );
        assert_eq!(classify(&t, SEED, &c(4), 0, false), CodeMatch::Reused);
    }

    #[test]
    fn passcodes_split_at_the_tokencode() {
        assert_eq!(split_passcode("1234987654", 6), Some(("1234", "987654")));
        assert_eq!(split_passcode("987654", 6), Some(("", "987654")));
        assert_eq!(split_passcode("98765", 6), None);
        assert_eq!(split_passcode("1234abcdef", 6), None);
        assert_eq!(split_passcode("ünï987654", 6), Some(("ünï", "987654")));
    }
}
