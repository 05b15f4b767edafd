//! The Security Console without a browser: real HTTP requests into the router with a real
//! SQLite store and the fake clock — sign-in with password and passcode, cookie flags, the
//! Content-Security-Policy, CSRF refusal, the idle timeout, and scope refusal.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use latchkey_core::console::{ConsoleService, ConsoleSettings};
use latchkey_core::ports::OsEntropy;
use latchkey_crypto::otp::{OtpAlgorithm, hotp};
use latchkey_web::AppState;
use latchkey_web::console::{CSP, ConsoleState};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{App, Options, app, app_with_options};

const SECRET_HEX: &[u8] = b"12345678901234567890";
const SECRET_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const PIN: &str = "8642";

struct Console {
    app: App,
    router: Router,
}

#[derive(Debug)]
struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// `NAME=VALUE` of the Set-Cookie named `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }

    /// The value of the first hidden `csrf` field.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("csrf field");
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Console {
    async fn new(secure: bool) -> Console {
        Self::on(app().await, secure)
    }

    fn on(app: App, secure: bool) -> Console {
        let service = ConsoleService::new(
            app.admin.clone(),
            app.authn.clone(),
            app.store.clone(),
            app.clock.clone(),
            Arc::new(OsEntropy),
            ConsoleSettings::default(),
        )
        .unwrap();
        let router = latchkey_web::console::enable(
            latchkey_web::router(AppState {
                admin: app.admin.clone(),
                authn: app.authn.clone(),
            }),
            ConsoleState {
                service: Arc::new(service),
                secure_cookies: secure,
            },
        );
        Console { app, router }
    }

    async fn send(&self, req: Request<Body>) -> Page {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
        Page {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        let mut b = Request::builder().uri(path);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Page {
        let mut b = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(b.body(Body::from(body)).unwrap()).await
    }

    /// An administrator with a linked user (same name, in `domain`) holding an HOTP token with
    /// a PIN; returns the console password.
    async fn admin(&self, name: &str, role: &str, domain: &str) -> String {
        let created = self
            .app
            .created(
                "/api/v1/admin/admins",
                json!({"name": name, "role": role, "scope": domain}),
            )
            .await;
        self.app
            .created(
                "/api/v1/admin/users",
                json!({"login": name, "domain": domain}),
            )
            .await;
        let serial = format!("ADM-{name}");
        self.app
            .created(
                "/api/v1/admin/tokens/import",
                json!({"serial": serial, "user": name, "type": "hotp", "secret": SECRET_B32}),
            )
            .await;
        self.app
            .root(
                "PUT",
                &format!("/api/v1/admin/tokens/{serial}/pin"),
                Some(json!({"pin": PIN})),
            )
            .await
            .expect(200);
        created["password"].as_str().unwrap().to_owned()
    }

    /// Signs in with HOTP counter `counter`; returns the sign-in answer.
    async fn sign_in(&self, name: &str, password: &str, counter: u64) -> Page {
        let page = self.get("/console/sign-in", None).await;
        assert_eq!(page.status, StatusCode::OK);
        let pre = page
            .cookie("latchkey_console_signin")
            .or_else(|| page.cookie("__Host-latchkey_console_signin"))
            .expect("double-submit cookie");
        let code = hotp(SECRET_HEX, counter, 6, OtpAlgorithm::Sha1).unwrap();
        self.post(
            "/console/sign-in",
            Some(&pre),
            &[
                ("csrf", &page.csrf()),
                ("name", name),
                ("password", password),
                ("passcode", &format!("{PIN}{code}")),
            ],
        )
        .await
    }

    /// Signs in and returns the session cookie (`NAME=VALUE`).
    async fn session(&self, name: &str, password: &str, counter: u64) -> String {
        let res = self.sign_in(name, password, counter).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        res.cookie("latchkey_console")
            .or_else(|| res.cookie("__Host-latchkey_console"))
            .expect("session cookie")
    }

    async fn audit(&self) -> Vec<Value> {
        self.app
            .root("GET", "/api/v1/admin/audit?limit=10000", None)
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .clone()
    }
}

#[tokio::test]
async fn sign_in_needs_password_and_a_fresh_passcode_and_sets_strict_cookies() {
    let c = Console::new(false).await;
    let password = c.admin("ops", "super-admin", "root").await;

    // Headers of every console page.
    let page = c.get("/console/sign-in", None).await;
    assert_eq!(page.headers[header::CONTENT_SECURITY_POLICY], CSP);
    assert!(CSP.starts_with("default-src 'self'") && !CSP.contains("unsafe-inline"));
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(!page.body.contains("<script>"), "no inline script");

    // Wrong password, then a right password with a wrong passcode: refused.
    let wrong = c.sign_in("ops", "not-the-password", 0).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.cookie("latchkey_console").is_none());
    let res = c.sign_in("ops", &password, 0).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/console/users");
    let cookie = res
        .set_cookies()
        .into_iter()
        .find(|s| s.starts_with("latchkey_console="))
        .unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    // Only the hash of the session identifier is stored.
    let id = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    let stored = c
        .app
        .store
        .execute_raw(&format!(
            "UPDATE console_sessions SET source = source WHERE id_hash = '{id}'"
        ))
        .await
        .unwrap();
    assert_eq!(stored, 0, "the identifier itself is not a key");
    // The same passcode cannot sign in again (replay), even with the right password.
    let replay = c.sign_in("ops", &password, 0).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);

    let log = c.audit().await;
    let outcomes: Vec<&str> = log
        .iter()
        .filter(|r| r["action"] == "console.signin")
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["fail:wrong_password", "ok"]);
    assert!(log.iter().any(|r| r["action"] == "authn"
        && r["actor"] == "agent:security-console"
        && r["outcome"] == "fail:passcode_reuse"));
    // The wrong password counted toward the linked user's lockout.
    assert!(log.iter().any(|r| r["action"] == "console.signin"
        && r["outcome"] == "fail:wrong_password"
        && r["detail"]["counted"] == true));
}

#[tokio::test]
async fn over_tls_the_cookie_is_secure_and_host_prefixed() {
    let c = Console::new(true).await;
    let password = c.admin("ops", "super-admin", "root").await;
    let res = c.sign_in("ops", &password, 0).await;
    let cookie = res
        .set_cookies()
        .into_iter()
        .find(|s| s.starts_with("__Host-latchkey_console="))
        .expect("secure cookie");
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(
        c.get("/console/users", Some(&session)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sign_in_without_its_double_submit_token_is_refused() {
    let c = Console::new(false).await;
    let password = c.admin("ops", "super-admin", "root").await;
    let code = hotp(SECRET_HEX, 0, 6, OtpAlgorithm::Sha1).unwrap();
    let passcode = format!("{PIN}{code}");
    let form = [
        ("name", "ops"),
        ("password", password.as_str()),
        ("passcode", passcode.as_str()),
    ];
    let res = c.post("/console/sign-in", None, &form).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = c
        .post(
            "/console/sign-in",
            Some("latchkey_console_signin=abc"),
            &[("csrf", "abd"), form[0], form[1], form[2]],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(
        !c.audit().await.iter().any(|r| r["action"] == "authn"),
        "nothing was tried"
    );
}

#[tokio::test]
async fn forms_without_the_session_csrf_token_change_nothing() {
    let c = Console::new(false).await;
    let password = c.admin("ops", "super-admin", "root").await;
    let s = c.session("ops", &password, 0).await;
    c.app
        .created("/api/v1/admin/users", json!({"login": "lena"}))
        .await;
    let page = c.get("/console/users/lena/offline-access", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.csrf();
    let before = c.app.audit_seq().await;
    for form in [
        vec![("reset", "on")],
        vec![("reset", "on"), ("csrf", "")],
        vec![("reset", "on"), ("csrf", &csrf[..63])],
        vec![
            ("reset", "on"),
            (
                "csrf",
                "0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ],
    ] {
        let res = c
            .post("/console/users/lena/offline-access", Some(&s), &form)
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{form:?}");
        assert!(res.body.contains("CSRF"));
    }
    let res = c
        .post(
            "/console/users/lena/offline-access/reveal",
            Some(&s),
            &[("reason", "INC-1")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(c.app.audit_seq().await, before, "nothing was written");
    // Another session's token does not fit this session.
    let other = c.session("ops", &password, 1).await;
    let other_csrf = c.get("/console/users", Some(&other)).await.csrf();
    assert_ne!(other_csrf, csrf);
    let res = c
        .post(
            "/console/users/lena/offline-access",
            Some(&s),
            &[("reset", "on"), ("csrf", &other_csrf)],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    // With its own token the same form works.
    let res = c
        .post(
            "/console/users/lena/offline-access",
            Some(&s),
            &[("reset", "on"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(c.audit().await.iter().any(|r| r["action"] == "emergency.offline_passcode.reset"
        && r["actor"] == "admin:ops"));
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout_on_the_fake_clock() {
    let c = Console::new(false).await;
    let password = c.admin("ops", "super-admin", "root").await;
    let s = c.session("ops", &password, 0).await;
    // Each request restarts the 15 minutes.
    for _ in 0..3 {
        c.app.clock.advance(14 * 60);
        let res = c.get("/console/users", Some(&s)).await;
        assert_eq!(res.status, StatusCode::OK);
    }
    c.app.clock.advance(15 * 60);
    let res = c.get("/console/users", Some(&s)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/console/sign-in");
    assert!(
        res.set_cookies()
            .iter()
            .any(|v| v.starts_with("latchkey_console=;") && v.contains("Max-Age=0"))
    );
    // Gone for good: going back in time does not revive it.
    c.app.clock.advance(-15 * 60);
    assert_eq!(
        c.get("/console/users", Some(&s)).await.status,
        StatusCode::SEE_OTHER
    );
    let log = c.audit().await;
    assert!(log.iter().any(|r| r["action"] == "console.session_expire"
        && r["target"] == "admin:ops"
        && r["detail"]["why"] == "idle"));

    // A session nobody presents again is removed by the next sign-in, whoever signs in.
    let abandoned = c.session("ops", &password, 1).await;
    c.app.clock.advance(16 * 60);
    let _fresh = c.session("ops", &password, 2).await;
    let id = abandoned.split_once('=').unwrap().1;
    let hash = latchkey_crypto::verifier::bearer_token_hash(id);
    assert_eq!(
        latchkey_core::console::ConsoleStore::find_console_session(c.app.store.as_ref(), &hash)
            .await
            .unwrap(),
        None
    );
    let log = c.audit().await;
    assert!(log.iter().any(|r| r["action"] == "console.session_purge"
        && r["actor"] == "system"
        && r["detail"]["sessions"] == 1));
}

#[tokio::test]
async fn sign_out_ends_the_session_everywhere() {
    let c = Console::new(false).await;
    let password = c.admin("ops", "super-admin", "root").await;
    let s = c.session("ops", &password, 0).await;
    let csrf = c.get("/console/users", Some(&s)).await.csrf();
    let res = c
        .post("/console/sign-out", Some(&s), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    for path in [
        "/console/users",
        "/console/dashboard",
        "/console/audit",
        "/console/users/ops",
    ] {
        let res = c.get(path, Some(&s)).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(res.location(), "/console/sign-in");
    }
    assert!(
        c.audit()
            .await
            .iter()
            .any(|r| r["action"] == "console.signout")
    );
}

#[tokio::test]
async fn help_desk_of_another_domain_sees_nothing_of_the_user() {
    let c = Console::new(false).await;
    c.app
        .created("/api/v1/admin/domains", json!({"name": "east"}))
        .await;
    c.app
        .created("/api/v1/admin/users", json!({"login": "lena"}))
        .await;
    let password = c.admin("hd", "help-desk", "east").await;
    let s = c.session("hd", &password, 0).await;
    let search = c.get("/console/users?q=lena", Some(&s)).await;
    assert_eq!(search.status, StatusCode::OK);
    assert!(search.body.contains("0 user(s)") && !search.body.contains("/console/users/lena"));
    for path in [
        "/console/users/lena",
        "/console/users/lena/offline-access",
        "/console/users/lena/access-code",
    ] {
        let res = c.get(path, Some(&s)).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            !res.body.contains("lena"),
            "no data of the user: {}",
            res.body
        );
    }
    // Their own user: no emergency actions for a help desk role, and the audit log is not
    // in their navigation (nor readable).
    let own = c.get("/console/users/hd", Some(&s)).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(!own.body.contains("Generate Emergency Access Code"));
    assert!(!own.body.contains("/console/audit"));
    assert_eq!(
        c.get("/console/audit", Some(&s)).await.status,
        StatusCode::FORBIDDEN
    );
    // A form for the other domain's user is refused by the core, with a valid token.
    let csrf = own.csrf();
    let res = c
        .post(
            "/console/users/lena/offline-access/reveal",
            Some(&s),
            &[("csrf", &csrf), ("reason", "x")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_auditor_scoped_below_the_root_still_gets_the_user_page() {
    let c = Console::new(false).await;
    c.app
        .created("/api/v1/admin/domains", json!({"name": "east"}))
        .await;
    let password = c.admin("aud", "auditor", "east").await;
    let s = c.session("aud", &password, 0).await;
    // The audit log is deployment-wide, so this auditor may not read it: the page says so
    // instead of failing as a whole.
    let own = c.get("/console/users/aud", Some(&s)).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(
        c.get("/console/audit", Some(&s)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_administrator_without_a_linked_user_cannot_sign_in() {
    let c = Console::new(false).await;
    let created = c
        .app
        .created(
            "/api/v1/admin/admins",
            json!({"name": "solo", "role": "super-admin", "scope": "root"}),
        )
        .await;
    let password = created["password"].as_str().unwrap();
    let res = c.sign_in("solo", password, 0).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(
        c.audit()
            .await
            .iter()
            .any(|r| r["action"] == "console.signin" && r["outcome"] == "fail:no_linked_user")
    );
    // The console is off without its state: 404 page, not a session check.
    let plain = latchkey_web::router(AppState {
        admin: c.app.admin.clone(),
        authn: c.app.authn.clone(),
    });
    let res = plain
        .oneshot(
            Request::builder()
                .uri("/console/users")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_menu_offers_what_the_role_allows_and_unlock_works() {
    let c = Console::new(false).await;
    c.app
        .created("/api/v1/admin/domains", json!({"name": "east"}))
        .await;
    c.app
        .created(
            "/api/v1/admin/users",
            json!({"login": "erik", "domain": "east"}),
        )
        .await;
    c.app
        .store
        .execute_raw("UPDATE users SET status = 'locked' WHERE login = 'erik'")
        .await
        .unwrap();
    let hd = c.admin("hd", "help-desk", "east").await;
    let s = c.session("hd", &hd, 0).await;
    let page = c.get("/console/users/erik", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(">Unlock<"), "{}", page.body);
    assert!(!page.body.contains("Manage Emergency Offline Access"));
    assert!(!page.body.contains("Emergency Access Tokencodes"));
    let res = c
        .post(
            "/console/users/erik/unlock",
            Some(&s),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = c.get("/console/users/erik?done=unlocked", Some(&s)).await;
    assert!(page.body.contains("The user was unlocked."));
    assert!(
        page.body
            .contains("id=\"user-status\" class=\"status enabled\"")
    );
    assert!(!page.body.contains(">Unlock<"));
    assert!(c.audit().await.iter().any(|r| r["action"] == "user.update"
        && r["actor"] == "admin:hd"
        && r["target"] == "user:erik"));

    // A privileged help desk gets the emergency actions.
    let phd = c.admin("phd", "privileged-help-desk", "east").await;
    let s = c.session("phd", &phd, 1).await;
    let page = c.get("/console/users/erik", Some(&s)).await;
    assert!(page.body.contains("Manage Emergency Offline Access"));
    assert!(page.body.contains("Generate Emergency Access Code"));

    // ... but none on the sign-in account of a stronger administrator, and the core refuses
    // the action when posted anyway.
    c.admin("eva", "domain-admin", "east").await;
    let page = c.get("/console/users/eva", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("sign-in account of an administrator"));
    assert!(!page.body.contains("Manage Emergency Offline Access"));
    assert!(!page.body.contains("Emergency Access Tokencodes"));
    assert!(!page.body.contains("Generate Emergency Access Code"));
    c.app
        .store
        .execute_raw("UPDATE users SET status = 'locked' WHERE login = 'eva'")
        .await
        .unwrap();
    let res = c
        .post(
            "/console/users/eva/unlock",
            Some(&s),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    let page = c.get("/console/users/eva", Some(&s)).await;
    assert!(
        page.body.contains("class=\"status locked\""),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn one_time_codes_and_the_audit_log_filters_and_export() {
    let c = Console::new(false).await;
    let password = c.admin("ops", "super-admin", "root").await;
    c.app
        .created("/api/v1/admin/users", json!({"login": "lena"}))
        .await;
    c.app
        .created(
            "/api/v1/admin/tokens/import",
            json!({"serial": "S-lena", "user": "lena", "type": "totp", "secret": SECRET_B32}),
        )
        .await;
    let s = c.session("ops", &password, 0).await;
    let page = c.get("/console/tokens/S-lena/emergency", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let res = c
        .post(
            "/console/tokens/S-lena/emergency/online",
            Some(&s),
            &[
                ("csrf", &page.csrf()),
                ("kind", "one_time"),
                ("count", "3"),
                ("expires", ""),
                ("token_available", "deny_token"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body.matches("<li><code class=\"secret\">").count(), 3);
    assert!(res.body.contains("Unused codes") && res.body.contains("deny the token"));
    // Shown once: the page itself shows the state, not the codes.
    let again = c.get("/console/tokens/S-lena/emergency", Some(&s)).await;
    assert_eq!(again.body.matches("<code class=\"secret\">").count(), 0);
    // Bad input: a clear 400 page, nothing granted.
    let before = c.app.audit_seq().await;
    let res = c
        .post(
            "/console/tokens/S-lena/emergency/online",
            Some(&s),
            &[
                ("csrf", &page.csrf()),
                ("kind", "one_time"),
                ("count", "many"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = c
        .post(
            "/console/tokens/S-lena/emergency/online",
            Some(&s),
            &[
                ("csrf", &page.csrf()),
                ("kind", "one_time"),
                ("count", "101"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(c.app.audit_seq().await, before);

    // The audit log: by administrator, event and date; the export is JSON lines.
    let day = "2023-11-14"; // START (1_700_000_000) is 2023-11-14 22:13 UTC.
    let page = c
        .get(
            &format!("/console/audit?admin=ops&event=emergency.online&from={day}&to={day}"),
            Some(&s),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("1 record(s)"), "{}", page.body);
    assert!(page.body.contains("emergency.online.grant"));
    let none = c
        .get("/console/audit?admin=ops&from=2023-11-15", Some(&s))
        .await;
    assert!(none.body.contains("0 record(s)"));
    let bad = c.get("/console/audit?from=yesterday", Some(&s)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let export = c.get("/console/audit/export?user=lena", Some(&s)).await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.headers[header::CONTENT_TYPE], "application/x-ndjson");
    let lines: Vec<Value> = export
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|r| r["target"] == "user:lena"),
        "{lines:?}"
    );
}

// ----- Second slice: tokens, domains and policies, agents, messaging, administrators, the
// user page additions and the dashboard chart. -----

impl Console {
    async fn api(&self, path: &str) -> Value {
        self.app.root("GET", path, None).await.expect(200)
    }

    async fn token_count(&self) -> usize {
        self.api("/api/v1/admin/tokens")
            .await
            .as_array()
            .unwrap()
            .len()
    }
}

#[tokio::test]
async fn tokens_enrol_with_a_qr_shown_once_import_assign_disable_and_new_pin() {
    let c = Console::new(false).await;
    let password = c.admin("ops", "super-admin", "root").await;
    let s = c.session("ops", &password, 0).await;
    c.app
        .created("/api/v1/admin/users", json!({"login": "lena"}))
        .await;
    let page = c.get("/console/tokens", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("ADM-ops") && page.body.contains("id=\"enrol-form\""));
    let csrf = page.csrf();
    let before = c.token_count().await;

    // Without the CSRF token: refused, nothing created.
    let res = c
        .post("/console/tokens/generate", Some(&s), &[("serial", "T-1")])
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(c.token_count().await, before);

    // Enrol: the QR code (an SVG data URI, allowed by img-src) and the URI, once.
    let res = c
        .post(
            "/console/tokens/generate",
            Some(&s),
            &[
                ("csrf", &csrf),
                ("serial", "T-1"),
                ("user", "lena"),
                ("type", "totp"),
                ("digits", "6"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(
        res.body
            .contains("<img id=\"qr\" src=\"data:image/svg+xml,"),
        "{}",
        res.body
    );
    assert!(res.body.contains("otpauth://totp/"));
    let t = c.api("/api/v1/admin/tokens/T-1").await;
    assert_eq!(t["user"], "lena");
    let again = c.get("/console/tokens/T-1", Some(&s)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(!again.body.contains("otpauth://") && !again.body.contains("id=\"qr\""));

    // Bad input: a digits value that is not a number, an invalid base32 seed → 400, nothing.
    let res = c
        .post(
            "/console/tokens/generate",
            Some(&s),
            &[("csrf", &csrf), ("serial", "T-2"), ("digits", "six")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("digits: must be a number"));
    let res = c
        .post(
            "/console/tokens/import",
            Some(&s),
            &[
                ("csrf", &csrf),
                ("serial", "T-2"),
                ("secret", "not base32 !!"),
                ("type", "hotp"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(res.body.contains("role=\"alert\""));
    assert_eq!(c.token_count().await, before + 1);

    // Import from a base32 seed and from an otpauth URI.
    let res = c
        .post(
            "/console/tokens/import",
            Some(&s),
            &[
                ("csrf", &csrf),
                ("serial", "T-2"),
                ("secret", SECRET_B32),
                ("type", "hotp"),
                ("digits", "6"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/console/tokens/T-2?done=imported");
    let uri = format!("otpauth://totp/Acme:lena?secret={SECRET_B32}&issuer=Acme&digits=8");
    let res = c
        .post(
            "/console/tokens/import",
            Some(&s),
            &[("csrf", &csrf), ("serial", "T-3"), ("uri", &uri)],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(c.api("/api/v1/admin/tokens/T-3").await["digits"], 8);

    // Assign, unassign, disable, require a new PIN.
    let res = c
        .post(
            "/console/tokens/T-2/assign",
            Some(&s),
            &[("csrf", &csrf), ("user", "lena")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(c.api("/api/v1/admin/tokens/T-2").await["user"], "lena");
    let res = c
        .post(
            "/console/tokens/T-2/assign",
            Some(&s),
            &[("csrf", &csrf), ("user", "nobody")],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(c.api("/api/v1/admin/tokens/T-2").await["user"], "lena");
    let res = c
        .post(
            "/console/tokens/T-2/assign",
            Some(&s),
            &[("csrf", &csrf), ("user", "")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(c.api("/api/v1/admin/tokens/T-2").await["user"], Value::Null);
    let res = c
        .post(
            "/console/tokens/T-1/enabled",
            Some(&s),
            &[("csrf", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(c.api("/api/v1/admin/tokens/T-1").await["enabled"], false);
    let page = c.get("/console/tokens/T-1?done=updated", Some(&s)).await;
    assert!(page.body.contains(">Enable<") && page.body.contains("Saved."));
    let res = c
        .post("/console/tokens/T-1/new-pin", Some(&s), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        c.api("/api/v1/admin/tokens/T-1").await["new_pin_required"],
        true
    );
    let log = c.audit().await;
    for action in ["token.generate", "token.import", "token.update"] {
        assert!(
            log.iter()
                .any(|r| r["action"] == action && r["actor"] == "admin:ops"),
            "{action}"
        );
    }
}

#[tokio::test]
async fn tokens_outside_the_scope_are_neither_listed_nor_changed() {
    let c = Console::new(false).await;
    c.app
        .created("/api/v1/admin/domains", json!({"name": "east"}))
        .await;
    c.app
        .created(
            "/api/v1/admin/tokens/import",
            json!({"serial": "ROOT-1", "type": "hotp", "secret": SECRET_B32}),
        )
        .await;
    let da = c.admin("da", "domain-admin", "east").await;
    let s = c.session("da", &da, 0).await;
    let page = c.get("/console/tokens", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("ROOT-1") && page.body.contains("ADM-da"));
    assert_eq!(
        c.get("/console/tokens/ROOT-1", Some(&s)).await.status,
        StatusCode::FORBIDDEN
    );
    let res = c
        .post(
            "/console/tokens/ROOT-1/enabled",
            Some(&s),
            &[("csrf", &page.csrf()), ("enabled", "false")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(c.api("/api/v1/admin/tokens/ROOT-1").await["enabled"], true);

    // A help desk sees tokens but no enrol or import form, and the core refuses the POST.
    let hd = c.admin("hd", "help-desk", "east").await;
    let s = c.session("hd", &hd, 0).await;
    let page = c.get("/console/tokens", Some(&s)).await;
    assert!(!page.body.contains("enrol-form") && !page.body.contains("import-form"));
    let res = c
        .post(
            "/console/tokens/import",
            Some(&s),
            &[
                ("csrf", &page.csrf()),
                ("serial", "HD-1"),
                ("secret", SECRET_B32),
                ("type", "hotp"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(
        c.app
            .root("GET", "/api/v1/admin/tokens/HD-1", None)
            .await
            .status
            == StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn domains_and_policies_are_created_and_edited_with_errors_shown() {
    let c = Console::new(false).await;
    let password = c.admin("ops", "super-admin", "root").await;
    let s = c.session("ops", &password, 0).await;
    let page = c.get("/console/domains", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let res = c
        .post(
            "/console/domains",
            Some(&s),
            &[("name", "east"), ("parent", "root")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = c
        .post(
            "/console/domains",
            Some(&s),
            &[("csrf", &csrf), ("name", "bad name!"), ("parent", "root")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = c
        .post(
            "/console/domains",
            Some(&s),
            &[("csrf", &csrf), ("name", "east"), ("parent", "root")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/console/domains/east?done=created");
    let tree = c.get("/console/domains", Some(&s)).await;
    assert!(tree.body.contains("href=\"/console/domains/east\""));

    let page = c.get("/console/domains/east", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Inherited from root."));
    let policies = || c.api("/api/v1/admin/domains/east/policies");
    let mut lockout = policies().await["effective"]["lockout"].clone();
    let original = lockout.clone();

    // Not JSON, then a value the core refuses: the reason on the page, the text kept,
    // nothing saved.
    let res = c
        .post(
            "/console/domains/east/policies/lockout",
            Some(&s),
            &[("csrf", &csrf), ("value", "{ not json")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("not valid JSON") && res.body.contains("{ not json"));
    lockout["max_failures"] = json!(0);
    let res = c
        .post(
            "/console/domains/east/policies/lockout",
            Some(&s),
            &[("csrf", &csrf), ("value", &lockout.to_string())],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.body
            .contains("max_failures: must be between 1 and 1000"),
        "{}",
        res.body
    );
    assert_eq!(policies().await["effective"]["lockout"], original);
    assert!(
        c.api("/api/v1/admin/domains/east").await["own_policies"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A valid value is saved on the domain, then cleared again.
    lockout["max_failures"] = json!(7);
    let res = c
        .post(
            "/console/domains/east/policies/lockout",
            Some(&s),
            &[("csrf", &csrf), ("value", &lockout.to_string())],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(policies().await["effective"]["lockout"]["max_failures"], 7);
    let page = c.get("/console/domains/east?done=saved", Some(&s)).await;
    assert!(
        page.body.contains("Set on this domain.") && page.body.contains("Clear (inherit again)")
    );
    let emergency = c.get("/console/domains/east", Some(&s)).await;
    assert!(emergency.body.contains("id=\"policy-emergency\""));
    let res = c
        .post(
            "/console/domains/east/policies/lockout/clear",
            Some(&s),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(policies().await["effective"]["lockout"], original);
    let res = c
        .post(
            "/console/domains/east/policies/nonsense",
            Some(&s),
            &[("csrf", &csrf), ("value", "{}")],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);

    // A domain administrator of east may not change root's policy.
    let da = c.admin("da", "domain-admin", "east").await;
    let s = c.session("da", &da, 1).await;
    let page = c.get("/console/domains", Some(&s)).await;
    assert!(!page.body.contains("href=\"/console/domains/root\""));
    let res = c
        .post(
            "/console/domains/root/policies/lockout",
            Some(&s),
            &[("csrf", &page.csrf()), ("value", &lockout.to_string())],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(!res.body.contains("max_failures"));
    let root = c.api("/api/v1/admin/domains/root/policies").await;
    assert_eq!(root["effective"]["lockout"], original);
}

#[tokio::test]
async fn agents_and_administrators_are_added_with_secrets_shown_once_and_deleted() {
    let c = Console::new(false).await;
    let password = c.admin("ops", "super-admin", "root").await;
    let s = c.session("ops", &password, 0).await;
    let page = c.get("/console/agents", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let agents = || c.api("/api/v1/admin/agents");
    let n = agents().await.as_array().unwrap().len();

    let res = c
        .post(
            "/console/agents",
            Some(&s),
            &[("name", "vpn"), ("kind", "rest")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = c
        .post(
            "/console/agents",
            Some(&s),
            &[
                ("csrf", &csrf),
                ("name", "radius1"),
                ("kind", "radius"),
                ("address", "not-an-ip"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("address"));
    assert_eq!(agents().await.as_array().unwrap().len(), n);

    let res = c
        .post(
            "/console/agents",
            Some(&s),
            &[("csrf", &csrf), ("name", "vpn"), ("kind", "rest")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("id=\"agent-key\"") && res.body.contains("lkag"));
    let res = c
        .post(
            "/console/agents",
            Some(&s),
            &[
                ("csrf", &csrf),
                ("name", "radius1"),
                ("kind", "radius"),
                ("address", "192.0.2.10"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("id=\"agent-secret\""));
    for (name, kind) in [("laptops", "offline-host"), ("portal", "cloud-app")] {
        let res = c
            .post(
                "/console/agents",
                Some(&s),
                &[("csrf", &csrf), ("name", name), ("kind", kind)],
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{kind}: {}", res.body);
    }
    let list = c.get("/console/agents", Some(&s)).await;
    assert!(list.body.contains("radius1") && list.body.contains("192.0.2.10"));
    assert!(!list.body.contains("lkag"), "never shown again");
    let res = c
        .post("/console/agents/vpn/delete", Some(&s), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(agents().await.as_array().unwrap().len(), n + 3);

    // Administrators.
    let res = c
        .post(
            "/console/admins",
            Some(&s),
            &[("csrf", &csrf), ("name", "x"), ("role", "emperor")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = c
        .post(
            "/console/admins",
            Some(&s),
            &[("name", "kim"), ("role", "help-desk")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = c
        .post(
            "/console/admins",
            Some(&s),
            &[
                ("csrf", &csrf),
                ("name", "kim"),
                ("role", "help-desk"),
                ("scope", "root"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("id=\"admin-password\""));
    let list = c.get("/console/admins", Some(&s)).await;
    assert!(list.body.contains("kim") && list.body.contains("help desk"));

    // A help desk cannot add agents or administrators (no form, refused by the core).
    let hd = c.admin("hd", "help-desk", "root").await;
    let hs = c.session("hd", &hd, 0).await;
    let page = c.get("/console/agents", Some(&hs)).await;
    assert!(!page.body.contains("agent-form"));
    let res = c
        .post(
            "/console/agents",
            Some(&hs),
            &[("csrf", &page.csrf()), ("name", "x1"), ("kind", "rest")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = c
        .post(
            "/console/admins/kim/delete",
            Some(&hs),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = c
        .post("/console/admins/kim/delete", Some(&s), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let admins = c.api("/api/v1/admin/admins").await;
    assert!(
        !admins
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "kim")
    );
    let log = c.audit().await;
    assert!(
        log.iter()
            .any(|r| r["action"] == "agent.delete" && r["actor"] == "admin:ops")
    );
}

#[tokio::test]
async fn messaging_shows_providers_to_super_admins_and_the_scoped_outbox() {
    let c = Console::new(false).await;
    c.app
        .created("/api/v1/admin/domains", json!({"name": "east"}))
        .await;
    c.app
        .created(
            "/api/v1/admin/users",
            json!({"login": "lena", "email": "lena@example.com"}),
        )
        .await;
    // Reading the offline passcode notifies the user: a notice in the outbox.
    c.app
        .root(
            "POST",
            "/api/v1/admin/users/lena/emergency/offline-passcode/reveal",
            Some(json!({"reason": "INC-1"})),
        )
        .await
        .expect(200);
    let password = c.admin("ops", "super-admin", "root").await;
    let s = c.session("ops", &password, 0).await;
    let page = c.get("/console/messaging", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"providers\"") && page.body.contains("id=\"outbox\""));
    // This test server runs no messaging service: said so, not an error page.
    assert!(page.body.contains("not configurable in this deployment"));
    assert!(page.body.contains("emergency.offline.revealed") && page.body.contains("lena"));
    // A help desk of another domain: no providers, and not lena's notice.
    let hd = c.admin("hd", "help-desk", "east").await;
    let s = c.session("hd", &hd, 0).await;
    let page = c.get("/console/messaging", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Only super administrators"));
    assert!(
        !page.body.contains("emergency.offline.revealed"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn super_admins_edit_the_providers_keeping_stored_secrets() {
    const API: &str = "/api/v1/admin/messaging/providers";
    let c = Console::on(
        app_with_options(Options {
            configure_admin: Some(crate::providers::with_providers),
            ..Options::default()
        })
        .await,
        false,
    );
    let password = c.admin("ops", "super-admin", "root").await;
    let s = c.session("ops", &password, 0).await;
    let page = c.get("/console/messaging", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("From the configuration file."));
    assert!(page.body.contains("&quot;outbox&quot;"), "{}", page.body);
    let csrf = page.csrf();
    let twilio = |from: &str, token: &str| {
        json!([{"name": "twilio-main", "settings": {"type": "twilio",
            "account_sid": "AC0123456789abcdef0123456789abcdef", "from": from,
            "auth_token": token}}])
        .to_string()
    };

    // Refused lists are shown again with the reason; nothing is stored or audited.
    let before = c.audit().await.len();
    for (text, reason) in [
        ("[{\"name\": ", "not a JSON list of providers"),
        (
            r#"[{"name": "hook", "settings": {"type": "generic_http", "url": "ftp://x", "body_template": "{code}"}}]"#,
            "providers",
        ),
    ] {
        let res = c
            .post(
                "/console/messaging/providers",
                Some(&s),
                &[("csrf", &csrf), ("providers", text)],
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
        assert!(res.body.contains("Not saved"), "{}", res.body);
        assert!(res.body.contains(reason), "{}", res.body);
    }
    assert_eq!(c.api(API).await["source"], "file");
    assert_eq!(c.audit().await.len(), before);

    // Saved with a secret; shown as "set" only.
    let res = c
        .post(
            "/console/messaging/providers",
            Some(&s),
            &[
                ("csrf", &csrf),
                ("providers", &twilio("+15005550006", "tw-secret-41")),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = c.get("/console/messaging?done=saved", Some(&s)).await;
    assert!(page.body.contains("The providers were saved"));
    assert!(page.body.contains("version 1"), "{}", page.body);
    assert!(!page.body.contains("tw-secret-41"));
    let stored = c.api(API).await;
    assert_eq!(stored["source"], "database");
    assert_eq!(stored["providers"][0]["settings"]["auth_token"], "set");
    // Saved again as shown ("set"): the stored secret is kept (a Twilio provider without
    // one would be refused).
    let res = c
        .post(
            "/console/messaging/providers",
            Some(&s),
            &[
                ("csrf", &csrf),
                ("providers", &twilio("+15005550007", "set")),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let stored = c.api(API).await;
    assert_eq!(stored["version"], 2);
    assert_eq!(stored["providers"][0]["settings"]["from"], "+15005550007");

    // A domain administrator may not; back to the file's list.
    let da = c.admin("dana", "domain-admin", "root").await;
    let ds = c.session("dana", &da, 1).await;
    let page = c.get("/console/messaging", Some(&ds)).await;
    assert!(page.body.contains("Only super administrators"));
    let res = c
        .post(
            "/console/messaging/providers/clear",
            Some(&ds),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(c.api(API).await["source"], "database");
    let res = c
        .post(
            "/console/messaging/providers/clear",
            Some(&s),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(c.api(API).await["source"], "file");
    let log = c.audit().await;
    for action in ["messaging.providers.set", "messaging.providers.clear"] {
        assert!(
            log.iter()
                .any(|r| r["action"] == action && r["actor"] == "admin:ops"),
            "{action}"
        );
    }
}

#[tokio::test]
async fn phone_numbers_activity_and_the_dashboard_chart() {
    let c = Console::new(false).await;
    let password = c.admin("ops", "super-admin", "root").await;
    let s = c.session("ops", &password, 0).await;
    c.app
        .created("/api/v1/admin/users", json!({"login": "lena"}))
        .await;
    let page = c.get("/console/users/lena", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"phone-form\""));
    let csrf = page.csrf();
    let phones = || async { c.api("/api/v1/admin/users/lena").await["phones"].clone() };
    let res = c
        .post(
            "/console/users/lena/phones",
            Some(&s),
            &[("number", "+14155550123")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = c
        .post(
            "/console/users/lena/phones",
            Some(&s),
            &[("csrf", &csrf), ("number", "0415 555")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(phones().await, json!([]));
    let res = c
        .post(
            "/console/users/lena/phones",
            Some(&s),
            &[("csrf", &csrf), ("number", "+14155550123")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(phones().await[0]["number"], "+14155550123");
    let page = c.get("/console/users/lena", Some(&s)).await;
    assert!(page.body.contains("+14155550123"));
    let res = c
        .post(
            "/console/users/lena/phones/remove",
            Some(&s),
            &[("csrf", &csrf), ("number", "+19999999999")],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = c
        .post(
            "/console/users/lena/phones/remove",
            Some(&s),
            &[("csrf", &csrf), ("number", "+14155550123")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(phones().await, json!([]));

    // The administrator's own sign-in was an authentication of user "ops".
    let own = c.get("/console/users/ops", Some(&s)).await;
    assert!(own.body.contains("Recent authentication activity"));
    assert!(own.body.contains("security-console"), "{}", own.body);
    let dash = c.get("/console/dashboard", Some(&s)).await;
    assert_eq!(dash.status, StatusCode::OK, "{}", dash.body);
    assert!(
        dash.body.contains("<svg id=\"auth-chart\""),
        "{}",
        dash.body
    );
    assert!(dash.body.contains("1 succeeded, 0 failed"), "{}", dash.body);
    assert!(dash.body.contains("id=\"offline-soon\""));
    // A replayed passcode is a failed authentication; a fresh one succeeds.
    let bad = c.sign_in("ops", &password, 0).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let good = c.sign_in("ops", &password, 1).await;
    assert_eq!(good.status, StatusCode::SEE_OTHER);
    let dash = c.get("/console/dashboard", Some(&s)).await;
    assert!(dash.body.contains("2 succeeded, 1 failed"), "{}", dash.body);

    // A help desk (no audit right) sees a hint instead of the activity.
    let hd = c.admin("hd", "help-desk", "root").await;
    let hs = c.session("hd", &hd, 0).await;
    let page = c.get("/console/users/lena", Some(&hs)).await;
    assert!(page.body.contains("Your role cannot read the audit log."));
    assert!(!page.body.contains("id=\"phone-form\""));
}
