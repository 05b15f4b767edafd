use latchkey_crypto::otp::{OtpAlgorithm, totp};
use latchkey_crypto::password_hash;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

const SERVER: [u8; 32] = [7u8; 32];
const HOST: &str = "host-1";
const SEED: &[u8] = b"12345678901234567890";
const PIN: &str = "4711";
const T0: i64 = 1_800_000_000;
const EP: &str = "EmergPass7Xy";
const ET: &str = "EmergTok3kQz";
const EAC: &str = "AccessCode9";

fn rng() -> StdRng {
    StdRng::seed_from_u64(42)
}

fn code_at(t: i64) -> String {
    totp(SEED, t, 60, 6, OtpAlgorithm::Sha1).unwrap()
}

fn request(phc: &str, one_time: bool) -> BuildRequest<'_> {
    BuildRequest {
        host_id: HOST,
        user: "alice",
        generated_at: T0,
        days: 2,
        refresh_below_days: 1,
        policy_fingerprint: [9u8; 32],
        failures_before_online_required: 3,
        failures_before_wipe: 6,
        kdf: KdfParams::TEST_ONLY_CHEAP,
        tokens: vec![TokenSource {
            serial: "000123",
            seed: SEED,
            pin: PIN,
            digits: 6,
            period: 60,
            algorithm: OtpAlgorithm::Sha1,
            drift: 0,
            emergency_tokencode: Some(EmergencySource {
                generation: 4,
                expires_at: T0 + 86_400,
                value: ET,
            }),
        }],
        emergency_passcode: Some(EmergencySource {
            generation: 2,
            expires_at: T0 + 86_400,
            value: EP,
        }),
        eac: Some(EacSource {
            id: "eac1",
            one_time,
            offline_expires_at: T0 + 3600,
            phc,
        }),
    }
}

fn blob_with(one_time: bool) -> Vec<u8> {
    let phc = password_hash(&mut rng(), EAC.as_bytes()).unwrap();
    build(&request(&phc, one_time), &SERVER, &mut rng()).unwrap()
}

fn blob() -> Vec<u8> {
    blob_with(true)
}

fn opened() -> Oad {
    open(&blob(), &verifying_key(&SERVER), HOST).unwrap()
}

fn accepted(c: Credential) -> Verdict {
    Verdict::Accepted { credential: c }
}

#[test]
fn opens_and_exposes_metadata() {
    let oad = opened();
    assert_eq!(oad.user(), "alice");
    assert_eq!(oad.host_id(), HOST);
    assert_eq!(oad.generated_at(), T0);
    assert_eq!(oad.expires_at(), T0 + 2 * 86_400);
    assert_eq!(oad.refresh_at(), T0 + 86_400);
    assert_eq!(oad.failures_before_online_required(), 3);
    assert_eq!(oad.failures_before_wipe(), 6);
    assert_eq!(oad.policy_fingerprint(), [9u8; 32]);
    assert_eq!(oad.serials(), vec!["000123"]);
    assert_eq!(oad.emergency_passcode_generation(), Some(2));
    assert_eq!(oad.emergency_tokencode_generation("000123"), Some(4));
    assert_eq!(oad.emergency_tokencode_generation("nope"), None);
    assert_eq!(oad.eac_id(), Some("eac1"));
    let dbg = format!("{oad:?}");
    assert!(dbg.contains("alice") && !dbg.contains("verifiers"), "{dbg}");
}

#[test]
fn pin_and_tokencode_later_in_the_window_then_replay_refused() {
    let oad = opened();
    let mut st = UserState::default();
    let t = T0 + 86_400 + 3 * 3600 + 17;
    let pc = format!("{PIN}{}", code_at(t));
    assert_eq!(oad.verify(&pc, t, &mut st), accepted(Credential::Tokencode));
    assert_eq!(
        oad.verify(&pc, t + 5, &mut st),
        Verdict::Rejected {
            reason: "replayed_tokencode"
        }
    );
    // The next step's code is fine.
    let pc2 = format!("{PIN}{}", code_at(t + 60));
    assert_eq!(
        oad.verify(&pc2, t + 60, &mut st),
        accepted(Credential::Tokencode)
    );
}

#[test]
fn neighbour_steps_accepted_further_ones_not() {
    let oad = opened();
    let t = T0 + 7200;
    for (delta, ok) in [(-60, true), (60, true), (-120, false), (180, false)] {
        let mut st = UserState::default();
        let pc = format!("{PIN}{}", code_at(t + delta));
        let got = oad.verify(&pc, t, &mut st);
        assert_eq!(
            got == accepted(Credential::Tokencode),
            ok,
            "delta {delta}: {got:?}"
        );
    }
}

#[test]
fn clock_moved_backwards_does_not_reopen_used_steps() {
    let oad = opened();
    let mut st = UserState::default();
    let t = T0 + 10_000;
    let used = format!("{PIN}{}", code_at(t));
    assert_eq!(
        oad.verify(&used, t, &mut st),
        accepted(Credential::Tokencode)
    );
    // Clock set back ten minutes: an older, never-used step's code is still refused, since it
    // is not after the last accepted step; and the used one too.
    let older = format!("{PIN}{}", code_at(t - 600));
    assert!(matches!(
        oad.verify(&older, t - 600, &mut st),
        Verdict::Rejected { .. }
    ));
    assert!(matches!(
        oad.verify(&used, t - 600, &mut st),
        Verdict::Rejected { .. }
    ));
}

#[test]
fn state_survives_serialisation_and_a_fresh_oad() {
    let oad = opened();
    let mut st = UserState::default();
    let t = T0 + 500;
    let pc = format!("{PIN}{}", code_at(t));
    assert_eq!(oad.verify(&pc, t, &mut st), accepted(Credential::Tokencode));
    let json = serde_json::to_string(&st).unwrap();
    let mut st2: UserState = serde_json::from_str(&json).unwrap();
    assert_eq!(st2.failures(), 0);
    let fresh = opened();
    assert!(matches!(
        fresh.verify(&pc, t, &mut st2),
        Verdict::Rejected { .. }
    ));
}

#[test]
fn wrong_pin_or_code_counts_then_emergency_only_then_wipe() {
    let oad = opened();
    let mut st = UserState::default();
    let t = T0 + 3600 * 5;
    let good = format!("{PIN}{}", code_at(t));
    let wrong_pin = format!("0000{}", code_at(t));
    for n in 1..=3 {
        assert_eq!(
            oad.verify(&wrong_pin, t, &mut st),
            Verdict::Rejected {
                reason: "wrong_passcode"
            }
        );
        assert_eq!(st.failures(), n);
    }
    // Over the first limit: even the right tokencode no longer works, and it counts.
    assert_eq!(oad.verify(&good, t, &mut st), Verdict::EmergencyOnly);
    assert_eq!(st.failures(), 4);
    // An emergency code works and resets the counter.
    assert_eq!(
        oad.verify(EP, t, &mut st),
        accepted(Credential::OfflineEmergencyPasscode)
    );
    assert_eq!(st.failures(), 0);
    for _ in 0..5 {
        oad.verify("garbage", t, &mut st);
    }
    assert_eq!(oad.verify("garbage", t, &mut st), Verdict::Wipe);
    assert_eq!(oad.verify(EP, t, &mut st), Verdict::Wipe);
}

#[test]
fn emergency_tokencode_needs_the_pin() {
    let oad = opened();
    let mut st = UserState::default();
    let t = T0 + 100;
    assert_eq!(
        oad.verify(&format!("{PIN}{ET}"), t, &mut st),
        accepted(Credential::OfflineEmergencyTokencode)
    );
    assert!(matches!(
        oad.verify(ET, t, &mut st),
        Verdict::Rejected { .. }
    ));
    assert!(matches!(
        oad.verify(&format!("9999{ET}"), t, &mut st),
        Verdict::Rejected { .. }
    ));
}

#[test]
fn emergency_codes_expire_on_their_own_dates() {
    let oad = opened();
    let mut st = UserState::default();
    let after = T0 + 86_400 + 1; // past both emergency expiries, inside the OAD window
    assert!(matches!(
        oad.verify(EP, after, &mut st),
        Verdict::Rejected { .. }
    ));
    assert!(matches!(
        oad.verify(&format!("{PIN}{ET}"), after, &mut st),
        Verdict::Rejected { .. }
    ));
    assert!(matches!(
        oad.verify(EAC, after, &mut st),
        Verdict::Rejected { .. }
    ));
}

#[test]
fn one_time_access_code_works_once_reusable_twice() {
    let oad = opened();
    let mut st = UserState::default();
    let t = T0 + 60;
    assert_eq!(
        oad.verify(EAC, t, &mut st),
        accepted(Credential::EmergencyAccessCode)
    );
    assert_eq!(
        oad.verify(EAC, t + 1, &mut st),
        Verdict::Rejected {
            reason: "access_code_used"
        }
    );
    let reusable = open(&blob_with(false), &verifying_key(&SERVER), HOST).unwrap();
    let mut st = UserState::default();
    for _ in 0..2 {
        assert_eq!(
            reusable.verify(EAC, t, &mut st),
            accepted(Credential::EmergencyAccessCode)
        );
    }
}

#[test]
fn expired_data_is_refused_uncounted_even_with_the_clock_set_back() {
    let oad = opened();
    let mut st = UserState::default();
    let end = oad.expires_at();
    assert_eq!(oad.verify(EP, end, &mut st), Verdict::Expired);
    assert_eq!(st.failures(), 0);
    let t = end - 3600;
    let pc = format!("{PIN}{}", code_at(t));
    assert_eq!(oad.verify(&pc, t, &mut st), Verdict::Expired);
}

#[test]
fn token_drift_is_applied() {
    let phc = password_hash(&mut rng(), EAC.as_bytes()).unwrap();
    let mut req = request(&phc, true);
    if let Some(t) = req.tokens.first_mut() {
        t.drift = 3;
    }
    let oad = open(
        &build(&req, &SERVER, &mut rng()).unwrap(),
        &verifying_key(&SERVER),
        HOST,
    )
    .unwrap();
    let t = T0 + 9000;
    let mut st = UserState::default();
    let pc = format!("{PIN}{}", code_at(t + 180));
    assert_eq!(oad.verify(&pc, t, &mut st), accepted(Credential::Tokencode));
}

#[test]
fn window_size_matches_policy_days_and_period() {
    let phc = password_hash(&mut rng(), EAC.as_bytes()).unwrap();
    let mut req = request(&phc, true);
    req.days = 14;
    req.emergency_passcode = None;
    req.eac = None;
    let mut t30 = req.tokens.first().copied().unwrap();
    t30.serial = "000124";
    t30.period = 30;
    t30.emergency_tokencode = None;
    req.tokens.push(t30);
    let oad = open(
        &build(&req, &SERVER, &mut rng()).unwrap(),
        &verifying_key(&SERVER),
        HOST,
    )
    .unwrap();
    let steps: Vec<u32> = oad.tokens.iter().map(|t| t.steps).collect();
    // 20160 steps of 60 s and 40320 of 30 s, plus one step of slack at each end (+1 for the
    // inclusive range).
    assert_eq!(steps, vec![20_163, 40_323]);
    let t = T0 + 13 * 86_400;
    let mut st = UserState::default();
    let pc = format!("{PIN}{}", totp(SEED, t, 30, 6, OtpAlgorithm::Sha1).unwrap());
    assert_eq!(oad.verify(&pc, t, &mut st), accepted(Credential::Tokencode));
}

#[test]
fn no_secret_appears_in_the_blob() {
    let b = blob();
    let hay = |needle: &[u8]| b.windows(needle.len()).any(|w| w == needle);
    for secret in [
        SEED,
        PIN.as_bytes(),
        EP.as_bytes(),
        ET.as_bytes(),
        EAC.as_bytes(),
    ] {
        assert!(!hay(secret));
    }
    for t in (T0..T0 + 3600).step_by(60) {
        assert!(!hay(format!("{PIN}{}", code_at(t)).as_bytes()));
    }
}

#[test]
fn every_single_byte_flip_is_refused() {
    let b = blob();
    let key = verifying_key(&SERVER);
    for i in 0..b.len() {
        let mut t = b.clone();
        if let Some(x) = t.get_mut(i) {
            *x ^= 0x01;
        }
        assert!(open(&t, &key, HOST).is_err(), "flip at {i} accepted");
    }
}

#[test]
fn other_server_key_is_refused() {
    let other = verifying_key(&[8u8; 32]);
    assert_eq!(
        open(&blob(), &other, HOST).unwrap_err(),
        OadError::BadSignature
    );
    // Signed by the other server: refused under our key.
    let phc = password_hash(&mut rng(), EAC.as_bytes()).unwrap();
    let theirs = build(&request(&phc, true), &[8u8; 32], &mut rng()).unwrap();
    assert_eq!(
        open(&theirs, &verifying_key(&SERVER), HOST).unwrap_err(),
        OadError::BadSignature
    );
    // Not a valid curve point at all.
    assert!(open(&blob(), &[0xffu8; 32], HOST).is_err());
}

#[test]
fn wrong_host_is_refused() {
    assert_eq!(
        open(&blob(), &verifying_key(&SERVER), "host-2").unwrap_err(),
        OadError::WrongHost
    );
}

#[test]
fn unknown_version_is_refused() {
    let mut b = blob();
    b.splice(4..6, 2u16.to_be_bytes());
    let err = open(&b, &verifying_key(&SERVER), HOST).unwrap_err();
    assert_eq!(err, OadError::UnsupportedVersion(2));
    assert_eq!(err.to_string(), "unsupported offline data version 2");
}

#[test]
fn truncated_or_extended_is_refused() {
    let b = blob();
    let key = verifying_key(&SERVER);
    for n in (0..b.len()).step_by(7).chain([b.len() - 1]) {
        let err = open(b.get(..n).unwrap(), &key, HOST).unwrap_err();
        assert!(matches!(err, OadError::Malformed(_)), "{n}: {err:?}");
    }
    let mut longer = b.clone();
    longer.push(0);
    assert!(matches!(
        open(&longer, &key, HOST).unwrap_err(),
        OadError::Malformed(_)
    ));
    assert!(open(b"garbage", &key, HOST).is_err());
    assert!(open(&[], &key, HOST).is_err());
}

#[test]
fn build_refuses_bad_requests() {
    let phc = password_hash(&mut rng(), EAC.as_bytes()).unwrap();
    let mut r = request(&phc, true);
    r.days = 61;
    assert!(build(&r, &SERVER, &mut rng()).is_err());
    let mut r = request(&phc, true);
    r.tokens.first_mut().unwrap().digits = 9;
    assert!(build(&r, &SERVER, &mut rng()).is_err());
    let mut r = request(&phc, true);
    r.host_id = "";
    assert!(build(&r, &SERVER, &mut rng()).is_err());
    let mut r = request(&phc, true);
    r.kdf.t = 0;
    assert!(build(&r, &SERVER, &mut rng()).is_err());
}

#[test]
fn credential_names() {
    assert_eq!(Credential::Tokencode.as_str(), "tokencode");
    assert_eq!(
        Credential::OfflineEmergencyTokencode.as_str(),
        "offline_emergency_tokencode"
    );
    assert_eq!(
        Credential::OfflineEmergencyPasscode.as_str(),
        "offline_emergency_passcode"
    );
    assert_eq!(
        Credential::EmergencyAccessCode.as_str(),
        "emergency_access_code"
    );
}

#[test]
fn fuzz_check_reaches_the_payload_parser() {
    let b = blob();
    let payload = b.get(10..b.len() - 64).unwrap();
    assert!(fuzz_check(payload));
    assert!(!fuzz_check(&b));
    assert!(!fuzz_check(b"garbage"));
    // Every prefix of a valid payload is refused without panicking.
    for n in (0..payload.len()).step_by(97) {
        assert!(!fuzz_check(payload.get(..n).unwrap()));
    }
    if let Ok(dir) = std::env::var("LATCHKEY_WRITE_FUZZ_SEED") {
        std::fs::write(format!("{dir}/valid-payload"), payload).unwrap();
    }
}
