//! Emergency access bodies (PRODUCT.md §4): online emergency tokencodes of a token, the
//! offline emergency passcode of a user and the offline emergency tokencode of a token, and
//! the notification outbox.
//!
//! Code values appear only in the responses documented as carrying them (a grant shows its
//! codes once; a reveal shows the offline value it was asked for); their `Debug` output is
//! redacted.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::policy::TokenAvailableBehavior;

/// Which kind of online emergency tokencode a token gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnlineEmergencyKind {
    /// One temporary fixed tokencode, reusable until it expires.
    Fixed,
    /// A set of one-time tokencodes, each usable once.
    OneTime,
}

/// `PUT /api/v1/admin/tokens/{serial}/emergency/online`: put the token into emergency access
/// mode, replacing any emergency codes it had.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantOnlineEmergency {
    /// Fixed tokencode or a set of one-time tokencodes.
    pub kind: OnlineEmergencyKind,
    /// Size of a one-time set (1–100); defaults to the emergency settings' set size. Not
    /// allowed with `fixed`.
    #[serde(default)]
    pub count: Option<u32>,
    /// `never`, a date `YYYY-MM-DD` (valid through that day, UTC), or an RFC 3339 time.
    /// Defaults to 7 days from now, or the deployment's maximum lifetime if shorter.
    #[serde(default)]
    pub expires: Option<String>,
    /// What a use of the token itself does meanwhile; defaults to the emergency settings'.
    #[serde(default)]
    pub token_available: Option<TokenAvailableBehavior>,
}

/// The online emergency access of a token, without its codes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct OnlineEmergencyView {
    /// Token serial.
    pub serial: String,
    /// Kind of codes.
    pub kind: OnlineEmergencyKind,
    /// Expiry (Unix seconds); `None` means no expiration.
    pub expires_at: Option<i64>,
    /// Whether the codes have expired (emergency access then ends at the next use).
    pub expired: bool,
    /// One-time codes not used yet (1 for a fixed code).
    pub unused_codes: u32,
    /// What a use of the token itself does.
    pub token_available: TokenAvailableBehavior,
    /// When it was granted.
    pub created_at: i64,
}

/// The answer to a grant: the codes, shown this once.
#[derive(Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct GrantedOnlineEmergency {
    /// The emergency access now in force.
    #[serde(flatten)]
    pub view: OnlineEmergencyView,
    /// The fixed tokencode (with `fixed`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub code: Option<String>,
    /// The one-time tokencodes (with `one_time`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub codes: Option<Vec<String>>,
}

impl std::fmt::Debug for GrantedOnlineEmergency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantedOnlineEmergency")
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

/// `POST …/reveal`: read an offline emergency value. The reason lands in the audit log.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// Why the value is read (1–500 characters), e.g. a ticket number.
    pub reason: String,
}

/// `POST …/reset`: replace an offline emergency value with a new one.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ResetOfflineRequest {
    /// Optional reason for the audit log (at most 500 characters).
    #[serde(default)]
    pub reason: Option<String>,
    /// Offline emergency tokencode only: also set "use offline code for online access".
    #[serde(default)]
    pub online_use: Option<bool>,
}

/// `PATCH /api/v1/admin/tokens/{serial}/emergency/offline-tokencode`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOfflineTokencode {
    /// "Use offline code for online access".
    pub online_use: bool,
}

/// Whose offline emergency value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfflineEmergencyKind {
    /// A user's offline emergency passcode (replaces PIN and tokencode; offline only).
    Passcode,
    /// A token's offline emergency access tokencode (typed after the PIN).
    Tokencode,
}

/// An offline host holding a user's offline data, and which value it holds.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct OfflineHolder {
    /// Host (offline agent) name.
    pub host: String,
    /// Last synchronisation (Unix seconds).
    pub last_sync: i64,
    /// Generation of the value the host holds (the current one accepts the value shown).
    pub generation: i64,
}

/// An offline emergency value's state; `value` only in a reveal.
#[derive(Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct OfflineEmergencyView {
    /// Passcode or tokencode.
    pub kind: OfflineEmergencyKind,
    /// User login (passcode) or the token's user (tokencode).
    pub user: Option<String>,
    /// Token serial (tokencode only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub serial: Option<String>,
    /// The value, in a reveal only (`passcode` for a passcode, `tokencode` for a tokencode).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub passcode: Option<String>,
    /// The value of a tokencode, in a reveal only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tokencode: Option<String>,
    /// Increases at every new value (reset or renewal after expiry).
    pub generation: i64,
    /// When this value was generated.
    pub created_at: i64,
    /// When it expires (a new one is generated when it is next needed after that).
    pub expires_at: i64,
    /// Tokencode only: also accepted online.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub online_use: Option<bool>,
    /// Offline hosts holding this user's offline data, with the generation each holds.
    pub hosts: Vec<OfflineHolder>,
}

impl std::fmt::Debug for OfflineEmergencyView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineEmergencyView")
            .field("kind", &self.kind)
            .field("user", &self.user)
            .field("serial", &self.serial)
            .field("generation", &self.generation)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A notification waiting in the outbox (no code is ever part of one).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct OutboxView {
    /// Sequence number.
    pub id: i64,
    /// When it was queued.
    pub created_at: i64,
    /// User it is for.
    pub user: String,
    /// `email`, `sms` or `none` (the user has no address to send to).
    pub channel: String,
    /// E-mail address or phone number.
    pub destination: Option<String>,
    /// Event, e.g. `emergency.online.issued`.
    pub event: String,
    /// Message text.
    pub body: String,
}

/// `POST /api/v1/admin/users/{login}/emergency/access-code`: a new emergency access code for
/// the cloud channel and offline hosts, replacing the user's previous one. Lifetimes are a
/// number and a unit: `30m`, `12h`, `7d`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GenerateEac {
    /// One-time (`true`) or reusable until it expires (`false`); default from the deployment.
    #[serde(default)]
    pub one_time: Option<bool>,
    /// Online validity, 1 minute to 7 days; default from the deployment.
    #[serde(default)]
    pub expires_in: Option<String>,
    /// Offline validity, 1 minute to 7 days; default from the deployment, at most the online
    /// validity.
    #[serde(default)]
    pub offline_expires_in: Option<String>,
}

/// An emergency access code's state (never the code).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct EacView {
    /// User.
    pub user: String,
    /// Public identifier (as in the audit log).
    pub id: String,
    /// One-time or reusable.
    pub one_time: bool,
    /// End of online validity.
    pub expires_at: i64,
    /// End of offline validity.
    pub offline_expires_at: i64,
    /// Generation time.
    pub created_at: i64,
    /// When a one-time code was used.
    pub used_at: Option<i64>,
    /// The deployment's defaults overrode the request (the defaults are locked).
    pub defaults_locked: bool,
}

/// The answer to a generation: the code, shown this once.
#[derive(Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct GeneratedEac {
    /// The code.
    pub code: String,
    /// Its state.
    #[serde(flatten)]
    pub view: EacView,
}

impl std::fmt::Debug for GeneratedEac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedEac")
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

/// A record of an SMS or voice code sent (never the code).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct DeliveryView {
    /// Sequence number.
    pub id: i64,
    /// When it was requested.
    pub created_at: i64,
    /// User.
    pub user: String,
    /// Destination number (E.164).
    pub destination: String,
    /// `sms` or `voice`.
    pub channel: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Each provider attempt: provider, ok, transient, detail.
    pub attempts: serde_json::Value,
}
