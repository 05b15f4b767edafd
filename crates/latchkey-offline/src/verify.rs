//! Host-side verification of a typed passcode against an opened OAD.

use std::collections::BTreeMap;

use latchkey_crypto::{ct_eq, password_verify};
use serde::{Deserialize, Serialize};

use crate::format::{SlowVerifier, StepMac, TokenEntry};
use crate::{Credential, Oad, Verdict};

/// Host-side state for one user: replay protection, one-time EAC use, failure counter, and the
/// highest clock reading seen. The host persists it (encrypted at rest) next to the OAD and
/// keeps it when a fresh OAD replaces the old one, so replay protection survives a refresh.
#[derive(Serialize, Deserialize, Default, Clone, Debug)]
pub struct UserState {
    #[serde(default)]
    failures: u32,
    /// Last accepted time step per token serial.
    #[serde(default)]
    last_step: BTreeMap<String, i64>,
    /// Ids of one-time emergency access codes already used on this host.
    #[serde(default)]
    used_eacs: Vec<String>,
    /// Highest `now` ever passed to `verify`: expiry is judged against it, so setting the clock
    /// back does not revive expired data.
    #[serde(default)]
    clock_high_water: i64,
}

impl UserState {
    /// Consecutive counted failures since the last accepted passcode.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// Splits `passcode` into (PIN, last `n` bytes); `None` when shorter or not on a char boundary.
fn split_tail(passcode: &str, n: usize) -> Option<(&str, &str)> {
    let cut = passcode.len().checked_sub(n)?;
    Some((passcode.get(..cut)?, passcode.get(cut..)?))
}

enum StepMatch {
    None,
    Fresh(i64),
    Replayed,
}

/// Tries PIN + tokencode against one token's step verifiers around `now` (±1 step).
fn check_token(
    oad: &Oad,
    t: &TokenEntry,
    passcode: &str,
    now: i64,
    last: Option<i64>,
) -> StepMatch {
    let Some((pin, code)) = split_tail(passcode, usize::from(t.digits)) else {
        return StepMatch::None;
    };
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return StepMatch::None;
    }
    let Some(mac) = oad.kdf.pin_key(pin, &t.salt).and_then(|k| StepMac::new(&k)) else {
        return StepMatch::None;
    };
    let len = usize::from(oad.verifier_len);
    let current = now.div_euclid(i64::from(t.period));
    let mut found = StepMatch::None;
    for step in [current, current - 1, current + 1] {
        let Some(idx) = step
            .checked_sub(t.first_step)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < usize::try_from(t.steps).unwrap_or(0))
        else {
            continue;
        };
        let Some(want) = idx
            .checked_mul(len)
            .and_then(|a| t.verifiers.get(a..a.checked_add(len)?))
        else {
            continue;
        };
        let tag = mac.tag(step, code.as_bytes());
        if ct_eq(tag.get(..len).unwrap_or_default(), want) {
            if last.is_some_and(|l| step <= l) {
                found = StepMatch::Replayed;
            } else {
                return StepMatch::Fresh(step);
            }
        }
    }
    found
}

fn slow_matches(v: &SlowVerifier, now: i64, hash: impl FnOnce() -> Option<[u8; 32]>) -> bool {
    now < v.expires_at && hash().is_some_and(|h| ct_eq(&h, &v.hash))
}

/// Tries the emergency credentials; `Err(reason)` for a recognised but unusable one.
fn check_emergency(
    oad: &Oad,
    passcode: &str,
    now: i64,
    state: &UserState,
) -> Result<Option<Credential>, &'static str> {
    if let Some(v) = &oad.emergency_passcode
        && passcode.len() == usize::from(v.code_len)
        && slow_matches(v, now, || {
            oad.kdf.emergency_passcode(passcode, &v.salt).map(|h| *h)
        })
    {
        return Ok(Some(Credential::OfflineEmergencyPasscode));
    }
    for t in &oad.tokens {
        let Some(v) = &t.emergency else { continue };
        let Some((pin, code)) = split_tail(passcode, usize::from(v.code_len)) else {
            continue;
        };
        if slow_matches(v, now, || {
            oad.kdf.emergency_tokencode(pin, code, &v.salt).map(|h| *h)
        }) {
            return Ok(Some(Credential::OfflineEmergencyTokencode));
        }
    }
    if let Some(e) = &oad.eac
        && now < e.offline_expires_at
        && password_verify(passcode.as_bytes(), &e.phc)
    {
        if e.one_time && state.used_eacs.contains(&e.id) {
            return Err("access_code_used");
        }
        return Ok(Some(Credential::EmergencyAccessCode));
    }
    Ok(None)
}

pub(crate) fn verify(oad: &Oad, passcode: &str, now: i64, state: &mut UserState) -> Verdict {
    state.clock_high_water = state.clock_high_water.max(now);
    if state.clock_high_water >= oad.expires_at {
        return Verdict::Expired;
    }
    if state.failures >= oad.failures_before_wipe {
        return Verdict::Wipe;
    }
    let emergency_only = state.failures >= oad.failures_before_online_required;
    let mut reason = "wrong_passcode";
    if !emergency_only {
        for t in &oad.tokens {
            match check_token(
                oad,
                t,
                passcode,
                now,
                state.last_step.get(&t.serial).copied(),
            ) {
                StepMatch::Fresh(step) => {
                    state.last_step.insert(t.serial.clone(), step);
                    state.failures = 0;
                    return Verdict::Accepted {
                        credential: Credential::Tokencode,
                    };
                }
                StepMatch::Replayed => reason = "replayed_tokencode",
                StepMatch::None => {}
            }
        }
    }
    match check_emergency(oad, passcode, now, state) {
        Ok(Some(credential)) => {
            if credential == Credential::EmergencyAccessCode
                && let Some(e) = oad.eac.as_ref().filter(|e| e.one_time)
            {
                state.used_eacs.push(e.id.clone());
            }
            state.failures = 0;
            return Verdict::Accepted { credential };
        }
        Ok(None) => {}
        Err(r) => reason = r,
    }
    state.failures = state.failures.saturating_add(1);
    if state.failures >= oad.failures_before_wipe {
        Verdict::Wipe
    } else if emergency_only {
        Verdict::EmergencyOnly
    } else {
        Verdict::Rejected { reason }
    }
}
