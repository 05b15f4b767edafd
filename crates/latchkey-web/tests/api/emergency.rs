//! Emergency access on the manager channel (PRODUCT.md §4): granting online emergency
//! tokencodes and using them through the agent API, the "if the token becomes available"
//! behaviours, offline emergency values (read with a reason, reset, online use), rights,
//! notifications, and bad input that changes nothing. Time moves on the fake clock.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::authn::{Fx, PIN, assert_fail, assert_success};
use crate::common::{Options, app_with_options};

const DAY: i64 = 86_400;

fn online(serial: &str) -> String {
    format!("/api/v1/admin/tokens/{serial}/emergency/online")
}

fn passcode_path(login: &str, verb: &str) -> String {
    format!("/api/v1/admin/users/{login}/emergency/offline-passcode{verb}")
}

fn tokencode_path(serial: &str, verb: &str) -> String {
    format!("/api/v1/admin/tokens/{serial}/emergency/offline-tokencode{verb}")
}

/// An RFC 3339 time `secs` from the fake clock's now.
fn at(fx: &Fx, secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(fx.now() + secs)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

impl Fx {
    async fn grant(&self, serial: &str, body: Value) -> Value {
        self.app
            .root("PUT", &online(serial), Some(body))
            .await
            .expect(200)
    }

    async fn reveal(&self, path: &str, reason: &str) -> Value {
        self.app
            .root("POST", path, Some(json!({ "reason": reason })))
            .await
            .expect(200)
    }

    /// The last authentication outcome recorded after `seq`.
    pub(crate) async fn last_outcome(&self, seq: i64) -> String {
        self.outcomes(seq).await.last().cloned().unwrap_or_default()
    }

    async fn outbox_events(&self, login: &str) -> Vec<String> {
        let v = self
            .app
            .root("GET", &format!("/api/v1/admin/outbox?user={login}"), None)
            .await
            .expect(200);
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n["event"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn fixed_tokencode_works_with_the_pin_until_it_expires() {
    let fx = Fx::new().await;
    let g = fx
        .grant("T1", json!({"kind": "fixed", "expires": at(&fx, 2 * DAY)}))
        .await;
    let code = g["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 8);
    assert!(g.get("codes").is_none());
    assert_eq!(g["kind"], "fixed");
    assert_eq!(g["expires_at"], fx.now() + 2 * DAY);
    // Default format: digits and upper case, without the ambiguous characters.
    assert!(
        code.chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            && !code.contains(['0', '1', 'O', 'I'])
    );

    let seq = fx.app.audit_seq().await;
    assert_success(&fx.init("alice", &format!("{PIN}{code}")).await);
    // Reusable, and typed in lower case too (the format has no lower case letters).
    assert_success(
        &fx.init("alice", &format!("{PIN}{}", code.to_lowercase()))
            .await,
    );
    // The token has a PIN: the code alone, or with a wrong PIN, is refused.
    assert_fail(&fx.init("alice", &code).await);
    assert_fail(&fx.init("alice", &format!("00000000{code}")).await);
    let records = fx.authn_audit(seq).await;
    assert_eq!(records[0]["outcome"], "success");
    let detail = &records[0]["detail"];
    assert_eq!(detail["credential"], "online_fixed_tokencode");
    assert_eq!(detail["serial"], "T1");

    // One second before expiry it still works; at expiry it does not, and the end of
    // emergency access is recorded.
    fx.app.clock.advance(2 * DAY - 1);
    assert_success(&fx.init("alice", &format!("{PIN}{code}")).await);
    fx.app.clock.advance(1);
    let seq = fx.app.audit_seq().await;
    assert_fail(&fx.init("alice", &format!("{PIN}{code}")).await);
    assert_eq!(fx.last_outcome(seq).await, "fail:emergency_code_expired");
    let all = fx.audit(seq).await;
    assert!(
        all.iter()
            .any(|r| r["action"] == "emergency.online.expire" && r["actor"] == "system")
    );
    fx.app
        .root("GET", &online("T1"), None)
        .await
        .expect_error(404, "not_found");
    // The token itself works again.
    fx.tick();
    assert_success(&fx.init("alice", &fx.passcode()).await);
}

#[tokio::test]
async fn each_one_time_tokencode_works_once() {
    let fx = Fx::new().await;
    let g = fx
        .grant("T1", json!({"kind": "one_time", "count": 3}))
        .await;
    let codes: Vec<String> = g["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 3);
    assert!(g.get("code").is_none());
    // Default lifetime: 7 days.
    assert_eq!(g["expires_at"], fx.now() + 7 * DAY);
    let mut distinct = codes.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);

    for (i, c) in codes.iter().enumerate() {
        assert_success(&fx.init("alice", &format!("{PIN}{c}")).await);
        let seq = fx.app.audit_seq().await;
        assert_fail(&fx.init("alice", &format!("{PIN}{c}")).await);
        assert_eq!(fx.last_outcome(seq).await, "fail:passcode_reuse");
        let view = fx.app.root("GET", &online("T1"), None).await.expect(200);
        assert_eq!(view["unused_codes"], 2 - i as u64);
        assert_eq!(view["kind"], "one_time");
    }
    // Replaying used codes counted as failures; a success resets the count, so the user is
    // still enabled under the default limit of 5.
    assert_eq!(fx.user_status("alice").await, "enabled");
}

#[tokio::test]
async fn a_token_without_a_pin_takes_the_code_alone() {
    let fx = Fx::new().await;
    fx.user("bob").await;
    fx.import("B1", "bob", "totp").await;
    let g = fx.grant("B1", json!({"kind": "fixed"})).await;
    let code = g["code"].as_str().unwrap();
    assert_success(&fx.init("bob", code).await);
    assert_fail(&fx.init("bob", &format!("1234{code}")).await);
    // Alice's token is not in emergency access: Bob's code is nothing to her.
    assert_fail(&fx.init("alice", &format!("{PIN}{code}")).await);
}

#[tokio::test]
async fn deny_token_refuses_the_found_token_while_codes_keep_working() {
    let fx = Fx::new().await;
    let g = fx
        .grant(
            "T1",
            json!({"kind": "fixed", "token_available": "deny_token"}),
        )
        .await;
    let code = g["code"].as_str().unwrap().to_owned();
    let seq = fx.app.audit_seq().await;
    assert_fail(&fx.init("alice", &fx.passcode()).await);
    assert_eq!(
        fx.last_outcome(seq).await,
        "fail:token_refused_during_emergency_access"
    );
    assert_success(&fx.init("alice", &format!("{PIN}{code}")).await);
    // Still in emergency access.
    fx.app.root("GET", &online("T1"), None).await.expect(200);
    fx.tick();
    assert_fail(&fx.init("alice", &fx.passcode()).await);
}

#[tokio::test]
async fn allow_and_end_lets_the_token_in_and_ends_emergency_access() {
    let fx = Fx::new().await;
    // The emergency settings' default behaviour.
    let g = fx.grant("T1", json!({"kind": "fixed"})).await;
    assert_eq!(g["token_available"], "allow_and_end_emergency");
    let code = g["code"].as_str().unwrap().to_owned();
    assert_success(&fx.init("alice", &format!("{PIN}{code}")).await);
    let seq = fx.app.audit_seq().await;
    assert_success(&fx.init("alice", &fx.passcode()).await);
    let all = fx.audit(seq).await;
    assert!(
        all.iter()
            .any(|r| r["action"] == "emergency.online.end" && r["actor"] == "agent:web1"),
        "{all:?}"
    );
    fx.app
        .root("GET", &online("T1"), None)
        .await
        .expect_error(404, "not_found");
    let seq = fx.app.audit_seq().await;
    assert_fail(&fx.init("alice", &format!("{PIN}{code}")).await);
    assert_eq!(fx.last_outcome(seq).await, "fail:wrong_pin");
}

#[tokio::test]
async fn allow_after_expiry_refuses_the_token_until_the_codes_expire() {
    let fx = Fx::new().await;
    fx.grant(
        "T1",
        json!({"kind": "one_time", "count": 1, "expires": at(&fx, DAY),
               "token_available": "allow_after_expiry"}),
    )
    .await;
    let seq = fx.app.audit_seq().await;
    assert_fail(&fx.init("alice", &fx.passcode()).await);
    assert_eq!(
        fx.last_outcome(seq).await,
        "fail:token_refused_during_emergency_access"
    );
    fx.app.clock.advance(DAY);
    assert_success(&fx.init("alice", &fx.passcode()).await);
    fx.app
        .root("GET", &online("T1"), None)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn lifetimes_are_bounded_by_the_deployment_maximum() {
    let fx = Fx::new().await;
    let before = fx.app.audit_seq().await;
    let e = fx
        .app
        .root(
            "PUT",
            &online("T1"),
            Some(json!({"kind": "fixed", "expires": at(&fx, 30 * DAY + 1)})),
        )
        .await
        .expect_error(400, "invalid_request");
    assert_eq!(e["field"], "expires");
    assert!(e["message"].as_str().unwrap().contains("30 days"));
    fx.app
        .root(
            "PUT",
            &online("T1"),
            Some(json!({"kind": "fixed", "expires": "never"})),
        )
        .await
        .expect_error(400, "invalid_request");
    assert_eq!(fx.app.audit_seq().await, before, "nothing written");
    fx.grant("T1", json!({"kind": "fixed", "expires": at(&fx, 30 * DAY)}))
        .await;

    // A deployment without a maximum allows no expiration.
    let fx = Fx::on(
        app_with_options(Options {
            max_emergency_days: None,
            ..Options::default()
        })
        .await,
    )
    .await;
    let g = fx
        .grant("T1", json!({"kind": "fixed", "expires": "never"}))
        .await;
    assert_eq!(g["expires_at"], Value::Null);
    fx.app.clock.advance(400 * DAY);
    let code = g["code"].as_str().unwrap();
    assert_success(&fx.init("alice", &format!("{PIN}{code}")).await);
}

#[tokio::test]
async fn bad_grants_are_refused_and_change_nothing() {
    let fx = Fx::new().await;
    fx.app
        .root(
            "POST",
            "/api/v1/admin/tokens/import",
            Some(json!({"serial": "FREE", "type": "totp", "secret": "JBSWY3DPEHPK3PXP"})),
        )
        .await
        .expect(201);
    fx.user("carol").await;
    fx.import("OFF", "carol", "totp").await;
    fx.app
        .root(
            "PATCH",
            "/api/v1/admin/tokens/OFF",
            Some(json!({"enabled": false})),
        )
        .await
        .expect(200);
    let before = fx.app.audit_seq().await;
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("NOPE", json!({"kind": "fixed"}), 404, "not_found"),
        ("FREE", json!({"kind": "fixed"}), 409, "conflict"),
        ("OFF", json!({"kind": "fixed"}), 409, "conflict"),
        (
            "T1",
            json!({"kind": "one_time", "count": 0}),
            400,
            "invalid_request",
        ),
        (
            "T1",
            json!({"kind": "one_time", "count": 101}),
            400,
            "invalid_request",
        ),
        (
            "T1",
            json!({"kind": "fixed", "count": 2}),
            400,
            "invalid_request",
        ),
        (
            "T1",
            json!({"kind": "fixed", "expires": "2026-13-01"}),
            400,
            "invalid_request",
        ),
        (
            "T1",
            json!({"kind": "fixed", "expires": "next week"}),
            400,
            "invalid_request",
        ),
        (
            "T1",
            json!({"kind": "fixed", "expires": "2020-01-01"}),
            400,
            "invalid_request",
        ),
        ("T1", json!({"kind": "sometimes"}), 400, "invalid_request"),
        (
            "T1",
            json!({"kind": "fixed", "colour": "red"}),
            400,
            "invalid_request",
        ),
        (
            "T1",
            json!({"kind": "fixed", "token_available": "maybe"}),
            400,
            "invalid_request",
        ),
    ];
    for (serial, body, status, code) in cases {
        let r = fx
            .app
            .root("PUT", &online(serial), Some(body.clone()))
            .await;
        assert_eq!(r.status.as_u16(), status, "{serial} {body}: {}", r.body);
        r.expect_error(status, code);
    }
    assert_eq!(fx.app.audit_seq().await, before, "nothing written");
    fx.app
        .root("GET", &online("T1"), None)
        .await
        .expect_error(404, "not_found");
    assert!(fx.outbox_events("alice").await.is_empty());
}

#[tokio::test]
async fn offline_emergency_passcode_is_read_with_a_reason_and_never_accepted_online() {
    let fx = Fx::new().await;
    let path = passcode_path("alice", "/reveal");
    // No value until it is first needed.
    fx.app
        .root("GET", &passcode_path("alice", ""), None)
        .await
        .expect_error(404, "not_found");
    // A reason is required.
    let before = fx.app.audit_seq().await;
    fx.app
        .root("POST", &path, Some(json!({"reason": "  "})))
        .await
        .expect_error(400, "invalid_request");
    fx.app
        .root("POST", &path, Some(json!({})))
        .await
        .expect_error(400, "invalid_request");
    assert_eq!(fx.app.audit_seq().await, before);

    let v = fx.reveal(&path, "INC-1042 laptop offline").await;
    let value = v["passcode"].as_str().unwrap().to_owned();
    assert_eq!(value.len(), 12);
    assert_eq!(v["generation"], 1);
    assert_eq!(v["expires_at"], fx.now() + 30 * DAY);
    assert_eq!(v["hosts"], json!([]));
    assert!(v.get("tokencode").is_none());
    let records = fx.audit(before).await;
    let read = records
        .iter()
        .find(|r| r["action"] == "emergency.offline_passcode.reveal")
        .unwrap();
    assert_eq!(read["actor"], "admin:admin");
    assert_eq!(read["target"], "user:alice");
    assert_eq!(read["detail"]["reason"], "INC-1042 laptop offline");
    assert!(!read["detail"].to_string().contains(&value));
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "emergency.offline_passcode.generate")
    );
    // The same value until it is reset; the state view never shows it.
    assert_eq!(fx.reveal(&path, "again").await["passcode"], value.as_str());
    let state = fx
        .app
        .root("GET", &passcode_path("alice", ""), None)
        .await
        .expect(200);
    assert!(state.get("passcode").is_none());
    assert_eq!(state["generation"], 1);

    // Online, it is refused and counted, and the audit log says why.
    let seq = fx.app.audit_seq().await;
    assert_fail(&fx.init("alice", &value).await);
    assert_eq!(
        fx.last_outcome(seq).await,
        "fail:offline_emergency_passcode_not_accepted_online"
    );

    // Reset: a new generation; the old value is no longer the one delivered.
    let r = fx
        .app
        .root(
            "POST",
            &passcode_path("alice", "/reset"),
            Some(json!({"reason": "read to the wrong caller"})),
        )
        .await
        .expect(200);
    assert_eq!(r["generation"], 2);
    assert!(r.get("passcode").is_none());
    let fresh = fx.reveal(&path, "INC-1043").await;
    assert_eq!(fresh["generation"], 2);
    assert_ne!(fresh["passcode"], value.as_str());

    // Renewed automatically when needed after it expires.
    fx.app.clock.advance(30 * DAY);
    let seq = fx.app.audit_seq().await;
    let renewed = fx.reveal(&path, "INC-1099").await;
    assert_eq!(renewed["generation"], 3);
    assert_ne!(renewed["passcode"], fresh["passcode"]);
    assert!(
        fx.audit(seq)
            .await
            .iter()
            .any(|r| r["action"] == "emergency.offline_passcode.renew")
    );

    let events = fx.outbox_events("alice").await;
    assert!(events.contains(&"emergency.offline.revealed".to_owned()));
    assert!(events.contains(&"emergency.offline.reset".to_owned()));
}

#[tokio::test]
async fn offline_emergency_tokencode_is_accepted_online_only_when_allowed() {
    let fx = Fx::new().await;
    let v = fx
        .reveal(&tokencode_path("T1", "/reveal"), "INC-7 token at home")
        .await;
    let code = v["tokencode"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 12);
    assert_eq!(v["online_use"], false);
    assert_eq!(v["serial"], "T1");
    assert_eq!(v["user"], "alice");

    let seq = fx.app.audit_seq().await;
    assert_fail(&fx.init("alice", &format!("{PIN}{code}")).await);
    assert_eq!(
        fx.last_outcome(seq).await,
        "fail:offline_emergency_tokencode_not_allowed_online"
    );

    let s = fx
        .app
        .root(
            "PATCH",
            &tokencode_path("T1", ""),
            Some(json!({"online_use": true})),
        )
        .await
        .expect(200);
    assert_eq!(s["online_use"], true);
    assert!(s.get("tokencode").is_none());
    let seq = fx.app.audit_seq().await;
    assert_success(&fx.init("alice", &format!("{PIN}{code}")).await);
    assert_success(&fx.init("alice", &format!("{PIN}{code}")).await);
    let detail = fx.authn_audit(seq).await[0]["detail"].clone();
    assert_eq!(detail["credential"], "offline_emergency_tokencode");
    // It replaces the tokencode only: the PIN is still needed.
    assert_fail(&fx.init("alice", &code).await);

    // Reset keeps the online-use setting unless told otherwise; the old value stops working.
    let r = fx
        .app
        .root("POST", &tokencode_path("T1", "/reset"), Some(json!({})))
        .await
        .expect(200);
    assert_eq!(r["generation"], 2);
    assert_eq!(r["online_use"], true);
    assert_fail(&fx.init("alice", &format!("{PIN}{code}")).await);
    let new = fx.reveal(&tokencode_path("T1", "/reveal"), "INC-8").await;
    assert_success(
        &fx.init(
            "alice",
            &format!("{PIN}{}", new["tokencode"].as_str().unwrap()),
        )
        .await,
    );
    // The passcode never takes online_use.
    fx.app
        .root(
            "POST",
            &passcode_path("alice", "/reset"),
            Some(json!({"online_use": true})),
        )
        .await
        .expect_error(400, "invalid_request");
    assert!(
        fx.outbox_events("alice")
            .await
            .contains(&"emergency.used".to_owned())
    );
}

#[tokio::test]
async fn emergency_rights_need_the_privileged_role_within_scope() {
    let fx = Fx::new().await;
    let app = &fx.app;
    app.root(
        "POST",
        "/api/v1/admin/domains",
        Some(json!({"name": "alpha"})),
    )
    .await
    .expect(201);
    app.root(
        "POST",
        "/api/v1/admin/domains",
        Some(json!({"name": "bravo"})),
    )
    .await
    .expect(201);
    app.root(
        "POST",
        "/api/v1/admin/users",
        Some(json!({"login": "dave", "domain": "alpha"})),
    )
    .await
    .expect(201);
    fx.import("D1", "dave", "totp").await;
    let helpdesk = app.make_admin("hana", "help-desk", "alpha").await;
    let auditor = app.make_admin("audi", "auditor", "root").await;
    let outsider = app
        .make_admin("otto", "privileged-help-desk", "bravo")
        .await;
    let privileged = app.make_admin("pia", "privileged-help-desk", "alpha").await;
    let reveal = json!({"reason": "INC-1"});
    let before = app.audit_seq().await;
    for token in [&helpdesk, &auditor, &outsider] {
        for (method, path, body) in [
            (
                "POST",
                passcode_path("dave", "/reveal"),
                Some(reveal.clone()),
            ),
            ("POST", passcode_path("dave", "/reset"), Some(json!({}))),
            (
                "POST",
                tokencode_path("D1", "/reveal"),
                Some(reveal.clone()),
            ),
            ("PUT", online("D1"), Some(json!({"kind": "fixed"}))),
        ] {
            let r = app.call(method, &path, Some(token), body).await;
            assert_eq!(r.status.as_u16(), 403, "{method} {path}: {}", r.body);
        }
    }
    assert_eq!(app.audit_seq().await, before, "refusals change nothing");
    // A help desk administrator may see that a value exists, not read it.
    app.call("GET", &passcode_path("dave", ""), Some(&helpdesk), None)
        .await
        .expect_error(404, "not_found");

    let v = app
        .call(
            "POST",
            &passcode_path("dave", "/reveal"),
            Some(&privileged),
            Some(reveal.clone()),
        )
        .await
        .expect(200);
    assert_eq!(v["passcode"].as_str().unwrap().len(), 12);
    let g = app
        .call(
            "PUT",
            &online("D1"),
            Some(&privileged),
            Some(json!({"kind": "one_time"})),
        )
        .await
        .expect(200);
    assert_eq!(g["codes"].as_array().unwrap().len(), 10);
    let reads: Vec<Value> = fx
        .audit(before)
        .await
        .into_iter()
        .filter(|r| r["action"] == "emergency.offline_passcode.reveal")
        .collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0]["actor"], "admin:pia");
    // The privileged help desk of bravo does not see alpha's outbox.
    let seen = app
        .call("GET", "/api/v1/admin/outbox", Some(&outsider), None)
        .await
        .expect(200);
    assert_eq!(seen, json!([]));
}

#[tokio::test]
async fn emergency_failures_count_toward_lockout_and_notices_hold_no_code() {
    let fx = Fx::new().await;
    fx.set_policy("lockout", json!({"max_failures": 2})).await;
    let g = fx
        .grant("T1", json!({"kind": "fixed", "expires": at(&fx, DAY)}))
        .await;
    let code = g["code"].as_str().unwrap().to_owned();
    assert_success(&fx.init("alice", &format!("{PIN}{code}")).await);
    fx.app.clock.advance(DAY);
    assert_fail(&fx.init("alice", &format!("{PIN}{code}")).await);
    assert_fail(&fx.init("alice", &format!("{PIN}{code}")).await);
    assert_eq!(fx.user_status("alice").await, "locked");
    let notices = fx
        .app
        .root("GET", "/api/v1/admin/outbox?user=alice", None)
        .await
        .expect(200);
    let events: Vec<&str> = notices
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["emergency.used", "emergency.online.issued"]);
    assert!(!notices.to_string().contains(&code));
    assert_eq!(notices[0]["channel"], "none");
}

#[tokio::test]
async fn reassigning_a_token_ends_its_emergency_credentials() {
    let fx = Fx::new().await;
    fx.user("erin").await;
    let g = fx.grant("T1", json!({"kind": "fixed"})).await;
    let code = g["code"].as_str().unwrap().to_owned();
    fx.reveal(&tokencode_path("T1", "/reveal"), "INC-5").await;
    fx.app
        .root(
            "PATCH",
            "/api/v1/admin/tokens/T1",
            Some(json!({"user": "erin"})),
        )
        .await
        .expect(200);
    fx.app
        .root("GET", &online("T1"), None)
        .await
        .expect_error(404, "not_found");
    fx.app
        .root("GET", &tokencode_path("T1", ""), None)
        .await
        .expect_error(404, "not_found");
    assert_fail(&fx.init("erin", &format!("{PIN}{code}")).await);
}
