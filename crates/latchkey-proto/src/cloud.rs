//! Cloud authentication API (`/api/v1/cloud/...`), for agents of the cloud channel: list the
//! methods a user can use, start one (an SMS or a call is sent then), and answer its challenge
//! at `POST /api/v1/cloud/verify` (a [`crate::authn::VerifyRequest`]). Answers are the same
//! [`crate::authn::AuthnResponse`] as on the manager channel, with the same uniform FAIL.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A second-factor method of the cloud channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloudMethod {
    /// The code of the user's authenticator app (TOTP token), without PIN.
    Authenticator,
    /// A code sent by SMS to the user's phone.
    Sms,
    /// A code read out by a phone call.
    Voice,
    /// An emergency access code from the help desk.
    EmergencyAccessCode,
}

/// `POST /api/v1/cloud/methods`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MethodsRequest {
    /// Login name.
    pub user: String,
}

/// The methods offered to a user: SMS and voice only with a phone number and a configured
/// provider; the others always (an unknown user is answered like a user without a phone).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct MethodsResponse {
    /// Methods, in the order to offer them.
    pub methods: Vec<CloudMethod>,
}

/// `POST /api/v1/cloud/start`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// Login name.
    pub user: String,
    /// Method to use.
    pub method: CloudMethod,
    /// The end user's address, for the audit log.
    #[serde(default)]
    pub client_address: Option<String>,
}
