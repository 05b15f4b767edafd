//! Turning serde's complaints about a request body or query string into a message that names
//! the field but never repeats a value from the request.
//!
//! serde's own messages echo values (``invalid type: string "482916", expected u32``,
//! ``unknown variant `hunter2` ``), and a value typed into the wrong field may be a secret. So
//! only the message shapes listed here pass, with their value parts cut out; anything else
//! becomes a generic sentence.

/// A safe description of a deserialisation error: message and the field at fault, if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyProblem {
    /// What is wrong, without values from the request.
    pub message: String,
    /// The field (dotted path) at fault, when known.
    pub field: Option<String>,
}

/// Generic message for an error whose shape we do not know.
const GENERIC: &str = "the request does not match the expected schema";

/// Messages of `serde_json`'s syntax errors: fixed texts that never contain input.
const SYNTAX: [&str; 19] = [
    "EOF while parsing a list",
    "EOF while parsing an object",
    "EOF while parsing a string",
    "EOF while parsing a value",
    "expected `:`",
    "expected `,` or `]`",
    "expected `,` or `}`",
    "expected ident",
    "expected value",
    "expected `\"`",
    "invalid escape",
    "invalid number",
    "number out of range",
    "invalid unicode code point",
    "control character (\\u0000-\\u001F) found while parsing a string",
    "key must be a string",
    "trailing comma",
    "trailing characters",
    "recursion limit exceeded",
];

/// Whether `s` looks like a path of field names (`phones[0].number`), not free text.
fn is_path(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.[]?-".contains(c))
}

/// Whether `s` is a plausible field name (anything else is not repeated back).
fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether an unknown key sent by the client looks like a mistyped field name of ours
/// (`snake_case`, short) rather than data pasted into the wrong place; only such keys are
/// repeated back.
fn is_typo_like(s: &str) -> bool {
    s.len() <= 32
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn join(path: Option<&str>, name: &str) -> String {
    match path {
        Some(p) => format!("{p}.{name}"),
        None => name.to_owned(),
    }
}

/// Splits `[path: ]message[ at line L column C]` as produced by `serde_path_to_error`
/// and `serde_json`. Returns the path, the message and the position suffix.
fn split(text: &str) -> (Option<&str>, &str, &str) {
    let (path, rest) = match text.split_once(": ") {
        Some((p, r)) if is_path(p) => (Some(p), r),
        _ => (None, text),
    };
    let (msg, pos) = match rest.rfind(" at line ") {
        Some(i) if rest.get(i..).is_some_and(is_position) => {
            (rest.get(..i).unwrap_or(rest), rest.get(i..).unwrap_or(""))
        }
        _ => (rest, ""),
    };
    (path, msg, pos)
}

/// Whether `s` is exactly ` at line N column M`.
fn is_position(s: &str) -> bool {
    let Some(rest) = s.strip_prefix(" at line ") else {
        return false;
    };
    let Some((line, col)) = rest.split_once(" column ") else {
        return false;
    };
    !line.is_empty()
        && !col.is_empty()
        && line.chars().chain(col.chars()).all(|c| c.is_ascii_digit())
}

/// The kind of an unexpected value (`string`, `integer`, ...) without the value itself.
fn kind_of(unexpected: &str) -> &str {
    let cut = unexpected
        .find(['"', '`', '\''])
        .unwrap_or(unexpected.len());
    unexpected.get(..cut).unwrap_or("").trim()
}

/// Whether every segment of a path is one of our field names (or an index, or `?`). The
/// path comes from the keys the client sent, so anything else is not repeated back.
fn is_safe_path(p: &str) -> bool {
    p.split('.').all(|seg| {
        let (name, indices) = seg.split_once('[').map_or((seg, ""), |(n, i)| (n, i));
        let indices_ok = indices
            .chars()
            .all(|c| c.is_ascii_digit() || c == ']' || c == '[');
        indices_ok
            && (name == "?" || (name.is_empty() && !indices.is_empty()) || is_typo_like(name))
    })
}

/// `path` without its last segment when that segment is `name`.
fn parent_of<'a>(path: Option<&'a str>, name: &str) -> Option<&'a str> {
    let p = path?;
    if p == name {
        None
    } else {
        Some(
            p.strip_suffix(name)
                .and_then(|q| q.strip_suffix('.'))
                .unwrap_or(p),
        )
    }
}

/// Describes a serde error text (`[path: ]message[ at line L column C]`) safely.
pub fn describe(text: &str) -> BodyProblem {
    let (raw_path, msg, pos) = split(text);
    let path = raw_path.filter(|p| is_safe_path(p));
    let with_pos = |m: String| format!("{m}{pos}");
    let generic = || BodyProblem {
        message: with_pos(GENERIC.to_owned()),
        field: path.map(str::to_owned),
    };

    if SYNTAX.contains(&msg) {
        return BodyProblem {
            message: with_pos(format!("malformed JSON: {msg}")),
            field: None,
        };
    }
    // `expected` texts come from our types, never from the request; the last separator is
    // the real one even if a value contains the same words.
    for (prefix, what) in [
        ("invalid type: ", "invalid type"),
        ("invalid value: ", "invalid value"),
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let Some(i) = rest.rfind(", expected ") else {
                return generic();
            };
            let unexpected = kind_of(rest.get(..i).unwrap_or(""));
            let expected = rest.get(i + 2..).unwrap_or("");
            return BodyProblem {
                message: with_pos(format!("{what}: {unexpected}, {expected}")),
                field: path.map(str::to_owned),
            };
        }
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let expected = rest
            .rfind("`, expected ")
            .and_then(|i| rest.get(i + 3..))
            .unwrap_or("expected a known value");
        return BodyProblem {
            message: with_pos(format!("unknown variant, {expected}")),
            field: path.map(str::to_owned),
        };
    }
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (name, expected) = match rest.rfind("`, expected ") {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i + 3..).unwrap_or("")),
            None => match rest.rfind("`, there are no fields") {
                Some(i) => (rest.get(..i).unwrap_or(""), "there are no fields"),
                None => return generic(),
            },
        };
        // The path ends with the unknown key itself; keep only the part above it.
        let parent = parent_of(raw_path, name).filter(|p| is_safe_path(p));
        return if is_typo_like(name) {
            BodyProblem {
                message: with_pos(format!("unknown field `{name}`, {expected}")),
                field: Some(join(parent, name)),
            }
        } else {
            BodyProblem {
                message: with_pos(format!("unknown field, {expected}")),
                field: parent.map(str::to_owned),
            }
        };
    }
    for prefix in ["missing field `", "duplicate field `"] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let name = rest.strip_suffix('`').unwrap_or("");
            if !is_field_name(name) {
                return generic();
            }
            return BodyProblem {
                message: with_pos(format!("{prefix}{name}`")),
                field: Some(join(path, name)),
            };
        }
    }
    if let Some(rest) = msg.strip_prefix("invalid length ") {
        // `invalid length N, expected ...`: N is a count, the rest comes from our types.
        let ok = rest
            .split_once(", expected ")
            .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()));
        if ok {
            return BodyProblem {
                message: with_pos(msg.to_owned()),
                field: path.map(str::to_owned),
            };
        }
    }
    // Numbers in query strings (`invalid digit found in string`) and other std parse errors.
    if matches!(
        msg,
        "invalid digit found in string"
            | "cannot parse integer from empty string"
            | "number too large to fit in target type"
            | "number too small to fit in target type"
    ) {
        return BodyProblem {
            message: with_pos(msg.to_owned()),
            field: path.map(str::to_owned),
        };
    }
    generic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cut_out() {
        let p =
            describe("digits: invalid type: string \"482916\", expected u32 at line 1 column 20");
        assert_eq!(
            p.message,
            "invalid type: string, expected u32 at line 1 column 20"
        );
        assert_eq!(p.field.as_deref(), Some("digits"));
        let p =
            describe("role: unknown variant `hunter2`, expected one of `super-admin`, `help-desk`");
        assert!(!p.message.contains("hunter2"));
        assert!(p.message.contains("super-admin"));
        let p = describe("invalid type: string \"x, expected y\", expected u32");
        assert_eq!(p.message, "invalid type: string, expected u32");
    }

    #[test]
    fn field_names_are_kept() {
        let p = describe("unknown field `colour`, expected `name` or `parent` at line 1 column 9");
        assert_eq!(p.field.as_deref(), Some("colour"));
        assert!(p.message.starts_with("unknown field `colour`"));
        for key in [
            "JBSWY3DP EHPK3PXP",
            "JBSWY3DPEHPK3PXP",
            "482916",
            "lkad_0123456789abcdef0123456789abcdef",
        ] {
            let p = describe(&format!("unknown field `{key}`, expected `name`"));
            assert_eq!(p.field, None);
            assert!(!p.message.contains(key));
        }
        let p = describe("phones[0]: missing field `number`");
        assert_eq!(p.field.as_deref(), Some("phones[0].number"));
        let p = describe("colour: unknown field `colour`, expected `name`");
        assert_eq!(p.field.as_deref(), Some("colour"));
        let p = describe("phones[0].colour: unknown field `colour`, expected `number`");
        assert_eq!(p.field.as_deref(), Some("phones[0].colour"));
        let p = describe("482916: unknown field `482916`, expected `pin`");
        assert_eq!(p.field, None);
        assert!(!p.message.contains("482916"));
        let p = describe("Secret99: invalid type: integer `5`, expected a string");
        assert_eq!(p.field, None);
    }

    #[test]
    fn unknown_shapes_are_generic() {
        assert_eq!(describe("something \"secret\" happened").message, GENERIC);
        assert_eq!(
            describe("expected value at line 1 column 1").message,
            "malformed JSON: expected value at line 1 column 1"
        );
    }
}
