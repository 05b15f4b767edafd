//! The agent authentication API: initialize/verify over HTTP, driven by a fake clock that
//! the tests move (never sleep), with codes computed from a seed imported through the admin
//! API. Every FAIL is the same body; the audit log tells the reasons apart.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, header};
use latchkey_core::ports::Clock;
use latchkey_crypto::base32::encode_base32;
use latchkey_crypto::otp::{OtpAlgorithm, hotp, totp};
use latchkey_proto::authn::AuthnResponse;
use serde_json::{Value, json};

use crate::common::{App, Resp, app, capture_logs};

/// The RFC 4226/6238 test seed.
const SEED: &[u8; 20] = b"12345678901234567890";
// Long enough that they cannot turn up by chance in a hash or a timestamp of the log.
pub(crate) const PIN: &str = "48261739";
const NEW_PIN: &str = "97531864";
const INIT: &str = "/api/v1/authn/initialize";
const VERIFY: &str = "/api/v1/authn/verify";
const PERIOD: i64 = 30;

/// The one FAIL body.
fn fail_body() -> String {
    serde_json::to_string(&AuthnResponse::fail()).unwrap()
}

/// An application with user `alice` holding TOTP token `T1` (PIN [`PIN`]) and a REST agent
/// `web1`.
pub(crate) struct Fx {
    pub(crate) app: App,
    pub(crate) key: String,
}

impl Fx {
    pub(crate) async fn new() -> Self {
        Self::on(app().await).await
    }

    /// The same fixture on a given application.
    pub(crate) async fn on(app: App) -> Self {
        let key = create_agent(&app, "web1", "rest").await;
        let fx = Self { app, key };
        fx.user("alice").await;
        fx.import("T1", "alice", "totp").await;
        fx.app
            .root(
                "PUT",
                "/api/v1/admin/tokens/T1/pin",
                Some(json!({"pin": PIN})),
            )
            .await
            .expect(200);
        fx
    }

    pub(crate) async fn user(&self, login: &str) {
        self.app
            .root("POST", "/api/v1/admin/users", Some(json!({"login": login})))
            .await
            .expect(201);
    }

    /// Imports a token with [`SEED`] for `user`.
    pub(crate) async fn import(&self, serial: &str, user: &str, kind: &str) {
        self.app
            .root(
                "POST",
                "/api/v1/admin/tokens/import",
                Some(json!({"serial": serial, "user": user, "type": kind, "secret": encode_base32(SEED)})),
            )
            .await
            .expect(201);
    }

    pub(crate) fn now(&self) -> i64 {
        self.app.clock.now()
    }

    /// Moves the clock to the next TOTP step.
    pub(crate) fn tick(&self) {
        self.app.clock.advance(PERIOD);
    }

    /// The TOTP code `steps` steps from now (negative: in the past).
    pub(crate) fn code(&self, steps: i64) -> String {
        totp(SEED, self.now() + steps * PERIOD, 30, 6, OtpAlgorithm::Sha1).unwrap()
    }

    /// PIN and the current code.
    pub(crate) fn passcode(&self) -> String {
        format!("{PIN}{}", self.code(0))
    }

    /// A six-digit code that is no code of [`SEED`] anywhere near now (TOTP ±110 steps, HOTP
    /// counters 0–300), so it can never match by chance.
    pub(crate) fn wrong_code(&self) -> String {
        let step = self.now() / PERIOD;
        let mut near: Vec<String> = (step - 110..=step + 110)
            .map(|s| totp(SEED, s * PERIOD, 30, 6, OtpAlgorithm::Sha1).unwrap())
            .collect();
        near.extend((0..300).map(|c| hotp(SEED, c, 6, OtpAlgorithm::Sha1).unwrap()));
        (0..10)
            .map(|d| d.to_string().repeat(6))
            .find(|c| !near.contains(c))
            .unwrap()
    }

    /// A request with an agent key (none when `None`), from `from` when given.
    pub(crate) async fn agent_call(
        &self,
        key: Option<&str>,
        path: &str,
        body: &Value,
        from: Option<SocketAddr>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(k) = key {
            b = b.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        let mut req = b.body(Body::from(body.to_string())).unwrap();
        if let Some(a) = from {
            req.extensions_mut().insert(ConnectInfo(a));
        }
        self.app.send(req).await
    }

    /// `initialize` as `web1`; expects 200 and returns the answer.
    pub(crate) async fn init(&self, user: &str, passcode: &str) -> Resp {
        let r = self
            .agent_call(
                Some(&self.key),
                INIT,
                &json!({"user": user, "passcode": passcode}),
                None,
            )
            .await;
        r.expect(200);
        r
    }

    /// `verify` as the agent with `key`; expects 200 and returns the answer.
    pub(crate) async fn verify_as(&self, key: &str, attempt: &str, response: &str) -> Resp {
        let r = self
            .agent_call(
                Some(key),
                VERIFY,
                &json!({"attempt_id": attempt, "response": response}),
                None,
            )
            .await;
        r.expect(200);
        r
    }

    pub(crate) async fn verify(&self, attempt: &str, response: &str) -> Resp {
        self.verify_as(&self.key.clone(), attempt, response).await
    }

    /// Audit records of authentication attempts after `seq`.
    pub(crate) async fn authn_audit(&self, after: i64) -> Vec<Value> {
        self.audit(after)
            .await
            .into_iter()
            .filter(|r| r["action"] == "authn")
            .collect()
    }

    pub(crate) async fn audit(&self, after: i64) -> Vec<Value> {
        self.app
            .root("GET", &format!("/api/v1/admin/audit?after={after}"), None)
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .clone()
    }

    pub(crate) async fn outcomes(&self, after: i64) -> Vec<String> {
        self.authn_audit(after)
            .await
            .iter()
            .map(|r| r["outcome"].as_str().unwrap().to_owned())
            .collect()
    }

    pub(crate) async fn set_policy(&self, kind: &str, value: Value) {
        self.app
            .root(
                "PUT",
                &format!("/api/v1/admin/domains/root/policies/{kind}"),
                Some(json!({"kind": kind, "value": value})),
            )
            .await
            .expect(200);
    }

    pub(crate) async fn user_status(&self, login: &str) -> String {
        self.app
            .root("GET", &format!("/api/v1/admin/users/{login}"), None)
            .await
            .expect(200)["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

pub(crate) async fn create_agent(app: &App, name: &str, kind: &str) -> String {
    app.root(
        "POST",
        "/api/v1/admin/agents",
        Some(json!({"name": name, "kind": kind})),
    )
    .await
    .expect(201)["api_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) fn assert_success(r: &Resp) {
    let v = r.expect(200);
    assert_eq!(v["result"], "SUCCESS", "{}", r.body);
    assert!(v.get("attempt_id").is_none() && v.get("challenge").is_none());
}

pub(crate) fn assert_fail(r: &Resp) {
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(r.body, fail_body(), "not the one FAIL body");
}

/// Asserts a challenge of `kind`; returns the attempt id and the prompt.
pub(crate) fn challenge(r: &Resp, kind: &str) -> (String, String) {
    let v = r.expect(200);
    assert_eq!(v["result"], "CHALLENGE", "{}", r.body);
    assert_eq!(v["challenge"]["kind"], kind, "{}", r.body);
    let prompt = v["challenge"]["prompt"].as_str().unwrap().to_owned();
    assert!(!prompt.is_empty());
    let id = v["attempt_id"].as_str().unwrap().to_owned();
    assert!(id.len() >= 20, "attempt id too guessable: {id}");
    (id, prompt)
}

#[tokio::test]
async fn passcodes_are_accepted_once_and_every_failure_looks_the_same() {
    let fx = Fx::new().await;
    let start = fx.app.audit_seq().await;

    // PIN and tokencode, reported with the end user's address, from the agent's address.
    let from: SocketAddr = "198.51.100.2:4711".parse().unwrap();
    let r = fx
        .agent_call(
            Some(&fx.key),
            INIT,
            &json!({"user": "alice", "passcode": fx.passcode(), "client_address": "203.0.113.7"}),
            Some(from),
        )
        .await;
    assert_success(&r);
    assert_eq!(r.json()["message"], "Authenticated");

    let mut fails = Vec::new();
    // The same passcode again, and a code two steps older than the one just used.
    fails.push(("reuse", fx.init("alice", &fx.passcode()).await));
    fails.push((
        "two steps old",
        fx.init("alice", &format!("{PIN}{}", fx.code(-2))).await,
    ));
    fx.tick();
    fails.push((
        "wrong PIN",
        fx.init("alice", &format!("9999{}", fx.code(0))).await,
    ));
    fails.push((
        "wrong tokencode",
        fx.init("alice", &format!("{PIN}{}", fx.wrong_code())).await,
    ));

    // A token without PIN: the tokencode alone (HOTP here, so each counter works once).
    fx.user("bob").await;
    fx.import("H1", "bob", "hotp").await;
    let h = |c| hotp(SEED, c, 6, OtpAlgorithm::Sha1).unwrap();
    assert_success(&fx.init("bob", &h(0)).await);
    fails.push(("HOTP reuse", fx.init("bob", &h(0)).await));
    assert_success(&fx.init("bob", &h(1)).await);

    // A disabled token.
    fx.user("carol").await;
    fx.import("T3", "carol", "totp").await;
    fx.app
        .root(
            "PATCH",
            "/api/v1/admin/tokens/T3",
            Some(json!({"enabled": false})),
        )
        .await
        .expect(200);
    fails.push(("disabled token", fx.init("carol", &fx.code(0)).await));

    // A user locked by the default lockout policy (5 failures).
    fx.user("dave").await;
    fx.import("T4", "dave", "totp").await;
    for _ in 0..5 {
        fails.push(("dave wrong", fx.init("dave", &fx.wrong_code()).await));
    }
    assert_eq!(fx.user_status("dave").await, "locked");
    fails.push(("locked", fx.init("dave", &fx.code(0)).await));

    // A disabled user, and nobody at all.
    fx.user("erin").await;
    fx.app
        .root(
            "PATCH",
            "/api/v1/admin/users/erin",
            Some(json!({"status": "disabled"})),
        )
        .await
        .expect(200);
    fails.push(("disabled user", fx.init("erin", &fx.code(0)).await));
    fails.push(("unknown user", fx.init("nobody", &fx.passcode()).await));

    for (what, r) in &fails {
        assert_eq!(r.body, fails[0].1.body, "{what}: FAIL bodies differ");
        assert_fail(r);
    }

    // The audit log tells them apart.
    let records = fx.authn_audit(start).await;
    let seen: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected: Vec<(&str, &str)> = vec![
        ("user:alice", "success"),
        ("user:alice", "fail:passcode_reuse"),
        ("user:alice", "fail:passcode_reuse"),
        ("user:alice", "fail:wrong_pin"),
        ("user:alice", "fail:wrong_tokencode"),
        ("user:bob", "success"),
        ("user:bob", "fail:passcode_reuse"),
        ("user:bob", "success"),
        ("user:carol", "fail:no_enabled_token"),
    ];
    expected.extend([("user:dave", "fail:wrong_tokencode"); 5]);
    expected.extend([
        ("user:dave", "fail:user_locked"),
        ("user:erin", "fail:user_disabled"),
        ("user:nobody", "fail:unknown_user"),
    ]);
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    assert_eq!(seen, expected);
    for r in &records {
        assert_eq!(r["actor"], "agent:web1", "{r}");
    }
    let first = &records[0];
    assert_eq!(first["source"], "198.51.100.2");
    assert_eq!(first["detail"]["client"], "203.0.113.7");
    assert_eq!(first["detail"]["serial"], "T1");
    for (i, serial) in [(1, "T1"), (2, "T1"), (5, "H1"), (6, "H1"), (7, "H1")] {
        assert_eq!(records[i]["detail"]["serial"], serial, "{}", records[i]);
    }
    // Failures of a known user count toward the lockout; unknown users have nothing to count.
    assert_eq!(records[3]["detail"]["counted"], true);
    assert!(records.last().unwrap()["detail"].get("counted").is_none());
    // The chain still verifies.
    let v = fx
        .app
        .root("GET", "/api/v1/admin/audit/verify", None)
        .await
        .expect(200);
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn a_drifted_token_is_resynchronised_by_the_next_tokencode() {
    let fx = Fx::new().await;
    let start = fx.app.audit_seq().await;

    // The token's clock runs 5 steps behind.
    let behind = |fx: &Fx| format!("{PIN}{}", fx.code(-5));
    let (attempt, prompt) = challenge(&fx.init("alice", &behind(&fx)).await, "next_tokencode");
    assert!(prompt.contains("next tokencode"), "{prompt}");
    // The user waits for the token to change and types the code it shows (no PIN).
    fx.tick();
    assert_success(&fx.verify(&attempt, &fx.code(-5)).await);
    // The drift is learned: the token's own code is accepted at once from now on.
    fx.tick();
    assert_success(&fx.init("alice", &behind(&fx)).await);
    fx.tick();
    assert_success(&fx.init("alice", &behind(&fx)).await);

    let records = fx.authn_audit(start).await;
    let outcomes: Vec<&str> = records
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["challenge", "success", "success", "success"]);
    assert_eq!(records[0]["detail"]["challenge"], "next_tokencode");
    assert_eq!(records[0]["detail"]["resync"], true);
    assert_eq!(records[0]["detail"]["serial"], "T1");
    assert_eq!(records[1]["detail"]["drift"], -5);
    assert_eq!(records[2]["detail"]["drift"], -5);

    // An answer that is not exactly the following code ends the attempt.
    fx.user("bob").await;
    fx.import("T2", "bob", "totp").await;
    let (attempt, _) = challenge(&fx.init("bob", &fx.code(4)).await, "next_tokencode");
    fx.tick();
    // (The same code again, not the following one.)
    assert_fail(&fx.verify(&attempt, &fx.code(3)).await);
    // And the attempt is gone: a second answer, even the right one, fails.
    assert_fail(&fx.verify(&attempt, &fx.code(4)).await);

    // A code two steps old that was never used is a stale code, not a drift: FAIL, and no
    // re-synchronisation starts from it (three steps out does start one).
    fx.user("frank").await;
    fx.import("T5", "frank", "totp").await;
    assert_fail(&fx.init("frank", &fx.code(-2)).await);
    assert_fail(&fx.init("frank", &fx.code(2)).await);
    challenge(&fx.init("frank", &fx.code(-3)).await, "next_tokencode");
}

#[tokio::test]
async fn user_created_new_pin() {
    let fx = Fx::new().await;
    fx.app
        .root("POST", "/api/v1/admin/tokens/T1/require-new-pin", None)
        .await
        .expect(200);
    let start = fx.app.audit_seq().await;

    let (a1, p1) = challenge(&fx.init("alice", &fx.passcode()).await, "new_pin");
    assert!(p1.contains("4 to 8 digits"), "{p1}");
    // Too short: asked again, with the rule.
    let (a2, p2) = challenge(&fx.verify(&a1, "12").await, "new_pin");
    assert_ne!(a1, a2, "a continued conversation gets a new attempt id");
    assert!(p2.contains("That PIN"), "{p2}");
    assert!(p2.contains("4 to 8"), "{p2}");
    assert!(
        !p2.contains("12 "),
        "the prompt repeats the rejected PIN: {p2}"
    );
    let (a3, _) = challenge(&fx.verify(&a2, NEW_PIN).await, "confirm_pin");
    let (a4, p4) = challenge(&fx.verify(&a3, NEW_PIN).await, "next_passcode");
    assert!(!p4.contains(NEW_PIN));
    // The old attempts are used up.
    assert_fail(&fx.verify(&a1, NEW_PIN).await);
    fx.tick();
    assert_success(&fx.verify(&a4, &format!("{NEW_PIN}{}", fx.code(0))).await);
    let t = fx
        .app
        .root("GET", "/api/v1/admin/tokens/T1", None)
        .await
        .expect(200);
    assert_eq!(t["new_pin_required"], false);
    assert_eq!(t["has_pin"], true);

    // The old PIN no longer works; the new one does.
    fx.tick();
    assert_fail(&fx.init("alice", &fx.passcode()).await);
    assert_success(&fx.init("alice", &format!("{NEW_PIN}{}", fx.code(0))).await);

    let outcomes = fx.outcomes(start).await;
    assert_eq!(
        outcomes,
        [
            "challenge",
            "challenge",
            "challenge",
            "challenge",
            "fail:unknown_attempt",
            "success",
            "fail:wrong_pin",
            "success"
        ]
    );

    // With the PIN cleared, the tokencode alone starts new-PIN mode.
    fx.app
        .root("DELETE", "/api/v1/admin/tokens/T1/pin", None)
        .await
        .expect(204);
    fx.tick();
    challenge(&fx.init("alice", &fx.code(0)).await, "new_pin");
}

#[tokio::test]
async fn system_generated_new_pin() {
    let fx = Fx::new().await;
    fx.set_policy("token", json!({"pin_creation": "system_generated"}))
        .await;
    fx.app
        .root("POST", "/api/v1/admin/tokens/T1/require-new-pin", None)
        .await
        .expect(200);

    let (a1, prompt) = challenge(&fx.init("alice", &fx.passcode()).await, "confirm_pin");
    let pin: String = prompt
        .split_once("Your new PIN is ")
        .map(|(_, rest)| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    assert!(pin.len() >= 4, "no PIN in the prompt: {prompt}");
    assert_ne!(pin, PIN);
    let (a2, _) = challenge(&fx.verify(&a1, &pin).await, "next_passcode");
    fx.tick();
    assert_success(&fx.verify(&a2, &format!("{pin}{}", fx.code(0))).await);
    fx.tick();
    assert_fail(&fx.init("alice", &fx.passcode()).await);
    assert_success(&fx.init("alice", &format!("{pin}{}", fx.code(0))).await);
    // The generated PIN is in that one answer only, never in the audit log.
    let audit = fx.app.root("GET", "/api/v1/admin/audit", None).await;
    assert!(!audit.body.contains(&pin));
}

#[tokio::test]
async fn wrong_passcodes_lead_to_next_tokencode_mode() {
    let fx = Fx::new().await;
    let start = fx.app.audit_seq().await;
    let wrong = || format!("{PIN}{}", fx.wrong_code());

    for _ in 0..3 {
        assert_fail(&fx.init("alice", &wrong()).await);
    }
    let (attempt, _) = challenge(&fx.init("alice", &fx.passcode()).await, "next_tokencode");
    fx.tick();
    assert_success(&fx.verify(&attempt, &fx.code(0)).await);
    // Success reset the counters: a correct passcode is accepted at once.
    fx.tick();
    assert_success(&fx.init("alice", &fx.passcode()).await);

    // One chance: a wrong answer fails, and the attempt is gone.
    fx.tick();
    for _ in 0..3 {
        assert_fail(&fx.init("alice", &wrong()).await);
    }
    let (attempt, _) = challenge(&fx.init("alice", &fx.passcode()).await, "next_tokencode");
    fx.tick();
    assert_fail(&fx.verify(&attempt, &fx.wrong_code()).await);
    assert_fail(&fx.verify(&attempt, &fx.code(0)).await);

    let records = fx.authn_audit(start).await;
    let outcomes: Vec<&str> = records
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "fail:wrong_tokencode",
            "fail:wrong_tokencode",
            "fail:wrong_tokencode",
            "challenge",
            "success",
            "success",
            "fail:wrong_tokencode",
            "fail:wrong_tokencode",
            "fail:wrong_tokencode",
            "challenge",
            "fail:wrong_next_code",
            "fail:unknown_attempt",
        ]
    );
    assert_eq!(records[3]["detail"]["resync"], false);
    assert_eq!(records[10]["detail"]["serial"], "T1");
}

#[tokio::test]
async fn lockout_and_unlock() {
    let fx = Fx::new().await;
    fx.set_policy(
        "lockout",
        json!({"max_failures": 3, "auto_unlock_minutes": 10}),
    )
    .await;
    // Keep next-tokencode mode out of the way.
    fx.set_policy("token", json!({"incorrect_passcode_limit": 10}))
        .await;
    let start = fx.app.audit_seq().await;
    let wrong = || format!("{PIN}{}", fx.wrong_code());

    for _ in 0..3 {
        assert_fail(&fx.init("alice", &wrong()).await);
    }
    assert_eq!(fx.user_status("alice").await, "locked");
    // Locked: even the right passcode fails.
    assert_fail(&fx.init("alice", &fx.passcode()).await);
    let last = fx.authn_audit(start).await.pop().unwrap();
    assert_eq!(last["outcome"], "fail:user_locked");

    // An administrator unlocks.
    fx.app
        .root(
            "PATCH",
            "/api/v1/admin/users/alice",
            Some(json!({"status": "enabled"})),
        )
        .await
        .expect(200);
    assert_success(&fx.init("alice", &fx.passcode()).await);

    // Locked again; ten minutes later it ends by itself.
    fx.tick();
    for _ in 0..3 {
        assert_fail(&fx.init("alice", &wrong()).await);
    }
    assert_eq!(fx.user_status("alice").await, "locked");
    assert_fail(&fx.init("alice", &fx.passcode()).await);
    fx.app.clock.advance(5 * 60);
    assert_fail(&fx.init("alice", &fx.passcode()).await);
    let before_unlock = fx.app.audit_seq().await;
    fx.app.clock.advance(6 * 60);
    assert_success(&fx.init("alice", &fx.passcode()).await);
    assert_eq!(fx.user_status("alice").await, "enabled");

    let unlocks: Vec<Value> = fx
        .audit(before_unlock)
        .await
        .into_iter()
        .filter(|r| r["action"] == "user.auto_unlock")
        .collect();
    assert_eq!(unlocks.len(), 1, "{unlocks:?}");
    assert_eq!(unlocks[0]["target"], "user:alice");
    assert_eq!(unlocks[0]["actor"], "system");
    assert_eq!(
        fx.outcomes(start).await,
        [
            "fail:wrong_tokencode",
            "fail:wrong_tokencode",
            "fail:wrong_tokencode",
            "fail:user_locked",
            "success",
            "fail:wrong_tokencode",
            "fail:wrong_tokencode",
            "fail:wrong_tokencode",
            "fail:user_locked",
            "fail:user_locked",
            "success",
        ]
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let fx = Fx::new().await;
    let key = fx.key.clone();
    let before = fx.app.audit_seq().await;
    let pc = fx.passcode();

    // Bodies: 400 naming the field, never repeating a value.
    let bad: Vec<(&str, Value, Option<&str>)> = vec![
        (INIT, json!({"user": "alice"}), Some("passcode")),
        (INIT, json!({"passcode": pc}), Some("user")),
        (VERIFY, json!({"attempt_id": "abc"}), Some("response")),
        (VERIFY, json!({"response": pc}), Some("attempt_id")),
        (
            INIT,
            json!({"user": "alice", "passcode": pc.parse::<u64>().unwrap()}),
            Some("passcode"),
        ),
        (
            INIT,
            json!({"user": ["alice"], "passcode": pc}),
            Some("user"),
        ),
        (
            INIT,
            json!({"user": "alice", "passcode": pc, "pin": PIN}),
            Some("pin"),
        ),
        (
            INIT,
            json!({"user": "alice", "passcode": pc, pc.as_str(): 1}),
            None,
        ),
        (
            INIT,
            json!({"user": "alice", "passcode": pc, "client_address": "x".repeat(65)}),
            Some("client_address"),
        ),
        (
            INIT,
            json!({"user": "alice", "passcode": pc, "client_address": 7}),
            Some("client_address"),
        ),
        (
            VERIFY,
            json!({"attempt_id": "abc", "response": pc, "x": 1}),
            Some("x"),
        ),
        (INIT, json!(["alice", pc]), None),
    ];
    for (path, body, field) in &bad {
        let r = fx.agent_call(Some(&key), path, body, None).await;
        let v = r.expect_error(400, "invalid_request");
        if let Some(f) = field {
            assert_eq!(v["field"], *f, "{body}: {}", r.body);
        }
        assert!(!r.body.contains(&pc), "{body}: {}", r.body);
    }
    // Content type and size.
    let ok_body = json!({"user": "alice", "passcode": pc})
        .to_string()
        .into_bytes();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        fx.app
            .call_raw("POST", INIT, &key, ct, ok_body.clone())
            .await
            .expect_error(400, "invalid_request");
    }
    let huge = json!({"user": "alice", "passcode": "1".repeat(70_000)}).to_string();
    fx.app
        .call_raw(
            "POST",
            INIT,
            &key,
            Some("application/json"),
            huge.into_bytes(),
        )
        .await
        .expect_error(413, "invalid_request");
    fx.app
        .call_raw(
            "POST",
            INIT,
            &key,
            Some("application/json"),
            b"{\"user\":".to_vec(),
        )
        .await
        .expect_error(400, "invalid_request");

    assert_eq!(
        fx.app.audit_seq().await,
        before,
        "a refused request wrote an audit record"
    );

    // Agent keys: missing, wrong, an admin token, a key of an agent of the cloud channel,
    // the wrong scheme. 401 with the challenge header, before the body is looked at.
    // (Offline hosts are manager-channel agents and authenticate here too.)
    let cloud_key = create_agent(&fx.app, "portal", "cloud-app").await;
    let before = fx.app.audit_seq().await;
    let body = json!({"user": "alice", "passcode": pc});
    let wrong_key = format!("{key}x");
    for k in [
        None,
        Some(wrong_key.as_str()),
        Some(fx.app.root.as_str()),
        Some(cloud_key.as_str()),
        Some(""),
    ] {
        for path in [INIT, VERIFY] {
            let r = fx.agent_call(k, path, &body, None).await;
            r.expect_error(401, "unauthenticated");
            assert_eq!(
                r.headers
                    .get(header::WWW_AUTHENTICATE)
                    .map(|v| v.to_str().unwrap()),
                Some("Bearer"),
                "{k:?} {path}"
            );
        }
    }
    let basic = Request::builder()
        .method(Method::POST)
        .uri(INIT)
        .header(header::AUTHORIZATION, format!("Basic {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    fx.app
        .send(basic)
        .await
        .expect_error(401, "unauthenticated");
    // Even an unreadable body from an unknown caller is a 401, not a 400.
    fx.app
        .call_raw("POST", INIT, "nope", Some("text/plain"), b"][".to_vec())
        .await
        .expect_error(401, "unauthenticated");
    // An agent key is not an admin token either.
    fx.app
        .call("GET", "/api/v1/admin/users", Some(&key), None)
        .await
        .expect_error(401, "unauthenticated");
    assert_eq!(
        fx.app.audit_seq().await,
        before,
        "a refused request wrote an audit record"
    );

    // Attempts that do not exist, expired, or belong to another agent: FAIL.
    let start = fx.app.audit_seq().await;
    for id in [
        String::new(),
        "nope".to_owned(),
        "a".repeat(65),
        "a".repeat(10_000),
    ] {
        assert_fail(&fx.verify(&id, &fx.code(1)).await);
    }
    let drifted = |fx: &Fx| format!("{PIN}{}", fx.code(-5));
    let (attempt, _) = challenge(&fx.init("alice", &drifted(&fx)).await, "next_tokencode");
    fx.app.clock.advance(181);
    assert_fail(&fx.verify(&attempt, &fx.code(-5)).await);
    let key2 = create_agent(&fx.app, "web2", "rest").await;
    let (attempt, _) = challenge(&fx.init("alice", &drifted(&fx)).await, "next_tokencode");
    fx.tick();
    assert_fail(&fx.verify_as(&key2, &attempt, &fx.code(-5)).await);
    let records = fx.authn_audit(start).await;
    let seen: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r["actor"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("agent:web1", "fail:unknown_attempt"),
            ("agent:web1", "fail:unknown_attempt"),
            ("agent:web1", "fail:unknown_attempt"),
            ("agent:web1", "fail:unknown_attempt"),
            ("agent:web1", "challenge"),
            ("agent:web1", "fail:attempt_expired"),
            ("agent:web1", "challenge"),
            ("agent:web2", "fail:unknown_attempt"),
        ]
    );

    // None of it moved the token or the user: a valid passcode succeeds at once, with a
    // client address of exactly the largest size.
    fx.tick();
    let r = fx
        .agent_call(
            Some(&key),
            INIT,
            &json!({"user": "alice", "passcode": fx.passcode(), "client_address": "c".repeat(64)}),
            None,
        )
        .await;
    assert_success(&r);
    assert_eq!(fx.user_status("alice").await, "enabled");
}

#[tokio::test]
async fn passcodes_never_reach_the_log_or_an_error_body() {
    let (_guard, logs) = capture_logs();
    let fx = Fx::new().await;
    let key = fx.key.clone();
    // PINs and passcodes (8 and 14 digits) are looked for everywhere; bare tokencodes (6
    // digits, which a log timestamp or hash may contain by chance) only in the answers.
    let mut secrets: Vec<String> = vec![PIN.to_owned(), NEW_PIN.to_owned()];
    let mut codes: Vec<String> = Vec::new();
    let mut bodies = 0;
    let mut keep = |r: &Resp, secrets: &[String], codes: &[String]| {
        for s in secrets.iter().chain(codes) {
            assert!(!r.body.contains(s.as_str()), "a secret in {}", r.body);
        }
        bodies += 1;
    };

    let pc = fx.passcode();
    secrets.push(pc.clone());
    codes.push(fx.code(0));
    keep(&fx.init("alice", &pc).await, &secrets, &codes);
    keep(&fx.init("alice", &pc).await, &secrets, &codes);
    keep(&fx.init("nobody", &pc).await, &secrets, &codes);
    keep(
        &fx.init("alice", &format!("{NEW_PIN}{}", fx.code(0))).await,
        &secrets,
        &codes,
    );
    for body in [
        json!({"user": "alice", "passcode": pc.parse::<u64>().unwrap()}),
        json!({"user": "alice", "passcode": pc, pc.as_str(): true}),
        json!({"user": "alice", "passcode": pc, "pin": pc}),
        json!({"user": "alice", "passcode": pc, "client_address": pc.repeat(7)}),
        json!({"user": pc.parse::<u64>().unwrap(), "passcode": pc}),
        json!({"attempt_id": pc.parse::<u64>().unwrap(), "response": pc}),
    ] {
        for path in [INIT, VERIFY] {
            let r = fx.agent_call(Some(&key), path, &body, None).await;
            assert_eq!(r.status.as_u16(), 400, "{body}");
            keep(&r, &secrets, &codes);
        }
    }
    let wrong = format!("{key}x");
    let r = fx
        .agent_call(
            Some(&wrong),
            INIT,
            &json!({"user": "alice", "passcode": pc}),
            None,
        )
        .await;
    r.expect_error(401, "unauthenticated");
    keep(&r, &secrets, &codes);

    // A whole new-PIN conversation.
    fx.app
        .root("POST", "/api/v1/admin/tokens/T1/require-new-pin", None)
        .await
        .expect(200);
    fx.tick();
    let pc2 = fx.passcode();
    secrets.push(pc2.clone());
    codes.push(fx.code(0));
    let r = fx.init("alice", &pc2).await;
    let (a1, _) = challenge(&r, "new_pin");
    keep(&r, &secrets, &codes);
    let r = fx.verify(&a1, NEW_PIN).await;
    let (a2, _) = challenge(&r, "confirm_pin");
    keep(&r, &secrets, &codes);
    let r = fx.verify(&a2, NEW_PIN).await;
    let (a3, _) = challenge(&r, "next_passcode");
    keep(&r, &secrets, &codes);
    fx.tick();
    let pc3 = format!("{NEW_PIN}{}", fx.code(0));
    secrets.push(pc3.clone());
    codes.push(fx.code(0));
    let r = fx.verify(&a3, &pc3).await;
    assert_success(&r);
    keep(&r, &secrets, &codes);
    assert!(bodies >= 20);

    // Nor in the audit log, nor in the server log.
    let audit = fx.app.root("GET", "/api/v1/admin/audit", None).await;
    for s in &secrets {
        assert!(
            !audit.body.contains(s.as_str()),
            "a secret in the audit log"
        );
    }
    let text = logs.text();
    assert!(!text.is_empty(), "the log capture is not working");
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "a secret in the log");
    }
    assert!(!text.contains(&key), "the agent key in the log");
}
