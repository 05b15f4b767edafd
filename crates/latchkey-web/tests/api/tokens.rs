//! Token generation shows the seed once, as a URI and a QR code.

use serde_json::json;

use crate::common::app;

#[tokio::test]
async fn generated_seed_is_shown_once() {
    let app = app().await;
    app.root(
        "POST",
        "/api/v1/admin/users",
        Some(json!({"login": "alice"})),
    )
    .await
    .expect(201);
    let r = app
        .root(
            "POST",
            "/api/v1/admin/tokens/generate",
            Some(json!({"serial": "GEN1", "user": "alice"})),
        )
        .await;
    let v = r.expect(201);
    let uri = v["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("the URI carries the secret")
        .to_owned();
    assert!(
        secret.len() >= 32,
        "a SHA-1 seed is 20 bytes, 32 base32 characters: {secret}"
    );
    let svg = v["qr_svg"].as_str().unwrap();
    assert!(
        svg.starts_with("<?xml") || svg.starts_with("<svg"),
        "{}",
        &svg[..40.min(svg.len())]
    );
    assert_eq!(v["token"]["serial"], "GEN1");
    assert_eq!(v["token"]["user"], "alice");
    assert_eq!(v["token"]["type"], "totp");

    // Generated without a serial: one is made up.
    let r = app
        .root(
            "POST",
            "/api/v1/admin/tokens/generate",
            Some(json!({"type": "hotp", "digits": 8})),
        )
        .await;
    let v2 = r.expect(201);
    assert!(
        v2["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://hotp/")
    );
    assert!(v2["token"]["serial"].as_str().unwrap().starts_with("LK"));

    for path in [
        "/api/v1/admin/tokens/GEN1",
        "/api/v1/admin/tokens",
        "/api/v1/admin/tokens?user=alice",
        "/api/v1/admin/users/alice",
        "/api/v1/admin/audit",
    ] {
        let r = app.root("GET", path, None).await;
        r.expect(200);
        assert!(!r.body.contains(&secret), "{path} shows the seed");
        assert!(
            !r.body.contains(&secret.to_lowercase()),
            "{path} shows the seed"
        );
        assert!(!r.body.contains("otpauth"), "{path} shows a URI");
    }
    let t = app
        .root("GET", "/api/v1/admin/tokens/GEN1", None)
        .await
        .expect(200);
    assert_eq!(t["user"], "alice");
    assert_eq!(t["has_pin"], false);

    // The token can be managed afterwards.
    app.root(
        "PATCH",
        "/api/v1/admin/tokens/GEN1",
        Some(json!({"enabled": false})),
    )
    .await
    .expect(200);
    app.root("POST", "/api/v1/admin/tokens/GEN1/require-new-pin", None)
        .await
        .expect(200);
    let t = app
        .root("GET", "/api/v1/admin/tokens/GEN1", None)
        .await
        .expect(200);
    assert_eq!(t["enabled"], false);
    assert_eq!(t["new_pin_required"], true);
    app.root(
        "PUT",
        "/api/v1/admin/tokens/GEN1/pin",
        Some(json!({"pin": "2468"})),
    )
    .await
    .expect(200);
    app.root("DELETE", "/api/v1/admin/tokens/GEN1/pin", None)
        .await
        .expect(204);
    let t = app
        .root("GET", "/api/v1/admin/tokens/GEN1", None)
        .await
        .expect(200);
    assert_eq!(t["has_pin"], false);
    assert_eq!(t["new_pin_required"], true);
    app.root(
        "PATCH",
        "/api/v1/admin/tokens/GEN1",
        Some(json!({"user": ""})),
    )
    .await
    .expect(200);
    app.root("DELETE", "/api/v1/admin/tokens/GEN1", None)
        .await
        .expect(204);
    app.root("GET", "/api/v1/admin/tokens/GEN1", None)
        .await
        .expect_error(404, "not_found");
}
