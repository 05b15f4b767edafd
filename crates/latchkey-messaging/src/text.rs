//! The words sent to the phone: the SMS text from the deployment's template, and the voice
//! script that reads the digits one by one, twice.
//!
//! Every rendering holds the code, so each is returned in a [`Zeroizing`] buffer.

use zeroize::Zeroizing;

use crate::ConfigError;
use crate::template::{Escape, Template, Values, Var, escape_into};

/// The SMS template of a fresh install.
pub const DEFAULT_SMS_TEMPLATE: &str =
    "Your Latchkey code is {code}. It expires in {minutes} minutes.";
/// What the call says before reading the digits the first time.
pub const DEFAULT_VOICE_INTRO: &str = "Your Latchkey code is";
/// What the call says before reading the digits again.
pub const DEFAULT_VOICE_AGAIN: &str = "Again, your code is";
/// The longest SMS text, in bytes (PRODUCT.md §6): one message segment with room to spare.
pub const MAX_SMS_BYTES: usize = 140;
/// The longest code the texts are checked for (PRODUCT.md §6: 6 or 8 digits).
pub const MAX_CODE_DIGITS: usize = 8;
/// The shortest code accepted for delivery.
pub const MIN_CODE_DIGITS: usize = 4;
/// The longest code lifetime the texts are checked for, in minutes (PRODUCT.md §6: 1–70).
pub const MAX_VALID_MINUTES: u32 = 70;
/// Longest voice phrase, in characters.
const MAX_PHRASE_CHARS: usize = 200;

/// The deployment's message texts, validated.
#[derive(Clone, Debug)]
pub struct MessageTexts {
    sms: Template,
    voice_intro: String,
    voice_again: String,
}

impl MessageTexts {
    /// Checks the SMS template (only `{code}` and `{minutes}`; `{code}` required; at most
    /// [`MAX_SMS_BYTES`] bytes of UTF-8 once rendered with an 8-digit code and 70 minutes,
    /// and — when it has characters outside the GSM 7-bit alphabet, which make the SMS
    /// UCS-2 — at most 140 bytes of UCS-2, i.e. 70 characters, so that it stays one SMS) and
    /// the two voice phrases (plain words, 1–200 characters, no placeholders).
    pub fn new(
        sms_template: &str,
        voice_intro: &str,
        voice_again: &str,
    ) -> Result<Self, ConfigError> {
        let sms = Template::parse(sms_template, &[Var::Code, Var::Minutes])
            .map_err(|r| ConfigError::invalid("sms_template", r))?;
        if !sms.uses(Var::Code) {
            return Err(ConfigError::invalid(
                "sms_template",
                "must contain {code}, or the message carries no code",
            ));
        }
        let worst = sms.render(
            &Values {
                to: "",
                text: "",
                code: &"8".repeat(MAX_CODE_DIGITS),
                minutes: MAX_VALID_MINUTES,
            },
            Escape::Raw,
        );
        if !crate::gsm::is_gsm7(&worst) && crate::gsm::ucs2_bytes(&worst) > MAX_SMS_BYTES {
            let odd = worst
                .chars()
                .find(|c| !crate::gsm::is_gsm7_char(*c))
                .unwrap_or('?');
            return Err(ConfigError::invalid(
                "sms_template",
                format!(
                    "uses characters outside the GSM 7-bit alphabet (such as {odd:?}), so the \
                     SMS is sent as UCS-2, where {} bytes fit {} characters; it has {} with an \
                     {MAX_CODE_DIGITS}-digit code and {MAX_VALID_MINUTES} minutes",
                    MAX_SMS_BYTES,
                    MAX_SMS_BYTES / 2,
                    worst.encode_utf16().count()
                ),
            ));
        }
        if worst.len() > MAX_SMS_BYTES {
            return Err(ConfigError::invalid(
                "sms_template",
                format!(
                    "is {} bytes with an {MAX_CODE_DIGITS}-digit code and {MAX_VALID_MINUTES} \
                     minutes; at most {MAX_SMS_BYTES} bytes fit",
                    worst.len()
                ),
            ));
        }
        for (field, phrase) in [("voice_intro", voice_intro), ("voice_again", voice_again)] {
            let n = phrase.trim().chars().count();
            if n == 0 || n > MAX_PHRASE_CHARS {
                return Err(ConfigError::invalid(
                    field,
                    format!("must be 1 to {MAX_PHRASE_CHARS} characters"),
                ));
            }
            if phrase.chars().any(char::is_control) {
                return Err(ConfigError::invalid(
                    field,
                    "must not contain control characters",
                ));
            }
            if !Template::parse(phrase, &[]).is_ok_and(|t| !t.has_placeholders()) {
                return Err(ConfigError::invalid(
                    field,
                    "is spoken as written; placeholders are not expanded here",
                ));
            }
        }
        Ok(Self {
            sms,
            voice_intro: voice_intro.trim().to_owned(),
            voice_again: voice_again.trim().to_owned(),
        })
    }

    /// The SMS text for `code`, valid `minutes`.
    pub fn sms(&self, code: &str, minutes: u32) -> Zeroizing<String> {
        self.sms.render(
            &Values {
                to: "",
                text: "",
                code,
                minutes,
            },
            Escape::Raw,
        )
    }

    /// The call's script as plain text (for providers that speak text themselves, and the
    /// outbox): `Your Latchkey code is: 4, 8, 2, 1, 3, 9. Again, your code is: 4, 8, 2, 1, 3, 9.`
    pub fn spoken(&self, code: &str) -> Zeroizing<String> {
        let digits = spell_digits(code);
        Zeroizing::new(format!(
            "{}: {}. {}: {}.",
            self.voice_intro,
            digits.as_str(),
            self.voice_again,
            digits.as_str()
        ))
    }

    /// The call's script as Twilio `TwiML`: the intro, a pause, the digits one by one (commas
    /// make the voice pause between them), a longer pause, the second phrase, the digits
    /// again. The phrases are XML-escaped; the digits are digits.
    pub fn twiml(&self, code: &str) -> Zeroizing<String> {
        let digits = spell_digits(code);
        let mut out = Zeroizing::new(String::from("<Response><Say>"));
        escape_into(&mut out, &self.voice_intro, Escape::Xml);
        out.push_str("</Say><Pause length=\"1\"/><Say>");
        escape_into(&mut out, &digits, Escape::Xml);
        out.push_str(".</Say><Pause length=\"2\"/><Say>");
        escape_into(&mut out, &self.voice_again, Escape::Xml);
        out.push_str("</Say><Pause length=\"1\"/><Say>");
        escape_into(&mut out, &digits, Escape::Xml);
        out.push_str(".</Say></Response>");
        out
    }
}

/// The digits of `code` separated by `", "`, so that a text-to-speech voice reads each digit
/// on its own (`"482139"` → `"4, 8, 2, 1, 3, 9"`) instead of a number.
pub fn spell_digits(code: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(code.len() * 3));
    for (i, c) in code.chars().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_texts() -> MessageTexts {
        MessageTexts::new(
            DEFAULT_SMS_TEMPLATE,
            DEFAULT_VOICE_INTRO,
            DEFAULT_VOICE_AGAIN,
        )
        .unwrap()
    }

    #[test]
    fn default_sms() {
        let t = default_texts();
        assert_eq!(
            t.sms("482139", 5).as_str(),
            "Your Latchkey code is 482139. It expires in 5 minutes."
        );
        assert!(t.sms("12345678", 70).len() <= MAX_SMS_BYTES);
    }

    #[test]
    fn voice_reads_digits_twice() {
        let t = default_texts();
        assert_eq!(
            t.twiml("482139").as_str(),
            "<Response><Say>Your Latchkey code is</Say><Pause length=\"1\"/>\
             <Say>4, 8, 2, 1, 3, 9.</Say><Pause length=\"2\"/>\
             <Say>Again, your code is</Say><Pause length=\"1\"/>\
             <Say>4, 8, 2, 1, 3, 9.</Say></Response>"
        );
        assert_eq!(
            t.spoken("482139").as_str(),
            "Your Latchkey code is: 4, 8, 2, 1, 3, 9. Again, your code is: 4, 8, 2, 1, 3, 9."
        );
    }

    #[test]
    fn voice_phrases_are_xml_escaped() {
        let t = MessageTexts::new(DEFAULT_SMS_TEMPLATE, "Code <Acme & Co>", "Again").unwrap();
        let x = t.twiml("12");
        assert!(
            x.starts_with("<Response><Say>Code &lt;Acme &amp; Co&gt;</Say>"),
            "{}",
            x.as_str()
        );
    }

    #[test]
    fn sms_template_checks() {
        let err = |tpl: &str| MessageTexts::new(tpl, "a", "b").unwrap_err();
        assert_eq!(err("Hello").field(), Some("sms_template"));
        assert!(
            err("Code {code} {user}")
                .to_string()
                .contains("unknown placeholder {user}")
        );
        // 139 bytes of text plus an 8-digit code: over the limit with the worst case only.
        let long = format!("{} {{code}}", "x".repeat(MAX_SMS_BYTES - 9));
        assert!(MessageTexts::new(&long, "a", "b").is_ok());
        let too_long = format!("{} {{code}} {{minutes}}", "x".repeat(MAX_SMS_BYTES - 9));
        let e = MessageTexts::new(&too_long, "a", "b").unwrap_err();
        assert!(e.to_string().contains("at most 140 bytes"), "{e}");
        // Multi-byte characters count as bytes.
        let accents = format!("{} {{code}}", "é".repeat(66));
        assert!(MessageTexts::new(&accents, "a", "b").is_err());
        // Outside GSM 7-bit: UCS-2, 70 characters.
        let ucs2 = format!("Código {} {{code}}", "x".repeat(54));
        assert!(MessageTexts::new(&ucs2, "a", "b").is_ok(), "70 characters");
        let ucs2 = format!("Código {} {{code}}", "x".repeat(55));
        let e = MessageTexts::new(&ucs2, "a", "b").unwrap_err();
        assert!(
            e.to_string().contains("GSM 7-bit alphabet (such as 'ó')"),
            "{e}"
        );
        assert!(e.to_string().contains("it has 71"), "{e}");
    }

    #[test]
    fn voice_phrase_checks() {
        let e = MessageTexts::new(DEFAULT_SMS_TEMPLATE, " ", "b").unwrap_err();
        assert_eq!(e.field(), Some("voice_intro"));
        let e = MessageTexts::new(DEFAULT_SMS_TEMPLATE, "a", "code {code}").unwrap_err();
        assert_eq!(e.field(), Some("voice_again"));
    }
}
