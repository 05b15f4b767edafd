//! On-demand codes sent by SMS or voice: the abuse limits (toll-fraud protection) and the
//! delivery records. The store checks the limits and records the send in one transaction, so
//! concurrent requests (on any node) cannot exceed them.

/// Abuse limits of on-demand codes (PRODUCT.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendLimits {
    /// Sends per user in [`SendLimits::user_window_secs`] (default 5).
    pub per_user: u32,
    /// The per-user window (default 15 minutes).
    pub user_window_secs: i64,
    /// Sends per destination number per hour (default 10).
    pub per_destination_per_hour: u32,
    /// Sends per deployment per hour (default 1000).
    pub per_deployment_per_hour: u32,
    /// Seconds between two sends to one user (default 30).
    pub cooldown_secs: i64,
}

impl Default for SendLimits {
    fn default() -> Self {
        Self {
            per_user: 5,
            user_window_secs: 900,
            per_destination_per_hour: 10,
            per_deployment_per_hour: 1000,
            cooldown_secs: 30,
        }
    }
}

/// Which limit refused a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitHit {
    /// Asked again within the cool-down.
    Cooldown,
    /// The user's limit.
    User,
    /// The destination number's limit.
    Destination,
    /// The deployment's limit.
    Deployment,
}

impl LimitHit {
    /// The audit outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cooldown => "refused:resend_cooldown",
            Self::User => "refused:user_limit",
            Self::Destination => "refused:destination_limit",
            Self::Deployment => "refused:deployment_limit",
        }
    }
}

/// A send to reserve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// User.
    pub user_id: crate::ids::UserId,
    /// E.164 number.
    pub destination: String,
    /// `sms` or `voice`.
    pub channel: String,
    /// Now.
    pub now: i64,
}

/// A send as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Sequence number.
    pub id: i64,
    /// Request time.
    pub created_at: i64,
    /// The user's login.
    pub login: String,
    /// The user's domain.
    pub domain_id: crate::ids::DomainId,
    /// Destination.
    pub destination: String,
    /// `sms` or `voice`.
    pub channel: String,
    /// `pending`, `delivered`, `failed`.
    pub status: String,
    /// JSON list of provider attempts.
    pub attempts: String,
}
