//! Per-domain policy values. Each domain may set each policy or inherit it from its parent;
//! the root domain always sets all of them. Ranges are validated by `latchkey-core`.
//!
//! These types are both the wire format and the stored format (JSON): a policy is a value
//! object with no identity, so keeping one shape avoids a mapping layer that could drift.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which policy of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// [`TokenPolicy`].
    Token,
    /// [`LockoutPolicy`].
    Lockout,
    /// [`OfflinePolicy`].
    Offline,
    /// [`EmergencySettings`].
    Emergency,
}

impl PolicyKind {
    /// Every kind, in display order.
    pub const ALL: [PolicyKind; 4] = [Self::Token, Self::Lockout, Self::Offline, Self::Emergency];

    /// The name used in URLs and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Lockout => "lockout",
            Self::Offline => "offline",
            Self::Emergency => "emergency",
        }
    }

    /// Parses the name used in URLs and storage.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Character classes a generated code may draw from (ambiguous characters are always left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)] // four independent switches, as in the console
pub struct CodeFormat {
    /// Digits 2–9.
    pub digits: bool,
    /// Upper-case letters except O and I.
    pub upper: bool,
    /// Lower-case letters except l.
    pub lower: bool,
    /// A small set of special characters that are easy to read out.
    pub special: bool,
}

impl Default for CodeFormat {
    fn default() -> Self {
        Self {
            digits: true,
            upper: true,
            lower: false,
            special: false,
        }
    }
}

/// PIN character set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum PinCharset {
    /// Digits only.
    #[default]
    Numeric,
    /// Letters and digits.
    Alphanumeric,
}

/// Who chooses a new PIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum PinCreation {
    /// The user types a new PIN in new-PIN mode.
    #[default]
    UserCreated,
    /// The server generates one and shows it to the user.
    SystemGenerated,
}

/// Token policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TokenPolicy {
    /// Minimum PIN length (4–8 by default; 1–32 allowed).
    pub pin_min_length: u32,
    /// Maximum PIN length.
    pub pin_max_length: u32,
    /// PIN characters.
    pub pin_charset: PinCharset,
    /// Who creates a new PIN.
    pub pin_creation: PinCreation,
    /// Incorrect passcodes before next-tokencode mode (1–100).
    pub incorrect_passcode_limit: u32,
    /// Character classes of emergency access codes.
    pub emergency_code_format: CodeFormat,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            pin_min_length: 4,
            pin_max_length: 8,
            pin_charset: PinCharset::Numeric,
            pin_creation: PinCreation::UserCreated,
            incorrect_passcode_limit: 3,
            emergency_code_format: CodeFormat::default(),
        }
    }
}

/// Lockout policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
#[allow(clippy::struct_excessive_bools)] // independent switches of the policy
pub struct LockoutPolicy {
    /// Consecutive failures that lock the user (1–1000).
    pub max_failures: u32,
    /// Failures older than this many seconds no longer count (60 s – 30 days).
    pub window_seconds: u32,
    /// Unlock automatically after this many minutes; `None` means an administrator must.
    pub auto_unlock_minutes: Option<u32>,
    /// Double the lock time at each lock within the window.
    pub escalate: bool,
    /// Notify the user when locked.
    pub notify_user: bool,
    /// Notify the administrators of the domain when a user is locked.
    pub notify_admins: bool,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window_seconds: 86_400,
            auto_unlock_minutes: None,
            escalate: false,
            notify_user: false,
            notify_admins: false,
        }
    }
}

/// Offline authentication policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OfflinePolicy {
    /// Offline authentication allowed.
    pub enabled: bool,
    /// Days of offline data (1–60).
    pub days: u32,
    /// Refresh when fewer than this many days remain (0 – `days`).
    pub refresh_below_days: u32,
    /// Minimum online passcode length for a download (4–32).
    pub min_online_passcode_length: u32,
    /// Include offline emergency codes in the download.
    pub download_emergency_codes: bool,
    /// Failed offline attempts before an emergency code or online login is required.
    pub failures_before_online_required: u32,
    /// Failed offline attempts before the host wipes the user's cache.
    pub failures_before_wipe: u32,
}

impl Default for OfflinePolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            days: 14,
            refresh_below_days: 7,
            min_online_passcode_length: 8,
            download_emergency_codes: true,
            failures_before_online_required: 5,
            failures_before_wipe: 10,
        }
    }
}

/// What happens when a token in emergency access mode is used again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenAvailableBehavior {
    /// The token is refused while emergency access lasts.
    DenyToken,
    /// The token works and ends emergency access.
    #[default]
    AllowAndEndEmergency,
    /// The token works only after the emergency codes expire.
    AllowAfterExpiry,
}

/// Emergency access settings, including which emergency methods the cloud channel offers (the
/// authenticator app is always offered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
#[allow(clippy::struct_excessive_bools)] // independent switches of the policy
pub struct EmergencySettings {
    /// Length of offline emergency passcodes and tokencodes (10–24).
    pub offline_code_length: u32,
    /// Lifetime of offline emergency codes in days (1–365).
    pub offline_code_lifetime_days: u32,
    /// Default size of a set of one-time emergency tokencodes (1–100).
    pub one_time_set_size: u32,
    /// Behaviour when the token becomes available again.
    pub token_available: TokenAvailableBehavior,
    /// Accept the offline emergency tokencode online too.
    pub use_offline_code_online: bool,
    /// Cloud channel: offer codes by SMS (to users with a phone number).
    pub cloud_sms: bool,
    /// Cloud channel: offer codes by voice call (to users with a phone number).
    pub cloud_voice: bool,
    /// Cloud channel: accept emergency access codes.
    pub cloud_access_code: bool,
}

impl Default for EmergencySettings {
    fn default() -> Self {
        Self {
            offline_code_length: 12,
            offline_code_lifetime_days: 30,
            one_time_set_size: 10,
            token_available: TokenAvailableBehavior::AllowAndEndEmergency,
            use_offline_code_online: false,
            cloud_sms: true,
            cloud_voice: true,
            cloud_access_code: true,
        }
    }
}

/// One policy value of any kind, tagged by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum PolicyValue {
    /// Token policy.
    Token(TokenPolicy),
    /// Lockout policy.
    Lockout(LockoutPolicy),
    /// Offline policy.
    Offline(OfflinePolicy),
    /// Emergency settings.
    Emergency(EmergencySettings),
}

impl PolicyValue {
    /// The kind of this value.
    pub fn kind(&self) -> PolicyKind {
        match self {
            Self::Token(_) => PolicyKind::Token,
            Self::Lockout(_) => PolicyKind::Lockout,
            Self::Offline(_) => PolicyKind::Offline,
            Self::Emergency(_) => PolicyKind::Emergency,
        }
    }

    /// The default value of a kind (what the root domain starts with).
    pub fn default_of(kind: PolicyKind) -> Self {
        match kind {
            PolicyKind::Token => Self::Token(TokenPolicy::default()),
            PolicyKind::Lockout => Self::Lockout(LockoutPolicy::default()),
            PolicyKind::Offline => Self::Offline(OfflinePolicy::default()),
            PolicyKind::Emergency => Self::Emergency(EmergencySettings::default()),
        }
    }
}

/// The four policies in force for a domain, after inheritance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub struct EffectivePolicies {
    /// Token policy.
    pub token: TokenPolicy,
    /// Lockout policy.
    pub lockout: LockoutPolicy,
    /// Offline policy.
    pub offline: OfflinePolicy,
    /// Emergency settings.
    pub emergency: EmergencySettings,
}
