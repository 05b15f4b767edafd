//! Secrets appear once, in the answer that creates them, and nowhere else: not in later
//! answers, error answers, the audit export or the log.

use latchkey_crypto::base32::encode_base32;
use serde_json::json;

use crate::common::{App, Resp, app, capture_logs, hex};

const SEED: &[u8; 20] =
    b"\x8b\x01\xfa\x5c\x33\x91\x07\xee\x42\xd0\x9a\x1f\x66\x2b\xc4\x78\x0e\x55\xa3\x19";
const PIN: &str = "482916";

#[tokio::test]
async fn secrets_are_shown_once_and_never_logged() {
    let (_guard, logs) = capture_logs();
    let app = app().await;
    let seed_b32 = encode_base32(SEED);
    let seed_hex = hex(SEED);
    let mut bodies: Vec<(String, String)> = Vec::new();
    macro_rules! keep {
        ($label:expr, $resp:expr) => {{
            let r = $resp;
            bodies.push(($label.to_string(), r.body.clone()));
            r
        }};
    }

    app.root(
        "POST",
        "/api/v1/admin/users",
        Some(json!({"login": "alice"})),
    )
    .await
    .expect(201);
    let r = keep!(
        "import",
        app.root(
            "POST",
            "/api/v1/admin/tokens/import",
            Some(json!({"serial": "T1", "user": "alice", "type": "totp", "secret": seed_b32})),
        )
        .await
    );
    r.expect(201);
    keep!(
        "set pin",
        app.root(
            "PUT",
            "/api/v1/admin/tokens/T1/pin",
            Some(json!({"pin": PIN}))
        )
        .await
    )
    .expect(200);

    let created_agent = app
        .root(
            "POST",
            "/api/v1/admin/agents",
            Some(json!({"name": "web1", "kind": "rest"})),
        )
        .await;
    let api_key = created_agent.expect(201)["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let created_admin = app
        .root(
            "POST",
            "/api/v1/admin/admins",
            Some(json!({"name": "carol", "role": "domain-admin"})),
        )
        .await;
    let v = created_admin.expect(201);
    let admin_token = v["token"].as_str().unwrap().to_owned();
    let admin_password = v["password"].as_str().unwrap().to_owned();
    assert!(api_key.len() >= 20 && admin_token.len() >= 20 && admin_password.len() >= 16);
    assert_eq!(created_agent.body.matches(&api_key).count(), 1);
    assert_eq!(created_admin.body.matches(&admin_token).count(), 1);
    assert_eq!(created_admin.body.matches(&admin_password).count(), 1);

    // The new credentials work, and what they read shows no secret.
    keep!(
        "carol lists tokens",
        app.call("GET", "/api/v1/admin/tokens", Some(&admin_token), None)
            .await
    )
    .expect(200);
    let wrong = format!("{admin_token}x");
    keep!(
        "wrong token",
        app.call("GET", "/api/v1/admin/users", Some(&wrong), None)
            .await
    )
    .expect_error(401, "unauthenticated");

    // Reads of everything.
    for path in [
        "/api/v1/admin/tokens/T1",
        "/api/v1/admin/tokens",
        "/api/v1/admin/tokens?user=alice",
        "/api/v1/admin/users/alice",
        "/api/v1/admin/agents/web1",
        "/api/v1/admin/agents",
        "/api/v1/admin/admins",
        "/api/v1/admin/audit",
        "/api/v1/admin/audit/verify",
    ] {
        keep!(path, app.root("GET", path, None).await).expect(200);
    }

    // Errors provoked with secret-looking values.
    for (label, r) in provoke_errors(&app, &seed_b32, &api_key, &admin_token, &admin_password).await
    {
        assert!(
            r.status.is_client_error(),
            "{label}: {}: {}",
            r.status,
            r.body
        );
        bodies.push((label, r.body));
    }

    let secrets: Vec<(&str, String)> = vec![
        ("seed (base32)", seed_b32.clone()),
        ("seed (base32, lower case)", seed_b32.to_lowercase()),
        ("seed (hex)", seed_hex.clone()),
        ("seed (hex, upper case)", seed_hex.to_uppercase()),
        ("PIN", PIN.to_owned()),
        ("API key", api_key.clone()),
        ("admin token", admin_token.clone()),
        ("admin password", admin_password.clone()),
    ];
    for (label, body) in &bodies {
        for (what, s) in &secrets {
            // The one request that named the user by the seed gets the name back in 404.
            if label == "token as path" && what.starts_with("seed (base32") {
                continue;
            }
            assert!(
                !body.contains(s.as_str()),
                "{what} in the answer to {label}: {body}"
            );
        }
    }
    let log_text = logs.text();
    assert!(
        !log_text.is_empty(),
        "nothing was logged at all; the capture is not working"
    );
    for (what, s) in &secrets {
        assert!(!log_text.contains(s.as_str()), "{what} in the log");
    }
    // The bootstrap token is a secret too.
    assert!(!log_text.contains(&app.root));
    for (label, body) in &bodies {
        assert!(!body.contains(&app.root), "root token in {label}");
    }
}

/// Requests that fail, each carrying a secret where it does not belong.
async fn provoke_errors(
    app: &App,
    seed_b32: &str,
    api_key: &str,
    admin_token: &str,
    admin_password: &str,
) -> Vec<(String, Resp)> {
    let errors = [
        (
            "PUT",
            "/api/v1/admin/tokens/T1/pin",
            json!({"pin": format!("{PIN}{PIN}{PIN}")}),
        ),
        (
            "PUT",
            "/api/v1/admin/tokens/T1/pin",
            json!({"pin": format!("{PIN}x")}),
        ),
        (
            "PUT",
            "/api/v1/admin/tokens/T1/pin",
            json!({"pin": PIN.parse::<u64>().unwrap()}),
        ),
        (
            "PUT",
            "/api/v1/admin/tokens/T1/pin",
            json!({"pin": PIN, PIN: 1}),
        ),
        (
            "POST",
            "/api/v1/admin/tokens/import",
            json!({"serial": "T2", "type": "totp", "secret": format!("{seed_b32}!")}),
        ),
        (
            "POST",
            "/api/v1/admin/tokens/import",
            json!({"serial": "T2", "type": "totp", "secret": seed_b32, "digits": seed_b32}),
        ),
        (
            "POST",
            "/api/v1/admin/tokens/import",
            json!({"serial": "T2", "type": seed_b32, "secret": seed_b32}),
        ),
        (
            "POST",
            "/api/v1/admin/tokens/import",
            json!({"serial": "T2", "uri": format!("otpauth://totp/x?secret={seed_b32}!&digits=9")}),
        ),
        (
            "POST",
            "/api/v1/admin/tokens/import",
            json!({"serial": "T2", "uri": format!("otpauth://totp/x?secret={seed_b32}&digits={seed_b32}")}),
        ),
        (
            "POST",
            "/api/v1/admin/tokens/import",
            json!({"serial": "T2", "secret": seed_b32, seed_b32: true}),
        ),
        (
            "POST",
            "/api/v1/admin/agents",
            json!({"name": "nas1", "kind": api_key, "address": "192.0.2.1"}),
        ),
        (
            "POST",
            "/api/v1/admin/agents",
            json!({"name": "nas1", "kind": "radius", "address": admin_token}),
        ),
        (
            "POST",
            "/api/v1/admin/users",
            json!({"login": format!("{admin_password}!")}),
        ),
        (
            "POST",
            "/api/v1/admin/admins",
            json!({"name": "dave", "role": admin_token}),
        ),
    ];
    let mut out = Vec::new();
    for (i, (method, path, body)) in errors.into_iter().enumerate() {
        out.push((
            format!("error case {i}: {method} {path}"),
            app.root(method, path, Some(body)).await,
        ));
    }
    out.push((
        "token as path".to_owned(),
        app.root("GET", &format!("/api/v1/admin/users/{seed_b32}"), None)
            .await,
    ));
    out
}
