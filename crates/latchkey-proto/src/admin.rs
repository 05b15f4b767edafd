//! Admin API (`/api/v1/admin/...`) request and response bodies.
//!
//! Times are Unix seconds (UTC). Names (domains, users, agents, administrators) and token
//! serial numbers identify objects in URLs; numeric ids never leave the server.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::policy::{EffectivePolicies, PolicyKind, PolicyValue};

/// `POST /api/v1/admin/domains`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDomain {
    /// Unique name of the new domain.
    pub name: String,
    /// Parent domain; defaults to the caller's scope domain.
    #[serde(default)]
    pub parent: Option<String>,
}

/// A security domain.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct DomainView {
    /// Name.
    pub name: String,
    /// Parent's name; `None` for the root domain.
    pub parent: Option<String>,
    /// Policies this domain sets itself (the others are inherited).
    pub own_policies: Vec<PolicyKind>,
}

/// `GET /api/v1/admin/domains/{name}/policies`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct DomainPolicies {
    /// Domain name.
    pub domain: String,
    /// The policies in force after inheritance.
    pub effective: EffectivePolicies,
    /// For each kind, the domain whose value is in force.
    pub sources: Vec<PolicySource>,
}

/// Where a policy in force comes from.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct PolicySource {
    /// Kind.
    pub kind: PolicyKind,
    /// Domain that sets it.
    pub domain: String,
}

/// `PUT /api/v1/admin/domains/{name}/policies/{kind}`: the body is the policy value itself.
pub type SetPolicy = PolicyValue;

/// User status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// May authenticate.
    Enabled,
    /// Refused until enabled.
    Disabled,
    /// Locked by the lockout policy until unlocked.
    Locked,
}

/// Whether a phone number is maintained by an identity source or by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum PhoneSource {
    /// Entered by an administrator.
    #[default]
    Manual,
    /// Copied from an identity source.
    Synced,
}

/// A phone number in E.164 form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    /// `+` and digits, e.g. `+14155550123`.
    pub number: String,
    /// Manual or synced.
    #[serde(default)]
    pub source: PhoneSource,
}

/// `POST /api/v1/admin/users`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Unique login name (stored in lower case).
    pub login: String,
    /// Domain; defaults to the caller's scope domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone numbers.
    #[serde(default)]
    pub phones: Vec<Phone>,
}

/// `PATCH /api/v1/admin/users/{login}`: fields left out stay as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New status (`enabled` also unlocks).
    #[serde(default)]
    pub status: Option<UserStatus>,
    /// New e-mail address; an empty string removes it.
    #[serde(default)]
    pub email: Option<String>,
    /// Replaces all phone numbers.
    #[serde(default)]
    pub phones: Option<Vec<Phone>>,
    /// Moves the user to another domain (both must be in the caller's scope).
    #[serde(default)]
    pub domain: Option<String>,
}

/// A user.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct UserView {
    /// Login name.
    pub login: String,
    /// Domain name.
    pub domain: String,
    /// Status.
    pub status: UserStatus,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone numbers.
    pub phones: Vec<Phone>,
    /// Serial numbers of the user's tokens.
    pub tokens: Vec<String>,
    /// Creation time.
    pub created_at: i64,
}

/// Token type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    /// RFC 6238 time-based.
    Totp,
    /// RFC 4226 counter-based.
    Hotp,
}

/// HMAC algorithm of an OATH token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum OtpAlgorithm {
    /// HMAC-SHA1 (the default of nearly every token).
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// `POST /api/v1/admin/tokens/import`: an existing seed, as base32 or an `otpauth://` URI.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportToken {
    /// Serial number; generated when absent.
    #[serde(default)]
    pub serial: Option<String>,
    /// Assign to this user.
    #[serde(default)]
    pub user: Option<String>,
    /// Domain of an unassigned token; defaults to the user's domain or the caller's scope.
    #[serde(default)]
    pub domain: Option<String>,
    /// Type; required with `secret`, taken from the URI with `uri`.
    #[serde(default, rename = "type")]
    pub token_type: Option<TokenType>,
    /// Seed in base32.
    #[serde(default)]
    pub secret: Option<String>,
    /// Seed and parameters as an `otpauth://` URI.
    #[serde(default)]
    pub uri: Option<String>,
    /// 6 or 8 (with `secret`; default 6).
    #[serde(default)]
    pub digits: Option<u32>,
    /// 30 or 60 seconds (TOTP with `secret`; default 30).
    #[serde(default)]
    pub period: Option<u32>,
    /// HMAC algorithm (with `secret`; default sha1).
    #[serde(default)]
    pub algorithm: Option<OtpAlgorithm>,
    /// Initial counter of an HOTP token (default 0).
    #[serde(default)]
    pub counter: Option<u64>,
}

/// `POST /api/v1/admin/tokens/generate`: the server makes a seed and shows it once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateToken {
    /// Serial number; generated when absent.
    #[serde(default)]
    pub serial: Option<String>,
    /// Assign to this user.
    #[serde(default)]
    pub user: Option<String>,
    /// Domain of an unassigned token.
    #[serde(default)]
    pub domain: Option<String>,
    /// Type (default totp).
    #[serde(default, rename = "type")]
    pub token_type: Option<TokenType>,
    /// 6 or 8 (default 6).
    #[serde(default)]
    pub digits: Option<u32>,
    /// 30 or 60 (default 30).
    #[serde(default)]
    pub period: Option<u32>,
    /// HMAC algorithm (default sha1).
    #[serde(default)]
    pub algorithm: Option<OtpAlgorithm>,
}

/// Answer to token generation: the seed, shown this once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct GeneratedToken {
    /// The new token.
    pub token: TokenView,
    /// `otpauth://` URI with the seed; shown once, never stored in clear.
    pub otpauth_uri: String,
    /// The same URI as a QR code (SVG document).
    pub qr_svg: String,
}

/// `PATCH /api/v1/admin/tokens/{serial}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateToken {
    /// Enable or disable.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Assign to this user; an empty string unassigns.
    #[serde(default)]
    pub user: Option<String>,
}

/// `PUT /api/v1/admin/tokens/{serial}/pin`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPin {
    /// The new PIN (checked against the token policy; stored only as a verifier).
    pub pin: String,
}

impl std::fmt::Debug for SetPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetPin { pin: <redacted> }")
    }
}

/// A token; never its seed or PIN.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct TokenView {
    /// Serial number.
    pub serial: String,
    /// Type.
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// Digits.
    pub digits: u32,
    /// Time step in seconds (TOTP).
    pub period: u32,
    /// HMAC algorithm.
    pub algorithm: OtpAlgorithm,
    /// Domain.
    pub domain: String,
    /// Assigned user.
    pub user: Option<String>,
    /// Enabled.
    pub enabled: bool,
    /// Has a PIN.
    pub has_pin: bool,
    /// The next authentication must set a new PIN.
    pub new_pin_required: bool,
    /// Creation time.
    pub created_at: i64,
}

/// Agent kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AgentKind {
    /// REST agent with an API key (manager channel).
    Rest,
    /// RADIUS client with an address and a shared secret (manager channel).
    Radius,
    /// Workstation that caches offline data (manager channel).
    OfflineHost,
    /// Relying party of the cloud channel.
    CloudApp,
}

/// Channel an agent authenticates through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Passcode-based Authentication-Manager semantics.
    Manager,
    /// Method-based Cloud-Access-Service semantics.
    Cloud,
}

/// `POST /api/v1/admin/agents`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// Unique name.
    pub name: String,
    /// Kind.
    pub kind: AgentKind,
    /// Domain; defaults to the caller's scope domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// RADIUS: client address or CIDR.
    #[serde(default)]
    pub address: Option<String>,
    /// RADIUS: shared secret (generated and shown once when absent).
    #[serde(default)]
    pub secret: Option<String>,
    /// RADIUS: require Message-Authenticator in requests (default true).
    #[serde(default)]
    pub require_message_authenticator: Option<bool>,
}

impl std::fmt::Debug for CreateAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateAgent")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("domain", &self.domain)
            .field("address", &self.address)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// An agent; never its key or secret.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AgentView {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: AgentKind,
    /// Channel.
    pub channel: Channel,
    /// Domain.
    pub domain: String,
    /// RADIUS client address.
    pub address: Option<String>,
    /// RADIUS: Message-Authenticator required.
    pub require_message_authenticator: bool,
    /// Creation time.
    pub created_at: i64,
}

/// Answer to agent creation.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedAgent {
    /// The agent.
    pub agent: AgentView,
    /// API key (REST, offline host, cloud application): shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// RADIUS shared secret when the server generated it: shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl std::fmt::Debug for CreatedAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedAgent")
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

/// Administrator role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything, everywhere.
    SuperAdmin,
    /// Manages users, tokens, agents, policies, sub-domains and lesser administrators in scope.
    DomainAdmin,
    /// Looks users up, unlocks, resets PINs, in scope.
    HelpDesk,
    /// Help desk plus emergency access, in scope.
    PrivilegedHelpDesk,
    /// Reads everything in scope and the audit log; changes nothing.
    Auditor,
}

/// `POST /api/v1/admin/admins`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdmin {
    /// Unique name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Scope domain (the subtree below it); defaults to the caller's scope.
    #[serde(default)]
    pub scope: Option<String>,
}

/// An administrator.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AdminView {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Scope domain.
    pub scope: String,
    /// Creation time.
    pub created_at: i64,
}

/// Answer to administrator creation: credentials shown once.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedAdmin {
    /// The administrator.
    pub admin: AdminView,
    /// Admin API token: shown once.
    pub token: String,
    /// Console password: shown once.
    pub password: String,
}

impl std::fmt::Debug for CreatedAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedAdmin")
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

/// One audit record.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AuditRecordView {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Time (Unix seconds).
    pub at: i64,
    /// Who: `admin:NAME`, `agent:NAME`, `system`.
    pub actor: String,
    /// What, e.g. `user.create`.
    pub action: String,
    /// On what, e.g. `user:alice`.
    pub target: String,
    /// Outcome: `ok` or a reason.
    pub outcome: String,
    /// From where (client address), when known.
    pub source: Option<String>,
    /// Details (never secrets).
    pub detail: serde_json::Value,
    /// Hash of the previous record (hex).
    pub prev_hash: String,
    /// Hash of this record (hex).
    pub hash: String,
}

/// `GET /api/v1/admin/audit/verify`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AuditVerification {
    /// The whole chain is intact.
    pub ok: bool,
    /// Records checked.
    pub records: i64,
    /// First record that was altered, inserted or follows a deletion.
    pub first_bad_seq: Option<i64>,
    /// What is wrong there.
    pub problem: Option<String>,
}

/// `POST /api/v1/admin/keys/rotate`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct KeyRotation {
    /// Sealed values re-sealed with the new master key.
    pub resealed: u64,
    /// Identifier of the new key (hex).
    pub key_id: String,
}
