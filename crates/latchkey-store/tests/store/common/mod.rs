//! The dual-backend harness and fixtures shared by the conformance suites: every case runs on
//! SQLite (always, on a fresh file) and on PostgreSQL (when `LATCHKEY_TEST_POSTGRES_URL`
//! names a server; each test gets its own database, dropped afterwards).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use latchkey_core::audit::{AuditDraft, AuditRecord, Verdict, Verifier};
use latchkey_core::ids::{DomainId, UserId};
use latchkey_core::model::{NewAdmin, NewAgent, NewDomain, NewToken, NewUser};
use latchkey_core::store::{Store, StoreError};
use latchkey_crypto::OtpAlgorithm;
use latchkey_proto::admin::{AgentKind, Phone, PhoneSource, Role, TokenType};
use latchkey_proto::policy::{PolicyKind, PolicyValue};
use latchkey_store::SqlStore;
use sqlx::Connection;
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// A fresh database and a store connected to it.
pub struct TestDb {
    pub store: SqlStore,
    pub url: String,
    _dir: Option<TempDir>,
    /// PostgreSQL: (server URL, database name) to drop afterwards.
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("latchkey.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        TestDb {
            store,
            url,
            _dir: Some(dir),
            pg: None,
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let Ok(server) = std::env::var("LATCHKEY_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("LATCHKEY_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "LATCHKEY_REQUIRE_TOOLS=1 but LATCHKEY_TEST_POSTGRES_URL is not set: \
                 start a server (scripts/pg-throwaway.sh start DIR) and export its URL"
            );
            eprintln!("skipped: LATCHKEY_TEST_POSTGRES_URL not set");
            return None;
        };
        let name = format!("lk_{}", hex::encode(rand::random::<[u8; 8]>()));
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(&server).unwrap();
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let store = SqlStore::connect(&url).await.unwrap();
        assert_eq!(store.backend(), "postgres");
        Some(TestDb {
            store,
            url,
            _dir: None,
            pg: Some((server, name)),
        })
    }

    /// Closes the store and connects again, like a server restart.
    pub async fn restart(&mut self) {
        self.store.close().await;
        self.store = SqlStore::connect(&self.url).await.unwrap();
    }

    pub async fn finish(self) {
        self.store.close().await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Best effort, also when the test panicked: drop the PostgreSQL database.
        let Some((server, name)) = self.pg.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut c) = sqlx::PgConnection::connect(&server).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(&sql).execute(&mut c).await;
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}

/// Generates one `#[tokio::test]` per backend for each case in `cases`.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let mut db = super::TestDb::sqlite().await;
                    super::cases::$case(&mut db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(mut db) = super::TestDb::postgres().await else { return };
                    super::cases::$case(&mut db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

pub const NOW: i64 = 1_700_000_000;

pub fn draft(action: &str, target: &str) -> AuditDraft {
    AuditDraft::ok(NOW, "admin:root", action, target, Some("192.0.2.1"))
}

pub fn sealed(tag: &str) -> Vec<u8> {
    // Bytes that are not valid UTF-8, to be sure blobs are stored as blobs.
    let mut v = vec![0xff, 0x00, 0xfe];
    v.extend_from_slice(tag.as_bytes());
    v
}

pub async fn root(s: &SqlStore) -> DomainId {
    let d = NewDomain {
        name: "root".into(),
        parent: None,
        policies: PolicyKind::ALL
            .into_iter()
            .map(PolicyValue::default_of)
            .collect(),
        created_at: NOW,
    };
    s.insert_domain(&d, &draft("domain.create", "domain:root"))
        .await
        .unwrap()
        .id
}

pub async fn child(s: &SqlStore, name: &str, parent: DomainId) -> DomainId {
    let d = NewDomain {
        name: name.into(),
        parent: Some(parent),
        policies: vec![],
        created_at: NOW,
    };
    s.insert_domain(&d, &draft("domain.create", name))
        .await
        .unwrap()
        .id
}

pub fn new_user(login: &str, domain: DomainId) -> NewUser {
    NewUser {
        login: login.into(),
        domain_id: domain,
        email: Some(format!("{login}@example.com")),
        phones: vec![Phone {
            number: "+14155550123".into(),
            source: PhoneSource::Manual,
        }],
        created_at: NOW,
    }
}

pub fn new_token(serial: &str, domain: DomainId, user: Option<UserId>) -> NewToken {
    NewToken {
        serial: serial.into(),
        token_type: TokenType::Hotp,
        algorithm: OtpAlgorithm::Sha256,
        digits: 8,
        period: 30,
        counter: 42,
        seed_sealed: sealed(serial),
        domain_id: domain,
        user_id: user,
        created_at: NOW + 1,
    }
}

pub fn rest_agent(name: &str, domain: DomainId, key_hash: &str) -> NewAgent {
    NewAgent {
        name: name.into(),
        kind: AgentKind::Rest,
        domain_id: domain,
        api_key_hash: Some(key_hash.into()),
        address: None,
        secret_sealed: None,
        require_message_authenticator: false,
        created_at: NOW,
    }
}

pub fn radius_agent(name: &str, domain: DomainId) -> NewAgent {
    NewAgent {
        name: name.into(),
        kind: AgentKind::Radius,
        domain_id: domain,
        api_key_hash: None,
        address: Some("10.1.0.0/16".parse().unwrap()),
        secret_sealed: Some(sealed(name)),
        require_message_authenticator: true,
        created_at: NOW,
    }
}

pub fn new_admin(name: &str, scope: DomainId, token_hash: &str) -> NewAdmin {
    NewAdmin {
        name: name.into(),
        role: Role::PrivilegedHelpDesk,
        scope,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        token_hash: token_hash.into(),
        created_at: NOW,
    }
}

pub async fn head_seq(s: &SqlStore) -> i64 {
    s.find_audit_head().await.unwrap().seq
}

pub async fn all_audit(s: &SqlStore) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    loop {
        let after = out.last().map_or(0, |r: &AuditRecord| r.seq);
        let page = s.list_audit(after, 7).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

pub async fn verify(s: &SqlStore) -> Verdict {
    let mut v = Verifier::default();
    for r in all_audit(s).await {
        v.feed(&r);
    }
    v.finish(&s.find_audit_head().await.unwrap())
}

/// Asserts `r` failed as `expected` (by variant) and that nothing was audited since `seq`.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug>(r: Result<T, StoreError>, expected: &str) -> String {
    let e = r.expect_err("expected an error");
    let variant = match &e {
        StoreError::Conflict(_) => "conflict",
        StoreError::NotFound(_) => "not_found",
        StoreError::Backend(_) => "backend",
        StoreError::Corrupt(_) => "corrupt",
    };
    assert_eq!(variant, expected, "unexpected error: {e}");
    e.to_string()
}
