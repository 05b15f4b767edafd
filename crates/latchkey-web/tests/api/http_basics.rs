//! HTTP plumbing: unknown routes and methods, authentication, probes, headers.

use axum::http::header;
use serde_json::json;

use crate::common::app;

#[tokio::test]
async fn unknown_method_is_405_with_allow() {
    let app = app().await;
    for (method, path, allowed) in [
        ("DELETE", "/api/v1/admin/audit/verify", vec!["GET"]),
        ("PUT", "/api/v1/admin/users", vec!["GET", "POST"]),
        (
            "POST",
            "/api/v1/admin/tokens/T1",
            vec!["GET", "PATCH", "DELETE"],
        ),
        ("POST", "/healthz", vec!["GET"]),
    ] {
        let r = app.root(method, path, None).await;
        r.expect_error(405, "invalid_request");
        let allow = r
            .headers
            .get(header::ALLOW)
            .expect("Allow header")
            .to_str()
            .unwrap()
            .to_owned();
        let mut got: Vec<&str> = allow
            .split(',')
            .map(str::trim)
            .filter(|m| *m != "HEAD")
            .collect();
        got.sort_unstable();
        let mut want = allowed.clone();
        want.sort_unstable();
        assert_eq!(got, want, "{method} {path}: Allow: {allow}");
    }
}

#[tokio::test]
async fn unknown_path_is_404_error_body() {
    let app = app().await;
    for path in [
        "/nope",
        "/api/v1/admin/nope",
        "/api/v1/admin/users/alice/extra",
        "/api/v2/admin/users",
    ] {
        app.root("GET", path, None)
            .await
            .expect_error(404, "not_found");
    }
    app.call("GET", "/nope", None, None)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn admin_routes_need_a_valid_bearer_token() {
    let app = app().await;
    let wrong = format!("{}x", app.root);
    let before = app.audit_seq().await;
    for token in [None, Some("lkad_nonsense"), Some(wrong.as_str()), Some("")] {
        for (method, path) in [
            ("GET", "/api/v1/admin/users"),
            ("POST", "/api/v1/admin/users"),
            ("GET", "/api/v1/admin/audit"),
        ] {
            let r = app
                .call(method, path, token, Some(json!({"login": "x"})))
                .await;
            r.expect_error(401, "unauthenticated");
            assert_eq!(r.headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
        }
    }
    // Other schemes and malformed headers.
    for value in [
        "Basic YWRtaW46eA==",
        "Bearer",
        "Bearer  ",
        &app.root.clone(),
    ] {
        let req = axum::http::Request::builder()
            .uri("/api/v1/admin/users")
            .header(header::AUTHORIZATION, value)
            .body(axum::body::Body::empty())
            .unwrap();
        app.send(req).await.expect_error(401, "unauthenticated");
    }
    // An unauthenticated body is not even parsed: a broken body still gets 401.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/admin/users")
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    app.send(req).await.expect_error(401, "unauthenticated");
    assert_eq!(app.audit_seq().await, before);
    app.root("GET", "/api/v1/admin/users", None)
        .await
        .expect(200);
    // Scheme names are case-insensitive.
    let req = axum::http::Request::builder()
        .uri("/api/v1/admin/users")
        .header(header::AUTHORIZATION, format!("bearer {}", app.root))
        .body(axum::body::Body::empty())
        .unwrap();
    app.send(req).await.expect(200);
}

#[tokio::test]
async fn probes_answer() {
    let app = app().await;
    let v = app.call("GET", "/healthz", None, None).await.expect(200);
    assert_eq!(v, json!({"status": "ok"}));
    let v = app.call("GET", "/readyz", None, None).await.expect(200);
    assert_eq!(v, json!({"status": "ok"}));
    // With the database gone, readiness fails (liveness does not).
    app.store.close().await;
    app.call("GET", "/readyz", None, None)
        .await
        .expect_error(503, "unavailable");
    app.call("GET", "/healthz", None, None).await.expect(200);
    app.root("GET", "/api/v1/admin/users", None)
        .await
        .expect_error(503, "unavailable");
}
