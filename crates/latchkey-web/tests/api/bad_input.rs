//! Bad input gets a clear 4xx naming the field, and writes nothing.

use serde_json::{Value, json};

use crate::common::{App, Resp, app};

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// Sends a request that must fail with `status`/`code` and change nothing; returns the body.
async fn refused(
    app: &App,
    method: &str,
    path: &str,
    body: Value,
    status: u16,
    field: Option<&str>,
) -> Value {
    let before = app.audit_seq().await;
    let r = app.root(method, path, Some(body)).await;
    let code = match status {
        404 => "not_found",
        409 => "conflict",
        _ => "invalid_request",
    };
    let v = r.expect_error(status, code);
    if let Some(f) = field {
        assert_eq!(v["field"], f, "{}", r.body);
    }
    assert_eq!(
        app.audit_seq().await,
        before,
        "{method} {path} wrote an audit record"
    );
    v
}

async fn absent(app: &App, path: &str) {
    app.root("GET", path, None)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn token_imports_are_checked() {
    let app = app().await;
    let tokens = "/api/v1/admin/tokens/import";
    refused(
        &app,
        "POST",
        tokens,
        json!({"serial": "T1", "type": "totp", "secret": "JBSWY3DP!EHPK3PXP"}),
        400,
        Some("secret"),
    )
    .await;
    refused(
        &app,
        "POST",
        tokens,
        json!({"serial": "T1", "type": "totp", "secret": "JBSW"}),
        400,
        Some("secret"),
    )
    .await;
    refused(
        &app,
        "POST",
        tokens,
        json!({"serial": "T1", "secret": SEED}),
        400,
        Some("type"),
    )
    .await;
    refused(
        &app,
        "POST",
        tokens,
        json!({"serial": "T1", "type": "totp", "secret": SEED, "digits": 7}),
        400,
        Some("digits"),
    )
    .await;
    let uri = |digits: u32| {
        format!("otpauth://totp/Acme:alice?secret={SEED}&issuer=Acme&digits={digits}")
    };
    refused(
        &app,
        "POST",
        tokens,
        json!({"serial": "T1", "uri": uri(9)}),
        400,
        Some("uri"),
    )
    .await;
    refused(
        &app,
        "POST",
        tokens,
        json!({"serial": "T1", "uri": uri(7)}),
        400,
        Some("digits"),
    )
    .await;
    refused(
        &app,
        "POST",
        tokens,
        json!({"serial": "T1", "uri": "https://example.org/"}),
        400,
        Some("uri"),
    )
    .await;
    refused(
        &app,
        "POST",
        tokens,
        json!({"serial": "bad serial!", "type": "totp", "secret": SEED}),
        400,
        Some("serial"),
    )
    .await;
    absent(&app, "/api/v1/admin/tokens/T1").await;
    // and the good one goes through
    app.root("POST", tokens, Some(json!({"serial": "T1", "uri": uri(6)})))
        .await
        .expect(201);
    refused(
        &app,
        "POST",
        tokens,
        json!({"serial": "T1", "uri": uri(6)}),
        409,
        None,
    )
    .await;
}

#[tokio::test]
async fn users_are_checked() {
    let app = app().await;
    let users = "/api/v1/admin/users";
    app.root("POST", users, Some(json!({"login": "alice"})))
        .await
        .expect(201);
    refused(&app, "POST", users, json!({"login": "alice"}), 409, None).await;
    refused(&app, "POST", users, json!({"login": "ALICE "}), 409, None).await;
    refused(
        &app,
        "POST",
        users,
        json!({"login": "bob", "phones": [{"number": "+1 415 555"}]}),
        400,
        Some("phones"),
    )
    .await;
    refused(
        &app,
        "POST",
        users,
        json!({"login": "bob", "phones": [{"number": "4155550123"}]}),
        400,
        Some("phones"),
    )
    .await;
    refused(
        &app,
        "POST",
        users,
        json!({"login": "bob", "email": "not-an-address"}),
        400,
        Some("email"),
    )
    .await;
    refused(
        &app,
        "POST",
        users,
        json!({"login": "x".repeat(65)}),
        400,
        Some("login"),
    )
    .await;
    refused(
        &app,
        "POST",
        users,
        json!({"login": "bob", "domain": "nowhere"}),
        404,
        None,
    )
    .await;
    absent(&app, "/api/v1/admin/users/bob").await;
    refused(
        &app,
        "PATCH",
        "/api/v1/admin/users/alice",
        json!({"status": "locked"}),
        400,
        Some("status"),
    )
    .await;
    refused(
        &app,
        "PATCH",
        "/api/v1/admin/users/alice",
        json!({}),
        400,
        Some("body"),
    )
    .await;
}

#[tokio::test]
async fn malformed_json_is_refused_with_the_field_named() {
    let app = app().await;
    let users = "/api/v1/admin/users";
    let v = refused(
        &app,
        "POST",
        users,
        json!({"login": "bob", "colour": "red"}),
        400,
        Some("colour"),
    )
    .await;
    assert!(
        v["message"].as_str().unwrap().contains("unknown field"),
        "{v}"
    );
    let v = refused(&app, "POST", users, json!({"login": 5}), 400, Some("login")).await;
    assert!(
        v["message"].as_str().unwrap().contains("invalid type"),
        "{v}"
    );
    refused(
        &app,
        "POST",
        users,
        json!({"email": "a@example.org"}),
        400,
        Some("login"),
    )
    .await;
    refused(
        &app,
        "POST",
        users,
        json!({"login": "bob", "phones": "+14155550123"}),
        400,
        Some("phones"),
    )
    .await;
    refused(
        &app,
        "POST",
        users,
        json!({"login": "bob", "phones": [{"number": "+14155550123", "x": 1}]}),
        400,
        None,
    )
    .await;
    refused(&app, "POST", users, json!(["bob"]), 400, None).await;
    refused(
        &app,
        "POST",
        "/api/v1/admin/tokens/generate",
        json!({"type": "sms"}),
        400,
        Some("type"),
    )
    .await;

    let before = app.audit_seq().await;
    let bad = |r: Resp| r.expect_error(400, "invalid_request");
    bad(app
        .call_raw(
            "POST",
            users,
            &app.root,
            Some("application/json"),
            b"{\"login\": ".to_vec(),
        )
        .await);
    bad(app
        .call_raw(
            "POST",
            users,
            &app.root,
            Some("application/json"),
            b"{\"login\": \"bob\"} x".to_vec(),
        )
        .await);
    bad(app
        .call_raw(
            "POST",
            users,
            &app.root,
            Some("application/json"),
            Vec::new(),
        )
        .await);
    bad(app
        .call_raw(
            "POST",
            users,
            &app.root,
            None,
            b"{\"login\": \"bob\"}".to_vec(),
        )
        .await);
    bad(app
        .call_raw(
            "POST",
            users,
            &app.root,
            Some("text/plain"),
            b"{\"login\": \"bob\"}".to_vec(),
        )
        .await);
    // Over 64 KiB: 413 with an ErrorBody, and nothing read into a user.
    let mut big = b"{\"login\": \"bob\", \"email\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 100 * 1024));
    big.extend(b"@example.org\"}");
    app.call_raw("POST", users, &app.root, Some("application/json"), big)
        .await
        .expect_error(413, "invalid_request");
    assert_eq!(app.audit_seq().await, before);
    absent(&app, "/api/v1/admin/users/bob").await;
}

#[tokio::test]
async fn policies_are_checked() {
    let app = app().await;
    app.root(
        "POST",
        "/api/v1/admin/domains",
        Some(json!({"name": "alpha"})),
    )
    .await
    .expect(201);
    let lockout = "/api/v1/admin/domains/alpha/policies/lockout";
    refused(
        &app,
        "PUT",
        lockout,
        json!({"kind": "lockout", "value": {"max_failures": 0}}),
        400,
        Some("max_failures"),
    )
    .await;
    refused(
        &app,
        "PUT",
        lockout,
        json!({"kind": "lockout", "value": {"window_seconds": 5}}),
        400,
        Some("window_seconds"),
    )
    .await;
    refused(
        &app,
        "PUT",
        lockout,
        json!({"kind": "lockout", "value": {"max_failures": -1}}),
        400,
        Some("value.max_failures"),
    )
    .await;
    refused(
        &app,
        "PUT",
        lockout,
        json!({"kind": "lockout", "value": {"colour": 1}}),
        400,
        None,
    )
    .await;
    refused(
        &app,
        "PUT",
        lockout,
        json!({"kind": "token", "value": {}}),
        400,
        Some("kind"),
    )
    .await;
    refused(
        &app,
        "PUT",
        "/api/v1/admin/domains/alpha/policies/nonsense",
        json!({"kind": "token", "value": {}}),
        400,
        Some("kind"),
    )
    .await;
    refused(
        &app,
        "PUT",
        "/api/v1/admin/domains/alpha/policies/token",
        json!({"kind": "token", "value": {"pin_min_length": 8, "pin_max_length": 4}}),
        400,
        Some("pin_max_length"),
    )
    .await;
    let p = app
        .root("GET", "/api/v1/admin/domains/alpha/policies", None)
        .await
        .expect(200);
    assert_eq!(p["effective"]["lockout"]["max_failures"], 5);
    // Clearing the root's policies is refused too.
    let before = app.audit_seq().await;
    app.root(
        "DELETE",
        "/api/v1/admin/domains/root/policies/lockout",
        None,
    )
    .await
    .expect_error(400, "invalid_request");
    assert_eq!(app.audit_seq().await, before);
    // A valid one is written.
    app.root(
        "PUT",
        lockout,
        Some(json!({"kind": "lockout", "value": {"max_failures": 7}})),
    )
    .await
    .expect(200);
    let p = app
        .root("GET", "/api/v1/admin/domains/alpha/policies", None)
        .await
        .expect(200);
    assert_eq!(p["effective"]["lockout"]["max_failures"], 7);
    app.root("DELETE", lockout, None).await.expect(204);
}

#[tokio::test]
async fn agents_and_pins_are_checked() {
    let app = app().await;
    let agents = "/api/v1/admin/agents";
    // The Security Console's own agent name cannot be taken by anyone else.
    refused(
        &app,
        "POST",
        agents,
        json!({"name": "security-console", "kind": "rest"}),
        409,
        None,
    )
    .await;
    refused(
        &app,
        "POST",
        agents,
        json!({"name": "nas1", "kind": "radius"}),
        400,
        Some("address"),
    )
    .await;
    refused(
        &app,
        "POST",
        agents,
        json!({"name": "nas1", "kind": "radius", "address": "not-an-ip"}),
        400,
        Some("address"),
    )
    .await;
    refused(
        &app,
        "POST",
        agents,
        json!({"name": "nas1", "kind": "radius", "address": "192.0.2.1", "secret": "short"}),
        400,
        Some("secret"),
    )
    .await;
    refused(
        &app,
        "POST",
        agents,
        json!({"name": "web1", "kind": "rest", "address": "192.0.2.1"}),
        400,
        Some("kind"),
    )
    .await;
    absent(&app, "/api/v1/admin/agents/nas1").await;
    app.root(
        "POST",
        agents,
        Some(json!({"name": "nas1", "kind": "radius", "address": "192.0.2.0/24"})),
    )
    .await
    .expect(201);

    app.root(
        "POST",
        "/api/v1/admin/tokens/import",
        Some(json!({"serial": "T1", "type": "totp", "secret": SEED})),
    )
    .await
    .expect(201);
    let pin = "/api/v1/admin/tokens/T1/pin";
    refused(&app, "PUT", pin, json!({"pin": "12"}), 400, Some("pin")).await;
    refused(&app, "PUT", pin, json!({"pin": "12ab"}), 400, Some("pin")).await;
    refused(
        &app,
        "PUT",
        pin,
        json!({"pin": "123456789"}),
        400,
        Some("pin"),
    )
    .await;
    refused(&app, "PUT", pin, json!({"pin": 1234}), 400, Some("pin")).await;
    refused(&app, "PUT", pin, json!({}), 400, Some("pin")).await;
    let t = app
        .root("GET", "/api/v1/admin/tokens/T1", None)
        .await
        .expect(200);
    assert_eq!(t["has_pin"], false);
    refused(
        &app,
        "PUT",
        "/api/v1/admin/tokens/NOPE/pin",
        json!({"pin": "1234"}),
        404,
        None,
    )
    .await;
}
