//! Offline hosts over the HTTP API (`docs/design/offline.md`): enrolment, offline data with a
//! SUCCESS of `initialize`, opened and checked with `latchkey-offline` the way the agent does
//! (tokencodes computed with the crypto crate's TOTP at a later, fake time), the conditions
//! that withhold it, event upload, the per-user host list, and bad input.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latchkey_crypto::otp::{OtpAlgorithm, totp};
use latchkey_offline::{Credential, UserState, Verdict};
use serde_json::{Value, json};

use crate::authn::{Fx, PIN, create_agent};

const SEED: &[u8; 20] = b"12345678901234567890";
const INIT: &str = "/api/v1/authn/initialize";
const ENROLL: &str = "/api/v1/offline/enroll";
const EVENTS: &str = "/api/v1/offline/events";
const HOSTS: &str = "/api/v1/admin/users/alice/offline-hosts";

struct Enrolled {
    key: String,
    host_id: String,
    server_key: [u8; 32],
}

async fn enrolled(fx: &Fx, name: &str) -> Enrolled {
    let key = create_agent(&fx.app, name, "offline-host").await;
    let r = fx
        .agent_call(
            Some(&key),
            ENROLL,
            &json!({"hostname": format!("{name}.example"), "host_public_key": STANDARD.encode([3u8; 32])}),
            None,
        )
        .await;
    let v = r.expect(200);
    let server_key: [u8; 32] = STANDARD
        .decode(v["server_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    Enrolled {
        key,
        host_id: v["host_id"].as_str().unwrap().to_owned(),
        server_key,
    }
}

async fn enable_offline(fx: &Fx, extra: Value) {
    let mut v = json!({"enabled": true});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    fx.set_policy("offline", v).await;
}

/// `initialize` through `key` asking for offline data; the answer.
async fn login(fx: &Fx, key: &str, passcode: &str) -> Value {
    fx.agent_call(
        Some(key),
        INIT,
        &json!({"user": "alice", "passcode": passcode, "want_offline_data": true}),
        None,
    )
    .await
    .expect(200)
}

fn open(h: &Enrolled, answer: &Value) -> latchkey_offline::Oad {
    assert_eq!(answer["result"], "SUCCESS", "{answer}");
    let blob = STANDARD
        .decode(
            answer["offline_data"]
                .as_str()
                .expect("offline data present"),
        )
        .unwrap();
    latchkey_offline::open(&blob, &h.server_key, &h.host_id).unwrap()
}

fn code_at(t: i64) -> String {
    totp(SEED, t, 30, 6, OtpAlgorithm::Sha1).unwrap()
}

async fn hosts(fx: &Fx) -> Vec<Value> {
    fx.app.root("GET", HOSTS, None).await.expect(200)["hosts"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn online_success_brings_offline_data_that_verifies_later_codes_offline() {
    let fx = Fx::new().await;
    let h = enrolled(&fx, "ws1").await;
    enable_offline(&fx, json!({})).await;
    let eac = fx
        .app
        .root(
            "POST",
            "/api/v1/admin/users/alice/emergency/access-code",
            Some(json!({"one_time": true})),
        )
        .await
        .expect(201)["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = login(&fx, &h.key, &fx.passcode()).await;
    let oad = open(&h, &answer);
    assert_eq!(oad.user(), "alice");
    assert_eq!(oad.expires_at(), fx.now() + 14 * 86_400);
    assert_eq!(oad.refresh_at(), fx.now() + 7 * 86_400);
    assert_eq!(oad.failures_before_online_required(), 5);
    assert_eq!(oad.failures_before_wipe(), 10);

    // Three days later, server unreachable: PIN + that moment's tokencode works offline, once.
    let later = fx.now() + 3 * 86_400 + 45;
    let mut st = UserState::default();
    let pc = format!("{PIN}{}", code_at(later));
    assert_eq!(
        oad.verify(&pc, later, &mut st),
        Verdict::Accepted {
            credential: Credential::Tokencode
        }
    );
    assert!(matches!(
        oad.verify(&pc, later, &mut st),
        Verdict::Rejected { .. }
    ));
    // A wrong PIN does not.
    let wrong = format!("11111111{}", code_at(later + 30));
    assert!(matches!(
        oad.verify(&wrong, later + 30, &mut st),
        Verdict::Rejected { .. }
    ));

    // The offline emergency passcode, as the help desk reads it out, works alone.
    let ep = fx
        .app
        .root(
            "POST",
            "/api/v1/admin/users/alice/emergency/offline-passcode/reveal",
            Some(json!({"reason": "ticket 42"})),
        )
        .await
        .expect(200)["passcode"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        oad.verify(&ep, later, &mut st),
        Verdict::Accepted {
            credential: Credential::OfflineEmergencyPasscode
        }
    );

    // PIN + the token's offline emergency tokencode, as the help desk reads it out.
    let et = fx
        .app
        .root(
            "POST",
            "/api/v1/admin/tokens/T1/emergency/offline-tokencode/reveal",
            Some(json!({"reason": "ticket 43"})),
        )
        .await
        .expect(200)["tokencode"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        oad.verify(&format!("{PIN}{et}"), later, &mut st),
        Verdict::Accepted {
            credential: Credential::OfflineEmergencyTokencode
        }
    );
    // The emergency access code, alone, once (it is one-time), within its offline validity.
    let soon = fx.now() + 3600;
    assert_eq!(
        oad.verify(&eac, soon, &mut UserState::default()),
        Verdict::Accepted {
            credential: Credential::EmergencyAccessCode
        }
    );
    let mut used = UserState::default();
    oad.verify(&eac, soon, &mut used);
    assert!(matches!(
        oad.verify(&eac, soon, &mut used),
        Verdict::Rejected { .. }
    ));

    // The tokencode used online stays usable online later (offline use never touched it),
    // and a plain REST agent sees no change in the answer.
    fx.tick();
    let r = fx.init("alice", &fx.passcode()).await.expect(200);
    assert_eq!(r["result"], "SUCCESS");
    assert!(r.get("offline_data").is_none());

    // The download is audited.
    let audit = fx.audit(0).await;
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "offline.download" && r["target"] == "user:alice")
    );
}

#[tokio::test]
async fn no_offline_data_unless_every_condition_holds() {
    let fx = Fx::new().await;
    let h = enrolled(&fx, "ws1").await;
    // Policy off (the default).
    let r = login(&fx, &h.key, &fx.passcode()).await;
    assert_eq!(r["result"], "SUCCESS");
    assert!(r.get("offline_data").is_none(), "{r}");
    // Passcode shorter than the minimum (8-digit PIN + 6 digits = 14 < 20).
    enable_offline(&fx, json!({"min_online_passcode_length": 20})).await;
    fx.tick();
    let r = login(&fx, &h.key, &fx.passcode()).await;
    assert_eq!(r["result"], "SUCCESS");
    assert!(r.get("offline_data").is_none(), "{r}");
    // A REST agent asking for it.
    enable_offline(&fx, json!({})).await;
    fx.tick();
    let r = login(&fx, &fx.key, &fx.passcode()).await;
    assert_eq!(r["result"], "SUCCESS");
    assert!(r.get("offline_data").is_none(), "{r}");
    // An offline-host agent that never enrolled.
    let unenrolled = create_agent(&fx.app, "ws2", "offline-host").await;
    fx.tick();
    let r = login(&fx, &unenrolled, &fx.passcode()).await;
    assert_eq!(r["result"], "SUCCESS");
    assert!(r.get("offline_data").is_none(), "{r}");
    // Not asked for.
    fx.tick();
    let r = fx
        .agent_call(
            Some(&h.key),
            INIT,
            &json!({"user": "alice", "passcode": fx.passcode()}),
            None,
        )
        .await
        .expect(200);
    assert!(r.get("offline_data").is_none(), "{r}");
    // FAIL.
    fx.tick();
    let r = login(&fx, &h.key, &format!("{PIN}{}", fx.wrong_code())).await;
    assert_eq!(r["result"], "FAIL");
    assert!(r.get("offline_data").is_none(), "{r}");
    assert!(hosts(&fx).await.is_empty());
    // And with everything in place, it comes.
    fx.tick();
    let r = login(&fx, &h.key, &fx.passcode()).await;
    open(&h, &r);
}

#[tokio::test]
async fn host_list_shows_generations_and_a_reset_until_the_next_sync() {
    let fx = Fx::new().await;
    let h = enrolled(&fx, "ws1").await;
    enable_offline(&fx, json!({})).await;
    let oad = open(&h, &login(&fx, &h.key, &fx.passcode()).await);
    let list = hosts(&fx).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["agent"], "ws1");
    assert_eq!(list[0]["hostname"], "ws1.example");
    assert_eq!(list[0]["host_id"], h.host_id.as_str());
    assert_eq!(list[0]["last_sync"], fx.now());
    assert_eq!(list[0]["stale"], false);
    assert_eq!(list[0]["emergency_passcode_generation"], 1);
    assert_eq!(list[0]["emergency_tokencodes"][0]["serial"], "T1");
    assert_eq!(oad.emergency_passcode_generation(), Some(1));

    let old = fx
        .app
        .root(
            "POST",
            "/api/v1/admin/users/alice/emergency/offline-passcode/reveal",
            Some(json!({"reason": "ticket 1"})),
        )
        .await
        .expect(200)["passcode"]
        .as_str()
        .unwrap()
        .to_owned();
    fx.app
        .root(
            "POST",
            "/api/v1/admin/users/alice/emergency/offline-passcode/reset",
            Some(json!({"reason": "leaked"})),
        )
        .await
        .expect(200);
    // Until its next sync the host still holds (and offline accepts) generation 1, and the
    // value's own view says so.
    assert_eq!(hosts(&fx).await[0]["emergency_passcode_generation"], 1);
    let view = fx
        .app
        .root(
            "GET",
            "/api/v1/admin/users/alice/emergency/offline-passcode",
            None,
        )
        .await
        .expect(200);
    assert_eq!(view["generation"], 2);
    assert_eq!(
        view["hosts"],
        json!([{"host": "ws1", "last_sync": list[0]["last_sync"], "generation": 1}])
    );
    let view = fx
        .app
        .root(
            "GET",
            "/api/v1/admin/tokens/T1/emergency/offline-tokencode",
            None,
        )
        .await
        .expect(200);
    assert_eq!(view["hosts"][0]["host"], "ws1");
    assert_eq!(view["hosts"][0]["generation"], 1);
    let mut st = UserState::default();
    assert!(matches!(
        oad.verify(&old, fx.now() + 60, &mut st),
        Verdict::Accepted { .. }
    ));
    // A policy change makes the held data stale.
    enable_offline(&fx, json!({"days": 10})).await;
    assert_eq!(hosts(&fx).await[0]["stale"], true);
    // Next online login through the host: fresh data with generation 2, old value refused.
    fx.tick();
    let fresh = open(&h, &login(&fx, &h.key, &fx.passcode()).await);
    assert_eq!(fresh.emergency_passcode_generation(), Some(2));
    assert_eq!(fresh.expires_at(), fx.now() + 10 * 86_400);
    let list = hosts(&fx).await;
    assert_eq!(list[0]["emergency_passcode_generation"], 2);
    assert_eq!(list[0]["stale"], false);
    let mut st = UserState::default();
    assert!(matches!(
        fresh.verify(&old, fx.now() + 60, &mut st),
        Verdict::Rejected { .. }
    ));
    // A second host holds its own copy.
    let h2 = enrolled(&fx, "ws2").await;
    fx.tick();
    open(&h2, &login(&fx, &h2.key, &fx.passcode()).await);
    assert_eq!(hosts(&fx).await.len(), 2);
}

#[tokio::test]
async fn events_land_in_the_audit_log_once_with_their_original_times() {
    let fx = Fx::new().await;
    let h = enrolled(&fx, "ws1").await;
    let before = fx.app.audit_seq().await;
    let body = json!({"events": [
        {"id": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "user": "alice", "at": fx.now() - 7200,
         "result": "success", "credential": "tokencode", "reason": "ok"},
        {"id": "7f9619ff-8b86-d011-b42d-00c04fc964ff", "user": "alice", "at": fx.now() - 3600,
         "result": "fail", "credential": null, "reason": "wrong_passcode"},
    ]});
    for _ in 0..2 {
        let r = fx.agent_call(Some(&h.key), EVENTS, &body, None).await;
        assert_eq!(r.expect(200)["accepted"], 2);
    }
    let recs: Vec<Value> = fx
        .audit(before)
        .await
        .into_iter()
        .filter(|r| r["action"] == "offline.authn")
        .collect();
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_eq!(recs[0]["at"], fx.now() - 7200);
    assert_eq!(recs[0]["outcome"], "success");
    assert_eq!(recs[0]["actor"], "agent:ws1");
    assert_eq!(recs[0]["target"], "user:alice");
    assert_eq!(recs[0]["detail"]["host_id"], h.host_id.as_str());
    assert_eq!(recs[0]["detail"]["credential"], "tokencode");
    assert_eq!(recs[1]["at"], fx.now() - 3600);
    assert_eq!(recs[1]["outcome"], "fail:wrong_passcode");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let fx = Fx::new().await;
    let h = enrolled(&fx, "ws1").await;
    let seq = fx.app.audit_seq().await;
    let cases: Vec<(Option<&str>, &str, Value, u16)> = vec![
        // Unknown field.
        (
            Some(&h.key),
            ENROLL,
            json!({"hostname": "a", "host_public_key": STANDARD.encode([1u8; 32]), "x": 1}),
            400,
        ),
        // Garbage base64, and a key of the wrong length.
        (
            Some(&h.key),
            ENROLL,
            json!({"hostname": "a", "host_public_key": "!!!not base64"}),
            400,
        ),
        (
            Some(&h.key),
            ENROLL,
            json!({"hostname": "a", "host_public_key": STANDARD.encode([1u8; 16])}),
            400,
        ),
        // Wrong agent kind.
        (
            Some(&fx.key),
            ENROLL,
            json!({"hostname": "a", "host_public_key": STANDARD.encode([1u8; 32])}),
            403,
        ),
        (Some(&fx.key), EVENTS, json!({"events": []}), 403),
        // No key.
        (None, EVENTS, json!({"events": []}), 401),
        // Unknown result, bad id, future time, bad reason.
        (
            Some(&h.key),
            EVENTS,
            json!({"events": [{"id": "a1", "user": "alice", "at": 1, "result": "maybe", "reason": "x"}]}),
            400,
        ),
        (
            Some(&h.key),
            EVENTS,
            json!({"events": [{"id": "not a uuid!", "user": "alice", "at": 1, "result": "fail", "reason": "x"}]}),
            400,
        ),
        (
            Some(&h.key),
            EVENTS,
            json!({"events": [{"id": "a1", "user": "alice", "at": fx.now() + 10 * 86_400, "result": "fail", "reason": "x"}]}),
            400,
        ),
        (
            Some(&h.key),
            EVENTS,
            json!({"events": [{"id": "a1", "user": "alice", "at": 1, "result": "fail", "reason": "Has Spaces"}]}),
            400,
        ),
    ];
    for (key, path, body, status) in cases {
        let r = fx.agent_call(key, path, &body, None).await;
        assert_eq!(r.status.as_u16(), status, "{path} {body}: {}", r.body);
    }
    // A huge batch: refused whole (by the body limit or the count), nothing recorded.
    let many: Vec<Value> = (0..600)
        .map(|i| json!({"id": format!("{i:08x}"), "user": "alice", "at": 1, "result": "fail", "reason": "x"}))
        .collect();
    let r = fx
        .agent_call(Some(&h.key), EVENTS, &json!({"events": many}), None)
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    // Nothing changed: no audit record, the host key and id unchanged.
    assert_eq!(fx.app.audit_seq().await, seq);
    let again = fx
        .agent_call(
            Some(&h.key),
            ENROLL,
            &json!({"hostname": "ws1.example", "host_public_key": STANDARD.encode([3u8; 32])}),
            None,
        )
        .await
        .expect(200);
    assert_eq!(again["host_id"], h.host_id.as_str());
    // The host list needs an admin token.
    let r = fx.app.call("GET", HOSTS, Some(&h.key), None).await;
    assert_eq!(r.status.as_u16(), 401);
}

#[tokio::test]
async fn after_a_new_pin_the_verify_success_brings_data_keyed_by_the_new_pin() {
    const NEW_PIN: &str = "86420975";
    let fx = Fx::new().await;
    let h = enrolled(&fx, "ws1").await;
    enable_offline(&fx, json!({})).await;
    fx.app
        .root("POST", "/api/v1/admin/tokens/T1/require-new-pin", None)
        .await
        .expect(200);
    let verify = |attempt: String, response: String| {
        let fx = &fx;
        let key = h.key.clone();
        async move {
            fx.agent_call(
                Some(&key),
                "/api/v1/authn/verify",
                &json!({"attempt_id": attempt, "response": response, "want_offline_data": true}),
                None,
            )
            .await
            .expect(200)
        }
    };
    let r = login(&fx, &h.key, &fx.passcode()).await;
    assert_eq!(r["challenge"]["kind"], "new_pin", "{r}");
    assert!(r.get("offline_data").is_none());
    let r = verify(
        r["attempt_id"].as_str().unwrap().to_owned(),
        NEW_PIN.to_owned(),
    )
    .await;
    assert_eq!(r["challenge"]["kind"], "confirm_pin", "{r}");
    assert!(r.get("offline_data").is_none());
    let r = verify(
        r["attempt_id"].as_str().unwrap().to_owned(),
        NEW_PIN.to_owned(),
    )
    .await;
    assert_eq!(r["challenge"]["kind"], "next_passcode", "{r}");
    fx.tick();
    let r = verify(
        r["attempt_id"].as_str().unwrap().to_owned(),
        format!("{NEW_PIN}{}", fx.code(0)),
    )
    .await;
    let oad = open(&h, &r);
    let later = fx.now() + 86_400;
    let mut st = UserState::default();
    assert!(matches!(
        oad.verify(&format!("{PIN}{}", code_at(later)), later, &mut st),
        Verdict::Rejected { .. }
    ));
    assert_eq!(
        oad.verify(&format!("{NEW_PIN}{}", code_at(later)), later, &mut st),
        Verdict::Accepted {
            credential: Credential::Tokencode
        }
    );
    // A verify through a REST agent never carries data, even when asked.
    fx.tick();
    let r = fx
        .agent_call(
            Some(&fx.key),
            "/api/v1/authn/verify",
            &json!({"attempt_id": "nope", "response": "x", "want_offline_data": true}),
            None,
        )
        .await
        .expect(200);
    assert_eq!(r["result"], "FAIL");
    assert!(r.get("offline_data").is_none());
}
