//! The cloud channel over HTTP: methods, start, verify for the authenticator app, SMS and
//! voice codes (through a recording phone network: the one thing that cannot exist here; the
//! providers themselves are tested against HTTP receivers in `latchkey-messaging`), emergency
//! access codes, the channel rules of PRODUCT.md §4 and the abuse limits.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use latchkey_core::delivery::SendLimits;
use latchkey_core::emergency::EacSettings;
use latchkey_core::ports::{Delivery, DeliveryAttempt, Messenger, PhoneChannel, PhoneMessage};
use serde_json::{Value, json};

use crate::authn::{Fx, PIN, assert_fail, assert_success, create_agent};
use crate::common::{App, Options, Resp, app_with_options};

/// A phone network that records what it was asked to deliver.
#[derive(Default)]
struct Phones(Mutex<Vec<(PhoneChannel, String, String)>>);

#[async_trait]
impl Messenger for Phones {
    async fn deliver(&self, m: &PhoneMessage) -> Delivery {
        self.0
            .lock()
            .unwrap()
            .push((m.channel, m.to.clone(), m.code.expose().to_owned()));
        Delivery {
            attempts: vec![DeliveryAttempt {
                provider: "phones".into(),
                ok: true,
                transient: false,
                detail: "recorded".into(),
            }],
        }
    }
}

impl Phones {
    fn last_code(&self) -> String {
        self.0.lock().unwrap().last().unwrap().2.clone()
    }
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Alice (token T1 with PIN, phone +14155550123), a REST agent and a cloud application.
struct Cloud {
    fx: Fx,
    key: String,
    phones: Arc<Phones>,
}

async fn cloud_with(limits: SendLimits, eac: EacSettings) -> Cloud {
    let phones = Arc::new(Phones::default());
    let app = app_with_options(Options {
        eac,
        messaging: Some((phones.clone() as Arc<dyn Messenger>, limits)),
        ..Options::default()
    })
    .await;
    let fx = Fx::on(app).await;
    fx.app
        .root(
            "PATCH",
            "/api/v1/admin/users/alice",
            Some(json!({"phones": [{"number": "+14155550123"}]})),
        )
        .await
        .expect(200);
    let key = create_agent(&fx.app, "portal", "cloud-app").await;
    Cloud { fx, key, phones }
}

async fn cloud() -> Cloud {
    cloud_with(SendLimits::default(), EacSettings::default()).await
}

impl Cloud {
    fn app(&self) -> &App {
        &self.fx.app
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        let r = self
            .fx
            .agent_call(
                Some(&self.key),
                &format!("/api/v1/cloud/{path}"),
                &body,
                None,
            )
            .await;
        r.expect(200);
        r
    }

    async fn start(&self, user: &str, method: &str) -> Value {
        self.post("start", json!({"user": user, "method": method}))
            .await
            .json()
    }

    async fn answer(&self, attempt: &Value, response: &str) -> Resp {
        self.post(
            "verify",
            json!({"attempt_id": attempt["attempt_id"], "response": response}),
        )
        .await
    }

    /// Starts `method` and answers `response`.
    async fn login(&self, user: &str, method: &str, response: &str) -> Resp {
        let c = self.start(user, method).await;
        assert_eq!(c["result"], "CHALLENGE", "{c}");
        self.answer(&c, response).await
    }

    async fn eac(&self, user: &str, body: Value) -> Value {
        self.app()
            .root(
                "POST",
                &format!("/api/v1/admin/users/{user}/emergency/access-code"),
                Some(body),
            )
            .await
            .expect(201)
    }
}

#[tokio::test]
async fn methods_follow_the_phone_number_and_keys_are_per_channel() {
    let c = cloud().await;
    let m = c.post("methods", json!({"user": "alice"})).await.json();
    assert_eq!(
        m["methods"],
        json!(["authenticator", "sms", "voice", "emergency_access_code"])
    );
    c.fx.user("bob").await;
    let no_phone = json!(["authenticator", "emergency_access_code"]);
    assert_eq!(
        c.post("methods", json!({"user": "bob"})).await.json()["methods"],
        no_phone
    );
    assert_eq!(
        c.post("methods", json!({"user": "nobody"})).await.json()["methods"],
        no_phone,
        "an unknown user looks like one without a phone"
    );
    // SMS for a user without a phone: FAIL, nothing sent.
    assert_fail(
        &c.post("start", json!({"user": "bob", "method": "sms"}))
            .await,
    );
    assert_eq!(c.phones.count(), 0);
    // A REST agent key is not a cloud key, and the reverse.
    let r =
        c.fx.agent_call(
            Some(&c.fx.key),
            "/api/v1/cloud/methods",
            &json!({"user": "alice"}),
            None,
        )
        .await;
    assert_eq!(r.status.as_u16(), 401);
    let r =
        c.fx.agent_call(
            Some(&c.key),
            "/api/v1/authn/initialize",
            &json!({"user": "alice", "passcode": "x"}),
            None,
        )
        .await;
    assert_eq!(r.status.as_u16(), 401);
    // An unknown method is a bad request.
    let r =
        c.fx.agent_call(
            Some(&c.key),
            "/api/v1/cloud/start",
            &json!({"user": "alice", "method": "carrier_pigeon"}),
            None,
        )
        .await;
    r.expect_error(400, "invalid_request");
    // Verify without start.
    assert_fail(
        &c.post(
            "verify",
            json!({"attempt_id": "nope", "response": "123456"}),
        )
        .await,
    );
}

#[tokio::test]
async fn sms_and_voice_codes_authenticate_within_three_tries() {
    let c = cloud().await;
    let ch = c.start("alice", "sms").await;
    assert_eq!(ch["challenge"]["kind"], "sms_code");
    let (channel, to, code) = c.phones.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(channel, PhoneChannel::Sms);
    assert_eq!(to, "+14155550123");
    assert_eq!(code.len(), 6);
    let again = c.answer(&ch, "000000").await.json();
    assert_eq!(again["result"], "CHALLENGE");
    assert_eq!(again["attempt_id"], ch["attempt_id"]);
    assert_success(&c.answer(&ch, &code).await);
    // The attempt is used up.
    assert_fail(&c.answer(&ch, &code).await);

    // Voice, after the resend cool-down; three wrong answers end the attempt.
    c.app().clock.advance(31);
    let v = c.start("alice", "voice").await;
    assert_eq!(v["challenge"]["kind"], "voice_code");
    let (channel, _, code) = c.phones.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(channel, PhoneChannel::Voice);
    assert_eq!(c.answer(&v, "000001").await.json()["result"], "CHALLENGE");
    assert_eq!(c.answer(&v, "000002").await.json()["result"], "CHALLENGE");
    assert_fail(&c.answer(&v, "000003").await);
    assert_fail(&c.answer(&v, &code).await);

    // A code expires after 5 minutes.
    c.app().clock.advance(31);
    let s = c.start("alice", "sms").await;
    let code = c.phones.last_code();
    c.app().clock.advance(5 * 60 + 1);
    assert_fail(&c.answer(&s, &code).await);
    // Failures counted; the codes never reach the audit log or the delivery records.
    let log = c.app().root("GET", "/api/v1/admin/audit", None).await.body;
    assert!(!log.contains(&code));
    assert!(log.contains("message.delivery"));
    let sent = c
        .app()
        .root("GET", "/api/v1/admin/deliveries?user=alice", None)
        .await
        .expect(200);
    let sent = sent.as_array().unwrap();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0]["status"], "delivered");
    assert_eq!(sent[1]["channel"], "voice");
    assert_eq!(sent[0]["destination"], "+14155550123");
    assert_eq!(sent[0]["attempts"][0]["provider"], "phones");
    assert!(!serde_json::to_string(&sent).unwrap().contains(&code));
}

#[tokio::test]
async fn a_burst_of_sends_is_cut_at_the_abuse_limits_and_audited() {
    let c = cloud_with(
        SendLimits {
            cooldown_secs: 0,
            ..SendLimits::default()
        },
        EacSettings::default(),
    )
    .await;
    let seq = c.app().audit_seq().await;
    let mut refused = 0;
    for _ in 0..100 {
        let r = c.start("alice", "sms").await;
        if r["result"] == "FAIL" {
            assert!(r["message"].as_str().unwrap().contains("Too many"), "{r}");
            refused += 1;
        }
    }
    assert_eq!(c.phones.count(), 5, "the per-user limit (5 per 15 minutes)");
    assert_eq!(refused, 95);
    let audit = c.fx.audit(seq).await;
    let refusals = audit
        .iter()
        .filter(|r| r["outcome"] == "refused:user_limit")
        .count();
    assert_eq!(refusals, 95);
    // After the window, sending works again.
    c.app().clock.advance(15 * 60);
    assert_eq!(c.start("alice", "sms").await["result"], "CHALLENGE");

    // The resend cool-down (default 30 s).
    let c = cloud().await;
    assert_eq!(c.start("alice", "sms").await["result"], "CHALLENGE");
    assert_eq!(c.start("alice", "voice").await["result"], "FAIL");
    c.app().clock.advance(30);
    assert_eq!(c.start("alice", "voice").await["result"], "CHALLENGE");
    assert_eq!(c.phones.count(), 2);
}

#[tokio::test]
async fn authenticator_codes_work_once_and_unknown_users_look_the_same() {
    let c = cloud().await;
    let code = c.fx.code(0);
    assert_success(&c.login("alice", "authenticator", &code).await);
    assert_fail(&c.login("alice", "authenticator", &code).await);
    let known = c.start("alice", "authenticator").await;
    let unknown = c.start("nobody", "authenticator").await;
    assert_eq!(known["challenge"], unknown["challenge"]);
    assert_eq!(known["message"], unknown["message"]);
    assert_fail(&c.answer(&unknown, &c.fx.code(1)).await);
}

#[tokio::test]
async fn emergency_access_codes_one_time_reusable_replaced_and_bounded() {
    let c = cloud().await;
    let g = c.eac("alice", json!({"one_time": true})).await;
    let code = g["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 10);
    assert_eq!(g["expires_at"], c.fx.now() + 12 * 3600);
    assert!(g["offline_expires_at"].as_i64().unwrap() <= g["expires_at"].as_i64().unwrap());
    assert_success(&c.login("alice", "emergency_access_code", &code).await);
    let seq = c.app().audit_seq().await;
    assert_fail(&c.login("alice", "emergency_access_code", &code).await);
    assert_eq!(c.fx.last_outcome(seq).await, "fail:passcode_reuse");

    // Reusable until it expires.
    let g = c
        .eac("alice", json!({"one_time": false, "expires_in": "30m"}))
        .await;
    let reusable = g["code"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        assert_success(&c.login("alice", "emergency_access_code", &reusable).await);
    }
    c.app().clock.advance(30 * 60);
    let seq = c.app().audit_seq().await;
    assert_fail(&c.login("alice", "emergency_access_code", &reusable).await);
    assert_eq!(c.fx.last_outcome(seq).await, "fail:emergency_code_expired");

    // A newer code replaces the older.
    let older = c.eac("alice", json!({"one_time": false})).await;
    let newer = c.eac("alice", json!({})).await;
    assert_fail(
        &c.login(
            "alice",
            "emergency_access_code",
            older["code"].as_str().unwrap(),
        )
        .await,
    );
    assert_success(
        &c.login(
            "alice",
            "emergency_access_code",
            newer["code"].as_str().unwrap(),
        )
        .await,
    );

    // Out-of-range and malformed lifetimes change nothing.
    let before = c.app().audit_seq().await;
    for body in [
        json!({"expires_in": "8d"}),
        json!({"expires_in": "0m"}),
        json!({"expires_in": "soon"}),
        json!({"offline_expires_in": "30s"}),
        json!({"colour": "red"}),
    ] {
        c.app()
            .root(
                "POST",
                "/api/v1/admin/users/alice/emergency/access-code",
                Some(body),
            )
            .await
            .expect_error(400, "invalid_request");
    }
    assert_eq!(c.app().audit_seq().await, before);
    let state = c
        .app()
        .root(
            "GET",
            "/api/v1/admin/users/alice/emergency/access-code",
            None,
        )
        .await
        .expect(200);
    assert_eq!(state["id"], newer["id"]);
    assert!(state.get("code").is_none());
}

#[tokio::test]
async fn locked_defaults_override_the_request() {
    let c = cloud_with(
        SendLimits::default(),
        EacSettings {
            default_one_time: true,
            default_expires_secs: 3600,
            default_offline_expires_secs: 1800,
            lock: true,
            length: 16,
        },
    )
    .await;
    let g = c
        .eac(
            "alice",
            json!({"one_time": false, "expires_in": "7d", "offline_expires_in": "7d"}),
        )
        .await;
    assert_eq!(g["one_time"], true);
    assert_eq!(g["expires_at"], c.fx.now() + 3600);
    assert_eq!(g["offline_expires_at"], c.fx.now() + 1800);
    assert_eq!(g["defaults_locked"], true);
    assert_eq!(g["code"].as_str().unwrap().len(), 16);
}

#[tokio::test]
async fn channel_rules_of_the_emergency_table() {
    let c = cloud().await;
    let fx = &c.fx;
    // Manager-channel credentials are refused on the cloud channel, and the log says which.
    let online = fx
        .app
        .root(
            "PUT",
            "/api/v1/admin/tokens/T1/emergency/online",
            Some(json!({"kind": "fixed"})),
        )
        .await
        .expect(200)["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let passcode = fx
        .app
        .root(
            "POST",
            "/api/v1/admin/users/alice/emergency/offline-passcode/reveal",
            Some(json!({"reason": "test"})),
        )
        .await
        .expect(200)["passcode"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokencode = fx
        .app
        .root(
            "POST",
            "/api/v1/admin/tokens/T1/emergency/offline-tokencode/reset",
            Some(json!({"online_use": true})),
        )
        .await
        .expect(200);
    assert_eq!(tokencode["online_use"], true);
    let tokencode = fx
        .app
        .root(
            "POST",
            "/api/v1/admin/tokens/T1/emergency/offline-tokencode/reveal",
            Some(json!({"reason": "test"})),
        )
        .await
        .expect(200)["tokencode"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, typed, credential) in [
        (
            "emergency_access_code",
            online.clone(),
            "online_fixed_tokencode",
        ),
        ("authenticator", online.clone(), "online_fixed_tokencode"),
        (
            "emergency_access_code",
            passcode.clone(),
            "offline_emergency_passcode",
        ),
        (
            "authenticator",
            format!("{PIN}{tokencode}"),
            "offline_emergency_tokencode",
        ),
    ] {
        let seq = fx.app.audit_seq().await;
        assert_fail(&c.login("alice", method, &typed).await);
        let rec = fx.authn_audit(seq).await.last().cloned().unwrap();
        assert_eq!(
            rec["outcome"], "fail:not_accepted_on_cloud_channel",
            "{credential}"
        );
        assert_eq!(rec["detail"]["credential"], credential);
    }
    // On the manager channel the online codes work, the emergency access code does not.
    assert_success(&fx.init("alice", &format!("{PIN}{online}")).await);
    let eac = c.eac("alice", json!({})).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let seq = fx.app.audit_seq().await;
    assert_fail(&fx.init("alice", &eac).await);
    assert_eq!(
        fx.last_outcome(seq).await,
        "fail:emergency_access_code_not_accepted_on_manager_channel"
    );
    // The emergency access code works on the cloud channel.
    assert_success(&c.login("alice", "emergency_access_code", &eac).await);
}

#[tokio::test]
async fn on_demand_tokencode_on_the_manager_channel() {
    let c = cloud().await;
    let fx = &c.fx;
    // Enabling needs a PIN by the token policy and a phone number.
    fx.app
        .root(
            "PUT",
            "/api/v1/admin/users/alice/on-demand",
            Some(json!({"pin": "12"})),
        )
        .await
        .expect_error(400, "invalid_request");
    fx.user("pete").await;
    fx.app
        .root(
            "PUT",
            "/api/v1/admin/users/pete/on-demand",
            Some(json!({"pin": "975310"})),
        )
        .await
        .expect_error(409, "conflict");
    let helpdesk = fx.app.make_admin("hd", "help-desk", "root").await;
    let r = fx
        .app
        .call(
            "PUT",
            "/api/v1/admin/users/alice/on-demand",
            Some(&helpdesk),
            Some(json!({"pin": "975310"})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 403);
    fx.app
        .root(
            "PUT",
            "/api/v1/admin/users/alice/on-demand",
            Some(json!({"pin": "975310"})),
        )
        .await
        .expect(204);

    // The on-demand PIN alone: a code goes by SMS, asked for as the next tokencode.
    let r = fx.init("alice", "975310").await;
    let v = r.json();
    assert_eq!(v["result"], "CHALLENGE", "{v}");
    assert_eq!(v["challenge"]["kind"], "next_tokencode");
    let (channel, to, code) = c.phones.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!((channel, to.as_str()), (PhoneChannel::Sms, "+14155550123"));
    let attempt = v["attempt_id"].as_str().unwrap().to_owned();
    let again = fx.verify(&attempt, "000000").await.json();
    assert_eq!(again["challenge"]["kind"], "next_tokencode");
    assert_success(&fx.verify(&attempt, &code).await);
    // The token still works as before; a wrong on-demand PIN sends nothing.
    assert_success(&fx.init("alice", &fx.passcode()).await);
    let sent = c.phones.count();
    assert_fail(&fx.init("alice", "975311").await);
    assert_eq!(c.phones.count(), sent);
    // Disabled: the PIN alone is just a wrong passcode.
    fx.app
        .root("DELETE", "/api/v1/admin/users/alice/on-demand", None)
        .await
        .expect(204);
    c.app().clock.advance(31);
    assert_fail(&fx.init("alice", "975310").await);
    assert_eq!(c.phones.count(), sent);
    fx.app
        .root("DELETE", "/api/v1/admin/users/alice/on-demand", None)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn a_domain_chooses_which_cloud_methods_it_offers() {
    let c = cloud().await;
    c.fx.set_policy(
        "emergency",
        json!({"cloud_sms": false, "cloud_access_code": false}),
    )
    .await;
    let m = c.post("methods", json!({"user": "alice"})).await.json();
    assert_eq!(m["methods"], json!(["authenticator", "voice"]));
    let seq = c.app().audit_seq().await;
    assert_fail(
        &c.post("start", json!({"user": "alice", "method": "sms"}))
            .await,
    );
    assert_eq!(c.phones.count(), 0);
    assert_eq!(c.fx.last_outcome(seq).await, "fail:method_not_allowed");
    assert_fail(
        &c.post(
            "start",
            json!({"user": "alice", "method": "emergency_access_code"}),
        )
        .await,
    );
    assert_eq!(
        c.start("alice", "voice").await["challenge"]["kind"],
        "voice_code"
    );
}
