//! Matching a typed code against a token: clock-drift windows, HOTP look-ahead, replay.
//!
//! Pure functions of (token, seed, code, now): no storage. The seed is keyed once per
//! classification ([`OtpKey`]) and every candidate code is compared as an integer in constant
//! time; the choice of the match nearest the centre is made with constant-time selects, so
//! within a window the time taken does not depend on where (or whether) the code matched.
//!
//! # Windows and what their timing shows
//!
//! The normal window (TOTP ±[`TOTP_WINDOW`], HOTP [`HOTP_LOOKAHEAD`] ahead, plus as many
//! counters back to recognise replays) is always scanned completely. The re-synchronisation
//! window (TOTP ±[`TOTP_WIDE_WINDOW`], HOTP [`HOTP_WIDE_LOOKAHEAD`] ahead) is scanned, also
//! completely, when the caller asks for it and the normal window gave no fresh match: every
//! normal-window step is nearer the centre than every step only the wide window holds, so
//! the wide window could not change a fresh answer, and scanning it would only cost time.
//!
//! That short path is faster, so its timing tells that the code was fresh. The passcode path
//! (`best_match`) asks for it only for a token whose PIN matched and scans every other token
//! with [`classify_exhaustive`], so only a right PIN with a fresh code is answered faster.
//! That answer is SUCCESS or a challenge, which says as much in its body — except where a
//! right PIN and a fresh code are still refused (the token's emergency access denies it, or
//! another request used the code first): there the engine adds [`decoy_scan`]'s cost before
//! answering FAIL. Every full scan costs [`FULL_SCAN_CODES`] codes whatever the token type
//! (a TOTP scan is padded), so a wrong PIN, a wrong code, a replay, a drifted code and an
//! unknown user cost the same scan. Callers that ask for the normal window only (cloud
//! authenticator, next passcode) have no short path; the one other wide caller, the answer
//! to a re-synchronisation's next-tokencode challenge, is reached only after a right PIN, and
//! the short path there says only that the code typed is one the token shows now.
//!
//! What the scan does not equalise (docs/design/authentication.md): the cost of an HMAC
//! differs by algorithm (SHA-256 and SHA-512 tokens cost more per code than the SHA-1 decoy),
//! and a replayed code with a right PIN skips the emergency-credential lookups a wrong code
//! makes.

use std::ops::RangeInclusive;

use latchkey_crypto::otp::{OtpAlgorithm, OtpKey, totp_step};
use latchkey_proto::admin::TokenType;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, ConstantTimeLess};

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
/// Codes every full scan computes: an HOTP token's look-back and re-synchronisation
/// look-ahead; a TOTP scan (±10 steps) is padded to it.
#[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)] // 110
pub const FULL_SCAN_CODES: usize = (HOTP_LOOKAHEAD + HOTP_WIDE_LOOKAHEAD) as usize;

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

/// How much of the windows a classification scans.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// The normal window only.
    Normal,
    /// The normal window, then the wide one unless the normal window gave a fresh match.
    Wide,
    /// Both windows completely, whatever the normal window gave.
    Exhaustive,
}

/// Classifies `code` for `token` at `now`. `wide` also searches the re-synchronisation window
/// when the normal window holds no fresh match (see the module documentation).
pub fn classify(token: &Token, seed: &[u8], code: &str, now: i64, wide: bool) -> CodeMatch {
    classify_in(
        token,
        seed,
        code,
        now,
        if wide { Scan::Wide } else { Scan::Normal },
    )
}

/// [`classify`] with `wide`, scanning the re-synchronisation window even after a fresh match,
/// so the time taken does not tell a fresh code from a wrong one. For a token whose PIN did
/// not match: its answer is not used, only its cost. The result equals `classify`'s.
pub fn classify_exhaustive(token: &Token, seed: &[u8], code: &str, now: i64) -> CodeMatch {
    classify_in(token, seed, code, now, Scan::Exhaustive)
}

/// Fixed seed of [`decoy_scan`]: any non-empty value works, none is secret.
const DECOY_SEED: &[u8] = b"latchkey decoy seed, not a secret";

/// Does the work of [`classify_exhaustive`] on `code` for a 6-digit HMAC-SHA1 HOTP token
/// with a fixed seed, for an answer that must cost what a known user's failure costs (an
/// unknown user).
pub fn decoy_scan(code: &str) {
    let Ok(key) = OtpKey::new(DECOY_SEED, OtpAlgorithm::Sha1, 6) else {
        return;
    };
    // A token past its first look-back window: all 110 counters are scanned, as for any
    // token in use.
    let windows = Windows::hotp(HOTP_LOOKAHEAD);
    let mut nearest = Nearest::new(&key, code, windows.center);
    nearest.scan(windows.first);
    for range in windows.wide {
        nearest.scan(range);
    }
    nearest.pad();
    // Keep the result observable so the optimiser cannot drop the work.
    std::hint::black_box(nearest.step());
}

/// The steps a classification of one token looks at.
struct Windows {
    /// Where the code is expected; of several matches the nearest to it wins.
    center: i64,
    /// The clock's own step, which TOTP drift is measured from (0 for HOTP).
    base: i64,
    /// Steps whose code is fresh rather than drifted.
    normal: RangeInclusive<i64>,
    /// Always scanned: the normal window, for HOTP with the look-back for replays.
    first: RangeInclusive<i64>,
    /// The re-synchronisation window outside `first`: below it and above it.
    wide: [RangeInclusive<i64>; 2],
}

impl Windows {
    fn of(token: &Token, now: i64) -> Self {
        match token.token_type {
            TokenType::Totp => {
                let base = clock_step(token, now);
                let c = base.saturating_add(token.drift);
                let (w, ww) = (TOTP_WINDOW, TOTP_WIDE_WINDOW);
                Self {
                    center: c,
                    base,
                    normal: c.saturating_sub(w)..=c.saturating_add(w),
                    first: c.saturating_sub(w)..=c.saturating_add(w),
                    wide: [
                        c.saturating_sub(ww)..=c.saturating_sub(w + 1),
                        c.saturating_add(w + 1)..=c.saturating_add(ww),
                    ],
                }
            }
            TokenType::Hotp => Self::hotp(i64::try_from(token.counter).unwrap_or(i64::MAX)),
        }
    }

    /// HOTP with `next` the next unused counter.
    fn hotp(next: i64) -> Self {
        let last_normal = next.saturating_add(HOTP_LOOKAHEAD - 1);
        Self {
            center: next,
            base: 0,
            normal: next..=last_normal,
            // Look back as far as ahead, only to recognise replays of used counters.
            first: next.saturating_sub(HOTP_LOOKAHEAD)..=last_normal,
            #[allow(clippy::reversed_empty_ranges)] // nothing below the look-back: by design
            wide: [
                1..=0,
                last_normal.saturating_add(1)..=next.saturating_add(HOTP_WIDE_LOOKAHEAD - 1),
            ],
        }
    }
}

/// A running scan for the matching step nearest the centre, in constant time per candidate.
struct Nearest<'k> {
    key: &'k OtpKey,
    /// The typed code, or a value no code has when it is not a code of this length.
    typed: u32,
    center: i64,
    /// The best match so far (meaningful when `found`).
    step: i64,
    found: Choice,
    /// Codes computed so far.
    computed: usize,
}

impl<'k> Nearest<'k> {
    fn new(key: &'k OtpKey, code: &str, center: i64) -> Self {
        // Codes are below 10^8, so u32::MAX never matches; the scan still runs in full, so a
        // malformed code costs what a wrong one does.
        let typed = key.parse_code(code).unwrap_or(u32::MAX);
        Self {
            key,
            typed,
            center,
            step: 0,
            found: Choice::from(0),
            computed: 0,
        }
    }

    /// Computes codes nobody compares until [`FULL_SCAN_CODES`] were computed in all.
    fn pad(&mut self) {
        let mut sink = 0_u32;
        for counter in self.computed..FULL_SCAN_CODES {
            sink ^= self.key.code(u64::try_from(counter).unwrap_or(u64::MAX));
        }
        self.computed = self.computed.max(FULL_SCAN_CODES);
        std::hint::black_box(sink);
    }

    /// Compares the code of every step in `steps` (negative steps have none).
    fn scan(&mut self, steps: RangeInclusive<i64>) {
        let (lo, hi) = steps.into_inner();
        for step in lo.max(0)..=hi {
            let Ok(counter) = u64::try_from(step) else {
                continue;
            };
            let hit = self.key.code(counter).ct_eq(&self.typed);
            self.computed += 1;
            // Nearer the centre wins; of two as near, the lower step (what one ascending scan
            // over everything keeps), whatever order the windows are scanned in.
            let (d_new, d_old) = (step.abs_diff(self.center), self.step.abs_diff(self.center));
            let nearer = d_new.ct_lt(&d_old)
                | (d_new.ct_eq(&d_old) & step.cast_unsigned().ct_lt(&self.step.cast_unsigned()));
            let take = hit & (!self.found | nearer);
            self.step = i64::conditional_select(&self.step, &step, take);
            self.found |= take;
        }
    }

    fn step(&self) -> Option<i64> {
        bool::from(self.found).then_some(self.step)
    }
}

fn classify_in(token: &Token, seed: &[u8], code: &str, now: i64, scan: Scan) -> CodeMatch {
    // A token whose digits or seed cannot make codes matches nothing (as `hotp` refusing).
    let Ok(key) = OtpKey::new(seed, token.algorithm, token.digits) else {
        return CodeMatch::NoMatch;
    };
    let windows = Windows::of(token, now);
    let mut nearest = Nearest::new(&key, code, windows.center);
    nearest.scan(windows.first.clone());
    let first = verdict(token, &windows, nearest.step());
    let fresh = matches!(first, CodeMatch::Fresh { .. });
    if scan == Scan::Normal || (scan == Scan::Wide && fresh) {
        return first;
    }
    let Windows {
        wide: [below, above],
        ..
    } = &windows;
    nearest.scan(below.clone());
    nearest.scan(above.clone());
    nearest.pad();
    verdict(token, &windows, nearest.step())
}

/// What the matched step `found` means for `token`.
fn verdict(token: &Token, windows: &Windows, found: Option<i64>) -> CodeMatch {
    let Some(step) = found else {
        return CodeMatch::NoMatch;
    };
    if token.last_used.is_some_and(|l| step <= l)
        || (token.token_type == TokenType::Hotp && step < windows.center)
    {
        return CodeMatch::Reused;
    }
    let drift = match token.token_type {
        TokenType::Totp => step.saturating_sub(windows.base),
        TokenType::Hotp => 0,
    };
    if windows.normal.contains(&step) {
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
    use latchkey_crypto::otp::{OtpAlgorithm, hotp, totp};

    const SEED: &[u8] = b"12345678901234567890";

    /// Every full scan computes the same number of codes, whatever the token type.
    #[test]
    fn full_scans_compute_the_same_number_of_codes() {
        let now = 1_700_000_000;
        for kind in [TokenType::Totp, TokenType::Hotp] {
            let mut t = token(kind);
            t.counter = 50;
            let key = OtpKey::new(SEED, OtpAlgorithm::Sha1, 6).unwrap();
            let w = Windows::of(&t, now);
            let mut n = Nearest::new(&key, "123456", w.center);
            n.scan(w.first.clone());
            for r in w.wide.clone() {
                n.scan(r);
            }
            let scanned = n.computed;
            n.pad();
            assert!(scanned <= FULL_SCAN_CODES, "{kind:?}: {scanned}");
            assert_eq!(n.computed, FULL_SCAN_CODES, "{kind:?}");
        }
        // An HOTP token past its first counters needs no padding at all.
        let mut t = token(TokenType::Hotp);
        t.counter = 50;
        let key = OtpKey::new(SEED, OtpAlgorithm::Sha1, 6).unwrap();
        let w = Windows::of(&t, now);
        let mut n = Nearest::new(&key, "123456", w.center);
        n.scan(w.first.clone());
        for r in w.wide.clone() {
            n.scan(r);
        }
        assert_eq!(n.computed, FULL_SCAN_CODES);
    }

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

    /// HOTP code of counter `n` for `seed` (6 digits, SHA-1).
    fn h(seed: &[u8], n: i64) -> String {
        hotp(seed, u64::try_from(n).unwrap(), 6, OtpAlgorithm::Sha1).unwrap()
    }

    /// Every window (wide or not, exhaustive or not) gives `want`.
    fn all_scans(t: &Token, seed: &[u8], code: &str, now: i64, want: CodeMatch) {
        assert_eq!(classify(t, seed, code, now, false), want, "normal {code}");
        assert_eq!(classify(t, seed, code, now, true), want, "wide {code}");
        assert_eq!(
            classify_exhaustive(t, seed, code, now),
            want,
            "exhaustive {code}"
        );
    }

    #[test]
    fn hotp_look_back_is_replay() {
        let mut t = token(TokenType::Hotp);
        t.counter = 20;
        t.last_used = Some(19);
        for n in 10..20 {
            all_scans(&t, SEED, &h(SEED, n), 0, CodeMatch::Reused);
        }
        // Below the look-back nothing is recognised, not even in the wide window.
        all_scans(&t, SEED, &h(SEED, 9), 0, CodeMatch::NoMatch);
        // A counter behind `counter` is a replay even without `last_used` (an import).
        t.last_used = None;
        all_scans(&t, SEED, &h(SEED, 15), 0, CodeMatch::Reused);
    }

    #[test]
    fn hotp_look_ahead_and_wide_window() {
        let mut t = token(TokenType::Hotp);
        t.counter = 50;
        t.last_used = Some(49);
        for n in 50..60 {
            all_scans(
                &t,
                SEED,
                &h(SEED, n),
                0,
                CodeMatch::Fresh { step: n, drift: 0 },
            );
        }
        for n in [60, 61, 100, 149] {
            let drifted = CodeMatch::Drifted { step: n, drift: 0 };
            assert_eq!(
                classify(&t, SEED, &h(SEED, n), 0, false),
                CodeMatch::NoMatch
            );
            assert_eq!(classify(&t, SEED, &h(SEED, n), 0, true), drifted);
            assert_eq!(classify_exhaustive(&t, SEED, &h(SEED, n), 0), drifted);
            assert_eq!(may_start_resync(&t, drifted), drifted);
        }
        all_scans(&t, SEED, &h(SEED, 150), 0, CodeMatch::NoMatch);
    }

    #[test]
    fn totp_wide_window_drift() {
        let now = 1_700_000_000;
        let step = now / 30;
        let mut t = token(TokenType::Totp);
        t.drift = 3;
        for off in [-10, -4, -2, 2, 4, 10] {
            let c = code(now + (3 + off) * 30);
            let drifted = CodeMatch::Drifted {
                step: step + 3 + off,
                drift: 3 + off,
            };
            assert_eq!(
                classify(&t, SEED, &c, now, false),
                CodeMatch::NoMatch,
                "{off}"
            );
            assert_eq!(classify(&t, SEED, &c, now, true), drifted, "{off}");
            assert_eq!(classify_exhaustive(&t, SEED, &c, now), drifted, "{off}");
            // Two steps out is a late code, not drift.
            let want = if off.abs() <= TOTP_NO_RESYNC {
                CodeMatch::NoMatch
            } else {
                drifted
            };
            assert_eq!(may_start_resync(&t, drifted), want, "{off}");
        }
        for off in [-11, 11] {
            all_scans(
                &t,
                SEED,
                &code(now + (3 + off) * 30),
                now,
                CodeMatch::NoMatch,
            );
        }
        // A code of the wide window at or below the last used step is still a replay.
        t.last_used = Some(step - 4);
        let old = code(now - 4 * 30);
        assert_eq!(classify(&t, SEED, &old, now, false), CodeMatch::NoMatch);
        assert_eq!(classify(&t, SEED, &old, now, true), CodeMatch::Reused);
        assert_eq!(classify_exhaustive(&t, SEED, &old, now), CodeMatch::Reused);
    }

    #[test]
    fn eight_digit_codes() {
        // RFC 6238 appendix B, SHA-256 seed, T = 59 and 1111111109 (a leading zero for SHA-1).
        let seed256 = b"12345678901234567890123456789012";
        let mut t = token(TokenType::Totp);
        t.digits = 8;
        t.algorithm = OtpAlgorithm::Sha256;
        all_scans(
            &t,
            seed256,
            "46119246",
            59,
            CodeMatch::Fresh { step: 1, drift: 0 },
        );
        all_scans(&t, seed256, "119246", 59, CodeMatch::NoMatch);
        t.algorithm = OtpAlgorithm::Sha1;
        let at = 1_111_111_109;
        let fresh = CodeMatch::Fresh {
            step: at / 30,
            drift: 0,
        };
        all_scans(&t, SEED, "07081804", at, fresh);
        all_scans(&t, SEED, "7081804", at, CodeMatch::NoMatch);
        let mut h8 = token(TokenType::Hotp);
        h8.digits = 8;
        h8.counter = 3;
        let c = hotp(SEED, 7, 8, OtpAlgorithm::Sha1).unwrap();
        all_scans(&h8, SEED, &c, 0, CodeMatch::Fresh { step: 7, drift: 0 });
        all_scans(&h8, SEED, c.get(2..).unwrap(), 0, CodeMatch::NoMatch);
    }

    #[test]
    fn malformed_codes_and_tokens_match_nothing() {
        let t = token(TokenType::Hotp);
        let c = h(SEED, 0);
        for bad in ["", "12345", "1234567", "12345a", " 12345"] {
            all_scans(&t, SEED, bad, 0, CodeMatch::NoMatch);
        }
        all_scans(&t, b"", &c, 0, CodeMatch::NoMatch);
        let mut nine = token(TokenType::Hotp);
        nine.digits = 9;
        all_scans(&nine, SEED, &c, 0, CodeMatch::NoMatch);
    }

    // Seeds found by search whose 6-digit SHA-1 HOTP codes collide at two counters.
    /// Counters 33 and 35 share a code.
    const TIE: &[u8] = b"collide-1135";
    /// Counters 28 and 33 share a code.
    const NEAR: &[u8] = b"collide-1424";
    /// Counters 50 and 84 share a code.
    const FAR: &[u8] = b"collide-1584";
    /// Counters 76 and 88 share a code.
    const WIDE_TIE: &[u8] = b"collide-1674";

    #[test]
    fn the_match_nearest_the_centre_wins() {
        assert_eq!(h(TIE, 33), h(TIE, 35));
        assert_eq!(h(NEAR, 28), h(NEAR, 33));
        assert_eq!(h(FAR, 50), h(FAR, 84));
        assert_eq!(h(WIDE_TIE, 76), h(WIDE_TIE, 88));
        let mut t = token(TokenType::Hotp);
        // A replay one behind beats a fresh code four ahead, in the wide window too.
        t.counter = 29;
        all_scans(&t, NEAR, &h(NEAR, 33), 0, CodeMatch::Reused);
        // As near behind as ahead: the lower counter, a replay.
        t.counter = 34;
        all_scans(&t, TIE, &h(TIE, 33), 0, CodeMatch::Reused);
        // Fresh in the normal window beats the wide window's match.
        t.counter = 41;
        all_scans(
            &t,
            FAR,
            &h(FAR, 50),
            0,
            CodeMatch::Fresh { step: 50, drift: 0 },
        );
        // A replay in the look-back beats a match ahead in the wide window.
        t.counter = 60;
        all_scans(&t, FAR, &h(FAR, 84), 0, CodeMatch::Reused);
        // TOTP: a tie in the normal window and one in the wide window go to the lower step.
        let mut tt = token(TokenType::Totp);
        all_scans(
            &tt,
            TIE,
            &h(TIE, 35),
            34 * 30,
            CodeMatch::Fresh {
                step: 33,
                drift: -1,
            },
        );
        tt.drift = -2;
        let drifted = CodeMatch::Drifted {
            step: 76,
            drift: 76 - 84,
        };
        assert_eq!(
            classify(&tt, WIDE_TIE, &h(WIDE_TIE, 88), 84 * 30, true),
            drifted
        );
        assert_eq!(
            classify_exhaustive(&tt, WIDE_TIE, &h(WIDE_TIE, 88), 84 * 30),
            drifted
        );
    }

    #[test]
    fn decoy_scan_takes_any_input() {
        for c in ["", "123456", "12345678901234567890", "ünï"] {
            decoy_scan(c);
        }
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
