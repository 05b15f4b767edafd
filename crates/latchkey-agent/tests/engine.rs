//! The agent's request logic in-process: a scripted server with an "unreachable" switch, a fake
//! clock, real offline data built and signed by `latchkey-offline`, the real encrypted cache
//! in a temporary directory, and the real Unix socket server.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    clippy::unnecessary_wraps,
    clippy::items_after_statements,
    missing_docs
)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use latchkey_agent::cache::{Cache, CacheKey};
use latchkey_agent::engine::{Clock, Engine, HostIdentity};
use latchkey_agent::events::{Event, EventQueue};
use latchkey_agent::protocol::{Outcome, Passcode, Request, Response};
use latchkey_agent::upstream::{AuthnAnswer, Step, StepResult, Upstream, UpstreamError};
use latchkey_crypto::otp::{OtpAlgorithm, totp};
use latchkey_offline::{BuildRequest, EmergencySource, KdfParams, TokenSource};
use rand::SeedableRng;

const SERVER_SK: [u8; 32] = [7; 32];
const OTHER_SK: [u8; 32] = [8; 32];
const HOST: &str = "host-1";
const SEED: &[u8] = b"12345678901234567890";
const PIN: &str = "4711";
const EP: &str = "EmergPass7Xy";
const T0: i64 = 1_800_000_000;

fn code_at(t: i64) -> String {
    totp(SEED, t, 60, 6, OtpAlgorithm::Sha1).unwrap()
}

fn oad_for(user: &str, generated_at: i64, key: &[u8; 32], host: &str) -> Vec<u8> {
    let req = BuildRequest {
        host_id: host,
        user,
        generated_at,
        days: 14,
        refresh_below_days: 7,
        policy_fingerprint: [1; 32],
        failures_before_online_required: 3,
        failures_before_wipe: 6,
        kdf: KdfParams::TEST_ONLY_CHEAP,
        tokens: vec![TokenSource {
            serial: "S1",
            seed: SEED,
            pin: PIN,
            digits: 6,
            period: 60,
            algorithm: OtpAlgorithm::Sha1,
            drift: 0,
            emergency_tokencode: None,
        }],
        emergency_passcode: Some(EmergencySource {
            generation: 1,
            expires_at: generated_at + 30 * 86_400,
            value: EP,
        }),
        eac: None,
    };
    latchkey_offline::build(&req, key, &mut rand::rngs::StdRng::seed_from_u64(1)).unwrap()
}

struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A scripted server: answers in order while reachable; records what it was asked.
#[derive(Default)]
struct FakeServer {
    down: AtomicBool,
    answers: Mutex<VecDeque<Result<AuthnAnswer, UpstreamError>>>,
    /// (kind, user or attempt, `want_offline_data`)
    asked: Mutex<Vec<(String, String, bool)>>,
    events: Mutex<Vec<Event>>,
}

impl FakeServer {
    fn answer(&self, a: Result<AuthnAnswer, UpstreamError>) {
        self.answers.lock().unwrap().push_back(a);
    }
    fn asked(&self) -> Vec<(String, String, bool)> {
        self.asked.lock().unwrap().clone()
    }
}

fn success(oad: Option<Vec<u8>>) -> Result<AuthnAnswer, UpstreamError> {
    Ok(AuthnAnswer {
        result: StepResult::Success,
        attempt_id: None,
        prompt: None,
        offline_data: oad,
    })
}

fn fail() -> Result<AuthnAnswer, UpstreamError> {
    Ok(AuthnAnswer {
        result: StepResult::Fail,
        attempt_id: None,
        prompt: None,
        offline_data: None,
    })
}

#[async_trait]
impl Upstream for FakeServer {
    async fn step(&self, step: Step<'_>, want: bool) -> Result<AuthnAnswer, UpstreamError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(UpstreamError::Unreachable("connection refused".into()));
        }
        let who = match step {
            Step::Initialize { user, .. } => ("initialize", user.to_owned()),
            Step::Verify { attempt_id, .. } => ("verify", attempt_id.to_owned()),
        };
        self.asked
            .lock()
            .unwrap()
            .push((who.0.to_owned(), who.1, want));
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("an answer was scripted")
    }

    async fn upload_events(&self, events: &[Event]) -> Result<u64, UpstreamError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(UpstreamError::Unreachable("down".into()));
        }
        // Like the server: one invalid login refuses the whole upload.
        if events.iter().any(|e| e.user.contains(' ')) {
            return Err(UpstreamError::Refused("HTTP 400 events.user".into()));
        }
        let mut e = self.events.lock().unwrap();
        for ev in events {
            if !e.iter().any(|x| x.id == ev.id) {
                e.push(ev.clone());
            }
        }
        Ok(u64::try_from(events.len()).unwrap())
    }
}

struct Rig {
    dir: tempfile::TempDir,
    server: Arc<FakeServer>,
    clock: Arc<FakeClock>,
    engine: Arc<Engine>,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(FakeServer::default());
    let clock = Arc::new(FakeClock(AtomicI64::new(T0)));
    let key = CacheKey::load_or_create(&dir.path().join("cache.key")).unwrap();
    let engine = Arc::new(
        Engine::new(
            Arc::clone(&server) as Arc<dyn Upstream>,
            Arc::clone(&clock) as Arc<dyn Clock>,
            Cache::new(dir.path(), key).unwrap(),
            EventQueue::new(dir.path()),
            HostIdentity {
                host_id: HOST.into(),
                server_key: latchkey_offline::verifying_key(&SERVER_SK),
            },
        )
        .with_refresh_every_login(false),
    );
    Rig {
        dir,
        server,
        clock,
        engine,
    }
}

impl Rig {
    async fn login(&self, user: &str, passcode: &str) -> Response {
        self.engine
            .handle(Request::Authenticate {
                user: user.into(),
                passcode: Passcode::new(passcode.into()),
                rhost: None,
            })
            .await
    }
    fn at(&self, t: i64) {
        self.clock.0.store(t, Ordering::SeqCst);
    }
    fn down(&self, d: bool) {
        self.server.down.store(d, Ordering::SeqCst);
    }
    fn queued(&self) -> Vec<Event> {
        EventQueue::new(self.dir.path()).load().unwrap()
    }
    fn failures(&self, user: &str) -> Option<u32> {
        self.engine
            .cache()
            .load(user)
            .unwrap()
            .map(|e| e.state.failures())
    }
}

#[tokio::test]
async fn online_login_stores_offline_data_and_offline_login_works_when_the_server_is_down() {
    let r = rig();
    r.server
        .answer(success(Some(oad_for("ann", T0, &SERVER_SK, HOST))));
    let resp = r.login("ann", &format!("{PIN}{}", code_at(T0))).await;
    assert_eq!(resp.result, Outcome::Success);
    // No offline data yet: the agent asked for it.
    assert_eq!(
        r.server.asked()[0],
        ("initialize".into(), "ann".into(), true)
    );
    assert!(r.engine.cache().load("ann").unwrap().is_some());

    // Fresh offline data: in "when_due" mode the next online login does not ask for more.
    r.at(T0 + 3600);
    r.server.answer(success(None));
    assert_eq!(r.login("ann", "whatever").await.result, Outcome::Success);
    assert!(!r.server.asked()[1].2);

    // Server down, two days later: PIN + the tokencode of that time works offline.
    r.down(true);
    let t = T0 + 2 * 86_400;
    r.at(t);
    let pass = format!("{PIN}{}", code_at(t));
    assert_eq!(r.login("ann", &pass).await.result, Outcome::Success);
    // The same tokencode a second time: refused (replay), and counted.
    assert_eq!(r.login("ann", &pass).await.result, Outcome::Fail);
    assert_eq!(r.failures("ann"), Some(1));
    // The offline emergency passcode alone works.
    assert_eq!(r.login("ann", EP).await.result, Outcome::Success);
    assert_eq!(r.failures("ann"), Some(0));

    // Events were queued, with the credential; they go out at the next contact.
    let q = r.queued();
    assert_eq!(q.len(), 3);
    assert_eq!(
        q.iter()
            .map(|e| (e.result.as_str(), e.credential.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("success", Some("tokencode")),
            ("fail", None),
            ("success", Some("offline_emergency_passcode"))
        ]
    );
    assert_eq!(q[0].at, t);
    // An attempt for a login the server finds invalid is queued too ...
    assert_eq!(r.login("not a login", "1").await.result, Outcome::Fail);
    assert!(r.engine.flush_events().await.is_err(), "server is down");
    assert_eq!(r.queued().len(), 4, "kept until accepted");
    r.down(false);
    // ... and dropped alone when the server refuses it; the others are uploaded.
    assert_eq!(r.engine.flush_events().await.unwrap(), 4);
    assert!(r.queued().is_empty());
    let uploaded = r.server.events.lock().unwrap().clone();
    assert_eq!(uploaded.len(), 3);
    assert!(uploaded.iter().all(|e| e.user == "ann"));
    // Uploading again sends nothing.
    assert_eq!(r.engine.flush_events().await.unwrap(), 0);
}

#[tokio::test]
async fn by_default_every_online_login_asks_for_fresh_offline_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(FakeServer::default());
    let engine = Engine::new(
        Arc::clone(&server) as Arc<dyn Upstream>,
        Arc::new(FakeClock(AtomicI64::new(T0))),
        Cache::new(
            dir.path(),
            CacheKey::load_or_create(&dir.path().join("k")).unwrap(),
        )
        .unwrap(),
        EventQueue::new(dir.path()),
        HostIdentity {
            host_id: HOST.into(),
            server_key: latchkey_offline::verifying_key(&SERVER_SK),
        },
    );
    for _ in 0..2 {
        server.answer(success(Some(oad_for("ann", T0, &SERVER_SK, HOST))));
        let r = engine
            .handle(Request::Authenticate {
                user: "ann".into(),
                passcode: Passcode::new("x".into()),
                rhost: None,
            })
            .await;
        assert_eq!(r.result, Outcome::Success);
    }
    // Fresh data after the first login, and still asked: only the server knows whether an
    // emergency passcode was reset or the policy changed since.
    assert!(server.asked().iter().all(|a| a.2));
}

#[tokio::test]
async fn a_fail_or_a_refusal_from_the_server_is_never_retried_offline() {
    let r = rig();
    r.server
        .answer(success(Some(oad_for("ann", T0, &SERVER_SK, HOST))));
    r.login("ann", "x").await;
    let pass = format!("{PIN}{}", code_at(T0 + 60));
    r.at(T0 + 60);
    // The passcode would be valid offline, but the server answered FAIL.
    r.server.answer(fail());
    assert_eq!(r.login("ann", &pass).await.result, Outcome::Fail);
    // A 4xx (e.g. the host's key was revoked): no offline either.
    r.server
        .answer(Err(UpstreamError::Refused("HTTP 401".into())));
    assert_eq!(r.login("ann", &pass).await.result, Outcome::Fail);
    assert!(r.queued().is_empty(), "nothing was verified offline");
    assert_eq!(r.failures("ann"), Some(0));
    // A 5xx counts as unreachable: offline verification.
    r.server
        .answer(Err(UpstreamError::Unreachable("HTTP 503".into())));
    assert_eq!(r.login("ann", &pass).await.result, Outcome::Success);
}

#[tokio::test]
async fn failures_are_counted_then_emergency_only_then_wipe_and_online_login_resets() {
    let r = rig();
    r.server
        .answer(success(Some(oad_for("ann", T0, &SERVER_SK, HOST))));
    r.login("ann", "x").await;
    r.down(true);
    r.at(T0 + 600);
    for n in 1..=3 {
        assert_eq!(r.login("ann", "4711000000").await.result, Outcome::Fail);
        assert_eq!(r.failures("ann"), Some(n));
    }
    // Over the first limit: a right tokencode is not enough any more...
    let good = format!("{PIN}{}", code_at(T0 + 600));
    assert_eq!(r.login("ann", &good).await.result, Outcome::Fail);
    assert_eq!(r.queued().last().unwrap().reason, "emergency_only");
    // ... until an online login resets the counter (the replay state is kept).
    r.down(false);
    r.server.answer(success(None));
    assert_eq!(r.login("ann", "online").await.result, Outcome::Success);
    assert_eq!(r.failures("ann"), Some(0));
    r.down(true);
    r.at(T0 + 660);
    assert_eq!(
        r.login("ann", &format!("{PIN}{}", code_at(T0 + 660)))
            .await
            .result,
        Outcome::Success
    );
    // Six failures in a row: the cache is wiped; even the emergency passcode fails now.
    for _ in 0..6 {
        assert_eq!(r.login("ann", "4711999999").await.result, Outcome::Fail);
    }
    assert!(r.engine.cache().load("ann").unwrap().is_none());
    assert_eq!(r.login("ann", EP).await.result, Outcome::Fail);
    let reasons: Vec<String> = r.queued().into_iter().map(|e| e.reason).collect();
    assert!(reasons.contains(&"cache_wiped".to_owned()), "{reasons:?}");
    assert_eq!(reasons.last().unwrap(), "no_offline_data");
}

#[tokio::test]
async fn refresh_expiry_foreign_signatures_and_damaged_files() {
    let r = rig();
    // Offline data signed by another server is not stored.
    r.server
        .answer(success(Some(oad_for("ann", T0, &OTHER_SK, HOST))));
    r.login("ann", "x").await;
    assert!(r.engine.cache().load("ann").unwrap().is_none());
    // ... nor data for another host or another user.
    r.server
        .answer(success(Some(oad_for("ann", T0, &SERVER_SK, "host-2"))));
    r.login("ann", "x").await;
    r.server
        .answer(success(Some(oad_for("bob", T0, &SERVER_SK, HOST))));
    r.login("ann", "x").await;
    assert!(r.engine.cache().load("ann").unwrap().is_none());
    assert!(r.server.asked().iter().all(|a| a.2));

    r.server
        .answer(success(Some(oad_for("ann", T0, &SERVER_SK, HOST))));
    r.login("ann", "x").await;
    r.server
        .answer(success(Some(oad_for("bob", T0, &SERVER_SK, HOST))));
    r.login("bob", "x").await;
    // Past refresh_at (7 of 14 days left): the agent asks for new data.
    r.at(T0 + 7 * 86_400 + 1);
    r.server.answer(success(None));
    r.login("ann", "x").await;
    assert!(r.server.asked().last().unwrap().2);

    // Expired data is refused offline (and not counted).
    r.down(true);
    let late = T0 + 15 * 86_400;
    r.at(late);
    assert_eq!(
        r.login("ann", &format!("{PIN}{}", code_at(late)))
            .await
            .result,
        Outcome::Fail
    );
    assert_eq!(r.queued().last().unwrap().reason, "offline_data_expired");
    assert_eq!(r.failures("ann"), Some(0));

    // A cache file altered by one byte: refused, clearly; bob's data is untouched.
    r.at(T0 + 120);
    let path = r.engine.cache().path("ann");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(
        r.login("ann", &format!("{PIN}{}", code_at(T0 + 120)))
            .await
            .result,
        Outcome::Fail
    );
    assert_eq!(r.queued().last().unwrap().reason, "cache_unreadable");
    assert!(std::fs::read(&path).unwrap() == bytes, "evidence kept");
    assert_eq!(
        r.login("bob", &format!("{PIN}{}", code_at(T0 + 120)))
            .await
            .result,
        Outcome::Success
    );
    // The next online login replaces the damaged file.
    r.down(false);
    r.server
        .answer(success(Some(oad_for("ann", T0 + 120, &SERVER_SK, HOST))));
    assert_eq!(r.login("ann", "x").await.result, Outcome::Success);
    assert!(r.server.asked().last().unwrap().2);
    assert!(r.engine.cache().load("ann").unwrap().is_some());
}

#[tokio::test]
async fn challenges_continue_online_with_the_agents_own_attempt_ids() {
    let r = rig();
    r.server.answer(Ok(AuthnAnswer {
        result: StepResult::Challenge,
        attempt_id: Some("server-attempt".into()),
        prompt: Some("Next tokencode: ".into()),
        offline_data: None,
    }));
    let c = r.login("ann", "x").await;
    assert_eq!(c.result, Outcome::Challenge);
    assert_eq!(c.prompt.as_deref(), Some("Next tokencode: "));
    let id = c.attempt_id.unwrap();
    assert_ne!(id, "server-attempt");
    // An unknown attempt is a plain fail, without asking the server.
    let f = r
        .engine
        .handle(Request::Respond {
            attempt_id: "nope".into(),
            response: Passcode::new("1".into()),
        })
        .await;
    assert_eq!(f.result, Outcome::Fail);
    r.server
        .answer(success(Some(oad_for("ann", T0, &SERVER_SK, HOST))));
    let s = r
        .engine
        .handle(Request::Respond {
            attempt_id: id.clone(),
            response: Passcode::new("123456".into()),
        })
        .await;
    assert_eq!(s.result, Outcome::Success);
    assert_eq!(
        r.server.asked()[1],
        ("verify".into(), "server-attempt".into(), true)
    );
    assert!(r.engine.cache().load("ann").unwrap().is_some());
    // An attempt is answered once.
    let again = r
        .engine
        .handle(Request::Respond {
            attempt_id: id,
            response: Passcode::new("123456".into()),
        })
        .await;
    assert_eq!(again.result, Outcome::Fail);
}

#[tokio::test]
async fn the_socket_answers_garbage_with_an_error_and_keeps_serving() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::UnixStream;

    let r = rig();
    let sock = r.dir.path().join("agent.sock");
    let listener = latchkey_agent::daemon::bind(&sock).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).unwrap().permissions())
            & 0o777,
        0o600
    );
    let engine = Arc::clone(&r.engine);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(latchkey_agent::daemon::serve(listener, engine, async {
        let _ = stop_rx.await;
    }));

    async fn exchange(sock: &std::path::Path, bytes: &[u8]) -> (String, bool) {
        let s = UnixStream::connect(sock).await.unwrap();
        let (rd, mut wr) = s.into_split();
        wr.write_all(bytes).await.unwrap();
        let mut rd = BufReader::new(rd);
        let mut line = String::new();
        rd.read_line(&mut line).await.unwrap();
        let mut rest = String::new();
        // Closed by the agent after an error: EOF.
        let closed = rd.read_line(&mut rest).await.unwrap() == 0;
        (line, closed)
    }

    for garbage in [
        &b"hello\n"[..],
        b"{\"op\":\"reboot\"}\n",
        b"{\"op\":\"authenticate\",\"user\":\"ann\",\"passcode\":\"secret-123\",\"x\":1}\n",
        &[0xff, 0xfe, b'\n'],
    ] {
        let (line, closed) = exchange(&sock, garbage).await;
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["result"], "error", "{line}");
        assert!(!line.contains("secret-123"));
        assert!(closed);
    }
    // Over-long line.
    let mut long = vec![b'a'; 10_000];
    long.push(b'\n');
    let (line, closed) = exchange(&sock, &long).await;
    assert!(line.contains("too long"), "{line}");
    assert!(closed);

    // Still serving: a real request on a new connection.
    r.server.answer(fail());
    let s = UnixStream::connect(&sock).await.unwrap();
    let (rd, mut wr) = s.into_split();
    wr.write_all(b"{\"op\":\"authenticate\",\"user\":\"ann\",\"passcode\":\"1\"}\n")
        .await
        .unwrap();
    let mut line = String::new();
    BufReader::new(rd).read_line(&mut line).await.unwrap();
    assert_eq!(
        line,
        "{\"result\":\"fail\",\"echo\":false,\"message\":\"Access denied\"}\n"
    );
    stop_tx.send(()).unwrap();
    served.await.unwrap();
}
