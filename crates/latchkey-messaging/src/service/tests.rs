//! The dispatch policy on scripted providers, with tokio's clock paused: retries, back-off
//! (measured on the paused clock), fail-over, channel selection, refusals and scrubbing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use latchkey_crypto::secret::SecretString;
use tokio::time::Instant;

use super::*;
use crate::providers::Outcome;
use crate::text::{DEFAULT_SMS_TEMPLATE, DEFAULT_VOICE_AGAIN, DEFAULT_VOICE_INTRO};

#[derive(Debug, Clone)]
struct Call {
    provider: String,
    at: Duration,
    text: String,
    twiml: String,
}

struct Scripted {
    name: String,
    sms: bool,
    voice: bool,
    script: Mutex<VecDeque<Outcome>>,
    calls: Arc<Mutex<Vec<Call>>>,
    start: Instant,
    secret: &'static str,
}

#[async_trait::async_trait]
impl Provider for Scripted {
    fn name(&self) -> &str {
        &self.name
    }
    fn supports(&self, c: PhoneChannel) -> bool {
        match c {
            PhoneChannel::Sms => self.sms,
            PhoneChannel::Voice => self.voice,
        }
    }
    fn secrets(&self) -> Vec<&str> {
        vec![self.secret]
    }
    async fn send(&self, m: &Outgoing<'_>) -> Outcome {
        self.calls.lock().unwrap().push(Call {
            provider: self.name.clone(),
            at: self.start.elapsed(),
            text: m.text.to_owned(),
            twiml: m.twiml.to_owned(),
        });
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Outcome::permanent("script exhausted"))
    }
}

struct Rig {
    calls: Arc<Mutex<Vec<Call>>>,
    start: Instant,
    providers: Vec<Box<dyn Provider>>,
}

impl Rig {
    fn new() -> Self {
        Self {
            calls: Arc::default(),
            start: Instant::now(),
            providers: Vec::new(),
        }
    }

    fn provider(mut self, name: &str, sms: bool, voice: bool, script: Vec<Outcome>) -> Self {
        self.providers.push(Box::new(Scripted {
            name: name.to_owned(),
            sms,
            voice,
            script: Mutex::new(script.into()),
            calls: Arc::clone(&self.calls),
            start: self.start,
            secret: "provider-secret-42",
        }));
        self
    }

    fn service(self, attempts: u32, backoff_ms: u64) -> (MessagingService, Arc<Mutex<Vec<Call>>>) {
        let texts = MessageTexts::new(
            DEFAULT_SMS_TEMPLATE,
            DEFAULT_VOICE_INTRO,
            DEFAULT_VOICE_AGAIN,
        )
        .unwrap();
        let svc = MessagingService::from_parts(
            texts,
            self.providers,
            attempts,
            Duration::from_millis(backoff_ms),
        );
        (svc, self.calls)
    }
}

fn sms(code: &str) -> PhoneMessage {
    PhoneMessage {
        channel: PhoneChannel::Sms,
        to: "+14155550123".to_owned(),
        code: SecretString::from(code),
        valid_minutes: 5,
    }
}

fn summary(d: &Delivery) -> Vec<(String, bool, bool)> {
    d.attempts
        .iter()
        .map(|a| (a.provider.clone(), a.ok, a.transient))
        .collect()
}

fn who_when(calls: &Arc<Mutex<Vec<Call>>>) -> Vec<(String, u128)> {
    calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.provider.clone(), c.at.as_millis()))
        .collect()
}

fn s(x: &str) -> String {
    x.to_owned()
}

#[tokio::test(start_paused = true)]
async fn transient_failure_is_retried_after_backoff_then_fails_over() {
    let (svc, calls) = Rig::new()
        .provider(
            "a",
            true,
            false,
            vec![
                Outcome::transient("HTTP 500"),
                Outcome::transient("HTTP 503"),
            ],
        )
        .provider(
            "b",
            true,
            false,
            vec![Outcome::delivered("HTTP 201; sid SM1")],
        )
        .service(2, 500);
    let d = svc.deliver(&sms("482139")).await;
    assert!(d.delivered());
    assert_eq!(
        summary(&d),
        [
            (s("a"), false, true),
            (s("a"), false, true),
            (s("b"), true, false)
        ]
    );
    assert_eq!(d.attempts[2].detail, "HTTP 201; sid SM1");
    // One pause of 500 ms before the retry; none before failing over.
    assert_eq!(
        who_when(&calls),
        [(s("a"), 0), (s("a"), 500), (s("b"), 500)]
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_and_attempts_are_bounded() {
    let (svc, calls) = Rig::new()
        .provider("a", true, false, vec![Outcome::transient("t"); 10])
        .service(4, 200);
    let d = svc.deliver(&sms("482139")).await;
    assert!(!d.delivered());
    assert_eq!(d.attempts.len(), 4);
    assert_eq!(
        who_when(&calls),
        [(s("a"), 0), (s("a"), 200), (s("a"), 600), (s("a"), 1400)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_after_a_retry_ends_the_delivery() {
    let (svc, calls) = Rig::new()
        .provider(
            "a",
            true,
            false,
            vec![Outcome::transient("timed out"), Outcome::delivered("ok")],
        )
        .provider("b", true, false, vec![Outcome::delivered("never")])
        .service(2, 500);
    let d = svc.deliver(&sms("482139")).await;
    assert_eq!(summary(&d), [(s("a"), false, true), (s("a"), true, false)]);
    assert_eq!(calls.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn permanent_failure_fails_over_at_once_without_retry() {
    let (svc, calls) = Rig::new()
        .provider(
            "a",
            true,
            false,
            vec![Outcome::permanent("HTTP 400"), Outcome::delivered("x")],
        )
        .provider("b", true, false, vec![Outcome::delivered("HTTP 202")])
        .service(3, 500);
    let d = svc.deliver(&sms("482139")).await;
    assert_eq!(summary(&d), [(s("a"), false, false), (s("b"), true, false)]);
    assert_eq!(who_when(&calls), [(s("a"), 0), (s("b"), 0)]);
}

#[tokio::test(start_paused = true)]
async fn all_failing_records_every_attempt() {
    let (svc, _) = Rig::new()
        .provider("a", true, false, vec![Outcome::transient("HTTP 502"); 2])
        .provider("b", true, false, vec![Outcome::permanent("HTTP 401")])
        .provider("c", true, false, vec![Outcome::transient("timed out"); 2])
        .service(2, 10);
    let d = svc.deliver(&sms("482139")).await;
    assert!(!d.delivered());
    assert_eq!(
        summary(&d),
        [
            (s("a"), false, true),
            (s("a"), false, true),
            (s("b"), false, false),
            (s("c"), false, true),
            (s("c"), false, true),
        ]
    );
    let details: Vec<&str> = d.attempts.iter().map(|a| a.detail.as_str()).collect();
    assert_eq!(
        details,
        ["HTTP 502", "HTTP 502", "HTTP 401", "timed out", "timed out"]
    );
}

#[tokio::test(start_paused = true)]
async fn only_providers_of_the_channel_are_used_with_the_right_text() {
    let (svc, calls) = Rig::new()
        .provider("sms-only", true, false, vec![Outcome::delivered("x")])
        .provider("voice", true, true, vec![Outcome::delivered("call placed")])
        .service(2, 10);
    assert!(svc.supports(PhoneChannel::Sms) && svc.supports(PhoneChannel::Voice));
    let mut m = sms("482139");
    m.channel = PhoneChannel::Voice;
    let d = svc.deliver(&m).await;
    assert_eq!(summary(&d), [(s("voice"), true, false)]);
    let c = calls.lock().unwrap()[0].clone();
    assert_eq!(
        c.text,
        "Your Latchkey code is: 4, 8, 2, 1, 3, 9. Again, your code is: 4, 8, 2, 1, 3, 9."
    );
    assert_eq!(c.twiml.matches("4, 8, 2, 1, 3, 9.").count(), 2);

    let d = svc.deliver(&sms("482139")).await;
    assert_eq!(summary(&d), [(s("sms-only"), true, false)]);
    let c = calls.lock().unwrap()[1].clone();
    assert_eq!(
        c.text,
        "Your Latchkey code is 482139. It expires in 5 minutes."
    );
    assert_eq!(c.twiml, "");
}

#[tokio::test(start_paused = true)]
async fn a_channel_without_provider_is_one_clear_failure() {
    let (svc, _) = Rig::new()
        .provider("sms", true, false, vec![])
        .service(2, 10);
    assert!(!svc.supports(PhoneChannel::Voice));
    let mut m = sms("482139");
    m.channel = PhoneChannel::Voice;
    let d = svc.deliver(&m).await;
    assert!(!d.delivered());
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.attempts[0].provider, NO_PROVIDER);
    assert_eq!(
        d.attempts[0].detail,
        "not sent: no provider is configured for voice calls"
    );
}

#[tokio::test(start_paused = true)]
async fn unsendable_messages_reach_no_provider() {
    let (svc, calls) = Rig::new()
        .provider("a", true, true, vec![Outcome::delivered("x"); 5])
        .service(2, 10);
    let mut bad_number = sms("482139");
    bad_number.to = "0415 555 0123".to_owned();
    let mut long_minutes = sms("482139");
    long_minutes.valid_minutes = 71;
    let mut zero_minutes = sms("482139");
    zero_minutes.valid_minutes = 0;
    for (m, why) in [
        (bad_number, "E.164"),
        (sms("123"), "4 to 8 digits"),
        (sms("123456789"), "4 to 8 digits"),
        (sms("12a456"), "4 to 8 digits"),
        (long_minutes, "1 to 70 minutes"),
        (zero_minutes, "1 to 70 minutes"),
    ] {
        let d = svc.deliver(&m).await;
        assert!(!d.delivered(), "{why}");
        assert_eq!(d.attempts[0].provider, NO_PROVIDER);
        assert!(
            d.attempts[0].detail.contains(why),
            "{}",
            d.attempts[0].detail
        );
    }
    assert!(calls.lock().unwrap().is_empty(), "nothing was sent");
    assert!(
        svc.deliver(&sms("4821")).await.delivered(),
        "4 digits are fine"
    );
}

#[tokio::test(start_paused = true)]
async fn details_are_scrubbed_of_code_and_provider_secrets() {
    let (svc, _) = Rig::new()
        .provider("a", true, false, vec![Outcome::permanent(
            "HTTP 400: {\"body\":\"Your Latchkey code is 482139\",\"auth\":\"provider-secret-42\"} \
             spoken 4, 8, 2, 1, 3, 9 to +14155550123\n",
        )])
        .service(2, 10);
    let d = svc.deliver(&sms("482139")).await;
    let detail = &d.attempts[0].detail;
    assert!(
        !detail.contains("482139") && !detail.contains("provider-secret-42"),
        "{detail}"
    );
    assert!(
        !detail.contains("4, 8, 2") && !detail.contains("+14155550123"),
        "{detail}"
    );
    assert!(
        detail.ends_with("spoken <redacted> to +14*******23"),
        "{detail}"
    );
    assert!(!format!("{d:?}{svc:?}").contains("482139"));
}
