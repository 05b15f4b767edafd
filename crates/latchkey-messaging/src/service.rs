//! The dispatcher: renders a message once, then tries the providers that serve its channel
//! in their configured order.
//!
//! Per provider: a transient failure (time-out, connection failure, 5xx, 429, 408) is retried
//! on the same provider up to `attempts_per_provider` attempts in all, pausing
//! `retry_backoff` before the first retry and twice as long before each further one; a
//! permanent failure moves to the next provider at once. The first acceptance ends the
//! delivery. Every attempt is recorded, scrubbed of the code and of every provider's
//! secrets, with the destination masked as in the logs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use latchkey_core::ports::{
    Clock, Delivery, DeliveryAttempt, Messenger, PhoneChannel, PhoneMessage,
};
use zeroize::Zeroizing;

use crate::ConfigError;
use crate::config::{MessagingConfig, ProviderConfig};
use crate::phone::{is_e164, mask_number};
use crate::providers::{self, Outgoing, Provider, channel_name, scrub};
use crate::text::{
    MAX_CODE_DIGITS, MAX_VALID_MINUTES, MIN_CODE_DIGITS, MessageTexts, spell_digits,
};

/// The `provider` of the single attempt recorded when nothing was sent at all: a message
/// that cannot be sent (bad number or code) or a channel no provider serves.
pub const NO_PROVIDER: &str = "(none)";

/// Delivers messages through the configured providers; implements
/// [`latchkey_core::ports::Messenger`]. Cheap to share (`Arc`); rebuild it when the
/// provider list changes.
pub struct MessagingService {
    providers: Vec<Box<dyn Provider>>,
    texts: MessageTexts,
    attempts_per_provider: u32,
    backoff: Duration,
}

impl fmt::Debug for MessagingService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessagingService")
            .field("providers", &self.provider_names())
            .field("attempts_per_provider", &self.attempts_per_provider)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl MessagingService {
    /// Validates `config` and `providers` (in order of preference; names unique) and builds
    /// the service. `clock` stamps outbox lines. An empty list is allowed: every delivery
    /// then fails with one [`NO_PROVIDER`] attempt.
    pub fn new(
        config: &MessagingConfig,
        providers: &[ProviderConfig],
        clock: &Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let texts = config.texts()?;
        // No redirects: a redirect would carry credentials to wherever it points, and an
        // SMS API that redirects is misconfigured anyway (3xx is a permanent failure).
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout())
            .connect_timeout(config.request_timeout())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::invalid("http_client", e.to_string()))?;
        let providers = providers::build(providers, &client, clock)?;
        Ok(Self::from_parts(
            texts,
            providers,
            config.attempts_per_provider,
            config.retry_backoff(),
        ))
    }

    pub(crate) fn from_parts(
        texts: MessageTexts,
        providers: Vec<Box<dyn Provider>>,
        attempts_per_provider: u32,
        backoff: Duration,
    ) -> Self {
        Self {
            providers,
            texts,
            attempts_per_provider: attempts_per_provider.max(1),
            backoff,
        }
    }

    /// Whether some provider serves `channel`: a user is offered SMS or voice only if so.
    pub fn supports(&self, channel: PhoneChannel) -> bool {
        self.providers.iter().any(|p| p.supports(channel))
    }

    /// The providers' names, in the order they are tried.
    pub fn provider_names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    /// The texts this service sends.
    pub fn texts(&self) -> &MessageTexts {
        &self.texts
    }
}

/// Why a message cannot be sent by anyone, if it cannot.
fn refusal(m: &PhoneMessage) -> Option<&'static str> {
    let code = m.code.expose();
    if !is_e164(&m.to) {
        Some("not sent: the destination is not an E.164 number")
    } else if !(MIN_CODE_DIGITS..=MAX_CODE_DIGITS).contains(&code.len())
        || !code.bytes().all(|b| b.is_ascii_digit())
    {
        Some("not sent: the code must be 4 to 8 digits")
    } else if !(1..=MAX_VALID_MINUTES).contains(&m.valid_minutes) {
        Some("not sent: the lifetime must be 1 to 70 minutes")
    } else {
        None
    }
}

fn nobody(detail: &str) -> DeliveryAttempt {
    DeliveryAttempt {
        provider: NO_PROVIDER.to_owned(),
        ok: false,
        transient: false,
        detail: detail.to_owned(),
    }
}

#[async_trait::async_trait]
impl Messenger for MessagingService {
    async fn deliver(&self, m: &PhoneMessage) -> Delivery {
        let mut delivery = Delivery::default();
        let channel = channel_name(m.channel);
        let to_masked = mask_number(&m.to);
        if let Some(why) = refusal(m) {
            tracing::warn!(channel, to = %to_masked, "{why}");
            delivery.attempts.push(nobody(why));
            return delivery;
        }
        let code = m.code.expose();
        let (text, twiml) = match m.channel {
            PhoneChannel::Sms => (
                self.texts.sms(code, m.valid_minutes),
                Zeroizing::new(String::new()),
            ),
            PhoneChannel::Voice => (self.texts.spoken(code), self.texts.twiml(code)),
        };
        let out = Outgoing {
            channel: m.channel,
            to: &m.to,
            code,
            minutes: m.valid_minutes,
            text: &text,
            twiml: &twiml,
        };
        // What a detail must never hold, whoever echoes it: the code (also as spoken), and
        // every provider's secrets, not only the answering one's.
        let spoken = spell_digits(code);
        let mut secrets: Vec<&str> = self.providers.iter().flat_map(|p| p.secrets()).collect();
        secrets.extend([code, spoken.as_str()]);
        let mut tried = false;
        for p in self.providers.iter().filter(|p| p.supports(m.channel)) {
            tried = true;
            for attempt in 1..=self.attempts_per_provider {
                let o = p.send(&out).await;
                // The number is masked as in the logs (providers quote it in errors).
                let detail = scrub(&o.detail, &secrets).replace(m.to.as_str(), &to_masked);
                let transient = o.transient && !o.ok;
                if o.ok {
                    tracing::info!(
                        provider = p.name(), channel, to = %to_masked, attempt, detail = %detail,
                        "message accepted by provider"
                    );
                } else {
                    tracing::warn!(
                        provider = p.name(), channel, to = %to_masked, attempt, transient,
                        detail = %detail, "message delivery attempt failed"
                    );
                }
                delivery.attempts.push(DeliveryAttempt {
                    provider: p.name().to_owned(),
                    ok: o.ok,
                    transient,
                    detail,
                });
                if o.ok {
                    return delivery;
                }
                if !transient || attempt == self.attempts_per_provider {
                    break;
                }
                let pause = self
                    .backoff
                    .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
                tokio::time::sleep(pause).await;
            }
        }
        if !tried {
            let why = match m.channel {
                PhoneChannel::Sms => "not sent: no provider is configured for SMS",
                PhoneChannel::Voice => "not sent: no provider is configured for voice calls",
            };
            delivery.attempts.push(nobody(why));
        }
        tracing::warn!(
            channel, to = %to_masked, attempts = delivery.attempts.len(),
            "message not delivered by any provider"
        );
        delivery
    }
}

#[cfg(test)]
mod tests;
