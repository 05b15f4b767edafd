//! Offline hosts (PRODUCT.md §5, `docs/design/offline.md`): enrolment, offline data with the
//! agent authentication answers, the upload of offline authentication events, and the per-user
//! list of hosts holding offline data.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::authn::{AuthnResponse, InitializeRequest, VerifyRequest};

/// Most events accepted in one upload.
pub const MAX_EVENTS_PER_UPLOAD: usize = 500;

/// `POST /api/v1/offline/enroll` (offline-host agent key).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The host's name (for the console; 1–253 characters).
    pub hostname: String,
    /// The host's Ed25519 public key, standard base64 of 32 bytes.
    pub host_public_key: String,
}

/// Answer of `POST /api/v1/offline/enroll`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollResponse {
    /// The host's id, bound into every offline data blob issued to it.
    pub host_id: String,
    /// The server's Ed25519 verifying key, standard base64 of 32 bytes: the host pins it.
    pub server_key: String,
}

/// Outcome of an offline authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfflineResult {
    /// Accepted.
    Success,
    /// Refused.
    Fail,
}

/// Which credential an offline authentication used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfflineCredential {
    /// PIN + tokencode.
    Tokencode,
    /// PIN + offline emergency access tokencode.
    OfflineEmergencyTokencode,
    /// Offline emergency passcode.
    OfflineEmergencyPasscode,
    /// Emergency access code.
    EmergencyAccessCode,
}

impl OfflineCredential {
    /// The `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tokencode => "tokencode",
            Self::OfflineEmergencyTokencode => "offline_emergency_tokencode",
            Self::OfflineEmergencyPasscode => "offline_emergency_passcode",
            Self::EmergencyAccessCode => "emergency_access_code",
        }
    }
}

/// One offline authentication, as the host recorded it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflineEvent {
    /// Id chosen by the host (a UUID); a re-upload with the same id is not recorded twice.
    pub id: String,
    /// Login.
    pub user: String,
    /// When it happened on the host (Unix seconds).
    pub at: i64,
    /// Outcome.
    pub result: OfflineResult,
    /// The credential used, when one matched.
    #[serde(default)]
    pub credential: Option<OfflineCredential>,
    /// Short `snake_case` reason.
    pub reason: String,
}

/// `POST /api/v1/offline/events` (offline-host agent key).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsRequest {
    /// The events, at most [`MAX_EVENTS_PER_UPLOAD`].
    pub events: Vec<OfflineEvent>,
}

/// Answer of `POST /api/v1/offline/events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventsResponse {
    /// Events in the upload that are now recorded (new or recorded by an earlier upload).
    pub accepted: u32,
}

/// `POST /api/v1/authn/initialize` as the server reads it: [`InitializeRequest`] plus the
/// offline hosts' optional `want_offline_data`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitializeWithOffline {
    /// Login name.
    pub user: String,
    /// PIN followed by the tokencode (the tokencode alone for a token without PIN).
    pub passcode: String,
    /// Address of the end user as the agent sees it (for the audit log).
    #[serde(default)]
    pub client_address: Option<String>,
    /// Offline host: answer SUCCESS with the user's offline data when allowed.
    #[serde(default)]
    pub want_offline_data: bool,
}

impl std::fmt::Debug for InitializeWithOffline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitializeWithOffline")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl InitializeWithOffline {
    /// The plain request.
    pub fn plain(&self) -> InitializeRequest {
        InitializeRequest {
            user: self.user.clone(),
            passcode: self.passcode.clone(),
            client_address: self.client_address.clone(),
        }
    }
}

/// `POST /api/v1/authn/verify` as the server reads it: [`VerifyRequest`] plus
/// `want_offline_data`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyWithOffline {
    /// The attempt being continued.
    pub attempt_id: String,
    /// The user's answer (new PIN, confirmation, next tokencode or passcode).
    pub response: String,
    /// Address of the end user as the agent sees it (for the audit log).
    #[serde(default)]
    pub client_address: Option<String>,
    /// Offline host: answer SUCCESS with the user's offline data when allowed (only when the
    /// answer is a full passcode: the PIN is needed to key the data).
    #[serde(default)]
    pub want_offline_data: bool,
}

impl std::fmt::Debug for VerifyWithOffline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyWithOffline")
            .field("attempt_id", &self.attempt_id)
            .finish_non_exhaustive()
    }
}

impl VerifyWithOffline {
    /// The plain request.
    pub fn plain(&self) -> VerifyRequest {
        VerifyRequest {
            attempt_id: self.attempt_id.clone(),
            response: self.response.clone(),
            client_address: self.client_address.clone(),
        }
    }
}

/// [`AuthnResponse`] plus the offline data, when the host asked and may have it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthnResponseWithOffline {
    /// The answer.
    #[serde(flatten)]
    pub response: AuthnResponse,
    /// Standard base64 of the signed offline data (SUCCESS to an enrolled offline host only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_data: Option<String>,
}

/// The generation of a token's offline emergency tokencode a host holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeldTokencode {
    /// Token serial.
    pub serial: String,
    /// Generation held.
    pub generation: i64,
}

/// One host holding a user's offline data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OfflineHostView {
    /// Agent name of the host.
    pub agent: String,
    /// Host id.
    pub host_id: String,
    /// Host name it reported at enrolment.
    pub hostname: String,
    /// Last download (Unix seconds).
    pub last_sync: i64,
    /// End of the offline data's validity (Unix seconds).
    pub expires_at: i64,
    /// The data is expired or was generated under another policy: the host gets fresh data
    /// at its next online authentication.
    pub stale: bool,
    /// Generation of the offline emergency passcode held.
    pub emergency_passcode_generation: Option<i64>,
    /// Generations of offline emergency tokencodes held.
    pub emergency_tokencodes: Vec<HeldTokencode>,
    /// Id of the emergency access code held.
    pub emergency_access_code: Option<String>,
}

/// `GET /api/v1/admin/users/{login}/offline-hosts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserOfflineHosts {
    /// Login.
    pub user: String,
    /// Hosts, most recently synced first.
    pub hosts: Vec<OfflineHostView>,
}
