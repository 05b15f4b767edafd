//! Ports through which the domain reaches time and randomness.
//!
//! The binary supplies the system clock; tests move a [`FakeClock`]. Randomness comes from
//! an [`Entropy`] source, wrapped as a `rand` generator by [`EntropyRng`] where the crypto
//! primitives want one.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use rand::{CryptoRng, RngCore};

/// Wall-clock time in Unix seconds.
pub trait Clock: Send + Sync {
    /// Now, in Unix seconds (UTC).
    fn now(&self) -> i64;
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct FakeClock(AtomicI64);

impl FakeClock {
    /// A clock standing at `unix_secs`.
    pub fn at(unix_secs: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(unix_secs)))
    }

    /// Moves the clock by `secs` (negative moves it back).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, unix_secs: i64) {
        self.0.store(unix_secs, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A source of cryptographically secure random bytes.
pub trait Entropy: Send + Sync {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]);
}

/// The operating system's generator. This one adapter lives here because every binary and
/// test needs exactly it, and it has no configuration.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, dest: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(dest);
    }
}

/// A `rand` generator over an [`Entropy`] port.
pub struct EntropyRng<'a>(pub &'a dyn Entropy);

impl RngCore for EntropyRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl CryptoRng for EntropyRng<'_> {}

/// The phone channel of an on-demand code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneChannel {
    /// A text message.
    Sms,
    /// A voice call that reads the digits.
    Voice,
}

/// A one-time code to deliver to a user's phone. The messenger renders the text (SMS
/// template, spoken digits) and never logs the code.
#[derive(Clone, Debug)]
pub struct PhoneMessage {
    /// SMS or voice.
    pub channel: PhoneChannel,
    /// Destination in E.164 form.
    pub to: String,
    /// The code (digits).
    pub code: latchkey_crypto::secret::SecretString,
    /// How long the code is valid, in minutes (for the text).
    pub valid_minutes: u32,
}

/// One provider's attempt at delivering a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// Provider name as configured.
    pub provider: String,
    /// The provider accepted the message.
    pub ok: bool,
    /// A failure worth retrying or failing over (timeouts, 5xx, connection errors).
    pub transient: bool,
    /// What happened, for the delivery record (status, provider message id); never the code
    /// or a credential.
    pub detail: String,
}

/// The outcome of delivering one message: every attempt, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Attempts, in order.
    pub attempts: Vec<DeliveryAttempt>,
}

impl Delivery {
    /// Whether some provider accepted the message.
    pub fn delivered(&self) -> bool {
        self.attempts.iter().any(|a| a.ok)
    }
}

/// Sends on-demand codes by SMS or voice through the configured providers, in order, with
/// fail-over and retries of transient failures.
#[async_trait::async_trait]
pub trait Messenger: Send + Sync {
    /// Delivers one message; never fails as a call, the attempts say what happened.
    async fn deliver(&self, m: &PhoneMessage) -> Delivery;
}
