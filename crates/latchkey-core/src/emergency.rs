//! Emergency access (PRODUCT.md §4), the parts shared by administration and authentication:
//! the stored shapes, expiry parsing, code normalisation, sealing bindings and the
//! notification texts. Decisions are written down in `docs/design/emergency.md`.
//!
//! Invariants:
//! - Online emergency tokencodes are stored only as keyed verifiers; they are shown once, at
//!   the grant.
//! - Offline emergency values are sealed with the master key, bound to their owner and
//!   generation, because the help desk must be able to read them out and offline hosts must
//!   receive them.
//! - A one-time code is used at most once: the store's conditional update admits one winner.

use latchkey_crypto::codegen::CharClasses;
use latchkey_proto::emergency::{OfflineEmergencyKind, OnlineEmergencyKind};
use latchkey_proto::policy::{CodeFormat, TokenAvailableBehavior};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::CoreError;
use crate::ids::{DomainId, TokenId, UserId};
use crate::model::User;

/// Length of online emergency tokencodes.
pub const ONLINE_CODE_LENGTH: usize = 8;
/// Largest set of one-time tokencodes.
pub const MAX_ONE_TIME_SET: u32 = 100;
/// Lifetime of a grant that names none (capped by the deployment maximum).
pub const DEFAULT_ONLINE_LIFETIME_SECS: i64 = 7 * 86_400;
/// Deployment default of the maximum lifetime of new online emergency tokencodes.
pub const DEFAULT_MAX_ONLINE_LIFETIME_DAYS: u32 = 30;
/// Context string of the keyed verifiers of online emergency tokencodes.
pub const ONLINE_CODE_CONTEXT: &str = "emergency-online-tokencode";
/// Longest reason an administrator may give.
pub const MAX_REASON: usize = 500;

/// The online emergency access of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnlineEmergency {
    /// Token.
    pub token_id: TokenId,
    /// Fixed or one-time.
    pub kind: OnlineEmergencyKind,
    /// Expiry; `None` for no expiration.
    pub expires_at: Option<i64>,
    /// What a use of the token itself does meanwhile.
    pub token_available: TokenAvailableBehavior,
    /// Grant time.
    pub created_at: i64,
    /// The codes (one for a fixed code).
    pub codes: Vec<EmergencyCode>,
}

impl OnlineEmergency {
    /// Whether the codes have expired at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// Codes still usable (all of a fixed code; the unused ones of a set).
    pub fn unused(&self) -> impl Iterator<Item = &EmergencyCode> {
        self.codes.iter().filter(|c| c.used_at.is_none())
    }
}

/// One stored online emergency tokencode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyCode {
    /// Row id.
    pub id: i64,
    /// Keyed verifier of the code.
    pub verifier: String,
    /// When a one-time code was used.
    pub used_at: Option<i64>,
}

/// A grant to store (it replaces the token's previous one).
#[derive(Clone, Debug)]
pub struct NewOnlineEmergency {
    /// Token.
    pub token_id: TokenId,
    /// Fixed or one-time.
    pub kind: OnlineEmergencyKind,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Behaviour when the token is used.
    pub token_available: TokenAvailableBehavior,
    /// Grant time.
    pub created_at: i64,
    /// Verifiers of the codes.
    pub verifiers: Vec<String>,
}

/// Whose offline emergency value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfflineOwner {
    /// A user's offline emergency passcode.
    User(UserId),
    /// A token's offline emergency access tokencode.
    Token(TokenId),
}

impl OfflineOwner {
    /// Passcode or tokencode.
    pub fn kind(self) -> OfflineEmergencyKind {
        match self {
            Self::User(_) => OfflineEmergencyKind::Passcode,
            Self::Token(_) => OfflineEmergencyKind::Tokencode,
        }
    }
}

/// An offline emergency value as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineEmergency {
    /// Owner.
    pub owner: OfflineOwner,
    /// Increases with every new value.
    pub generation: i64,
    /// The value sealed with the master key, bound by [`offline_aad`].
    pub value_sealed: Vec<u8>,
    /// Generation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Tokencode: also accepted online.
    pub online_use: bool,
}

/// Context string of the keyed verifiers of emergency access codes.
pub const EAC_CONTEXT: &str = "emergency-access-code";
/// Shortest online validity of an emergency access code.
pub const EAC_MIN_SECS: i64 = 60;
/// Longest online (and offline) validity of an emergency access code.
pub const EAC_MAX_SECS: i64 = 7 * 86_400;

/// An emergency access code as stored: never the code, only its verifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eac {
    /// The user (one active code per user).
    pub user_id: UserId,
    /// Random public identifier, for the audit log.
    pub id: String,
    /// Keyed verifier for online checks.
    pub verifier: String,
    /// Argon2id hash for offline data (a host checks it without the server key).
    pub offline_verifier: String,
    /// Usable once, or until it expires.
    pub one_time: bool,
    /// End of online validity.
    pub expires_at: i64,
    /// End of offline validity.
    pub offline_expires_at: i64,
    /// Generation time.
    pub created_at: i64,
    /// When a one-time code was used.
    pub used_at: Option<i64>,
}

/// Deployment settings of emergency access codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EacSettings {
    /// One-time unless a request says otherwise.
    pub default_one_time: bool,
    /// Online validity unless a request says otherwise.
    pub default_expires_secs: i64,
    /// Offline validity unless a request says otherwise (capped by the online validity).
    pub default_offline_expires_secs: i64,
    /// The defaults override what a request asks.
    pub lock: bool,
    /// Code length (8–48).
    pub length: u32,
}

impl Default for EacSettings {
    fn default() -> Self {
        Self {
            default_one_time: true,
            default_expires_secs: 12 * 3600,
            default_offline_expires_secs: 12 * 3600,
            lock: false,
            length: 10,
        }
    }
}

impl EacSettings {
    /// Checks the ranges (the configuration loader reports the field).
    pub fn validate(&self) -> Result<(), String> {
        if !(8..=48).contains(&self.length) {
            return Err("length must be 8 to 48".to_owned());
        }
        for (what, v) in [
            ("expiry", self.default_expires_secs),
            ("offline expiry", self.default_offline_expires_secs),
        ] {
            if !(EAC_MIN_SECS..=EAC_MAX_SECS).contains(&v) {
                return Err(format!("default {what} must be 1 minute to 7 days"));
            }
        }
        Ok(())
    }
}

/// Parses a lifetime written as a number and a unit: `30m`, `12h`, `7d` (minutes, hours,
/// days), into seconds.
pub fn parse_lifetime(field: &'static str, text: &str) -> Result<i64, CoreError> {
    let t = text.trim();
    let bad = || {
        CoreError::invalid(
            field,
            "expected a number and a unit m, h or d, e.g. 30m, 12h, 7d",
        )
    };
    let unit = t.chars().last().ok_or_else(bad)?;
    let n: i64 = t
        .get(..t.len() - unit.len_utf8())
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(bad)?;
    let secs = match unit {
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs).ok_or_else(bad)
}

/// Associated data binding an offline emergency value to its owner and generation, so a
/// value copied to another row, or an older generation written back, does not open.
pub fn offline_aad(owner: OfflineOwner, generation: i64) -> Vec<u8> {
    match owner {
        OfflineOwner::User(u) => format!("offline-emergency-passcode:user#{}:{generation}", u.0),
        OfflineOwner::Token(t) => {
            format!("offline-emergency-tokencode:token#{}:{generation}", t.0)
        }
    }
    .into_bytes()
}

/// A successful use of an online emergency credential, to commit atomically.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmergencyUse {
    /// User whose failure counters reset.
    pub user_id: UserId,
    /// Token whose incorrect-passcode counter resets.
    pub token_id: TokenId,
    /// A one-time code to mark used (`None` for a reusable code).
    pub one_time_code: Option<i64>,
    /// Now.
    pub now: i64,
}

/// A notification to queue, in the same transaction as the event it reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotice {
    /// Time.
    pub created_at: i64,
    /// User.
    pub user_id: UserId,
    /// The user's domain (for scoped listing).
    pub domain_id: DomainId,
    /// `email`, `sms` or `none`.
    pub channel: String,
    /// Address or number.
    pub destination: Option<String>,
    /// Event name.
    pub event: String,
    /// Text (never a code).
    pub body: String,
}

/// A queued notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Sequence number.
    pub id: i64,
    /// The user's login.
    pub login: String,
    /// The rest.
    pub notice: NewNotice,
}

/// What a notification reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeEvent {
    /// Online emergency tokencodes were issued for a token.
    OnlineIssued,
    /// An offline emergency value was read out by the help desk.
    OfflineRevealed,
    /// An offline emergency value was reset.
    OfflineReset,
    /// An emergency credential was used to sign in.
    Used,
    /// An emergency access code was generated.
    AccessCodeIssued,
}

impl NoticeEvent {
    /// Event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnlineIssued => "emergency.online.issued",
            Self::OfflineRevealed => "emergency.offline.revealed",
            Self::OfflineReset => "emergency.offline.reset",
            Self::Used => "emergency.used",
            Self::AccessCodeIssued => "emergency.access_code.issued",
        }
    }

    fn sentence(self) -> &'static str {
        match self {
            Self::OnlineIssued => "Emergency access codes were issued for your token",
            Self::OfflineRevealed => "Your offline emergency code was read out by the help desk",
            Self::OfflineReset => "Your offline emergency code was replaced",
            Self::Used => "An emergency access code was used to sign in to your account",
            Self::AccessCodeIssued => "An emergency access code was issued for your account",
        }
    }
}

/// The notification of `event` for `user`: by e-mail when the user has an address, else by
/// SMS to the first phone number, else recorded with channel `none`. The text names the
/// event and the time, never a code.
pub fn notice(user: &User, event: NoticeEvent, now: i64) -> NewNotice {
    let (channel, destination) = match (&user.email, user.phones.first()) {
        (Some(e), _) => ("email", Some(e.clone())),
        (None, Some(p)) => ("sms", Some(p.number.clone())),
        (None, None) => ("none", None),
    };
    let when = OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| now.to_string());
    NewNotice {
        created_at: now,
        user_id: user.id,
        domain_id: user.domain_id,
        channel: channel.to_owned(),
        destination,
        event: event.as_str().to_owned(),
        body: format!(
            "Latchkey: {} ({}, {when}). If this was not you, call your help desk.",
            event.sentence(),
            user.login
        ),
    }
}

/// Logs a notice that was queued (after its transaction committed); never its destination's
/// full text, which stays in the outbox.
pub fn log_queued(n: &NewNotice) {
    tracing::info!(
        event = %n.event,
        user_id = n.user_id.0,
        channel = %n.channel,
        "notification queued in the outbox"
    );
}

/// Parses a grant's expiry: `never`, `YYYY-MM-DD` (valid through that day, UTC) or RFC 3339.
/// `None` means no expiration.
pub fn parse_expiry(text: &str) -> Result<Option<i64>, CoreError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    if let Ok(d) = Date::parse(t, format_description!("[year]-[month]-[day]")) {
        let end = d
            .next_day()
            .ok_or_else(|| CoreError::invalid("expires", "date out of range"))?;
        return Ok(Some(end.midnight().assume_utc().unix_timestamp()));
    }
    OffsetDateTime::parse(t, &Rfc3339)
        .map(|d| Some(d.unix_timestamp()))
        .map_err(|_| {
            CoreError::invalid(
                "expires",
                "expected never, a date YYYY-MM-DD or an RFC 3339 time",
            )
        })
}

/// Checks a grant's expiry against now and the deployment's maximum lifetime (`None`: no
/// maximum). With a maximum, "no expiration" is refused: it would be beyond any maximum.
pub fn check_expiry(
    expires_at: Option<i64>,
    now: i64,
    max_lifetime_secs: Option<i64>,
) -> Result<(), CoreError> {
    match (expires_at, max_lifetime_secs) {
        (Some(t), _) if t <= now => Err(CoreError::invalid("expires", "is in the past")),
        (None, Some(_)) => Err(CoreError::invalid(
            "expires",
            "no expiration is not allowed: this deployment limits the lifetime of new \
             emergency codes",
        )),
        (Some(t), Some(max)) if t - now > max => Err(CoreError::invalid(
            "expires",
            format!(
                "is beyond the maximum lifetime of new emergency codes ({} days)",
                max / 86_400
            ),
        )),
        _ => Ok(()),
    }
}

/// The generator's character classes for a policy's code format.
pub fn classes(f: CodeFormat) -> CharClasses {
    CharClasses {
        digits: f.digits,
        upper: f.upper,
        lower: f.lower,
        special: f.special,
    }
}

/// A typed code as it is compared: trimmed, and upper-cased when the format has no lower case
/// letters (so a code read out over the phone may be typed in either case).
pub fn normalize_code(code: &str, f: CodeFormat) -> String {
    let c = code.trim();
    if f.lower {
        c.to_owned()
    } else {
        c.to_ascii_uppercase()
    }
}

/// A required reason: trimmed, 1–[`MAX_REASON`] characters, no control characters.
pub fn reason(text: &str) -> Result<String, CoreError> {
    let r = text.trim();
    if r.is_empty() {
        return Err(CoreError::invalid(
            "reason",
            "is required: say why the value is read",
        ));
    }
    optional_reason(Some(r)).map(Option::unwrap_or_default)
}

/// An optional reason, checked as [`reason`] when given.
pub fn optional_reason(text: Option<&str>) -> Result<Option<String>, CoreError> {
    let Some(r) = text.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if r.chars().count() > MAX_REASON {
        return Err(CoreError::invalid(
            "reason",
            format!("longer than {MAX_REASON} characters"),
        ));
    }
    if r.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "reason",
            "must not contain control characters",
        ));
    }
    Ok(Some(r.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_forms() {
        assert_eq!(parse_expiry("never").ok(), Some(None));
        assert_eq!(parse_expiry(" NEVER ").ok(), Some(None));
        // 2026-12-01 is valid through that day: it ends at midnight before the 2nd.
        assert_eq!(parse_expiry("2026-12-01").ok(), Some(Some(1_796_169_600)));
        assert_eq!(
            parse_expiry("2026-12-01T12:00:00Z").ok(),
            Some(Some(1_796_126_400))
        );
        for bad in [
            "",
            "tomorrow",
            "2026-13-01",
            "2026-02-30",
            "1796169600",
            "01/12/2026",
        ] {
            assert!(
                matches!(
                    parse_expiry(bad),
                    Err(CoreError::Invalid {
                        field: "expires",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn expiry_limits() {
        let day = 86_400;
        let max = Some(30 * day);
        assert!(check_expiry(Some(100 + day), 100, max).is_ok());
        assert!(check_expiry(Some(100 + 30 * day), 100, max).is_ok());
        assert!(check_expiry(Some(101 + 30 * day), 100, max).is_err());
        assert!(check_expiry(Some(100), 100, max).is_err());
        assert!(check_expiry(None, 100, max).is_err());
        assert!(check_expiry(None, 100, None).is_ok());
        assert!(check_expiry(Some(100 + 365 * day), 100, None).is_ok());
    }

    #[test]
    fn codes_compare_case_insensitively_only_without_lower_case() {
        let upper = CodeFormat::default();
        assert_eq!(normalize_code(" ab3k ", upper), "AB3K");
        let mixed = CodeFormat {
            lower: true,
            ..upper
        };
        assert_eq!(normalize_code("ab3K", mixed), "ab3K");
    }

    #[test]
    fn bindings_differ_by_owner_and_generation() {
        let u = offline_aad(OfflineOwner::User(UserId(1)), 1);
        assert_ne!(u, offline_aad(OfflineOwner::User(UserId(1)), 2));
        assert_ne!(u, offline_aad(OfflineOwner::User(UserId(2)), 1));
        assert_ne!(u, offline_aad(OfflineOwner::Token(TokenId(1)), 1));
    }

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("x", "30m").ok(), Some(1800));
        assert_eq!(parse_lifetime("x", " 12h ").ok(), Some(43_200));
        assert_eq!(parse_lifetime("x", "7d").ok(), Some(604_800));
        for bad in [
            "",
            "m",
            "0m",
            "-5m",
            "5",
            "5w",
            "1.5h",
            "h5",
            "99999999999999999d",
        ] {
            assert!(parse_lifetime("x", bad).is_err(), "{bad:?}");
        }
        assert!(EacSettings::default().validate().is_ok());
        let short = EacSettings {
            length: 7,
            ..EacSettings::default()
        };
        assert!(short.validate().is_err());
        let long = EacSettings {
            default_expires_secs: EAC_MAX_SECS + 1,
            ..EacSettings::default()
        };
        assert!(long.validate().is_err());
    }

    #[test]
    fn reasons() {
        assert!(reason("").is_err());
        assert!(reason("   ").is_err());
        assert!(reason("a\nb").is_err());
        assert!(reason(&"x".repeat(501)).is_err());
        assert_eq!(reason(" INC-42 ").ok().as_deref(), Some("INC-42"));
        assert_eq!(optional_reason(None).ok(), Some(None));
        assert_eq!(optional_reason(Some(" ")).ok(), Some(None));
    }
}
