//! Placeholder templates: `{name}` where `name` is a word (`[A-Za-z_][A-Za-z0-9_]*`) is a
//! placeholder; every other brace is literal, so JSON bodies need no escaping
//! (`{"to":"{to}"}`). An unknown word in braces is an error at configuration time, which
//! catches typos such as `{Code}` before any message is lost to them.
//!
//! Values are escaped for the place they land in (URL component, form field, JSON string,
//! XML text); the rendered result holds the code, so it is returned in a [`Zeroizing`]
//! buffer and never logged.

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use zeroize::Zeroizing;

/// What a placeholder stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Var {
    /// The destination, E.164 (`+14155550123`).
    To,
    /// The destination without its `+` (`14155550123`).
    ToDigits,
    /// The message: the SMS text, or the spoken text of a call.
    Text,
    /// The code alone.
    Code,
    /// The code's lifetime in minutes.
    Minutes,
}

impl Var {
    /// Every placeholder, in the order error messages list them.
    pub(crate) const ALL: [Var; 5] = [Var::To, Var::ToDigits, Var::Text, Var::Code, Var::Minutes];

    /// The placeholder's name inside the braces.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Var::To => "to",
            Var::ToDigits => "to_digits",
            Var::Text => "text",
            Var::Code => "code",
            Var::Minutes => "minutes",
        }
    }

    fn from_name(s: &str) -> Option<Var> {
        Var::ALL.into_iter().find(|v| v.name() == s)
    }
}

/// How a value is escaped where it is inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Escape {
    /// As is (plain-text bodies).
    Raw,
    /// Percent-encoded as a URL component (path segment or query value): all but
    /// `A-Z a-z 0-9 - . _ ~`.
    UrlComponent,
    /// `application/x-www-form-urlencoded` (space as `+`).
    Form,
    /// The inside of a JSON string (the template supplies the quotes).
    Json,
    /// XML character data or attribute value.
    Xml,
}

/// Characters left alone in a URL component (RFC 3986 "unreserved").
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(Var),
}

/// A parsed template. Not secret: it holds only what the administrator wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

/// The values placeholders are replaced with.
pub(crate) struct Values<'a> {
    pub(crate) to: &'a str,
    pub(crate) text: &'a str,
    pub(crate) code: &'a str,
    pub(crate) minutes: u32,
}

impl Template {
    /// Parses `src`, accepting only the placeholders in `allowed`. The error is a reason
    /// for [`crate::ConfigError::Invalid`].
    pub(crate) fn parse(src: &str, allowed: &[Var]) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while let Some(open) = rest.find('{') {
            let (before, from_brace) = rest.split_at(open);
            lit.push_str(before);
            let after = from_brace.get(1..).unwrap_or("");
            match placeholder_word(after) {
                Some(word) => {
                    let var = Var::from_name(word).ok_or_else(|| unknown(word, allowed))?;
                    if !allowed.contains(&var) {
                        return Err(unknown(word, allowed));
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var(var));
                    rest = after.get(word.len() + 1..).unwrap_or("");
                }
                None => {
                    lit.push('{');
                    rest = after;
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Self { parts })
    }

    /// Whether the template uses `v`.
    pub(crate) fn uses(&self, v: Var) -> bool {
        self.parts.contains(&Part::Var(v))
    }

    /// Whether the template has any placeholder.
    pub(crate) fn has_placeholders(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var(_)))
    }

    /// The template with every placeholder replaced, each value escaped by `esc`.
    pub(crate) fn render(&self, values: &Values<'_>, esc: Escape) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => {
                    let minutes;
                    let value = match v {
                        Var::To => values.to,
                        Var::ToDigits => values.to.trim_start_matches('+'),
                        Var::Text => values.text,
                        Var::Code => values.code,
                        Var::Minutes => {
                            minutes = values.minutes.to_string();
                            minutes.as_str()
                        }
                    };
                    escape_into(&mut out, value, esc);
                }
            }
        }
        out
    }
}

/// The word of a placeholder at the start of `s` (just after a `{`), if `s` continues with
/// `word}`.
fn placeholder_word(s: &str) -> Option<&str> {
    let end = s.find('}')?;
    let word = s.get(..end)?;
    let mut chars = word.chars();
    let first = chars.next()?;
    let ok = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(word)
}

fn unknown(word: &str, allowed: &[Var]) -> String {
    let list: Vec<String> = allowed
        .iter()
        .map(|v| format!("{{{}}}", v.name()))
        .collect();
    format!(
        "unknown placeholder {{{word}}}; the placeholders here are {}",
        list.join(", ")
    )
}

/// Appends `value` to `out`, escaped by `esc`.
pub(crate) fn escape_into(out: &mut String, value: &str, esc: Escape) {
    match esc {
        Escape::Raw => out.push_str(value),
        Escape::UrlComponent => out.extend(utf8_percent_encode(value, COMPONENT)),
        Escape::Form => out.extend(url::form_urlencoded::byte_serialize(value.as_bytes())),
        Escape::Json => {
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if u32::from(c) < 0x20 => {
                        let _ = write!(out, "\\u{:04x}", u32::from(c));
                    }
                    c => out.push(c),
                }
            }
        }
        Escape::Xml => {
            for c in value.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '"' => out.push_str("&quot;"),
                    '\'' => out.push_str("&apos;"),
                    c => out.push(c),
                }
            }
        }
    }
}

/// `value` escaped by `esc`.
#[cfg(test)]
pub(crate) fn escaped(value: &str, esc: Escape) -> String {
    let mut out = String::new();
    escape_into(&mut out, value, esc);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: Values<'static> = Values {
        to: "+14155550123",
        text: "Code 123456 & \"more\" <x> é\n",
        code: "123456",
        minutes: 5,
    };

    #[test]
    fn json_braces_are_literal() {
        let t =
            Template::parse(r#"{"to":"{to}","msg":"{text}","n":{minutes}}"#, &Var::ALL).unwrap();
        let out = t.render(&VALUES, Escape::Json);
        assert_eq!(
            out.as_str(),
            r#"{"to":"+14155550123","msg":"Code 123456 & \"more\" <x> é\n","n":5}"#
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["msg"], VALUES.text);
        assert!(t.uses(Var::To) && t.uses(Var::Text) && !t.uses(Var::Code));
    }

    #[test]
    fn unknown_and_disallowed_placeholders_are_errors() {
        let e = Template::parse("Your code: {Code}", &[Var::Code]).unwrap_err();
        assert_eq!(
            e,
            "unknown placeholder {Code}; the placeholders here are {code}"
        );
        let e = Template::parse("{text}", &[Var::Code, Var::Minutes]).unwrap_err();
        assert!(e.starts_with("unknown placeholder {text}"), "{e}");
        // Not a word: literal.
        let t = Template::parse("{ a } {} {1x} {code", &[Var::Code]).unwrap();
        assert!(!t.has_placeholders());
        assert_eq!(
            t.render(&VALUES, Escape::Raw).as_str(),
            "{ a } {} {1x} {code"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(
            escaped("+1 a/b~é", Escape::UrlComponent),
            "%2B1%20a%2Fb~%C3%A9"
        );
        assert_eq!(escaped("+1 a/b&=", Escape::Form), "%2B1+a%2Fb%26%3D");
        assert_eq!(
            escaped("<a href='x'>&\"", Escape::Xml),
            "&lt;a href=&apos;x&apos;&gt;&amp;&quot;"
        );
        assert_eq!(escaped("a\u{1}\"\\", Escape::Json), "a\\u0001\\\"\\\\");
        let t = Template::parse("/send/{to_digits}?t={text}", &Var::ALL).unwrap();
        assert_eq!(
            t.render(&VALUES, Escape::UrlComponent).as_str(),
            "/send/14155550123?t=Code%20123456%20%26%20%22more%22%20%3Cx%3E%20%C3%A9%0A"
        );
    }
}
