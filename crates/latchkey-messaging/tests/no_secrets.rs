//! No secret — the code (also as spoken digits), the Twilio token, the Kannel password, a
//! generic provider's header value — reaches a log line, a `Debug` output or an attempt
//! detail, even when providers echo everything back; and the logs show numbers masked.
//!
//! A test binary of its own: it installs a global subscriber capturing every event of every
//! target (thread-local subscribers can miss events under parallel tests).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

#[path = "messaging/common/mod.rs"]
mod common;

use common::*;
use latchkey_core::ports::{Messenger, PhoneChannel};

#[tokio::test]
async fn no_secret_in_logs_debug_or_details() {
    let logs = LogCapture::default();
    logs.install_global();

    // Providers that echo everything they were sent, successes and failures alike.
    let echo_ok = Receiver::start(
        &[(201, TWILIO_SMS_REPLY)],
        (202, "0: Accepted; text Your Latchkey code is 482139"),
    )
    .await;
    let echo_fail = Receiver::start(
        &[],
        (
            500,
            "error: token tw-token-5f3a9 password kn-pw-8c21 auth Bearer gh-hdr-7731 code 482139",
        ),
    )
    .await;
    let generic = |base: &str| {
        settings(&format!(
            r#"{{"type":"generic_http","url":"{base}/s","headers":{{"Authorization":"{HEADER_SECRET}"}},"body_template":"{{\"to\":\"{{to}}\",\"m\":\"{{text}}\"}}","voice":true}}"#
        ))
    };
    let config = fast_config();
    let providers = [
        ("tw-fail", twilio(&echo_fail.base, true)),
        ("kn-fail", kannel(&echo_fail.base)),
        ("gen-fail", generic(&echo_fail.base)),
        ("tw-ok", twilio(&echo_ok.base, true)),
    ];
    let svc = service_with(&config, &providers);
    let sms = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert!(sms.delivered());
    let voice = svc.deliver(&message(PhoneChannel::Voice)).await;
    assert!(voice.delivered());
    let svc2 = service(&[
        ("kn-ok", kannel(&echo_ok.base)),
        ("outbox", settings(r#"{"type":"outbox"}"#)),
    ]);
    assert!(svc2.deliver(&message(PhoneChannel::Sms)).await.delivered());
    let outbox_only = service(&[("outbox", settings(r#"{"type":"outbox"}"#))]);
    assert!(
        outbox_only
            .deliver(&message(PhoneChannel::Voice))
            .await
            .delivered()
    );

    let log_text = logs.text();
    // Something was logged: every attempt, the outbox line.
    for expected in [
        "tw-fail",
        "kn-fail",
        "gen-fail",
        "tw-ok",
        "kn-ok",
        "outbox:",
        "+14*******23",
    ] {
        assert!(
            log_text.contains(expected),
            "log lacks {expected}:\n{log_text}"
        );
    }
    let debug = format!(
        "{sms:?}{voice:?}{svc:?}{config:?}{providers:?}{:?}",
        message(PhoneChannel::Sms)
    );
    let details: String = sms
        .attempts
        .iter()
        .chain(&voice.attempts)
        .map(|a| a.detail.clone())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(details.contains("<redacted>"), "{details}");
    for secret in [CODE, TOKEN, KANNEL_PASSWORD, "gh-hdr-7731", TO] {
        assert!(
            !log_text.contains(secret),
            "log holds {secret}:\n{log_text}"
        );
        if secret != TO {
            assert!(!debug.contains(secret), "Debug holds {secret}: {debug}");
            assert!(
                !details.contains(secret),
                "details hold {secret}: {details}"
            );
        }
    }
    // The spoken digits are the code too.
    assert!(!log_text.contains("4, 8, 2, 1, 3, 9"));
    assert!(!details.contains("4, 8, 2, 1, 3, 9"));
}
