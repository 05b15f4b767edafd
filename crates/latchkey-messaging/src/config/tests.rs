//! Parsing, validation and secret handling of the configuration types.

use super::*;

const SID: &str = "AC0123456789abcdef0123456789abcdef";

fn twilio_json() -> String {
    format!(
        r#"{{"type":"twilio","account_sid":"{SID}","auth_token":"tw-token-5f3a9","from":"+15005550006"}}"#
    )
}

fn generic(extra: &str) -> Result<ProviderSettings, ConfigError> {
    ProviderSettings::from_json(&format!(
        r#"{{"type":"generic_http","url":"https://sms.example.org/v1/send"{extra}}}"#
    ))
}

fn field_of(r: Result<ProviderSettings, ConfigError>) -> String {
    match r.unwrap_err() {
        ConfigError::Invalid { field, .. } => field,
        m @ ConfigError::Malformed(_) => panic!("expected a field error, got {m}"),
    }
}

#[test]
fn twilio_defaults_and_round_trip() {
    let s = ProviderSettings::from_json(&twilio_json()).unwrap();
    let ProviderSettings::Twilio(c) = &s else {
        panic!("not twilio")
    };
    assert_eq!(c.api_base, "https://api.twilio.com");
    assert!(c.sms && !c.voice);
    assert!(s.supports(PhoneChannel::Sms) && !s.supports(PhoneChannel::Voice));
    assert_eq!(s.kind(), "twilio");
    // The serialised form holds the token in clear (the caller seals it); Debug does not.
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("tw-token-5f3a9"));
    assert_eq!(ProviderSettings::from_json(&json).unwrap(), s);
    assert!(!format!("{s:?}").contains("tw-token-5f3a9"));
}

#[test]
fn missing_and_unknown_fields_are_refused() {
    let e = ProviderSettings::from_json(r#"{"type":"twilio","account_sid":"x"}"#).unwrap_err();
    assert!(matches!(e, ConfigError::Malformed(_)));
    assert!(e.to_string().contains("missing field `auth_token`"), "{e}");
    let e = ProviderSettings::from_json(
        r#"{"type":"kannel","url":"http://k/cgi-bin/sendsms","username":"u","password":"p","smsc":"x"}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `smsc`"), "{e}");
    let e = ProviderSettings::from_json(r#"{"type":"carrier-pigeon"}"#).unwrap_err();
    assert!(e.to_string().contains("unknown variant"), "{e}");
    let e = ProviderSettings::from_json(r#"{"url":"http://x"}"#).unwrap_err();
    assert!(e.to_string().contains("missing field `type`"), "{e}");
    let e = ProviderSettings::from_json(r#"{"type":"generic_http"}"#).unwrap_err();
    assert!(e.to_string().contains("missing field `url`"), "{e}");
    // A secret typed into the wrong kind of field is not echoed.
    let e = ProviderSettings::from_json(&twilio_json().replace("\"from\"", "\"sms\"")).unwrap_err();
    assert!(!e.to_string().contains("+15005550006"), "{e}");
    let e: Result<MessagingConfig, _> = serde_json::from_str(r#"{"sms_templat":"x"}"#);
    assert!(e.is_err());
}

#[test]
fn twilio_field_errors() {
    let bad = |from: &str, to: &str| {
        field_of(ProviderSettings::from_json(
            &twilio_json().replace(from, to),
        ))
    };
    assert_eq!(bad("+15005550006", "15005550006"), "from");
    assert_eq!(bad(SID, "AC12"), "account_sid");
    assert_eq!(bad("tw-token-5f3a9", ""), "auth_token");
    assert_eq!(
        bad("\"from\"", "\"api_base\":\"gopher://x\",\"from\""),
        "api_base"
    );
}

#[test]
fn generic_validation() {
    let ok = generic(
        r#","body_template":"{\"to\":\"{to}\",\"text\":\"{text}\"}","headers":{"Authorization":"Bearer gh-hdr-7731"},"response_pattern":"\"id\":\"(?P<id>[^\"]+)\"","success_status":[200,"202-204"]"#,
    )
    .unwrap();
    assert!(!format!("{ok:?}").contains("gh-hdr-7731"));
    let ProviderSettings::GenericHttp(c) = &ok else {
        panic!()
    };
    assert_eq!(c.method, HttpMethod::Post);
    assert_eq!(
        c.success_status,
        [StatusMatch::code(200), StatusMatch::range(202, 204)]
    );

    // Bad URL.
    let e = ProviderSettings::from_json(
        r#"{"type":"generic_http","url":"ftp://sms.example.org/{to}/{text}"}"#,
    );
    assert_eq!(field_of(e), "url");
    let e = ProviderSettings::from_json(
        r#"{"type":"generic_http","url":"https://{to}.example.org/{text}"}"#,
    );
    assert_eq!(field_of(e), "url");
    // Unknown placeholder.
    let e = generic(r#","body_template":"{\"to\":\"{to}\",\"msg\":\"{message}\"}""#).unwrap_err();
    assert_eq!(e.field(), Some("body_template"));
    assert!(
        e.to_string().contains("unknown placeholder {message}"),
        "{e}"
    );
    // Body that is not JSON once filled in (placeholder outside quotes).
    let e = generic(r#","body_template":"{\"to\":{to},\"text\":\"{text}\"}""#).unwrap_err();
    assert_eq!(e.field(), Some("body_template"));
    assert!(e.to_string().contains("must be JSON"), "{e}");
    // But a form body is fine as it is.
    generic(r#","body_template":"to={to}&text={text}","content_type":"application/x-www-form-urlencoded""#)
        .unwrap();
    // No destination / no content.
    let e = generic(r#","body_template":"{\"text\":\"{text}\"}""#).unwrap_err();
    assert!(e.to_string().contains("{to}"), "{e}");
    let e = generic(r#","body_template":"{\"to\":\"{to}\"}""#).unwrap_err();
    assert!(e.to_string().contains("{text} or {code}"), "{e}");
    // GET with a body; content type without body; reserved or templated headers.
    assert_eq!(
        field_of(generic(r#","method":"GET","body_template":"{to}{text}""#)),
        "body_template"
    );
    assert_eq!(
        field_of(ProviderSettings::from_json(
            r#"{"type":"generic_http","url":"https://x.example/s?to={to}&m={text}","content_type":"text/plain"}"#
        )),
        "content_type"
    );
    let get =
        r#"{"type":"generic_http","method":"get","url":"https://x.example/s?to={to}&m={text}"HDR}"#;
    ProviderSettings::from_json(&get.replace("HDR", "")).unwrap();
    assert_eq!(
        field_of(ProviderSettings::from_json(
            &get.replace("HDR", r#","headers":{"Content-Type":"text/plain"}"#)
        )),
        "headers.Content-Type"
    );
    assert_eq!(
        field_of(ProviderSettings::from_json(
            &get.replace("HDR", r#","headers":{"X-To":"{to}"}"#)
        )),
        "headers.X-To"
    );
    // Status and pattern.
    assert_eq!(
        field_of(ProviderSettings::from_json(
            &get.replace("HDR", r#","success_status":[]"#)
        )),
        "success_status"
    );
    assert_eq!(
        field_of(ProviderSettings::from_json(
            &get.replace("HDR", r#","success_status":["299-200"]"#)
        )),
        "success_status"
    );
    assert_eq!(
        field_of(ProviderSettings::from_json(
            &get.replace("HDR", r#","response_pattern":"(unclosed""#)
        )),
        "response_pattern"
    );
    assert_eq!(
        field_of(ProviderSettings::from_json(
            &get.replace("HDR", r#","sms":false"#)
        )),
        "sms"
    );
}

#[test]
fn secrets_can_be_sealed_redacted_and_kept() {
    let mut s = generic(
        r#","body_template":"{\"to\":\"{to}\",\"text\":\"{text}\"}","headers":{"Authorization":"Bearer gh-hdr-7731","X-Key":"k-2"}"#,
    )
    .unwrap();
    let fields: Vec<String> = s.secrets_mut().into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["headers.Authorization", "headers.X-Key"]);

    // Sealing in place: the caller replaces each secret and restores it after loading.
    for (_, v) in s.secrets_mut() {
        *v = SecretString::new(format!("sealed:{}", v.expose()));
    }
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("sealed:Bearer gh-hdr-7731"));

    let shown = s.redacted();
    let shown_json = serde_json::to_string(&shown).unwrap();
    assert!(!shown_json.contains("gh-hdr-7731"), "{shown_json}");
    assert!(shown_json.contains(REDACTED));

    // An update that sends the redacted form back keeps the stored secrets.
    let mut update = shown.clone();
    update.keep_secrets_from(&s);
    assert_eq!(update, s);

    let mut k: ProviderSettings = serde_json::from_str(
        r#"{"type":"kannel","url":"http://k:13013/cgi-bin/sendsms","username":"u","password":""}"#,
    )
    .unwrap();
    assert_eq!(field_of(Err(k.validate().unwrap_err())), "password");
    let old: ProviderSettings = serde_json::from_str(
        r#"{"type":"kannel","url":"http://k:13013/cgi-bin/sendsms","username":"u","password":"kn-pw-1"}"#,
    )
    .unwrap();
    k.keep_secrets_from(&old);
    k.validate().unwrap();
    assert_eq!(k, old);
}

#[test]
fn provider_names_and_lists() {
    let p = |name: &str| ProviderConfig {
        name: name.to_owned(),
        settings: ProviderSettings::Outbox(OutboxConfig { file: None }),
    };
    p("outbox-1.main_2").validate().unwrap();
    for bad in ["", "has space", "a/b", &"x".repeat(65)] {
        assert_eq!(
            p(bad).validate().unwrap_err().field(),
            Some("name"),
            "{bad:?}"
        );
    }
    let e = validate_providers(&[p("a"), p("b"), p("a")]).unwrap_err();
    assert_eq!(e.field(), Some("providers[\"a\"].name"));
    // Settings errors are placed under the provider's name.
    let bad = ProviderConfig {
        name: "tw".to_owned(),
        settings: serde_json::from_str(&twilio_json().replace("+15005550006", "555")).unwrap(),
    };
    assert_eq!(
        bad.validate().unwrap_err().field(),
        Some("providers[\"tw\"].from")
    );
    let json = serde_json::to_string(&ProviderConfig::default_outbox()).unwrap();
    assert_eq!(
        json,
        r#"{"name":"outbox","settings":{"type":"outbox","file":null}}"#
    );
    let e = serde_json::from_str::<ProviderConfig>(
        r#"{"name":"x","settings":{"type":"outbox","path":"/tmp/x"}}"#,
    );
    assert!(e.is_err());
    assert_eq!(
        field_of(ProviderSettings::from_json(
            r#"{"type":"outbox","file":"/var/lib/"}"#
        )),
        "file"
    );
}

#[test]
fn messaging_config_defaults_and_ranges() {
    let c: MessagingConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(c, MessagingConfig::default());
    c.validate().unwrap();
    assert_eq!(c.request_timeout(), Duration::from_secs(10));
    assert_eq!(c.attempts_per_provider, 2);
    for (json, field) in [
        (r#"{"request_timeout_secs":0}"#, "request_timeout_secs"),
        (r#"{"attempts_per_provider":6}"#, "attempts_per_provider"),
        (r#"{"retry_backoff_ms":60000}"#, "retry_backoff_ms"),
        (r#"{"sms_template":"Hello"}"#, "sms_template"),
        (r#"{"sms_template":"{code} {hours}"}"#, "sms_template"),
        (r#"{"voice_intro":""}"#, "voice_intro"),
    ] {
        let c: MessagingConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.validate().unwrap_err().field(), Some(field), "{json}");
    }
    let long = format!(
        r#"{{"sms_template":"{} {{code}} {{minutes}}"}}"#,
        "x".repeat(130)
    );
    let c: MessagingConfig = serde_json::from_str(&long).unwrap();
    let e = c.validate().unwrap_err();
    assert_eq!(e.field(), Some("sms_template"));
    assert!(e.to_string().contains("142 bytes"), "{e}");
}
