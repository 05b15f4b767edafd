//! Agent authentication API (`/api/v1/authn/...`): the initialize/verify loop.
//!
//! Every failure has the same body, whatever the reason (unknown user, wrong PIN, wrong
//! tokencode, locked account, disabled token): the precise reason is only in the audit log.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/authn/initialize`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitializeRequest {
    /// Login name.
    pub user: String,
    /// PIN followed by the tokencode (the tokencode alone for a token without PIN).
    pub passcode: String,
    /// Address of the end user as the agent sees it (for the audit log).
    #[serde(default)]
    pub client_address: Option<String>,
}

impl std::fmt::Debug for InitializeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitializeRequest")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// `POST /api/v1/authn/verify`: the answer to a challenge.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The attempt being continued.
    pub attempt_id: String,
    /// The user's answer (new PIN, confirmation, next tokencode or passcode).
    pub response: String,
    /// Address of the end user as the agent sees it (for the audit log).
    #[serde(default)]
    pub client_address: Option<String>,
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("attempt_id", &self.attempt_id)
            .finish_non_exhaustive()
    }
}

/// Outcome of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthnResult {
    /// Authenticated.
    Success,
    /// Answer the challenge with `/verify`.
    Challenge,
    /// Access denied (the reason is not disclosed).
    Fail,
}

/// What the challenge asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeKind {
    /// Choose a new PIN.
    NewPin,
    /// Type the new PIN again (or the system-generated PIN shown in the prompt).
    ConfirmPin,
    /// Wait for the tokencode to change and type the next tokencode (without PIN).
    NextTokencode,
    /// Wait for the tokencode to change and type a full passcode (PIN and tokencode).
    NextPasscode,
    /// Cloud channel: type the code the authenticator app shows.
    AuthenticatorCode,
    /// Cloud channel: type the code sent by SMS.
    SmsCode,
    /// Cloud channel: type the code read out by the phone call.
    VoiceCode,
    /// Cloud channel: type the emergency access code from the help desk.
    EmergencyAccessCode,
}

/// A challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Challenge {
    /// Kind.
    pub kind: ChallengeKind,
    /// Text to show the user.
    pub prompt: String,
}

/// Answer of `/initialize` and `/verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthnResponse {
    /// Outcome.
    pub result: AuthnResult,
    /// Attempt to continue with `/verify` (with `CHALLENGE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
    /// The challenge (with `CHALLENGE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<Challenge>,
    /// Text to show the user.
    pub message: String,
}

impl AuthnResponse {
    /// The one failure answer.
    pub fn fail() -> Self {
        Self {
            result: AuthnResult::Fail,
            attempt_id: None,
            challenge: None,
            message: "Access denied".to_owned(),
        }
    }

    /// Success.
    pub fn success() -> Self {
        Self {
            result: AuthnResult::Success,
            attempt_id: None,
            challenge: None,
            message: "Authenticated".to_owned(),
        }
    }
}
