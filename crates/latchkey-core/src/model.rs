//! Domain objects as the core sees them (not database rows, not API bodies).

use ipnet::IpNet;
use latchkey_crypto::OtpAlgorithm;
use latchkey_proto::admin::{AgentKind, Channel, Phone, Role, TokenType, UserStatus};
use latchkey_proto::policy::{PolicyKind, PolicyValue};

use crate::ids::{AdminId, AgentId, DomainId, TokenId, UserId};

/// A security domain: a node of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    /// Id.
    pub id: DomainId,
    /// Unique name.
    pub name: String,
    /// Parent; `None` only for the root.
    pub parent: Option<DomainId>,
    /// Policies this domain sets itself.
    pub policies: Vec<PolicyValue>,
    /// Creation time.
    pub created_at: i64,
}

impl Domain {
    /// The policy of `kind` this domain sets, if any.
    pub fn own_policy(&self, kind: PolicyKind) -> Option<&PolicyValue> {
        self.policies.iter().find(|p| p.kind() == kind)
    }
}

/// A domain to create.
#[derive(Clone, Debug)]
pub struct NewDomain {
    /// Name.
    pub name: String,
    /// Parent.
    pub parent: Option<DomainId>,
    /// Policies set at creation (the root sets all four).
    pub policies: Vec<PolicyValue>,
    /// Creation time.
    pub created_at: i64,
}

/// A user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Login name, lower case.
    pub login: String,
    /// Domain.
    pub domain_id: DomainId,
    /// Status.
    pub status: UserStatus,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone numbers (E.164).
    pub phones: Vec<Phone>,
    /// Creation time.
    pub created_at: i64,
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login name, lower case, validated.
    pub login: String,
    /// Domain.
    pub domain_id: DomainId,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone numbers.
    pub phones: Vec<Phone>,
    /// Creation time.
    pub created_at: i64,
}

/// An OATH token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// Id.
    pub id: TokenId,
    /// Serial number, unique.
    pub serial: String,
    /// Type.
    pub token_type: TokenType,
    /// HMAC algorithm.
    pub algorithm: OtpAlgorithm,
    /// Digits (6 or 8).
    pub digits: u32,
    /// Time step (TOTP).
    pub period: u32,
    /// Next counter (HOTP).
    pub counter: u64,
    /// Seed sealed with the master key, bound to the serial.
    pub seed_sealed: Vec<u8>,
    /// Domain.
    pub domain_id: DomainId,
    /// Assigned user.
    pub user_id: Option<UserId>,
    /// Enabled.
    pub enabled: bool,
    /// Keyed verifier of the PIN.
    pub pin_verifier: Option<String>,
    /// The next authentication must set a new PIN.
    pub new_pin_required: bool,
    /// Last accepted time step (TOTP) or counter (HOTP).
    pub last_used: Option<i64>,
    /// Learned clock drift in steps.
    pub drift: i64,
    /// Creation time.
    pub created_at: i64,
}

/// A token to create (same fields as [`Token`] without the id and usage state).
#[derive(Clone, Debug)]
pub struct NewToken {
    /// Serial number.
    pub serial: String,
    /// Type.
    pub token_type: TokenType,
    /// HMAC algorithm.
    pub algorithm: OtpAlgorithm,
    /// Digits.
    pub digits: u32,
    /// Time step.
    pub period: u32,
    /// Initial counter.
    pub counter: u64,
    /// Sealed seed.
    pub seed_sealed: Vec<u8>,
    /// Domain.
    pub domain_id: DomainId,
    /// Assigned user.
    pub user_id: Option<UserId>,
    /// Creation time.
    pub created_at: i64,
}

/// A registered agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// Id.
    pub id: AgentId,
    /// Unique name.
    pub name: String,
    /// Kind.
    pub kind: AgentKind,
    /// Domain.
    pub domain_id: DomainId,
    /// SHA-256 of the API key (REST, offline host, cloud application).
    pub api_key_hash: Option<String>,
    /// RADIUS client network.
    pub address: Option<IpNet>,
    /// RADIUS shared secret, sealed.
    pub secret_sealed: Option<Vec<u8>>,
    /// RADIUS: Message-Authenticator required.
    pub require_message_authenticator: bool,
    /// Creation time.
    pub created_at: i64,
}

impl Agent {
    /// The channel this agent authenticates through.
    pub fn channel(&self) -> Channel {
        channel_of(self.kind)
    }
}

/// The channel of an agent kind.
pub fn channel_of(kind: AgentKind) -> Channel {
    match kind {
        AgentKind::Rest | AgentKind::Radius | AgentKind::OfflineHost => Channel::Manager,
        AgentKind::CloudApp => Channel::Cloud,
    }
}

/// An agent to create.
#[derive(Clone, Debug)]
pub struct NewAgent {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: AgentKind,
    /// Domain.
    pub domain_id: DomainId,
    /// API key hash.
    pub api_key_hash: Option<String>,
    /// RADIUS address.
    pub address: Option<IpNet>,
    /// Sealed RADIUS secret.
    pub secret_sealed: Option<Vec<u8>>,
    /// RADIUS: Message-Authenticator required.
    pub require_message_authenticator: bool,
    /// Creation time.
    pub created_at: i64,
}

/// An administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admin {
    /// Id.
    pub id: AdminId,
    /// Unique name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Scope: this domain and everything below it.
    pub scope: DomainId,
    /// Argon2id PHC string of the console password.
    pub password_hash: String,
    /// Creation time.
    pub created_at: i64,
}

/// An administrator to create, with the hash of the first API token.
#[derive(Clone, Debug)]
pub struct NewAdmin {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Scope domain.
    pub scope: DomainId,
    /// Password hash.
    pub password_hash: String,
    /// SHA-256 of the admin API token.
    pub token_hash: String,
    /// Creation time.
    pub created_at: i64,
}
