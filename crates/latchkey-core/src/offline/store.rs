//! The storage port of offline hosts, separate from the big [`Store`] so that other engineers'
//! builds never break on a missing method; implemented for `SqlStore` in
//! `latchkey-store/src/offline.rs`.

use async_trait::async_trait;

use crate::audit::AuditDraft;
use crate::ids::{AgentId, UserId};
use crate::store::{Store, StoreError};

/// An enrolled offline host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineHost {
    /// Its agent (kind `offline_host`).
    pub agent_id: AgentId,
    /// Host id, bound into its offline data.
    pub host_id: String,
    /// Host name reported at enrolment.
    pub hostname: String,
    /// Ed25519 public key of the host.
    pub public_key: Vec<u8>,
    /// Last enrolment (Unix seconds).
    pub enrolled_at: i64,
}

/// What a host downloaded for a user (the last download replaces the previous one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    /// User.
    pub user_id: UserId,
    /// Host's agent.
    pub agent_id: AgentId,
    /// When (Unix seconds).
    pub synced_at: i64,
    /// End of validity of the data.
    pub expires_at: i64,
    /// Hex SHA-256 of the policy in force at generation.
    pub policy_fingerprint: String,
    /// Generation of the offline emergency passcode included.
    pub passcode_generation: Option<i64>,
    /// `(serial, generation)` of each offline emergency tokencode included.
    pub tokencode_generations: Vec<(String, i64)>,
    /// Id of the emergency access code included.
    pub eac_id: Option<String>,
}

/// A download with its host, for listings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldDownload {
    /// The download.
    pub download: Download,
    /// The host.
    pub host: OfflineHost,
    /// The host's agent name.
    pub agent_name: String,
}

/// Storage of offline hosts, downloads and uploaded events.
#[async_trait]
pub trait OfflineStore: Store {
    /// Enrols (or re-enrols, replacing the key) the host of `agent`; `new_host_id` is used on
    /// first enrolment only. Audited in the same transaction.
    async fn enroll_host(
        &self,
        agent: AgentId,
        new_host_id: &str,
        hostname: &str,
        public_key: &[u8],
        now: i64,
        audit: &AuditDraft,
    ) -> Result<OfflineHost, StoreError>;

    /// The host of `agent`, if enrolled.
    async fn find_offline_host(&self, agent: AgentId) -> Result<Option<OfflineHost>, StoreError>;

    /// Records a download (replacing the previous one of the same user and host), audited.
    async fn record_download(&self, d: &Download, audit: &AuditDraft) -> Result<(), StoreError>;

    /// Every host holding data of `user`, most recent first.
    async fn list_downloads(&self, user: UserId) -> Result<Vec<HeldDownload>, StoreError>;

    /// The login of a pending authentication attempt of `agent` (read without consuming it,
    /// so that a SUCCESS of `verify` can be followed by offline data for that user).
    async fn attempt_login(
        &self,
        attempt_id: &str,
        agent: AgentId,
    ) -> Result<Option<String>, StoreError>;

    /// Records an uploaded event once: `false` (nothing written) when `event_id` of `agent`
    /// was recorded before. The audit record is written in the same transaction.
    async fn record_offline_event(
        &self,
        agent: AgentId,
        event_id: &str,
        received_at: i64,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError>;
}
