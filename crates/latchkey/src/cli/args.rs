//! Arguments of the administration verbs (clap derive); the doc comments are `--help` text.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// `latchkey domain …`.
#[derive(Debug, Subcommand)]
pub enum DomainCmd {
    /// Create a security domain.
    Add {
        /// Name.
        name: String,
        /// Parent domain (default: your scope domain).
        #[arg(long)]
        parent: Option<String>,
    },
    /// List domains.
    List,
    /// Show a domain.
    Show {
        /// Name.
        name: String,
    },
    /// Show the policies in force for a domain.
    Policies {
        /// Name.
        name: String,
    },
    /// Set one policy of a domain from JSON, e.g. `{"max_failures": 3}` for lockout.
    SetPolicy {
        /// Domain.
        name: String,
        /// token | lockout | offline | emergency.
        kind: String,
        /// The policy as a JSON object (fields left out take their defaults).
        value: String,
    },
    /// Make a domain inherit a policy from its parent again.
    ClearPolicy {
        /// Domain.
        name: String,
        /// token | lockout | offline | emergency.
        kind: String,
    },
}

/// `latchkey user …`.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user.
    Add {
        /// Login name.
        name: String,
        /// Domain (default: your scope domain).
        #[arg(long)]
        domain: Option<String>,
        /// Phone number in E.164 form (repeatable).
        #[arg(long = "phone")]
        phones: Vec<String>,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
    },
    /// Show a user.
    Show {
        /// Login name.
        name: String,
    },
    /// List users.
    List,
    /// Change a user.
    Update {
        /// Login name.
        name: String,
        /// New e-mail ("" removes it).
        #[arg(long)]
        email: Option<String>,
        /// Replace phone numbers (repeatable).
        #[arg(long = "phone")]
        phones: Option<Vec<String>>,
        /// Move to another domain.
        #[arg(long)]
        domain: Option<String>,
        /// Disable the user.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable (and unlock) the user.
        #[arg(long)]
        enable: bool,
    },
    /// Unlock (enable) a user.
    Unlock {
        /// Login name.
        name: String,
    },
    /// Delete a user (their tokens stay, unassigned).
    Delete {
        /// Login name.
        name: String,
    },
    /// Enable on-demand tokencodes: the user types this PIN alone and gets a tokencode by SMS
    /// ("-" reads the PIN from standard input); --off disables them.
    OnDemand {
        /// Login name.
        name: String,
        /// The on-demand PIN.
        #[arg(long, conflicts_with = "off", required_unless_present = "off")]
        pin: Option<String>,
        /// Disable on-demand tokencodes.
        #[arg(long)]
        off: bool,
    },
}

/// Token types on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TypeArg {
    /// RFC 6238.
    Totp,
    /// RFC 4226.
    Hotp,
}

/// Algorithms on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AlgArg {
    /// HMAC-SHA1.
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// Token parameters shared by import and generate.
#[derive(Debug, Args)]
pub struct TokenParams {
    /// Serial number (generated when absent).
    #[arg(long)]
    pub serial: Option<String>,
    /// Assign to this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Domain of an unassigned token.
    #[arg(long)]
    pub domain: Option<String>,
    /// Token type.
    #[arg(long = "type", value_enum)]
    pub token_type: Option<TypeArg>,
    /// 6 or 8.
    #[arg(long)]
    pub digits: Option<u32>,
    /// 30 or 60 seconds (TOTP).
    #[arg(long)]
    pub period: Option<u32>,
    /// HMAC algorithm.
    #[arg(long, value_enum)]
    pub algorithm: Option<AlgArg>,
}

/// `latchkey token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Import a token with a known seed (base32 or otpauth:// URI).
    Import {
        #[command(flatten)]
        params: TokenParams,
        /// Seed in base32.
        #[arg(long, conflicts_with = "uri")]
        secret: Option<String>,
        /// Seed and parameters as an otpauth:// URI.
        #[arg(long)]
        uri: Option<String>,
        /// Initial HOTP counter.
        #[arg(long)]
        counter: Option<u64>,
    },
    /// Generate a token; its seed is shown once as an otpauth:// URI and a QR code.
    Generate {
        #[command(flatten)]
        params: TokenParams,
        /// Write the QR code (SVG) to this file.
        #[arg(long)]
        qr: Option<PathBuf>,
    },
    /// List tokens.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Show a token.
    Show {
        /// Serial.
        serial: String,
    },
    /// Set a token's PIN ("-" reads it from standard input).
    SetPin {
        /// Serial.
        serial: String,
        /// The PIN.
        pin: String,
    },
    /// Make the next authentication set a new PIN.
    RequireNewPin {
        /// Serial.
        serial: String,
    },
    /// Remove the PIN (the next authentication sets a new one).
    ClearPin {
        /// Serial.
        serial: String,
    },
    /// Enable a token.
    Enable {
        /// Serial.
        serial: String,
    },
    /// Disable a token.
    Disable {
        /// Serial.
        serial: String,
    },
    /// Assign a token to a user.
    Assign {
        /// Serial.
        serial: String,
        /// Login name.
        user: String,
    },
    /// Unassign a token.
    Unassign {
        /// Serial.
        serial: String,
    },
    /// Delete a token.
    Delete {
        /// Serial.
        serial: String,
    },
}

/// Agent kinds on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// REST agent.
    Rest,
    /// RADIUS client.
    Radius,
    /// Offline agent host.
    OfflineHost,
    /// Cloud application.
    CloudApp,
}

/// `latchkey agent …`.
#[derive(Debug, Subcommand)]
pub enum AgentCmd {
    /// Register an agent; a REST agent's API key is printed once.
    Add {
        /// Name.
        name: String,
        /// Kind.
        #[arg(long, value_enum)]
        kind: KindArg,
        /// Domain (default: your scope domain).
        #[arg(long)]
        domain: Option<String>,
        /// RADIUS shared secret (generated when absent).
        #[arg(long)]
        secret: Option<String>,
        /// RADIUS client address or CIDR.
        #[arg(long)]
        address: Option<String>,
        /// RADIUS: accept requests without Message-Authenticator (e.g. pam_radius_auth 2.0).
        #[arg(long)]
        no_message_authenticator: bool,
    },
    /// List agents.
    List,
    /// Show an agent.
    Show {
        /// Name.
        name: String,
    },
    /// Delete an agent.
    Delete {
        /// Name.
        name: String,
    },
}

/// Roles on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Super administrator.
    SuperAdmin,
    /// Domain administrator.
    DomainAdmin,
    /// Help desk.
    HelpDesk,
    /// Privileged help desk.
    PrivilegedHelpDesk,
    /// Auditor.
    Auditor,
}

/// `latchkey admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Create an administrator; the API token and password are printed once.
    Add {
        /// Name.
        name: String,
        /// Role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Scope domain (default: your scope).
        #[arg(long)]
        scope: Option<String>,
    },
    /// List administrators.
    List,
    /// Delete an administrator.
    Delete {
        /// Name.
        name: String,
    },
}

/// `latchkey audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Verify the hash chain; exit 10 and name the first bad record if it is broken.
    Verify,
    /// Write the log as JSON lines.
    Export {
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

/// `latchkey key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Generate a new master key and re-seal every secret with it.
    Rotate,
}

/// "If the token becomes available" on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TokenFoundArg {
    /// Refuse the token while emergency access lasts.
    Deny,
    /// Accept the token and end emergency access.
    AllowAndEnd,
    /// Accept the token only after the emergency codes expire.
    AllowAfterExpiry,
}

/// On or off.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

/// `latchkey emergency …`.
#[derive(Debug, Subcommand)]
pub enum EmergencyCmd {
    /// Put a token into emergency access mode: a temporary fixed tokencode (--fixed) or a set
    /// of one-time tokencodes (--one-time [N]); the codes are printed once.
    Online {
        /// Serial of the (lost) token.
        serial: String,
        /// One reusable tokencode.
        #[arg(
            long,
            conflicts_with = "one_time",
            required_unless_present = "one_time"
        )]
        fixed: bool,
        /// N one-time tokencodes (1–100; default from the emergency settings).
        #[arg(long, value_name = "N", num_args = 0..=1)]
        #[allow(
            clippy::option_option,
            reason = "clap: flag absent, flag alone (default size), flag with a size"
        )]
        one_time: Option<Option<u32>>,
        /// never, a date YYYY-MM-DD (valid through that day, UTC) or an RFC 3339 time
        /// (default: 7 days, or the deployment maximum if shorter).
        #[arg(long)]
        expires: Option<String>,
        /// What a use of the token itself does meanwhile (default from the emergency settings).
        #[arg(long, value_enum)]
        if_token_found: Option<TokenFoundArg>,
    },
    /// Show a token's online emergency access (never its codes).
    OnlineShow {
        /// Serial.
        serial: String,
    },
    /// End a token's online emergency access now.
    OnlineEnd {
        /// Serial.
        serial: String,
    },
    /// A user's offline emergency passcode (replaces PIN and tokencode, offline only).
    #[command(subcommand)]
    Offline(OfflinePasscodeCmd),
    /// A token's offline emergency access tokencode (typed after the PIN).
    #[command(subcommand)]
    Tokencode(OfflineTokencodeCmd),
}

/// `latchkey emergency offline …`.
#[derive(Debug, Subcommand)]
pub enum OfflinePasscodeCmd {
    /// Read the passcode out (audited with your name and the reason; the user is notified).
    Show {
        /// Login name.
        user: String,
        /// Why, e.g. a ticket number.
        #[arg(long)]
        reason: String,
    },
    /// Replace the passcode; the new one reaches offline hosts at the next online login.
    Reset {
        /// Login name.
        user: String,
        /// Why (recorded).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Generation, expiry and holders, without the value.
    Status {
        /// Login name.
        user: String,
    },
}

/// `latchkey emergency tokencode …`.
#[derive(Debug, Subcommand)]
pub enum OfflineTokencodeCmd {
    /// Read the tokencode out (audited with your name and the reason).
    Show {
        /// Serial.
        serial: String,
        /// Why, e.g. a ticket number.
        #[arg(long)]
        reason: String,
    },
    /// Replace the tokencode, optionally setting "use offline code for online access".
    Reset {
        /// Serial.
        serial: String,
        /// Why (recorded).
        #[arg(long)]
        reason: Option<String>,
        /// Also accept the tokencode online.
        #[arg(long, value_enum)]
        online_use: Option<OnOff>,
    },
    /// Set "use offline code for online access".
    Set {
        /// Serial.
        serial: String,
        /// Also accept the tokencode online.
        #[arg(long, value_enum)]
        online_use: OnOff,
    },
    /// Generation, expiry and online use, without the value.
    Status {
        /// Serial.
        serial: String,
    },
}

/// `latchkey outbox …`.
#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// Notifications queued for users, newest first.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// SMS and voice codes sent, newest first, with each provider attempt (never the code).
    Deliveries {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `latchkey eac …`.
#[derive(Debug, Subcommand)]
pub enum EacCmd {
    /// Generate a user's emergency access code (cloud channel and offline hosts); it replaces
    /// the previous one and is printed once.
    Generate {
        /// Login name.
        user: String,
        /// Usable once.
        #[arg(long, conflicts_with = "reusable")]
        one_time: bool,
        /// Usable until it expires.
        #[arg(long)]
        reusable: bool,
        /// Online validity: 30m, 12h, 7d (1 minute to 7 days).
        #[arg(long)]
        expires_in: Option<String>,
        /// Offline validity (default: the deployment's, at most the online validity).
        #[arg(long)]
        offline_expires_in: Option<String>,
    },
    /// Show a user's emergency access code (never the code).
    Show {
        /// Login name.
        user: String,
    },
    /// Revoke a user's emergency access code.
    Revoke {
        /// Login name.
        user: String,
    },
}

/// `latchkey messaging …`.
#[derive(Debug, Subcommand)]
pub enum MessagingCmd {
    /// The SMS/voice providers, tried in order (super administrators).
    #[command(subcommand)]
    Providers(ProvidersCmd),
}

/// `latchkey messaging providers …`.
#[derive(Debug, Subcommand)]
pub enum ProvidersCmd {
    /// Show the providers in use and where they come from (database or file); secrets show
    /// as "set".
    List,
    /// Replace the whole list from a JSON file: {"providers": [{"name": …, "settings":
    /// {"type": "twilio", …}}, …]} or the array alone ("-" reads standard input). A secret
    /// left out, null or "set" keeps the stored one.
    Set {
        /// The JSON file.
        file: PathBuf,
    },
    /// Remove the stored list: the configuration file's providers apply again.
    Clear,
}
