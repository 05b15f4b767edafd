//! Domain scope: an administrator scoped to one domain can neither read nor change another's
//! objects, and lists show only their own subtree.

use serde_json::{Value, json};

use crate::common::{App, app};

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// Names of bravo's objects; none may appear in an answer to alpha's help desk, except the
/// one name the request itself carried.
const BRAVO_DATA: [&str; 8] = [
    "bravo",
    "zulu",
    "bob",
    "rob@example.net",
    "+14155550123",
    "BTOK1",
    "gateway7",
    "boris",
];

async fn world(app: &App) -> String {
    for d in [
        json!({"name": "alpha"}),
        json!({"name": "bravo"}),
        json!({"name": "zulu", "parent": "bravo"}),
    ] {
        app.root("POST", "/api/v1/admin/domains", Some(d))
            .await
            .expect(201);
    }
    // alpha's objects
    app.created(
        "/api/v1/admin/users",
        json!({"login": "alice", "domain": "alpha"}),
    )
    .await;
    app.created(
        "/api/v1/admin/tokens/import",
        json!({"serial": "ATOK1", "user": "alice", "type": "totp", "secret": SEED}),
    )
    .await;
    app.created(
        "/api/v1/admin/agents",
        json!({"name": "portal", "kind": "rest", "domain": "alpha"}),
    )
    .await;
    app.make_admin("anna", "domain-admin", "alpha").await;
    // bravo's objects
    app.root(
        "POST",
        "/api/v1/admin/users",
        Some(
            json!({"login": "bob", "domain": "bravo", "email": "rob@example.net",
                    "phones": [{"number": "+14155550123"}]}),
        ),
    )
    .await
    .expect(201);
    app.created(
        "/api/v1/admin/tokens/import",
        json!({"serial": "BTOK1", "user": "bob", "type": "totp", "secret": SEED}),
    )
    .await;
    app.created(
        "/api/v1/admin/agents",
        json!({"name": "gateway7", "kind": "rest", "domain": "bravo"}),
    )
    .await;
    app.make_admin("boris", "help-desk", "bravo").await;
    // alpha's help desk
    app.make_admin("helper", "help-desk", "alpha").await
}

fn assert_no_bravo_data(body: &str, path: &str) {
    for s in BRAVO_DATA {
        if !path.contains(s) {
            assert!(!body.contains(s), "{path}: answer leaks {s:?}: {body}");
        }
    }
}

fn names(v: &Value, key: &str) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o[key].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn help_desk_cannot_touch_another_domain() {
    let app = app().await;
    let hd = world(&app).await;
    let before = app.audit_seq().await;

    let lockout = json!({"kind": "lockout", "value": {"max_failures": 3}});
    let attempts: Vec<(&str, &str, Option<Value>)> = vec![
        ("GET", "/api/v1/admin/users/bob", None),
        (
            "PATCH",
            "/api/v1/admin/users/bob",
            Some(json!({"status": "enabled"})),
        ),
        (
            "PATCH",
            "/api/v1/admin/users/bob",
            Some(json!({"email": "x@example.org"})),
        ),
        ("DELETE", "/api/v1/admin/users/bob", None),
        ("GET", "/api/v1/admin/tokens/BTOK1", None),
        (
            "PATCH",
            "/api/v1/admin/tokens/BTOK1",
            Some(json!({"enabled": false})),
        ),
        ("DELETE", "/api/v1/admin/tokens/BTOK1", None),
        (
            "PUT",
            "/api/v1/admin/tokens/BTOK1/pin",
            Some(json!({"pin": "1234"})),
        ),
        ("DELETE", "/api/v1/admin/tokens/BTOK1/pin", None),
        ("POST", "/api/v1/admin/tokens/BTOK1/require-new-pin", None),
        ("GET", "/api/v1/admin/tokens?user=bob", None),
        ("GET", "/api/v1/admin/agents/gateway7", None),
        ("DELETE", "/api/v1/admin/agents/gateway7", None),
        ("GET", "/api/v1/admin/domains/bravo", None),
        ("GET", "/api/v1/admin/domains/zulu", None),
        ("GET", "/api/v1/admin/domains/bravo/policies", None),
        (
            "PUT",
            "/api/v1/admin/domains/bravo/policies/lockout",
            Some(lockout.clone()),
        ),
        (
            "DELETE",
            "/api/v1/admin/domains/zulu/policies/lockout",
            None,
        ),
        (
            "POST",
            "/api/v1/admin/users",
            Some(json!({"login": "mallory", "domain": "bravo"})),
        ),
        (
            "POST",
            "/api/v1/admin/domains",
            Some(json!({"name": "evil", "parent": "bravo"})),
        ),
        (
            "POST",
            "/api/v1/admin/agents",
            Some(json!({"name": "evil", "kind": "rest", "domain": "bravo"})),
        ),
        (
            "POST",
            "/api/v1/admin/tokens/generate",
            Some(json!({"domain": "bravo"})),
        ),
        ("DELETE", "/api/v1/admin/admins/boris", None),
    ];
    for (method, path, body) in attempts {
        let r = app.call(method, path, Some(&hd), body).await;
        r.expect_error(403, "forbidden");
        assert_no_bravo_data(&r.body, path);
    }

    // Lists show alpha only.
    let r = app
        .call("GET", "/api/v1/admin/users", Some(&hd), None)
        .await;
    assert_eq!(names(&r.expect(200), "login"), ["alice"]);
    assert_no_bravo_data(&r.body, "");
    let r = app
        .call("GET", "/api/v1/admin/tokens", Some(&hd), None)
        .await;
    assert_eq!(names(&r.expect(200), "serial"), ["ATOK1"]);
    assert_no_bravo_data(&r.body, "");
    let r = app
        .call("GET", "/api/v1/admin/agents", Some(&hd), None)
        .await;
    assert_eq!(names(&r.expect(200), "name"), ["portal"]);
    assert_no_bravo_data(&r.body, "");
    let r = app
        .call("GET", "/api/v1/admin/admins", Some(&hd), None)
        .await;
    assert_eq!(names(&r.expect(200), "name"), ["anna", "helper"]);
    assert_no_bravo_data(&r.body, "");
    let r = app
        .call("GET", "/api/v1/admin/domains", Some(&hd), None)
        .await;
    assert_eq!(names(&r.expect(200), "name"), ["alpha"]);
    assert_no_bravo_data(&r.body, "");

    assert_eq!(
        app.audit_seq().await,
        before,
        "a refused request wrote an audit record"
    );

    // The same help desk may do its job inside its scope.
    app.call("GET", "/api/v1/admin/users/alice", Some(&hd), None)
        .await
        .expect(200);
    app.call(
        "PATCH",
        "/api/v1/admin/users/alice",
        Some(&hd),
        Some(json!({"status": "enabled"})),
    )
    .await
    .expect(200);
    app.call(
        "PUT",
        "/api/v1/admin/tokens/ATOK1/pin",
        Some(&hd),
        Some(json!({"pin": "1234"})),
    )
    .await
    .expect(200);
    app.call(
        "GET",
        "/api/v1/admin/domains/alpha/policies",
        Some(&hd),
        None,
    )
    .await
    .expect(200);

    // Root still sees everything.
    let r = app.root("GET", "/api/v1/admin/users", None).await;
    assert_eq!(names(&r.expect(200), "login"), ["alice", "bob"]);
}

#[tokio::test]
async fn help_desk_has_no_creation_or_audit_rights() {
    let app = app().await;
    let hd = world(&app).await;
    let before = app.audit_seq().await;
    for body in [
        json!({"login": "newbie", "domain": "alpha"}),
        json!({"login": "newbie"}),
    ] {
        app.call("POST", "/api/v1/admin/users", Some(&hd), Some(body))
            .await
            .expect_error(403, "forbidden");
    }
    for path in ["/api/v1/admin/audit", "/api/v1/admin/audit/verify"] {
        app.call("GET", path, Some(&hd), None)
            .await
            .expect_error(403, "forbidden");
    }
    app.call("POST", "/api/v1/admin/keys/rotate", Some(&hd), None)
        .await
        .expect_error(403, "forbidden");
    app.call(
        "POST",
        "/api/v1/admin/admins",
        Some(&hd),
        Some(json!({"name": "x", "role": "help-desk"})),
    )
    .await
    .expect_error(403, "forbidden");
    app.call(
        "POST",
        "/api/v1/admin/domains",
        Some(&hd),
        Some(json!({"name": "sub", "parent": "alpha"})),
    )
    .await
    .expect_error(403, "forbidden");
    assert_eq!(app.audit_seq().await, before);
    app.call(
        "GET",
        "/api/v1/admin/users/newbie",
        Some(&app.root.clone()),
        None,
    )
    .await
    .expect_error(404, "not_found");
}

/// Creates `login` in `domain` as root, with a TOTP token `serial` and a phone.
async fn user_with_token(app: &App, login: &str, domain: &str, serial: &str) {
    app.created(
        "/api/v1/admin/users",
        json!({"login": login, "domain": domain, "phones": [{"number": "+14155550100"}]}),
    )
    .await;
    app.created(
        "/api/v1/admin/tokens/import",
        json!({"serial": serial, "user": login, "type": "totp", "secret": SEED}),
    )
    .await;
}

/// An administrator's linked user (the user of the same name in the administrator's scope
/// domain: the console's second factor) is off limits to the credential changes of roles
/// that may not manage that administrator — otherwise a help desk could put a super
/// administrator's token into emergency access and read the code out.
#[tokio::test]
async fn a_stronger_administrators_sign_in_account_is_off_limits() {
    let app = app().await;
    app.created("/api/v1/admin/domains", json!({"name": "alpha"}))
        .await;
    let sam = app.make_admin("sam", "super-admin", "root").await;
    user_with_token(&app, "sam", "root", "STOK1").await;
    user_with_token(&app, "carl", "root", "CTOK1").await;
    let dora = app.make_admin("dora", "domain-admin", "root").await;
    let pia = app.make_admin("pia", "privileged-help-desk", "root").await;
    app.make_admin("vic", "domain-admin", "alpha").await;
    let reason = json!({"reason": "INC-7"});

    // What a privileged help desk may do to an ordinary user: emergency access, PINs, unlock.
    let help_desk_actions: Vec<(&str, &str, Option<Value>)> = vec![
        (
            "PUT",
            "/api/v1/admin/tokens/STOK1/emergency/online",
            Some(json!({"kind": "fixed"})),
        ),
        (
            "POST",
            "/api/v1/admin/tokens/STOK1/emergency/offline-tokencode/reveal",
            Some(reason.clone()),
        ),
        (
            "POST",
            "/api/v1/admin/users/sam/emergency/offline-passcode/reveal",
            Some(reason.clone()),
        ),
        (
            "POST",
            "/api/v1/admin/users/sam/emergency/offline-passcode/reset",
            Some(json!({})),
        ),
        (
            "POST",
            "/api/v1/admin/users/sam/emergency/access-code",
            Some(json!({})),
        ),
        (
            "PUT",
            "/api/v1/admin/tokens/STOK1/pin",
            Some(json!({"pin": "1234"})),
        ),
        ("DELETE", "/api/v1/admin/tokens/STOK1/pin", None),
        ("POST", "/api/v1/admin/tokens/STOK1/require-new-pin", None),
        (
            "PATCH",
            "/api/v1/admin/users/sam",
            Some(json!({"status": "enabled"})),
        ),
    ];
    // What a domain administrator may do besides.
    let mut domain_admin_actions = help_desk_actions.clone();
    domain_admin_actions.extend([
        (
            "PATCH",
            "/api/v1/admin/tokens/STOK1",
            Some(json!({"enabled": false})),
        ),
        ("DELETE", "/api/v1/admin/tokens/STOK1", None),
        (
            "PATCH",
            "/api/v1/admin/tokens/CTOK1",
            Some(json!({"user": "sam"})),
        ),
        (
            "POST",
            "/api/v1/admin/tokens/import",
            Some(json!({"serial": "EVIL1", "user": "sam", "type": "totp", "secret": SEED})),
        ),
        (
            "PUT",
            "/api/v1/admin/users/sam/on-demand",
            Some(json!({"pin": "975310"})),
        ),
        (
            "PATCH",
            "/api/v1/admin/users/sam",
            Some(json!({"phones": [{"number": "+14155550199"}]})),
        ),
        ("DELETE", "/api/v1/admin/users/sam", None),
        // Creating the linked user of an administrator who has none yet.
        (
            "POST",
            "/api/v1/admin/users",
            Some(json!({"login": "vic", "domain": "alpha"})),
        ),
    ]);
    let before = app.audit_seq().await;
    for (token, actions) in [(&pia, &help_desk_actions), (&dora, &domain_admin_actions)] {
        for (method, path, body) in actions {
            let r = app.call(method, path, Some(token), body.clone()).await;
            let v = r.expect_error(403, "forbidden");
            assert!(
                v["message"].as_str().unwrap().contains("sign-in account"),
                "{method} {path}: refused for another reason: {}",
                r.body
            );
        }
    }
    assert_eq!(app.audit_seq().await, before, "refusals change nothing");

    // Nor can a user be moved into the place of an administrator's linked user.
    app.call(
        "POST",
        "/api/v1/admin/users",
        Some(&dora),
        Some(json!({"login": "vic", "domain": "root"})),
    )
    .await
    .expect(201);
    let before = app.audit_seq().await;
    app.call(
        "PATCH",
        "/api/v1/admin/users/vic",
        Some(&dora),
        Some(json!({"domain": "alpha"})),
    )
    .await
    .expect_error(403, "forbidden");
    assert_eq!(app.audit_seq().await, before);

    // The same actions on an ordinary user work for the same administrators ...
    app.call(
        "PUT",
        "/api/v1/admin/tokens/CTOK1/emergency/online",
        Some(&pia),
        Some(json!({"kind": "fixed"})),
    )
    .await
    .expect(200);
    app.call(
        "PUT",
        "/api/v1/admin/tokens/CTOK1/pin",
        Some(&dora),
        Some(json!({"pin": "1234"})),
    )
    .await
    .expect(200);
    // ... and on the linked user for the administrator themself and for a super administrator.
    app.call(
        "PUT",
        "/api/v1/admin/tokens/STOK1/pin",
        Some(&sam),
        Some(json!({"pin": "1234"})),
    )
    .await
    .expect(200);
    app.root(
        "PUT",
        "/api/v1/admin/tokens/STOK1/emergency/online",
        Some(json!({"kind": "fixed"})),
    )
    .await
    .expect(200);
    // Reading stays as the role allows.
    app.call("GET", "/api/v1/admin/users/sam", Some(&pia), None)
        .await
        .expect(200);
}
