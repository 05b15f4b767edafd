//! Emergency access administration (PRODUCT.md §4): online emergency tokencodes for a token,
//! the offline emergency passcode of a user and the offline emergency tokencode of a token,
//! and the notification outbox. Granting and reading need [`Permission::Emergency`] within
//! scope; every grant, read, reset, renewal and end is an audit record, and the user is
//! notified of grants, reads and resets in the same transaction.

use latchkey_crypto::codegen::generate_code;
use latchkey_crypto::secret::SecretString;
use latchkey_crypto::verifier::keyed_verifier;
use latchkey_proto::emergency::{
    DeliveryView, GrantOnlineEmergency, GrantedOnlineEmergency, OfflineEmergencyKind,
    OfflineEmergencyView, OnlineEmergencyKind, OnlineEmergencyView, OutboxView,
    ResetOfflineRequest,
};
use latchkey_proto::policy::EffectivePolicies;

use super::AdminService;
use crate::CoreError;
use crate::authz::{Actor, DomainTree, Permission};
use crate::emergency::{
    self as em, DEFAULT_ONLINE_LIFETIME_SECS, MAX_ONE_TIME_SET, NewOnlineEmergency, NoticeEvent,
    ONLINE_CODE_CONTEXT, ONLINE_CODE_LENGTH, OfflineEmergency, OfflineOwner, OnlineEmergency,
};
use crate::model::{Token, User};
use crate::policy;

/// Attempts at storing a new offline value when other requests keep winning the race.
const OFFLINE_PUT_TRIES: usize = 5;

/// The view of an online grant (no codes).
pub(crate) fn online_view(serial: &str, e: &OnlineEmergency, now: i64) -> OnlineEmergencyView {
    OnlineEmergencyView {
        serial: serial.to_owned(),
        kind: e.kind,
        expires_at: e.expires_at,
        expired: e.expired(now),
        unused_codes: u32::try_from(e.unused().count()).unwrap_or(u32::MAX),
        token_available: e.token_available,
        created_at: e.created_at,
    }
}

/// The audit target of an offline value.
fn offline_target(owner_name: &str, kind: OfflineEmergencyKind) -> String {
    match kind {
        OfflineEmergencyKind::Passcode => format!("user:{owner_name}"),
        OfflineEmergencyKind::Tokencode => format!("token:{owner_name}"),
    }
}

/// The audit action prefix of an offline value.
fn offline_action(kind: OfflineEmergencyKind, verb: &str) -> String {
    match kind {
        OfflineEmergencyKind::Passcode => format!("emergency.offline_passcode.{verb}"),
        OfflineEmergencyKind::Tokencode => format!("emergency.offline_tokencode.{verb}"),
    }
}

/// Who an offline value belongs to, resolved for display and notices.
struct OfflineSubject {
    owner: OfflineOwner,
    /// Login (passcode) or serial (tokencode), for the audit target.
    name: String,
    /// The user notified and shown.
    user: User,
    /// Policies of the owner's domain.
    policies: EffectivePolicies,
    serial: Option<String>,
}

impl AdminService {
    /// The maximum lifetime of new online emergency tokencodes, in seconds (`None`: none).
    fn max_online_lifetime(&self) -> Option<i64> {
        self.max_emergency_lifetime_days
            .map(|d| i64::from(d).saturating_mul(86_400))
    }

    /// A token named for an emergency action: the actor needs `p` in the token's domain; the
    /// token must be assigned (its user is returned).
    async fn emergency_token(
        &self,
        actor: &Actor,
        serial: &str,
        p: Permission,
    ) -> Result<(Token, User, DomainTree), CoreError> {
        DomainTree::require(actor, p)?;
        let t = self.token_named(serial).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, p, t.domain_id)?;
        let user = match t.user_id {
            Some(uid) => self.store.find_user_by_id(uid).await?,
            None => None,
        }
        .ok_or_else(|| {
            CoreError::Conflict(format!(
                "token {:?} is not assigned to a user; assign it first",
                t.serial
            ))
        })?;
        if p != Permission::ViewDirectory {
            self.require_may_change_credentials(actor, &user.login, user.domain_id)
                .await?;
        }
        Ok((t, user, tree))
    }

    /// `PUT /tokens/{serial}/emergency/online`: puts an assigned, enabled token into
    /// emergency access mode with new codes, replacing any it had. The codes are returned
    /// this once.
    pub async fn grant_online_emergency(
        &self,
        actor: &Actor,
        serial: &str,
        req: GrantOnlineEmergency,
    ) -> Result<GrantedOnlineEmergency, CoreError> {
        let (t, user, tree) = self
            .emergency_token(actor, serial, Permission::Emergency)
            .await?;
        if !t.enabled {
            return Err(CoreError::Conflict(format!(
                "token {:?} is disabled; enable it first",
                t.serial
            )));
        }
        let policies = policy::effective(&tree, t.domain_id);
        let now = self.clock.now();
        let count = match (req.kind, req.count) {
            (OnlineEmergencyKind::Fixed, Some(_)) => {
                return Err(CoreError::invalid(
                    "count",
                    "a fixed tokencode is one code; count is for one_time",
                ));
            }
            (OnlineEmergencyKind::Fixed, None) => 1,
            (OnlineEmergencyKind::OneTime, n) => {
                let n = n.unwrap_or(policies.emergency.one_time_set_size);
                if !(1..=MAX_ONE_TIME_SET).contains(&n) {
                    return Err(CoreError::invalid(
                        "count",
                        format!("must be 1 to {MAX_ONE_TIME_SET}"),
                    ));
                }
                n
            }
        };
        let max = self.max_online_lifetime();
        let expires_at = match req.expires.as_deref() {
            Some(text) => em::parse_expiry(text)?,
            None => Some(
                now.saturating_add(max.map_or(DEFAULT_ONLINE_LIFETIME_SECS, |m| {
                    m.min(DEFAULT_ONLINE_LIFETIME_SECS)
                })),
            ),
        };
        em::check_expiry(expires_at, now, max)?;
        let token_available = req
            .token_available
            .unwrap_or(policies.emergency.token_available);
        let classes = em::classes(policies.token.emergency_code_format);
        let mut codes: Vec<SecretString> = Vec::new();
        let mut verifiers = Vec::new();
        for _ in 0..count {
            let code = generate_code(&mut self.rng(), ONLINE_CODE_LENGTH, classes)?;
            verifiers.push(keyed_verifier(
                &self.pin_key,
                &mut self.rng(),
                ONLINE_CODE_CONTEXT,
                code.expose().as_bytes(),
            ));
            codes.push(code);
        }
        let grant = NewOnlineEmergency {
            token_id: t.id,
            kind: req.kind,
            expires_at,
            token_available,
            created_at: now,
            verifiers,
        };
        let audit = self
            .draft(
                actor,
                "emergency.online.grant",
                &format!("token:{}", t.serial),
            )
            .with_detail(&serde_json::json!({
                "user": user.login,
                "kind": req.kind,
                "codes": count,
                "expires_at": expires_at,
                "token_available": token_available,
            }));
        let notice = em::notice(&user, NoticeEvent::OnlineIssued, now);
        self.store
            .put_online_emergency(&grant, Some(&notice), &audit)
            .await?;
        em::log_queued(&notice);
        let stored = OnlineEmergency {
            token_id: t.id,
            kind: req.kind,
            expires_at,
            token_available,
            created_at: now,
            codes: Vec::new(),
        };
        let mut view = online_view(&t.serial, &stored, now);
        view.unused_codes = count;
        let mut plain: Vec<String> = codes.iter().map(|c| c.expose().to_owned()).collect();
        let (code, codes) = match req.kind {
            OnlineEmergencyKind::Fixed => (plain.pop(), None),
            OnlineEmergencyKind::OneTime => (None, Some(plain)),
        };
        Ok(GrantedOnlineEmergency { view, code, codes })
    }

    /// `GET /tokens/{serial}/emergency/online`: the token's online emergency access, without
    /// codes.
    pub async fn show_online_emergency(
        &self,
        actor: &Actor,
        serial: &str,
    ) -> Result<OnlineEmergencyView, CoreError> {
        let t = self.token_named(serial).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ViewDirectory, t.domain_id)?;
        let e = self
            .store
            .find_online_emergency(t.id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("emergency access of token {serial:?}")))?;
        Ok(online_view(&t.serial, &e, self.clock.now()))
    }

    /// `DELETE /tokens/{serial}/emergency/online`: ends emergency access now.
    pub async fn end_online_emergency(&self, actor: &Actor, serial: &str) -> Result<(), CoreError> {
        let t = self.token_named(serial).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::Emergency, t.domain_id)?;
        self.require_may_change_token(actor, &t).await?;
        let audit = self.draft(
            actor,
            "emergency.online.end",
            &format!("token:{}", t.serial),
        );
        if self.store.end_online_emergency(t.id, &audit).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound(format!(
                "emergency access of token {serial:?}"
            )))
        }
    }

    async fn passcode_subject(
        &self,
        actor: &Actor,
        login: &str,
        p: Permission,
    ) -> Result<OfflineSubject, CoreError> {
        DomainTree::require(actor, p)?;
        let user = self.user_named(login).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, p, user.domain_id)?;
        if p != Permission::ViewDirectory {
            self.require_may_change_credentials(actor, &user.login, user.domain_id)
                .await?;
        }
        Ok(OfflineSubject {
            owner: OfflineOwner::User(user.id),
            name: user.login.clone(),
            policies: policy::effective(&tree, user.domain_id),
            user,
            serial: None,
        })
    }

    async fn tokencode_subject(
        &self,
        actor: &Actor,
        serial: &str,
        p: Permission,
    ) -> Result<OfflineSubject, CoreError> {
        let (t, user, tree) = self.emergency_token(actor, serial, p).await?;
        Ok(OfflineSubject {
            owner: OfflineOwner::Token(t.id),
            name: t.serial.clone(),
            policies: policy::effective(&tree, t.domain_id),
            user,
            serial: Some(t.serial),
        })
    }

    /// The current offline value of `owner`: generated when there is none, renewed when it
    /// has expired (each an audit record by `actor_name`). Shared with the offline data
    /// download, which needs the same value.
    pub(crate) async fn current_offline(
        &self,
        owner: OfflineOwner,
        owner_name: &str,
        policies: &EffectivePolicies,
        actor_name: &str,
        source: Option<&str>,
    ) -> Result<(OfflineEmergency, SecretString), CoreError> {
        for _ in 0..OFFLINE_PUT_TRIES {
            let now = self.clock.now();
            let existing = self.store.find_offline_emergency(owner).await?;
            if let Some(e) = &existing
                && e.expires_at > now
            {
                let value = self.open_offline(e)?;
                return Ok((e.clone(), value));
            }
            let verb = if existing.is_some() {
                "renew"
            } else {
                "generate"
            };
            let audit = crate::audit::AuditDraft::ok(
                now,
                actor_name,
                &offline_action(owner.kind(), verb),
                &offline_target(owner_name, owner.kind()),
                source,
            );
            if let Some(done) = self
                .put_new_offline(owner, existing.as_ref(), policies, None, None, &audit)
                .await?
            {
                return Ok(done);
            }
        }
        Err(CoreError::Conflict(
            "the offline emergency value is being changed by other requests; retry".to_owned(),
        ))
    }

    /// Stores a new generation after `existing`; `None` when another request stored one
    /// first.
    async fn put_new_offline(
        &self,
        owner: OfflineOwner,
        existing: Option<&OfflineEmergency>,
        policies: &EffectivePolicies,
        online_use: Option<bool>,
        notice: Option<&em::NewNotice>,
        audit: &crate::audit::AuditDraft,
    ) -> Result<Option<(OfflineEmergency, SecretString)>, CoreError> {
        let settings = policies.emergency;
        let len = usize::try_from(settings.offline_code_length)
            .map_err(|_| CoreError::Internal("offline code length".to_owned()))?;
        let value = generate_code(
            &mut self.rng(),
            len,
            em::classes(policies.token.emergency_code_format),
        )?;
        let generation = existing.map_or(1, |e| e.generation.saturating_add(1));
        let now = audit.at;
        let fresh = OfflineEmergency {
            owner,
            generation,
            value_sealed: self.seal(
                value.expose().as_bytes(),
                &em::offline_aad(owner, generation),
            )?,
            created_at: now,
            expires_at: now.saturating_add(
                i64::from(settings.offline_code_lifetime_days).saturating_mul(86_400),
            ),
            online_use: match owner {
                OfflineOwner::User(_) => false,
                OfflineOwner::Token(_) => online_use.unwrap_or_else(|| {
                    existing.map_or(settings.use_offline_code_online, |e| e.online_use)
                }),
            },
        };
        let audit = audit
            .clone()
            .with_field("generation", generation.into())
            .with_field("expires_at", fresh.expires_at.into())
            .with_field("online_use", fresh.online_use.into());
        let stored = self
            .store
            .put_offline_emergency(&fresh, existing.map(|e| e.generation), notice, &audit)
            .await?;
        Ok(stored.then_some((fresh, value)))
    }

    /// Opens an offline emergency value.
    pub(crate) fn open_offline(&self, e: &OfflineEmergency) -> Result<SecretString, CoreError> {
        let bytes = self.open(&e.value_sealed, &em::offline_aad(e.owner, e.generation))?;
        let text = std::str::from_utf8(bytes.expose())
            .map_err(|_| CoreError::Internal("offline emergency value is not text".to_owned()))?;
        Ok(SecretString::from(text))
    }

    fn offline_view(
        s: &OfflineSubject,
        e: &OfflineEmergency,
        value: Option<&SecretString>,
    ) -> OfflineEmergencyView {
        let kind = s.owner.kind();
        let shown = value.map(|v| v.expose().to_owned());
        OfflineEmergencyView {
            kind,
            user: Some(s.user.login.clone()),
            serial: s.serial.clone(),
            passcode: shown
                .clone()
                .filter(|_| kind == OfflineEmergencyKind::Passcode),
            tokencode: shown.filter(|_| kind == OfflineEmergencyKind::Tokencode),
            generation: e.generation,
            created_at: e.created_at,
            expires_at: e.expires_at,
            online_use: (kind == OfflineEmergencyKind::Tokencode).then_some(e.online_use),
            // Filled from the offline hosts' sync records once offline data is downloaded.
            hosts: Vec::new(),
        }
    }

    async fn reveal(
        &self,
        actor: &Actor,
        s: OfflineSubject,
        reason: &str,
    ) -> Result<OfflineEmergencyView, CoreError> {
        let reason = em::reason(reason)?;
        let (e, value) = self
            .current_offline(
                s.owner,
                &s.name,
                &s.policies,
                &actor.audit_name(),
                actor.source.as_deref(),
            )
            .await?;
        let audit = self
            .draft(
                actor,
                &offline_action(s.owner.kind(), "reveal"),
                &offline_target(&s.name, s.owner.kind()),
            )
            .with_detail(&serde_json::json!({
                "reason": reason,
                "generation": e.generation,
                "user": s.user.login,
            }));
        let notice = em::notice(&s.user, NoticeEvent::OfflineRevealed, self.clock.now());
        self.store.audit_with_notice(&notice, &audit).await?;
        em::log_queued(&notice);
        Ok(Self::offline_view(&s, &e, Some(&value)))
    }

    async fn reset(
        &self,
        actor: &Actor,
        s: OfflineSubject,
        req: &ResetOfflineRequest,
    ) -> Result<OfflineEmergencyView, CoreError> {
        let reason = em::optional_reason(req.reason.as_deref())?;
        if req.online_use.is_some() && s.owner.kind() == OfflineEmergencyKind::Passcode {
            return Err(CoreError::invalid(
                "online_use",
                "the offline emergency passcode is never accepted online",
            ));
        }
        for _ in 0..OFFLINE_PUT_TRIES {
            let existing = self.store.find_offline_emergency(s.owner).await?;
            let audit = self
                .draft(
                    actor,
                    &offline_action(s.owner.kind(), "reset"),
                    &offline_target(&s.name, s.owner.kind()),
                )
                .with_detail(&serde_json::json!({"reason": reason, "user": s.user.login}));
            let notice = em::notice(&s.user, NoticeEvent::OfflineReset, audit.at);
            if let Some((e, _)) = self
                .put_new_offline(
                    s.owner,
                    existing.as_ref(),
                    &s.policies,
                    req.online_use,
                    Some(&notice),
                    &audit,
                )
                .await?
            {
                em::log_queued(&notice);
                return Ok(Self::offline_view(&s, &e, None));
            }
        }
        Err(CoreError::Conflict(
            "the offline emergency value is being changed by other requests; retry".to_owned(),
        ))
    }

    async fn show_offline(&self, s: &OfflineSubject) -> Result<OfflineEmergencyView, CoreError> {
        let e = self
            .store
            .find_offline_emergency(s.owner)
            .await?
            .ok_or_else(|| {
                CoreError::NotFound(format!(
                    "offline emergency {} of {} (it is generated when first read or \
                     downloaded)",
                    match s.owner.kind() {
                        OfflineEmergencyKind::Passcode => "passcode",
                        OfflineEmergencyKind::Tokencode => "tokencode",
                    },
                    s.name
                ))
            })?;
        Ok(Self::offline_view(s, &e, None))
    }

    /// Reads a user's offline emergency passcode (generating it when first needed); the
    /// reason is required and recorded, and the user is notified.
    pub async fn reveal_offline_passcode(
        &self,
        actor: &Actor,
        login: &str,
        reason: &str,
    ) -> Result<OfflineEmergencyView, CoreError> {
        let s = self
            .passcode_subject(actor, login, Permission::Emergency)
            .await?;
        self.reveal(actor, s, reason).await
    }

    /// Replaces a user's offline emergency passcode with a new one (not shown: read it with
    /// a reason).
    pub async fn reset_offline_passcode(
        &self,
        actor: &Actor,
        login: &str,
        req: &ResetOfflineRequest,
    ) -> Result<OfflineEmergencyView, CoreError> {
        let s = self
            .passcode_subject(actor, login, Permission::Emergency)
            .await?;
        self.reset(actor, s, req).await
    }

    /// The state of a user's offline emergency passcode, without its value.
    pub async fn show_offline_passcode(
        &self,
        actor: &Actor,
        login: &str,
    ) -> Result<OfflineEmergencyView, CoreError> {
        let s = self
            .passcode_subject(actor, login, Permission::ViewDirectory)
            .await?;
        self.show_offline(&s).await
    }

    /// Reads a token's offline emergency tokencode (generating it when first needed).
    pub async fn reveal_offline_tokencode(
        &self,
        actor: &Actor,
        serial: &str,
        reason: &str,
    ) -> Result<OfflineEmergencyView, CoreError> {
        let s = self
            .tokencode_subject(actor, serial, Permission::Emergency)
            .await?;
        self.reveal(actor, s, reason).await
    }

    /// Replaces a token's offline emergency tokencode, optionally setting its online use.
    pub async fn reset_offline_tokencode(
        &self,
        actor: &Actor,
        serial: &str,
        req: &ResetOfflineRequest,
    ) -> Result<OfflineEmergencyView, CoreError> {
        let s = self
            .tokencode_subject(actor, serial, Permission::Emergency)
            .await?;
        self.reset(actor, s, req).await
    }

    /// The state of a token's offline emergency tokencode, without its value.
    pub async fn show_offline_tokencode(
        &self,
        actor: &Actor,
        serial: &str,
    ) -> Result<OfflineEmergencyView, CoreError> {
        let s = self
            .tokencode_subject(actor, serial, Permission::ViewDirectory)
            .await?;
        self.show_offline(&s).await
    }

    /// Sets "use offline code for online access" of a token's offline emergency tokencode
    /// (generating the tokencode when there is none yet).
    pub async fn set_offline_tokencode_online_use(
        &self,
        actor: &Actor,
        serial: &str,
        on: bool,
    ) -> Result<OfflineEmergencyView, CoreError> {
        let s = self
            .tokencode_subject(actor, serial, Permission::Emergency)
            .await?;
        self.current_offline(
            s.owner,
            &s.name,
            &s.policies,
            &actor.audit_name(),
            actor.source.as_deref(),
        )
        .await?;
        let audit = self
            .draft(
                actor,
                "emergency.offline_tokencode.online_use",
                &format!("token:{}", s.name),
            )
            .with_detail(&serde_json::json!({"online_use": on, "user": s.user.login}));
        let OfflineOwner::Token(token) = s.owner else {
            return Err(CoreError::Internal("tokencode owner".to_owned()));
        };
        self.store.set_offline_online_use(token, on, &audit).await?;
        self.show_offline(&s).await
    }

    /// `GET /deliveries`: SMS and voice sends for users in the caller's scope, newest first
    /// (never the codes).
    pub async fn list_deliveries(
        &self,
        actor: &Actor,
        user: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, CoreError> {
        DomainTree::require(actor, Permission::ViewDirectory)?;
        let tree = self.tree().await?;
        let user = match user {
            Some(login) => {
                let u = self.user_named(login).await?;
                tree.require_in_scope(actor, Permission::ViewDirectory, u.domain_id)?;
                Some(u.id)
            }
            None => None,
        };
        let visible = tree.visible(actor);
        let records = self
            .store
            .list_deliveries(visible.as_deref(), user, limit.clamp(1, 1000))
            .await?;
        Ok(records
            .into_iter()
            .map(|d| DeliveryView {
                id: d.id,
                created_at: d.created_at,
                user: d.login,
                destination: d.destination,
                channel: d.channel,
                status: d.status,
                attempts: serde_json::from_str(&d.attempts).unwrap_or_default(),
            })
            .collect())
    }

    /// `GET /outbox`: notifications queued for users in the caller's scope, newest first.
    pub async fn list_outbox(
        &self,
        actor: &Actor,
        user: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxView>, CoreError> {
        DomainTree::require(actor, Permission::ViewDirectory)?;
        let tree = self.tree().await?;
        let user = match user {
            Some(login) => {
                let u = self.user_named(login).await?;
                tree.require_in_scope(actor, Permission::ViewDirectory, u.domain_id)?;
                Some(u.id)
            }
            None => None,
        };
        let visible = tree.visible(actor);
        let notices = self
            .store
            .list_notices(visible.as_deref(), user, limit.clamp(1, 1000))
            .await?;
        Ok(notices
            .into_iter()
            .map(|n| OutboxView {
                id: n.id,
                created_at: n.notice.created_at,
                user: n.login,
                channel: n.notice.channel,
                destination: n.notice.destination,
                event: n.notice.event,
                body: n.notice.body,
            })
            .collect())
    }
}
