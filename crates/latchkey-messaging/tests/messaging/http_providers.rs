//! The HTTP providers against a local receiver: the exact requests (Twilio SMS and call,
//! the generic provider's rendered template, Kannel's query), the classification of
//! answers, retries and fail-over over real sockets, and the outbox file.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::time::Duration;

use crate::common::*;
use latchkey_core::ports::{Delivery, Messenger, PhoneChannel};
use latchkey_messaging::{MessagingConfig, NO_PROVIDER};

const BASIC: &str = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0dy10b2tlbi01ZjNhOQ==";

fn summary(d: &Delivery) -> Vec<(&str, bool, bool)> {
    d.attempts
        .iter()
        .map(|a| (a.provider.as_str(), a.ok, a.transient))
        .collect()
}

#[tokio::test]
async fn twilio_sms_request_is_exact() {
    let rx = Receiver::start(&[(201, TWILIO_SMS_REPLY)], (500, "")).await;
    let svc = service(&[("twilio", twilio(&rx.base, false))]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert_eq!(summary(&d), [("twilio", true, false)]);
    assert_eq!(
        d.attempts[0].detail,
        "HTTP 201; sid SM5ad9f1c2; status queued"
    );

    let seen = rx.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.target,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(r.header("authorization"), BASIC);
    assert_eq!(
        r.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        r.body,
        "To=%2B14155550123&From=%2B15005550006\
         &Body=Your+Latchkey+code+is+482139.+It+expires+in+5+minutes."
    );
}

#[tokio::test]
async fn twilio_voice_request_is_exact_and_reads_the_digits_twice() {
    let rx = Receiver::start(&[(201, r#"{"sid":"CA77e0","status":"queued"}"#)], (500, "")).await;
    let svc = service(&[("twilio", twilio(&rx.base, true))]);
    let d = svc.deliver(&message(PhoneChannel::Voice)).await;
    assert_eq!(summary(&d), [("twilio", true, false)]);
    assert_eq!(d.attempts[0].detail, "HTTP 201; sid CA77e0; status queued");

    let r = &rx.seen()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, format!("/2010-04-01/Accounts/{SID}/Calls.json"));
    assert_eq!(r.header("authorization"), BASIC);
    assert_eq!(
        r.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    // Byte for byte (encoded independently with Python's urllib.parse.urlencode).
    assert_eq!(
        r.body,
        "To=%2B14155550123&From=%2B15005550006&Twiml=%3CResponse%3E%3CSay%3EYour+Latchkey+code\
         +is%3C%2FSay%3E%3CPause+length%3D%221%22%2F%3E%3CSay%3E4%2C+8%2C+2%2C+1%2C+3%2C+9.%3C\
         %2FSay%3E%3CPause+length%3D%222%22%2F%3E%3CSay%3EAgain%2C+your+code+is%3C%2FSay%3E%3C\
         Pause+length%3D%221%22%2F%3E%3CSay%3E4%2C+8%2C+2%2C+1%2C+3%2C+9.%3C%2FSay%3E%3C%2F\
         Response%3E"
    );
    let twiml: String = url::form_urlencoded::parse(r.body.as_bytes())
        .find(|(k, _)| k == "Twiml")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(twiml.matches("<Say>4, 8, 2, 1, 3, 9.</Say>").count(), 2);
}

#[tokio::test]
async fn twilio_errors_are_classified_and_recorded_without_the_text() {
    // 400 (invalid number): permanent, one request; the echoed body is not recorded.
    let rx = Receiver::start(
        &[(400, r#"{"code":21211,"message":"The 'To' number +14155550123 is not a valid phone number.","status":400,"body":"Your Latchkey code is 482139."}"#)],
        (500, ""),
    )
    .await;
    let svc = service(&[("twilio", twilio(&rx.base, false))]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert_eq!(summary(&d), [("twilio", false, false)]);
    assert_eq!(
        d.attempts[0].detail,
        "HTTP 400; Twilio error 21211: The 'To' number +14*******23 is not a valid phone number."
    );
    assert_eq!(rx.seen().len(), 1);

    // 429: transient, retried.
    let rx = Receiver::start(
        &[],
        (429, r#"{"code":20429,"message":"Too Many Requests"}"#),
    )
    .await;
    let svc = service(&[("twilio", twilio(&rx.base, false))]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert_eq!(
        summary(&d),
        [("twilio", false, true), ("twilio", false, true)]
    );
    assert_eq!(
        d.attempts[1].detail,
        "HTTP 429; Twilio error 20429: Too Many Requests"
    );
}

#[tokio::test]
async fn generic_provider_sends_exactly_its_json_template() {
    let rx = Receiver::start(&[(200, r#"{"accepted":true,"id":"msg-991"}"#)], (500, "")).await;
    let json = format!(
        r#"{{"type":"generic_http","url":"{}/api/v2/sms?account=acme","headers":{{"Authorization":"{HEADER_SECRET}","X-Client":"latchkey"}},"body_template":"{{\"to\":\"{{to}}\",\"message\":\"{{text}}\",\"ttl\":{{minutes}}}}","response_pattern":"\"accepted\":true,\"id\":\"(?P<id>[^\"]+)\""}}"#,
        rx.base
    );
    let svc = service(&[("gateway", settings(&json))]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert_eq!(summary(&d), [("gateway", true, false)]);
    assert_eq!(d.attempts[0].detail, "HTTP 200; id msg-991");

    let r = &rx.seen()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, "/api/v2/sms?account=acme");
    assert_eq!(r.header("authorization"), HEADER_SECRET);
    assert_eq!(r.header("x-client"), "latchkey");
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(
        r.body,
        r#"{"to":"+14155550123","message":"Your Latchkey code is 482139. It expires in 5 minutes.","ttl":5}"#
    );
}

#[tokio::test]
async fn generic_get_form_and_voice_templates() {
    // GET with everything in the URL, percent-encoded.
    let rx = Receiver::start(&[], (202, "OK")).await;
    let json = format!(
        r#"{{"type":"generic_http","method":"GET","url":"{}/send/{{to_digits}}?msg={{text}}&c={{code}}","success_status":[202]}}"#,
        rx.base
    );
    let svc = service(&[("get", settings(&json))]);
    assert!(svc.deliver(&message(PhoneChannel::Sms)).await.delivered());
    let r = &rx.seen()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(
        r.target,
        "/send/14155550123?msg=Your%20Latchkey%20code%20is%20482139.%20It%20expires%20in%205%20minutes.&c=482139"
    );
    assert_eq!(r.body, "");

    // A form body, for voice: {text} is the spoken script.
    let rx = Receiver::start(&[], (200, "queued")).await;
    let json = format!(
        r#"{{"type":"generic_http","method":"PUT","url":"{}/call","content_type":"application/x-www-form-urlencoded","body_template":"number={{to}}&say={{text}}","sms":false,"voice":true}}"#,
        rx.base
    );
    let svc = service(&[("voice", settings(&json))]);
    assert!(!svc.supports(PhoneChannel::Sms));
    assert!(svc.deliver(&message(PhoneChannel::Voice)).await.delivered());
    let r = &rx.seen()[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(
        r.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        r.body,
        "number=%2B14155550123&say=Your+Latchkey+code+is%3A+4%2C+8%2C+2%2C+1%2C+3%2C+9.\
         +Again%2C+your+code+is%3A+4%2C+8%2C+2%2C+1%2C+3%2C+9."
    );
}

#[tokio::test]
async fn generic_pattern_mismatch_is_permanent() {
    let rx = Receiver::start(&[], (200, r#"{"error":"insufficient credit"}"#)).await;
    let json = format!(
        r#"{{"type":"generic_http","url":"{}/s","body_template":"{{\"to\":\"{{to}}\",\"m\":\"{{text}}\"}}","response_pattern":"\"status\":\"ok\""}}"#,
        rx.base
    );
    let svc = service(&[("gw", settings(&json))]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert_eq!(summary(&d), [("gw", false, false)]);
    assert_eq!(
        d.attempts[0].detail,
        r#"HTTP 200, but the response does not match response_pattern: {"error":"insufficient credit"}"#
    );
    assert_eq!(rx.seen().len(), 1);
}

#[tokio::test]
async fn kannel_query_is_exact() {
    let rx = Receiver::start(&[(202, "0: Accepted for delivery")], (500, "")).await;
    let svc = service(&[("kannel", kannel(&rx.base))]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert_eq!(summary(&d), [("kannel", true, false)]);
    assert_eq!(d.attempts[0].detail, "HTTP 202: 0: Accepted for delivery");
    let r = &rx.seen()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(
        r.target,
        "/cgi-bin/sendsms?username=latchkey&password=kn-pw-8c21&to=%2B14155550123\
         &text=Your+Latchkey+code+is+482139.+It+expires+in+5+minutes.&from=Latchkey"
    );
    // Kannel has no voice.
    assert!(!svc.supports(PhoneChannel::Voice));
    let d = svc.deliver(&message(PhoneChannel::Voice)).await;
    assert_eq!(summary(&d), [(NO_PROVIDER, false, false)]);
    assert_eq!(rx.seen().len(), 1);
}

#[tokio::test]
async fn server_error_is_retried_then_fails_over() {
    let first = Receiver::start(
        &[],
        (500, r#"{"code":20500,"message":"Internal Server Error"}"#),
    )
    .await;
    let second = Receiver::start(&[], (202, "0: Accepted for delivery")).await;
    let svc = service(&[
        ("twilio", twilio(&first.base, false)),
        ("kannel", kannel(&second.base)),
    ]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert!(d.delivered());
    assert_eq!(
        summary(&d),
        [
            ("twilio", false, true),
            ("twilio", false, true),
            ("kannel", true, false)
        ]
    );
    assert_eq!(
        d.attempts[0].detail,
        "HTTP 500; Twilio error 20500: Internal Server Error"
    );
    assert_eq!(first.seen().len(), 2, "retried once on the same provider");
    assert_eq!(second.seen().len(), 1);
}

#[tokio::test]
async fn permanent_error_is_not_retried() {
    let first = Receiver::start(&[], (403, "Authorization failed for sendsms")).await;
    let second = Receiver::start(&[], (201, TWILIO_SMS_REPLY)).await;
    let svc = service(&[
        ("kannel", kannel(&first.base)),
        ("twilio", twilio(&second.base, false)),
    ]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert_eq!(
        summary(&d),
        [("kannel", false, false), ("twilio", true, false)]
    );
    assert_eq!(
        d.attempts[0].detail,
        "HTTP 403: Authorization failed for sendsms"
    );
    assert_eq!(first.seen().len(), 1);
    assert_eq!(second.seen().len(), 1);
}

#[tokio::test]
async fn all_failing_is_not_delivered_and_every_attempt_is_recorded() {
    let first = Receiver::start(&[], (503, "Temporal failure, try again later")).await;
    let second = Receiver::start(&[], (400, r#"{"code":21606,"message":"The From phone number is not a valid, SMS-capable inbound phone number"}"#)).await;
    // A port with nobody listening: connection refused, transient.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let svc = service(&[
        ("kannel", kannel(&first.base)),
        ("twilio", twilio(&second.base, false)),
        ("gone", kannel(&closed)),
    ]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert!(!d.delivered());
    assert_eq!(
        summary(&d),
        [
            ("kannel", false, true),
            ("kannel", false, true),
            ("twilio", false, false),
            ("gone", false, true),
            ("gone", false, true),
        ]
    );
    assert_eq!(
        d.attempts[0].detail,
        "HTTP 503: Temporal failure, try again later"
    );
    assert!(
        d.attempts[3].detail.starts_with("connection failed"),
        "{}",
        d.attempts[3].detail
    );
    assert!(!d.attempts[3].detail.contains(KANNEL_PASSWORD));
}

#[tokio::test]
async fn timeouts_are_transient() {
    let slow = Receiver::start_slow(&[], (202, "late"), Duration::from_secs(5)).await;
    let fine = Receiver::start(&[], (202, "0: Accepted for delivery")).await;
    let config = MessagingConfig {
        request_timeout_secs: 1,
        attempts_per_provider: 1,
        ..fast_config()
    };
    let svc = service_with(
        &config,
        &[("slow", kannel(&slow.base)), ("fine", kannel(&fine.base))],
    );
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert_eq!(summary(&d), [("slow", false, true), ("fine", true, false)]);
    assert!(
        d.attempts[0].detail.starts_with("timed out"),
        "{}",
        d.attempts[0].detail
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = Receiver::start(&[], (202, "0: Accepted for delivery")).await;
    let redirecting = Receiver::start(&[], (302, "")).await;
    let _ = &target;
    let svc = service(&[("kannel", kannel(&redirecting.base))]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert_eq!(summary(&d), [("kannel", false, false)]);
    assert_eq!(d.attempts[0].detail, "HTTP 302");
    assert_eq!(redirecting.seen().len(), 1);
}

#[tokio::test]
async fn outbox_file_holds_the_message_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("outbox.jsonl");
    let json = format!(
        r#"{{"type":"outbox","file":{}}}"#,
        serde_json::to_string(&file).unwrap()
    );
    let svc = service(&[("outbox", settings(&json))]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert_eq!(summary(&d), [("outbox", true, false)]);
    assert_eq!(
        d.attempts[0].detail,
        format!("appended to {}", file.display())
    );
    assert!(svc.deliver(&message(PhoneChannel::Voice)).await.delivered());

    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            serde_json::json!({"at":1_700_000_000,"provider":"outbox","channel":"sms","to":TO,
                "text":"Your Latchkey code is 482139. It expires in 5 minutes.","code":CODE,"valid_minutes":5}),
            serde_json::json!({"at":1_700_000_000,"provider":"outbox","channel":"voice","to":TO,
                "text":"Your Latchkey code is: 4, 8, 2, 1, 3, 9. Again, your code is: 4, 8, 2, 1, 3, 9.",
                "code":CODE,"valid_minutes":5}),
        ]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A file that cannot be written: a permanent failure, and the next provider is tried.
    let json = format!(
        r#"{{"type":"outbox","file":{}}}"#,
        serde_json::to_string(&dir.path().join("missing-dir/outbox.jsonl")).unwrap()
    );
    let svc = service(&[
        ("broken", settings(&json)),
        ("log", settings(r#"{"type":"outbox"}"#)),
    ]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert_eq!(
        summary(&d),
        [("broken", false, false), ("log", true, false)]
    );
    assert!(
        d.attempts[0].detail.starts_with("cannot append to"),
        "{}",
        d.attempts[0].detail
    );
    assert_eq!(d.attempts[1].detail, "logged (no outbox file configured)");
}
