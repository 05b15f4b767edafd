//! Security Console sessions: an administrator signs in with the console password **and** a
//! one-time code of their own Latchkey token, and gets a session that works on every node.
//!
//! Invariants:
//! - The session identifier leaves the server once, in the cookie; the store keeps only its
//!   SHA-256 ([`bearer_token_hash`]), so a database reader cannot take over a session.
//! - The CSRF token is derived from the session identifier ([`csrf_token`]): it is bound to
//!   the session, known only to whoever holds the cookie, and needs no storage. It is
//!   compared in constant time ([`ConsoleService::check_csrf`]).
//! - The second factor goes through [`AuthnService::initialize`] as the console's own agent
//!   ([`CONSOLE_AGENT`]), so replay protection, the lockout policy and the audit record are
//!   those of any other authentication. A wrong password counts toward the linked user's
//!   lockout too, through the same store call as a wrong passcode.
//! - The linked Latchkey user of an administrator is the user whose login is the
//!   administrator's name **in the administrator's scope domain itself**: only administrators
//!   whose scope covers that domain can create or change that user and its tokens.
//! - A session ends after `idle_timeout` seconds without a request and after `max_lifetime`
//!   seconds in any case, measured with the injected [`Clock`]. Sign-in, sign-out and expiry
//!   are audited in the same transaction as the session change. Every sign-in deletes the
//!   expired sessions nobody presented again (`console.session_purge`).

use std::sync::Arc;

use async_trait::async_trait;
use latchkey_crypto::secret::{SecretString, ct_eq};
use latchkey_crypto::verifier::{
    bearer_token_hash, generate_bearer_token, password_hash, password_verify,
};
use latchkey_proto::admin::AgentKind;
use latchkey_proto::authn::{AuthnResult, InitializeRequest};
use sha2::{Digest, Sha256};

use crate::CoreError;
use crate::admin::AdminService;
use crate::audit::AuditDraft;
use crate::authn::store::{AuthnStore, Failure};
use crate::authn::{AuthnService, Caller};
use crate::authz::{Actor, DomainTree};
use crate::ids::AdminId;
use crate::model::{Agent, NewAgent};
use crate::ports::{Clock, Entropy, EntropyRng};
use crate::store::StoreError;

/// Name of the agent the console authenticates administrators' second factor as. It has no
/// API key, so nothing outside the server can act as it.
pub const CONSOLE_AGENT: &str = "security-console";

/// Default idle timeout of a console session, in seconds.
pub const DEFAULT_IDLE_TIMEOUT: i64 = 15 * 60;
/// Default longest life of a console session, in seconds.
pub const DEFAULT_MAX_LIFETIME: i64 = 12 * 3600;

/// One stored console session (the identifier itself is never stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 (hex) of the session identifier.
    pub id_hash: String,
    /// The administrator.
    pub admin_id: AdminId,
    /// The administrator's name when the session began.
    pub admin_name: String,
    /// Client address at sign-in.
    pub source: Option<String>,
    /// Sign-in time.
    pub created_at: i64,
    /// Time of the last request.
    pub last_seen: i64,
}

/// Storage of console sessions, beside the authentication store the sign-in uses.
#[async_trait]
pub trait ConsoleStore: AuthnStore {
    /// Stores a new session together with its audit record.
    async fn insert_console_session(
        &self,
        s: &ConsoleSession,
        audit: &AuditDraft,
    ) -> Result<(), StoreError>;
    /// The session with this identifier hash.
    async fn find_console_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<ConsoleSession>, StoreError>;
    /// Records a request at `now` (never moves `last_seen` back).
    async fn touch_console_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError>;
    /// Deletes a session together with its audit record; `false` (and no record) when it
    /// was gone already.
    async fn delete_console_session(
        &self,
        id_hash: &str,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError>;
    /// Deletes every session last seen at or before `idle_since` or created at or before
    /// `created_since`, with `audit` (its detail gains the count) when there was any; the
    /// number deleted.
    async fn purge_console_sessions(
        &self,
        idle_since: i64,
        created_since: i64,
        audit: &AuditDraft,
    ) -> Result<u64, StoreError>;
}

/// Session timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// Seconds without a request after which a session ends.
    pub idle_timeout: i64,
    /// Seconds after sign-in after which a session ends in any case.
    pub max_lifetime: i64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_lifetime: DEFAULT_MAX_LIFETIME,
        }
    }
}

/// A new session: the identifier for the cookie (shown once) and its CSRF token.
pub struct NewSession {
    /// Session identifier (the cookie value).
    pub id: SecretString,
    /// The CSRF token of the session's forms.
    pub csrf: String,
    /// The administrator.
    pub actor: Actor,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("actor", &self.actor.name)
            .finish_non_exhaustive()
    }
}

/// A valid session of a request.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The administrator, as the admin services check them.
    pub actor: Actor,
    /// The CSRF token of the session's forms.
    pub csrf: String,
}

/// The CSRF token of a session: SHA-256 of a fixed label and the session identifier, hex.
/// Only the holder of the session cookie can know it; it reveals nothing of the identifier.
pub fn csrf_token(session_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"latchkey-console-csrf\0");
    h.update(session_id.as_bytes());
    hex::encode(h.finalize())
}

/// Why a sign-in failed (audit only; the browser sees one message).
fn signin_fail(now: i64, name: &str, reason: &str, source: Option<&str>) -> AuditDraft {
    AuditDraft::ok(
        now,
        &format!("admin:{name}"),
        "console.signin",
        &format!("admin:{name}"),
        source,
    )
    .with_outcome(reason)
}

/// The console's sign-in and session service.
pub struct ConsoleService {
    admin: Arc<AdminService>,
    authn: Arc<AuthnService>,
    store: Arc<dyn ConsoleStore>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    settings: ConsoleSettings,
    /// An Argon2id hash of a random password, checked when the administrator is unknown so
    /// that the time taken does not say whether the name exists.
    decoy: String,
}

impl std::fmt::Debug for ConsoleService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ConsoleService {
    /// Builds the service on the same store, clock and services as the API.
    pub fn new(
        admin: Arc<AdminService>,
        authn: Arc<AuthnService>,
        store: Arc<dyn ConsoleStore>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        settings: ConsoleSettings,
    ) -> Result<Self, CoreError> {
        let mut rng = EntropyRng(entropy.as_ref());
        let decoy = generate_bearer_token(&mut rng, "decoy");
        let decoy = password_hash(&mut rng, decoy.expose().as_bytes())?;
        Ok(Self {
            admin,
            authn,
            store,
            clock,
            entropy,
            settings,
            decoy,
        })
    }

    /// The administrative service the console's pages call.
    pub fn admin(&self) -> &Arc<AdminService> {
        &self.admin
    }

    /// The session timing.
    pub fn settings(&self) -> ConsoleSettings {
        self.settings
    }

    /// The current time of the service's clock (Unix seconds), for pages that show "recent"
    /// or "soon" (the fake clock in tests).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Signs an administrator in with the console password and a passcode (PIN + tokencode,
    /// or the tokencode of a token without PIN) of their linked Latchkey user. Any failure is
    /// [`CoreError::Unauthenticated`], recorded with its precise reason; a passcode that
    /// starts a challenge (new PIN, next tokencode) is [`CoreError::Invalid`] on `passcode`.
    pub async fn sign_in(
        &self,
        name: &str,
        password: &str,
        passcode: &str,
        source: Option<String>,
    ) -> Result<NewSession, CoreError> {
        let now = self.clock.now();
        let src = source.as_deref();
        let Ok(name) = crate::validate::name("name", name) else {
            let _ = password_verify(password.as_bytes(), &self.decoy);
            let audit = signin_fail(now, "(invalid name)", "fail:unknown_admin", src);
            self.store.audit_only(&audit).await?;
            return Err(CoreError::Unauthenticated);
        };
        let Some(admin) = self.store.find_admin_by_name(&name).await? else {
            let _ = password_verify(password.as_bytes(), &self.decoy);
            // Not the typed name: a password typed into the name field must not reach the log.
            let audit = signin_fail(now, "(unknown)", "fail:unknown_admin", src);
            self.store.audit_only(&audit).await?;
            return Err(CoreError::Unauthenticated);
        };
        let linked = self
            .store
            .find_user_by_login(&admin.name)
            .await?
            .filter(|u| u.domain_id == admin.scope);
        if !password_verify(password.as_bytes(), &admin.password_hash) {
            let audit = signin_fail(now, &name, "fail:wrong_password", src);
            match &linked {
                Some(user) => {
                    let tree = DomainTree::new(self.store.list_domains().await?);
                    let f = Failure {
                        user_id: user.id,
                        token_ids: Vec::new(),
                        now,
                        policy: crate::policy::effective(&tree, user.domain_id).lockout,
                    };
                    let audit = audit.with_field("counted", true.into());
                    self.store.commit_failure(&f, &audit).await?;
                }
                None => self.store.audit_only(&audit).await?,
            }
            return Err(CoreError::Unauthenticated);
        }
        let Some(user) = linked else {
            let audit = signin_fail(now, &name, "fail:no_linked_user", src);
            self.store.audit_only(&audit).await?;
            return Err(CoreError::Unauthenticated);
        };
        let caller = Caller {
            agent: self.console_agent().await?,
            source: source.clone(),
            client: None,
        };
        let req = InitializeRequest {
            user: user.login.clone(),
            passcode: passcode.to_owned(),
            client_address: None,
        };
        match self.authn.initialize(&caller, &req).await?.result {
            AuthnResult::Success => {}
            AuthnResult::Fail => return Err(CoreError::Unauthenticated),
            AuthnResult::Challenge => {
                return Err(CoreError::invalid(
                    "passcode",
                    "the token asks for a new PIN or the next tokencode: complete that at an \
                     agent (or have another administrator clear it), then sign in again",
                ));
            }
        }
        self.purge_expired(now).await?;
        let id = generate_bearer_token(&mut EntropyRng(self.entropy.as_ref()), "lkcs");
        let session = ConsoleSession {
            id_hash: bearer_token_hash(id.expose()),
            admin_id: admin.id,
            admin_name: admin.name.clone(),
            source: source.clone(),
            created_at: now,
            last_seen: now,
        };
        let audit = AuditDraft::ok(
            now,
            &format!("admin:{}", admin.name),
            "console.signin",
            &format!("admin:{}", admin.name),
            src,
        )
        .with_detail(&serde_json::json!({"linked_user": user.login}));
        self.store.insert_console_session(&session, &audit).await?;
        let csrf = csrf_token(id.expose());
        Ok(NewSession {
            id,
            csrf,
            actor: Actor::of(admin, source),
        })
    }

    /// The administrator of a session identifier, if the session is valid now; records the
    /// request (idle timer). An expired session is deleted (audited) and refused.
    pub async fn session(&self, id: &str, source: Option<String>) -> Result<SignedIn, CoreError> {
        if id.is_empty() || id.len() > 200 {
            return Err(CoreError::Unauthenticated);
        }
        let now = self.clock.now();
        let hash = bearer_token_hash(id);
        let s = self
            .store
            .find_console_session(&hash)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let idle = now - s.last_seen >= self.settings.idle_timeout;
        let old = now - s.created_at >= self.settings.max_lifetime;
        let admin = self
            .store
            .find_admin_by_name(&s.admin_name)
            .await?
            .filter(|a| a.id == s.admin_id);
        let Some(admin) = admin.filter(|_| !idle && !old) else {
            let why = if idle { "idle" } else { "lifetime" };
            let audit = AuditDraft::ok(
                now,
                "system",
                "console.session_expire",
                &format!("admin:{}", s.admin_name),
                None,
            )
            .with_detail(&serde_json::json!({"why": why}));
            self.store.delete_console_session(&hash, &audit).await?;
            return Err(CoreError::Unauthenticated);
        };
        self.store.touch_console_session(&hash, now).await?;
        Ok(SignedIn {
            actor: Actor::of(admin, source),
            csrf: csrf_token(id),
        })
    }

    /// Deletes the sessions expired at `now`: sessions nobody presents again would otherwise
    /// stay forever. Run at each sign-in (one statement; a record only when there were any).
    async fn purge_expired(&self, now: i64) -> Result<u64, CoreError> {
        let audit = AuditDraft::ok(
            now,
            "system",
            "console.session_purge",
            "console sessions",
            None,
        );
        Ok(self
            .store
            .purge_console_sessions(
                now - self.settings.idle_timeout,
                now - self.settings.max_lifetime,
                &audit,
            )
            .await?)
    }

    /// Whether `submitted` is the CSRF token of session `id` (constant time).
    pub fn check_csrf(id: &str, submitted: &str) -> bool {
        ct_eq(csrf_token(id).as_bytes(), submitted.as_bytes())
    }

    /// Ends a session (audited); ending one that is gone already is not an error.
    pub async fn sign_out(&self, id: &str, actor: &Actor) -> Result<(), CoreError> {
        let audit = AuditDraft::ok(
            self.clock.now(),
            &actor.audit_name(),
            "console.signout",
            &actor.audit_name(),
            actor.source.as_deref(),
        );
        self.store
            .delete_console_session(&bearer_token_hash(id), &audit)
            .await?;
        Ok(())
    }

    /// The console's agent, registered in the root domain on first use (audited).
    async fn console_agent(&self) -> Result<Agent, CoreError> {
        if let Some(a) = self.store.find_agent_by_name(CONSOLE_AGENT).await? {
            // Only the agent the console registered itself (REST, no API key) will do: one
            // created by someone else under that name must not stand in for it.
            if a.kind == AgentKind::Rest && a.api_key_hash.is_none() {
                return Ok(a);
            }
            return Err(CoreError::Internal(format!(
                "the agent name {CONSOLE_AGENT:?} is taken by an agent the console did not \
                 register; delete or rename it"
            )));
        }
        let now = self.clock.now();
        let tree = DomainTree::new(self.store.list_domains().await?);
        let root = tree
            .root()
            .ok_or_else(|| CoreError::Internal("no root domain".to_owned()))?;
        let new = NewAgent {
            name: CONSOLE_AGENT.to_owned(),
            kind: AgentKind::Rest,
            domain_id: root,
            api_key_hash: None,
            address: None,
            secret_sealed: None,
            require_message_authenticator: false,
            created_at: now,
        };
        let audit = AuditDraft::ok(
            now,
            "system",
            "agent.create",
            &format!("agent:{CONSOLE_AGENT}"),
            None,
        )
        .with_detail(&serde_json::json!({"kind": "rest", "console": true}));
        match self.store.insert_agent(&new, &audit).await {
            Ok(a) => Ok(a),
            Err(StoreError::Conflict(_)) => self
                .store
                .find_agent_by_name(CONSOLE_AGENT)
                .await?
                .ok_or_else(|| CoreError::Internal("console agent vanished".to_owned())),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_token_is_bound_to_the_session_and_checked_exactly() {
        let a = csrf_token("lkcs_one");
        assert_eq!(a, csrf_token("lkcs_one"));
        assert_ne!(a, csrf_token("lkcs_two"));
        assert_eq!(a.len(), 64);
        assert!(ConsoleService::check_csrf("lkcs_one", &a));
        assert!(!ConsoleService::check_csrf("lkcs_two", &a));
        assert!(!ConsoleService::check_csrf("lkcs_one", ""));
        assert!(!ConsoleService::check_csrf("lkcs_one", &a[..63]));
    }
}
