//! Cryptographic primitives for Latchkey: OTP computation, secret storage at
//! rest, verifiers for PINs / passwords / bearer tokens, and code generation.
//!
//! # Invariants
//!
//! - **Secrets never leak through formatting.** Every type that holds secret
//!   material ([`SecretBytes`], [`SecretString`], [`MasterKey`],
//!   [`VerifierKey`]) prints as `<redacted>` in `Debug` and is zeroized on drop.
//! - **Errors never carry secret material.** Every [`CryptoError`] message is a
//!   `&'static str` chosen in this crate, so no seed, PIN, key, code or
//!   caller input can end up in a log line by way of an error.
//! - **No ambient authority.** Time and randomness are arguments: functions
//!   that need the clock take `unix_secs`, functions that need randomness take
//!   `&mut (impl RngCore + CryptoRng)`. Nothing here reads the system clock or
//!   a global RNG, so every behaviour is reproducible in tests.
//! - **No panics on untrusted input.** Parsers (URIs, base32, sealed blobs,
//!   verifier strings, PHC strings) return an error or `false`; they never
//!   index out of bounds or unwrap.
//! - **Comparisons of secrets are constant time** ([`ct_eq`]).

pub mod base32;
pub mod codegen;
mod error;
mod mac;
pub mod otp;
pub mod otpauth;
pub mod qr;
pub mod seal;
pub mod secret;
pub mod verifier;

pub use base32::{decode_base32_secret, encode_base32};
pub use codegen::{CharClasses, generate_code, generate_digits};
pub use error::CryptoError;
pub use otp::{OtpAlgorithm, hotp, totp, totp_step};
pub use otpauth::{OtpAuth, OtpKind};
pub use qr::qr_svg;
pub use seal::{Keyring, MasterKey};
pub use secret::{SecretBytes, SecretString, ct_eq};
pub use verifier::{
    VerifierKey, bearer_token_hash, check_keyed_verifier, generate_bearer_token, keyed_verifier,
    password_hash, password_verify,
};
