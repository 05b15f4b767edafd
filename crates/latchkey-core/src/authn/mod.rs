//! Online passcode authentication (manager channel): the initialize/verify conversation of
//! PRODUCT.md §3.
//!
//! Invariants:
//! - A code is accepted at most once: every acceptance goes through
//!   [`AuthnStore::commit_token_use`], whose conditional update admits one winner per step
//!   even across nodes.
//! - Every attempt leaves exactly one audit record with the precise reason; the answer to the
//!   agent is one of three uniform bodies, so it cannot tell why a passcode failed.
//! - Failures of every kind on a known user count toward the lockout policy in one atomic
//!   store call.

mod cloud;
pub mod codes;
mod conversation;
mod emergency;
mod hot;
pub mod store;

use std::sync::Arc;

use latchkey_crypto::verifier::{bearer_token_hash, check_keyed_verifier};
use latchkey_proto::admin::{AgentKind, UserStatus};
use latchkey_proto::authn::{AuthnResponse, InitializeRequest, VerifyRequest};
use latchkey_proto::policy::EffectivePolicies;

pub use self::cloud::{PHONE_CODE_CONTEXT, PhoneCodeSettings};
use self::codes::{
    CodeMatch, classify, classify_exhaustive, decoy_scan, may_start_resync, split_passcode,
};
use self::store::{AuthToken, AuthnStore, Failure, TokenUse};
use crate::CoreError;
use crate::admin::{AdminService, PIN_CONTEXT, seed_aad};
use crate::audit::AuditDraft;
use crate::authz::DomainTree;
use crate::delivery::SendLimits;
use crate::ids::{DomainId, UserId};
use crate::model::{Agent, User};
use crate::policy;
use crate::ports::{Clock, Entropy, EntropyRng, Messenger};

/// Seconds an attempt waits for the answer to its challenge.
pub const DEFAULT_ATTEMPT_TTL: i64 = 180;

/// Why an attempt ended as it did (audit log only; never sent to the agent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Authenticated.
    Success,
    /// A challenge was issued.
    Challenge,
    /// No such user.
    UnknownUser,
    /// The user is disabled.
    UserDisabled,
    /// The user is locked.
    UserLocked,
    /// The user has no enabled token.
    NoToken,
    /// No token's PIN matched.
    WrongPin,
    /// A PIN matched but the tokencode did not.
    WrongTokencode,
    /// The code was used before.
    PasscodeReuse,
    /// No such attempt, or it belongs to another agent.
    UnknownAttempt,
    /// The attempt expired.
    AttemptExpired,
    /// The new PIN broke the token policy too often.
    NewPinRejected,
    /// The PIN confirmation did not match.
    PinMismatch,
    /// The answer to a next-tokencode or next-passcode challenge was wrong.
    WrongNextCode,
    /// A valid tokencode of a token in emergency access mode whose setting refuses the token.
    TokenRefusedInEmergency,
    /// An emergency credential that has expired.
    EmergencyCodeExpired,
    /// The offline emergency passcode, which is never accepted online.
    OfflinePasscodeOnline,
    /// An offline emergency tokencode without "use offline code for online access".
    OfflineTokencodeNotOnline,
    /// An emergency access code, which the manager channel does not accept.
    AccessCodeOnManager,
    /// A manager-channel emergency credential typed on the cloud channel.
    NotAcceptedOnCloud,
    /// SMS or voice for a user without a phone number (or without a provider).
    NoPhone,
    /// A wrong SMS, voice or emergency access code.
    WrongCode,
    /// A cloud method the user's domain does not offer.
    MethodNotAllowed,
}

impl Reason {
    /// The audit-log outcome text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Challenge => "challenge",
            Self::UnknownUser => "fail:unknown_user",
            Self::UserDisabled => "fail:user_disabled",
            Self::UserLocked => "fail:user_locked",
            Self::NoToken => "fail:no_enabled_token",
            Self::WrongPin => "fail:wrong_pin",
            Self::WrongTokencode => "fail:wrong_tokencode",
            Self::PasscodeReuse => "fail:passcode_reuse",
            Self::UnknownAttempt => "fail:unknown_attempt",
            Self::AttemptExpired => "fail:attempt_expired",
            Self::NewPinRejected => "fail:new_pin_rejected",
            Self::PinMismatch => "fail:pin_mismatch",
            Self::WrongNextCode => "fail:wrong_next_code",
            Self::TokenRefusedInEmergency => "fail:token_refused_during_emergency_access",
            Self::EmergencyCodeExpired => "fail:emergency_code_expired",
            Self::OfflinePasscodeOnline => "fail:offline_emergency_passcode_not_accepted_online",
            Self::OfflineTokencodeNotOnline => {
                "fail:offline_emergency_tokencode_not_allowed_online"
            }
            Self::AccessCodeOnManager => {
                "fail:emergency_access_code_not_accepted_on_manager_channel"
            }
            Self::NotAcceptedOnCloud => "fail:not_accepted_on_cloud_channel",
            Self::NoPhone => "fail:no_phone",
            Self::WrongCode => "fail:wrong_code",
            Self::MethodNotAllowed => "fail:method_not_allowed",
        }
    }
}

/// Who is asking: the agent and the addresses to record.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The authenticated agent.
    pub agent: Agent,
    /// The agent's address.
    pub source: Option<String>,
    /// The end user's address as the agent reports it.
    pub client: Option<String>,
}

/// The authentication service.
pub struct AuthnService {
    store: Arc<dyn AuthnStore>,
    admin: Arc<AdminService>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    attempt_ttl: i64,
    messenger: Option<Arc<dyn Messenger>>,
    send_limits: SendLimits,
    phone_code: PhoneCodeSettings,
    /// Offline hosts: enrolment and offline data (`None`: offline hosts not served).
    offline: Option<Arc<crate::offline::OfflineService>>,
    /// Domain tree and agents, kept for a second (`hot.rs`).
    hot: hot::HotCache,
}

impl std::fmt::Debug for AuthnService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthnService").finish_non_exhaustive()
    }
}

/// A user being authenticated, with what the decision needs.
struct Subject {
    user: User,
    policies: EffectivePolicies,
    tree: Arc<DomainTree>,
}

impl AuthnService {
    /// Builds the service on the same store and keys as the admin service.
    pub fn new(
        store: Arc<dyn AuthnStore>,
        admin: Arc<AdminService>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Self {
        Self {
            store,
            admin,
            clock,
            entropy,
            attempt_ttl: DEFAULT_ATTEMPT_TTL,
            messenger: None,
            send_limits: SendLimits::default(),
            phone_code: PhoneCodeSettings::default(),
            offline: None,
            hot: hot::HotCache::default(),
        }
    }

    /// Serves offline hosts (`docs/design/offline.md`) through `offline`.
    #[must_use]
    pub fn with_offline(mut self, offline: Arc<crate::offline::OfflineService>) -> Self {
        self.offline = Some(offline);
        self
    }

    /// The offline-host service, when configured.
    pub fn offline(&self) -> Option<&Arc<crate::offline::OfflineService>> {
        self.offline.as_ref()
    }

    /// Sends on-demand codes through `messenger`, within `limits`; without one, SMS and voice
    /// are not offered.
    #[must_use]
    pub fn with_messaging(
        mut self,
        messenger: Arc<dyn Messenger>,
        limits: SendLimits,
        code: PhoneCodeSettings,
    ) -> Self {
        self.messenger = Some(messenger);
        self.send_limits = limits;
        self.phone_code = code;
        self
    }

    /// Sets how long an attempt waits for its answer.
    #[must_use]
    pub fn with_attempt_ttl(mut self, secs: i64) -> Self {
        self.attempt_ttl = secs;
        self
    }

    /// Finds the REST or offline-host agent owning an API key; anything else is
    /// [`CoreError::Unauthenticated`].
    pub async fn authenticate_agent(&self, key: &str) -> Result<Agent, CoreError> {
        // Offline hosts are manager-channel agents too (docs/design/offline.md).
        match self.agent_by_key(key, AgentKind::Rest).await {
            Err(CoreError::Unauthenticated) => self.agent_by_key(key, AgentKind::OfflineHost).await,
            other => other,
        }
    }

    /// The agent of `kind` owning an API key; anything else is
    /// [`CoreError::Unauthenticated`].
    async fn agent_by_key(&self, key: &str, kind: AgentKind) -> Result<Agent, CoreError> {
        if key.is_empty() || key.len() > 200 {
            return Err(CoreError::Unauthenticated);
        }
        let hash = bearer_token_hash(key);
        let epoch = self.admin.config_epoch();
        let agent = match self.hot.agent(epoch, &hash) {
            Some(a) => Some(a),
            None => {
                let found = self.store.find_agent_by_key_hash(&hash).await?;
                if let Some(a) = &found {
                    self.hot.put_agent(epoch, hash, a.clone());
                }
                found
            }
        };
        match agent {
            Some(a) if a.kind == kind => Ok(a),
            _ => Err(CoreError::Unauthenticated),
        }
    }

    fn audit(
        &self,
        caller: &Caller,
        target: &str,
        reason: Reason,
        detail: serde_json::Value,
    ) -> AuditDraft {
        let mut d = detail;
        if let (Some(obj), Some(c)) = (d.as_object_mut(), &caller.client) {
            obj.insert("client".into(), c.clone().into());
        }
        AuditDraft::ok(
            self.clock.now(),
            &format!("agent:{}", caller.agent.name),
            "authn",
            target,
            caller.source.as_deref(),
        )
        .with_outcome(reason.as_str())
        .with_detail(&d)
    }

    /// Ends an attempt with FAIL, recording `reason`; counts it against `subject` when known.
    async fn fail(
        &self,
        caller: &Caller,
        target: &str,
        reason: Reason,
        counted: Option<(&Subject, Vec<AuthToken>)>,
        detail: serde_json::Value,
    ) -> Result<AuthnResponse, CoreError> {
        let mut audit = self.audit(caller, target, reason, detail);
        match counted {
            Some((s, tokens)) => {
                let f = Failure {
                    user_id: s.user.id,
                    token_ids: tokens.iter().map(|t| t.token.id).collect(),
                    now: self.clock.now(),
                    policy: s.policies.lockout,
                };
                // The store adds whether this failure locked the user.
                audit = audit.with_field("counted", true.into());
                let outcome = self.store.commit_failure(&f, &audit).await?;
                if outcome.locked {
                    tracing::info!(user = %s.user.login, "user locked by the lockout policy");
                }
            }
            None => self.store.audit_only(&audit).await?,
        }
        Ok(AuthnResponse::fail())
    }

    /// Loads the user's effective policies.
    async fn subject(&self, user: User) -> Result<Subject, CoreError> {
        let tree = self.domain_tree(Some(user.domain_id)).await?;
        let policies = policy::effective(&tree, user.domain_id);
        Ok(Subject {
            user,
            policies,
            tree,
        })
    }

    /// The domain tree (policies), from the cache when it is fresh and knows `domain`.
    async fn domain_tree(&self, domain: Option<DomainId>) -> Result<Arc<DomainTree>, CoreError> {
        let epoch = self.admin.config_epoch();
        if let Some(t) = self.hot.tree(epoch, domain) {
            return Ok(t);
        }
        let tree = Arc::new(DomainTree::new(self.store.list_domains().await?));
        self.hot.put_tree(epoch, Arc::clone(&tree));
        Ok(tree)
    }

    /// Equalises the work of an unknown-user answer with a known user's failure with one
    /// 6-digit token (as `best_match` does for it: nothing for a passcode that does not split,
    /// else one keyed PIN verifier check and one full scan), so the time taken does not
    /// reveal whether the user exists.
    fn decoy_work(&self, passcode: &str) {
        let Some((pin, code)) = split_passcode(passcode, 6) else {
            return;
        };
        let _ = check_keyed_verifier(
            self.admin.pin_key(),
            PIN_CONTEXT,
            pin.as_bytes(),
            "v1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        );
        decoy_scan(code);
    }

    /// `POST /api/v1/authn/initialize`.
    pub async fn initialize(
        &self,
        caller: &Caller,
        req: &InitializeRequest,
    ) -> Result<AuthnResponse, CoreError> {
        let now = self.clock.now();
        let (target, found) = self.lookup_with_tokens(&req.user).await?;
        let Some((user, tokens)) = found else {
            self.decoy_work(&req.passcode);
            return self
                .fail(
                    caller,
                    &target,
                    Reason::UnknownUser,
                    None,
                    serde_json::json!({}),
                )
                .await;
        };
        if let Some(reason) = self.refuses(&user, &target, now).await? {
            return self
                .fail(caller, &target, reason, None, serde_json::json!({}))
                .await;
        }
        let subject = self.subject(user).await?;
        let tokens: Vec<AuthToken> = tokens.into_iter().filter(|t| t.token.enabled).collect();
        if tokens.is_empty() {
            if let Some(answer) = self
                .try_on_demand(caller, &target, &subject.user, &req.passcode)
                .await?
            {
                return Ok(answer);
            }
            return self
                .fail(
                    caller,
                    &target,
                    Reason::NoToken,
                    Some((&subject, tokens)),
                    serde_json::json!({}),
                )
                .await;
        }
        self.answer_passcode(caller, &target, &subject, tokens, &req.passcode, now)
            .await
    }

    /// The answer to a passcode of a user who may authenticate and has enabled tokens.
    async fn answer_passcode(
        &self,
        caller: &Caller,
        target: &str,
        subject: &Subject,
        tokens: Vec<AuthToken>,
        passcode: &str,
        now: i64,
    ) -> Result<AuthnResponse, CoreError> {
        let (best, any_pin_ok) = self.best_match(&tokens, passcode, now)?;
        let chosen = best.and_then(|(i, m)| tokens.get(i).cloned().map(|t| (t, m)));
        match chosen {
            Some((t, CodeMatch::Fresh { step, drift })) => {
                if let Some(refused) = self
                    .emergency_gate(caller, target, subject, &t, &tokens)
                    .await?
                {
                    // A refused fresh code costs the full scan a wrong one does (`codes`).
                    decoy_scan("");
                    return Ok(refused);
                }
                self.on_fresh_code(caller, target, subject, t, step, drift, tokens)
                    .await
            }
            Some((t, CodeMatch::Drifted { step, .. })) => {
                if let Some(refused) = self
                    .emergency_gate(caller, target, subject, &t, &tokens)
                    .await?
                {
                    return Ok(refused);
                }
                self.start_next_tokencode(caller, target, subject, &t, step, true)
                    .await
            }
            Some((t, CodeMatch::Reused)) => {
                let detail = serde_json::json!({"serial": t.token.serial});
                self.fail(
                    caller,
                    target,
                    Reason::PasscodeReuse,
                    Some((subject, tokens)),
                    detail,
                )
                .await
            }
            _ => {
                if let Some(answer) = self
                    .try_on_demand(caller, target, &subject.user, passcode)
                    .await?
                {
                    return Ok(answer);
                }
                if let Some(answer) = self
                    .try_emergency(caller, target, subject, &tokens, passcode)
                    .await?
                {
                    return Ok(answer);
                }
                let reason = if any_pin_ok {
                    Reason::WrongTokencode
                } else {
                    Reason::WrongPin
                };
                let serials: Vec<String> = tokens.iter().map(|t| t.token.serial.clone()).collect();
                self.fail(
                    caller,
                    target,
                    reason,
                    Some((subject, tokens)),
                    serde_json::json!({"tokens": serials}),
                )
                .await
            }
        }
    }

    /// The user named in a request, and the audit target naming them (never a code typed
    /// into the user field by mistake).
    async fn lookup(&self, name: &str) -> Result<(String, Option<User>), CoreError> {
        let login = crate::validate::login(name).ok();
        let user = match &login {
            Some(l) => self.store.find_user_by_login(l).await?,
            None => None,
        };
        Ok((audit_target(login.as_deref(), user.as_ref()), user))
    }

    /// [`Self::lookup`] with the user's tokens, read together (the manager channel's hot
    /// path: one read instead of two).
    async fn lookup_with_tokens(
        &self,
        name: &str,
    ) -> Result<(String, Option<(User, Vec<AuthToken>)>), CoreError> {
        let login = crate::validate::login(name).ok();
        let found = match &login {
            Some(l) => self.store.find_user_with_tokens(l).await?,
            None => None,
        };
        let target = audit_target(login.as_deref(), found.as_ref().map(|(u, _)| u));
        Ok((target, found))
    }

    /// Why a user may not authenticate at all right now (disabled, or locked and not yet due
    /// for automatic unlock); unlocks a user whose lock has run out.
    async fn refuses(
        &self,
        user: &User,
        target: &str,
        now: i64,
    ) -> Result<Option<Reason>, CoreError> {
        Ok(match user.status {
            UserStatus::Enabled => None,
            UserStatus::Disabled => Some(Reason::UserDisabled),
            UserStatus::Locked => {
                let lock = self.store.find_lock_state(user.id).await?;
                let due = lock.locked_until.is_some_and(|t| t <= now);
                let unlock = AuditDraft::ok(now, "system", "user.auto_unlock", target, None);
                if due && self.store.auto_unlock(user.id, now, &unlock).await? {
                    None
                } else {
                    Some(Reason::UserLocked)
                }
            }
        })
    }

    /// Whether `pin` is the token's PIN (empty for a token without one).
    fn pin_matches(&self, t: &AuthToken, pin: &str) -> bool {
        match &t.token.pin_verifier {
            Some(v) => check_keyed_verifier(self.admin.pin_key(), PIN_CONTEXT, pin.as_bytes(), v),
            None => pin.is_empty(),
        }
    }

    /// Tries the passcode on every token: the index and match of the best candidate (fresh >
    /// drifted > replayed) among tokens whose PIN matched, and whether any PIN matched.
    ///
    /// Every token the passcode splits for costs a PIN check, opening its seed and a scan of
    /// its codes whether its PIN matched or not, so a wrong PIN takes as long as a right PIN
    /// with a wrong code. A token whose PIN did not match is scanned exhaustively, so only a
    /// right PIN with a fresh code takes the shorter path (`codes` module documentation).
    fn best_match(
        &self,
        tokens: &[AuthToken],
        passcode: &str,
        now: i64,
    ) -> Result<(Option<(usize, CodeMatch)>, bool), CoreError> {
        let rank = |m: &CodeMatch| match m {
            CodeMatch::Fresh { .. } => 3,
            CodeMatch::Drifted { .. } => 2,
            CodeMatch::Reused => 1,
            CodeMatch::NoMatch => 0,
        };
        let mut best: Option<(usize, CodeMatch)> = None;
        let mut any_pin_ok = false;
        for (i, t) in tokens.iter().enumerate() {
            let Some((pin, code)) = split_passcode(passcode, t.token.digits) else {
                continue;
            };
            let pin_ok = self.pin_matches(t, pin);
            let seed = match self
                .admin
                .open(&t.token.seed_sealed, &seed_aad(&t.token.serial))
            {
                Ok(seed) => seed,
                // A seed that cannot be opened must not fail the user's other tokens: only
                // the token whose PIN matched makes it an error.
                Err(e) if pin_ok => return Err(e),
                Err(e) => {
                    tracing::error!(serial = %t.token.serial, error = %e, "token seed cannot be opened");
                    decoy_scan("");
                    continue;
                }
            };
            if !pin_ok {
                // Only the cost is wanted; `black_box` keeps the optimiser from dropping it.
                std::hint::black_box(classify_exhaustive(&t.token, seed.expose(), code, now));
                continue;
            }
            any_pin_ok = true;
            let m = may_start_resync(&t.token, classify(&t.token, seed.expose(), code, now, true));
            if best.as_ref().is_none_or(|(_, b)| rank(&m) > rank(b)) {
                best = Some((i, m));
            }
        }
        Ok((best, any_pin_ok))
    }

    /// A valid, unused code with the right PIN: new-PIN mode, next-tokencode mode, or success.
    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
    async fn on_fresh_code(
        &self,
        caller: &Caller,
        target: &str,
        subject: &Subject,
        t: AuthToken,
        step: i64,
        drift: i64,
        all: Vec<AuthToken>,
    ) -> Result<AuthnResponse, CoreError> {
        if t.token.new_pin_required {
            return self
                .start_new_pin(caller, target, subject, &t, step, drift)
                .await;
        }
        if t.failed_passcodes >= subject.policies.token.incorrect_passcode_limit {
            return self
                .start_next_tokencode(caller, target, subject, &t, step, false)
                .await;
        }
        self.accept(caller, target, subject, &t, step, drift, all)
            .await
    }

    /// Accepts a code: advances the token and resets the counters, or fails as a replay when
    /// another request won the race.
    #[allow(clippy::too_many_arguments)] // one call site per flow; a struct would only rename them
    async fn accept(
        &self,
        caller: &Caller,
        target: &str,
        subject: &Subject,
        t: &AuthToken,
        step: i64,
        drift: i64,
        all: Vec<AuthToken>,
    ) -> Result<AuthnResponse, CoreError> {
        let detail = serde_json::json!({"serial": t.token.serial, "drift": drift});
        let audit = self.audit(caller, target, Reason::Success, detail.clone());
        let used = use_of(t, step, drift, Some(subject.user.id));
        if self.store.commit_token_use(&used, &audit).await? {
            Ok(AuthnResponse::success())
        } else {
            // Lost to another use of the code: the full scan a wrong code costs (`codes`).
            decoy_scan("");
            self.fail(
                caller,
                target,
                Reason::PasscodeReuse,
                Some((subject, all)),
                detail,
            )
            .await
        }
    }

    /// `POST /api/v1/authn/verify`.
    pub async fn verify(
        &self,
        caller: &Caller,
        req: &VerifyRequest,
    ) -> Result<AuthnResponse, CoreError> {
        self.continue_attempt(caller, req).await
    }

    fn rng(&self) -> EntropyRng<'_> {
        EntropyRng(self.entropy.as_ref())
    }
}

/// The audit target for a request naming `login` (`None`: not a valid login), given the
/// user found for it.
fn audit_target(login: Option<&str>, user: Option<&User>) -> String {
    match (login, user) {
        (_, Some(u)) => format!("user:{}", u.login),
        (Some(l), None) if l.len() >= 6 && l.bytes().all(|b| b.is_ascii_digit()) => {
            "user:(unknown, digits withheld)".to_owned()
        }
        (Some(l), None) => format!("user:{l}"),
        (None, None) => "user:(invalid name)".to_owned(),
    }
}

/// The store call that records using `step` of token `t`.
fn use_of(t: &AuthToken, step: i64, drift: i64, success_for: Option<UserId>) -> TokenUse {
    let next_counter = match t.token.token_type {
        latchkey_proto::admin::TokenType::Hotp => {
            u64::try_from(step).map_or(t.token.counter, |s| s.saturating_add(1))
        }
        latchkey_proto::admin::TokenType::Totp => t.token.counter,
    };
    TokenUse {
        token_id: t.token.id,
        used: step,
        drift,
        next_counter,
        success_for,
    }
}
