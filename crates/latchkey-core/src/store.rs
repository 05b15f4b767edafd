//! The storage port. `latchkey-store` implements it for SQLite and PostgreSQL, and one
//! conformance suite holds both to the same contract.
//!
//! Contract for every implementation:
//! - Every method that changes state takes the [`AuditDraft`] describing the change and
//!   appends it to the audit chain in the same transaction; either both are durable or
//!   neither is.
//! - A unique name or serial already taken is [`StoreError::Conflict`], and nothing is written.
//! - A row named by id that does not exist is [`StoreError::NotFound`], and nothing is written.
//! - Lists come back in a stable order (by name, login or serial; audit by sequence).

use async_trait::async_trait;
use latchkey_proto::policy::{PolicyKind, PolicyValue};

use crate::audit::{AuditDraft, AuditHead, AuditRecord};
use crate::delivery::{DeliveryRecord, LimitHit, NewDelivery, SendLimits};
use crate::emergency::{
    Eac, EmergencyUse, NewNotice, NewOnlineEmergency, Notice, OfflineEmergency, OfflineOwner,
    OnlineEmergency,
};
use crate::ids::{AdminId, AgentId, DomainId, TokenId, UserId};
use crate::model::{
    Admin, Agent, Domain, NewAdmin, NewAgent, NewDomain, NewToken, NewUser, Token, User,
};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique name or serial is taken; the caller reports a conflict to its client.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The row to change does not exist (any more); the caller reports not-found.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database could not be reached or failed; the caller answers "unavailable" and
    /// the operator looks at the log. The message never holds a secret.
    #[error("database error: {0}")]
    Backend(String),
    /// A stored value could not be decoded (a hand-edited row, a newer schema); the caller
    /// treats it as an internal error.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

/// A sealed value somewhere in the database, for master-key rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedItem {
    /// Which column: `token_seed`, `agent_secret`, `secret`.
    pub kind: SealedKind,
    /// Row id (for `secret`, the row id of the named secret).
    pub id: i64,
    /// The associated data the value is bound to.
    pub aad: Vec<u8>,
    /// The sealed bytes.
    pub sealed: Vec<u8>,
}

/// Kinds of sealed column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedKind {
    /// `tokens.seed_sealed`, bound to `token-seed:SERIAL`.
    TokenSeed,
    /// `agents.secret_sealed`, bound to `agent-secret:NAME`.
    AgentSecret,
    /// `secrets.value_sealed`, bound to `secret:NAME`.
    Secret,
    /// `offline_emergency.value_sealed`, bound by [`crate::emergency::offline_aad`].
    OfflineEmergency,
    /// `messaging_providers.secrets_sealed`, bound by
    /// [`crate::messaging_config::provider_aad`].
    MessagingProvider,
}

/// The storage port.
#[async_trait]
pub trait Store: Send + Sync {
    /// Cheap round trip, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    // ----- domains -----

    /// All domains, by name.
    async fn list_domains(&self) -> Result<Vec<Domain>, StoreError>;
    /// Creates a domain.
    async fn insert_domain(&self, d: &NewDomain, audit: &AuditDraft) -> Result<Domain, StoreError>;
    /// Sets (`Some`) or clears (`None`, inherit) one policy of a domain.
    async fn update_domain_policy(
        &self,
        id: DomainId,
        kind: PolicyKind,
        value: Option<&PolicyValue>,
        audit: &AuditDraft,
    ) -> Result<(), StoreError>;

    // ----- users -----

    /// The user with this (lower-case) login.
    async fn find_user_by_login(&self, login: &str) -> Result<Option<User>, StoreError>;
    /// The user with this id.
    async fn find_user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Users of the given domains (all users when `None`), by login.
    async fn list_users(&self, domains: Option<&[DomainId]>) -> Result<Vec<User>, StoreError>;
    /// Creates a user.
    async fn insert_user(&self, u: &NewUser, audit: &AuditDraft) -> Result<User, StoreError>;
    /// Writes status, e-mail, phones and domain of an existing user. Writing the status
    /// `enabled` also clears the user's failure count and lock time (an unlock).
    async fn update_user(&self, u: &User, audit: &AuditDraft) -> Result<(), StoreError>;
    /// Deletes a user; their tokens become unassigned.
    async fn delete_user(&self, id: UserId, audit: &AuditDraft) -> Result<(), StoreError>;

    // ----- tokens -----

    /// The token with this serial.
    async fn find_token_by_serial(&self, serial: &str) -> Result<Option<Token>, StoreError>;
    /// Tokens assigned to a user, by serial.
    async fn list_tokens_for_user(&self, user: UserId) -> Result<Vec<Token>, StoreError>;
    /// Tokens of the given domains (all when `None`), by serial.
    async fn list_tokens(&self, domains: Option<&[DomainId]>) -> Result<Vec<Token>, StoreError>;
    /// Creates a token.
    async fn insert_token(&self, t: &NewToken, audit: &AuditDraft) -> Result<Token, StoreError>;
    /// Writes the administrative fields of a token: domain, user, enabled, PIN verifier,
    /// new-PIN flag.
    async fn update_token_admin(&self, t: &Token, audit: &AuditDraft) -> Result<(), StoreError>;
    /// Deletes a token.
    async fn delete_token(&self, id: TokenId, audit: &AuditDraft) -> Result<(), StoreError>;

    // ----- agents -----

    /// The agent with this name.
    async fn find_agent_by_name(&self, name: &str) -> Result<Option<Agent>, StoreError>;
    /// The agent whose API key hashes to this.
    async fn find_agent_by_key_hash(&self, hash: &str) -> Result<Option<Agent>, StoreError>;
    /// Agents of the given domains (all when `None`), by name.
    async fn list_agents(&self, domains: Option<&[DomainId]>) -> Result<Vec<Agent>, StoreError>;
    /// Creates an agent.
    async fn insert_agent(&self, a: &NewAgent, audit: &AuditDraft) -> Result<Agent, StoreError>;
    /// Deletes an agent.
    async fn delete_agent(&self, id: AgentId, audit: &AuditDraft) -> Result<(), StoreError>;

    // ----- administrators -----

    /// Number of administrators (zero means a fresh install).
    async fn count_admins(&self) -> Result<i64, StoreError>;
    /// The administrator with this name.
    async fn find_admin_by_name(&self, name: &str) -> Result<Option<Admin>, StoreError>;
    /// The administrator owning the API token that hashes to this.
    async fn find_admin_by_token_hash(&self, hash: &str) -> Result<Option<Admin>, StoreError>;
    /// Administrators scoped to the given domains (all when `None`), by name.
    async fn list_admins(&self, domains: Option<&[DomainId]>) -> Result<Vec<Admin>, StoreError>;
    /// Creates an administrator and their first API token.
    async fn insert_admin(&self, a: &NewAdmin, audit: &AuditDraft) -> Result<Admin, StoreError>;
    /// Deletes an administrator and all their API tokens.
    async fn delete_admin(&self, id: AdminId, audit: &AuditDraft) -> Result<(), StoreError>;

    // ----- named secrets (e.g. the PIN verifier key), sealed -----

    /// The sealed value of a named secret.
    async fn find_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores a named secret unless one exists; returns the value now stored (the existing
    /// one if another node was first).
    async fn insert_secret_if_absent(
        &self,
        name: &str,
        sealed: &[u8],
        created_at: i64,
    ) -> Result<Vec<u8>, StoreError>;

    // ----- master-key rotation -----

    /// Every sealed value in the database.
    async fn list_sealed(&self) -> Result<Vec<SealedItem>, StoreError>;
    /// Replaces sealed values (matched by kind and id) in one transaction.
    async fn update_sealed(
        &self,
        items: &[SealedItem],
        audit: &AuditDraft,
    ) -> Result<(), StoreError>;

    // ----- emergency access -----

    /// A token's online emergency access with all its codes.
    async fn find_online_emergency(
        &self,
        token: TokenId,
    ) -> Result<Option<OnlineEmergency>, StoreError>;
    /// The online emergency access of every token assigned to `user`.
    async fn list_online_emergencies(
        &self,
        user: UserId,
    ) -> Result<Vec<OnlineEmergency>, StoreError>;
    /// Replaces a token's online emergency access (and its codes) with `e`, queueing the
    /// notice, in one transaction with the audit record.
    async fn put_online_emergency(
        &self,
        e: &NewOnlineEmergency,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<(), StoreError>;
    /// Ends a token's online emergency access; `false` (and nothing written) if it had none.
    async fn end_online_emergency(
        &self,
        token: TokenId,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError>;
    /// Records a successful use of an emergency credential: marks a one-time code used (only
    /// if it was unused: `false` and nothing written when another request used it first),
    /// resets the user's and the token's failure counters, queues the notice.
    async fn commit_emergency_use(
        &self,
        u: &EmergencyUse,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError>;
    /// An offline emergency value.
    async fn find_offline_emergency(
        &self,
        owner: OfflineOwner,
    ) -> Result<Option<OfflineEmergency>, StoreError>;
    /// The user's offline emergency passcode and the tokencodes of the tokens assigned to them.
    async fn list_offline_emergencies(
        &self,
        user: UserId,
    ) -> Result<Vec<OfflineEmergency>, StoreError>;
    /// Stores a new value of an offline emergency value: inserted when `replaces` is `None`
    /// and there is none yet, or replacing generation `replaces`. `false` (and nothing
    /// written) when another request stored one first.
    async fn put_offline_emergency(
        &self,
        e: &OfflineEmergency,
        replaces: Option<i64>,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError>;
    /// Sets "use offline code for online access" of a token's offline emergency tokencode.
    async fn set_offline_online_use(
        &self,
        token: TokenId,
        on: bool,
        audit: &AuditDraft,
    ) -> Result<(), StoreError>;
    /// The user's emergency access code, if any.
    async fn find_eac(&self, user: UserId) -> Result<Option<Eac>, StoreError>;
    /// Stores a user's emergency access code, replacing any previous one.
    async fn put_eac(
        &self,
        e: &Eac,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<(), StoreError>;
    /// Records a successful use of emergency access code `id`: a one-time code is marked used
    /// only if still unused (`false` and nothing written otherwise); the user's failure
    /// counters reset.
    async fn commit_eac_use(
        &self,
        user: UserId,
        id: &str,
        one_time: bool,
        now: i64,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError>;
    /// Removes a user's emergency access code; `false` (nothing written) if there was none.
    async fn delete_eac(&self, user: UserId, audit: &AuditDraft) -> Result<bool, StoreError>;
    /// Reserves an on-demand code send if no limit is exceeded, appending `audit` either way
    /// (the store sets its outcome to the refusing limit): the delivery id, or the limit hit.
    async fn reserve_delivery(
        &self,
        d: &NewDelivery,
        limits: &SendLimits,
        audit: &AuditDraft,
    ) -> Result<Result<i64, LimitHit>, StoreError>;
    /// Records how a reserved send went (`attempts` is the JSON list of provider attempts).
    async fn record_delivery(
        &self,
        id: i64,
        delivered: bool,
        attempts: &str,
        audit: &AuditDraft,
    ) -> Result<(), StoreError>;
    /// Records a successful authentication that uses up nothing (an SMS or voice code, whose
    /// attempt is already taken): resets the user's failure counters with the audit record.
    async fn commit_success(&self, user: UserId, audit: &AuditDraft) -> Result<(), StoreError>;
    /// SMS and voice sends, newest first, at most `limit`; only for users in `domains` when
    /// given, only for `user` when given.
    async fn list_deliveries(
        &self,
        domains: Option<&[DomainId]>,
        user: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// The keyed verifier of a user's on-demand PIN, when on-demand tokencodes are enabled.
    async fn find_on_demand(&self, user: UserId) -> Result<Option<String>, StoreError>;
    /// Enables on-demand tokencodes for a user with this PIN verifier (replacing the PIN), or
    /// disables them (`None`); `false` (nothing written) when disabling what was not enabled.
    async fn set_on_demand(
        &self,
        user: UserId,
        pin_verifier: Option<&str>,
        now: i64,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError>;
    /// Appends an audit record and queues a notice in one transaction.
    async fn audit_with_notice(
        &self,
        notice: &NewNotice,
        audit: &AuditDraft,
    ) -> Result<(), StoreError>;
    /// Queued notifications, newest first, at most `limit`; only for users in `domains` when
    /// given, only for `user` when given.
    async fn list_notices(
        &self,
        domains: Option<&[DomainId]>,
        user: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<Notice>, StoreError>;

    // ----- audit -----

    /// Appends one record on its own (events that change nothing else).
    async fn append_audit(&self, audit: &AuditDraft) -> Result<AuditRecord, StoreError>;
    /// Records with `seq > after`, ascending, at most `limit`.
    async fn list_audit(&self, after: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
    /// The head of the chain (last sequence number and hash).
    async fn find_audit_head(&self) -> Result<AuditHead, StoreError>;
}
