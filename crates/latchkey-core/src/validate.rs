//! Input validation shared by the services. Each function returns the normalised value or a
//! [`CoreError::Invalid`] naming the field; none echoes a secret.

use latchkey_proto::admin::Phone;

use crate::CoreError;

/// Longest name of anything (domain, agent, administrator, login, serial).
pub const MAX_NAME: usize = 64;

fn check_chars(
    field: &'static str,
    v: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), CoreError> {
    if v.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > MAX_NAME {
        return Err(CoreError::invalid(
            field,
            format!("longer than {MAX_NAME} characters"),
        ));
    }
    if let Some(c) = v.chars().find(|c| !allowed(*c)) {
        return Err(CoreError::invalid(
            field,
            format!("character {c:?} is not allowed"),
        ));
    }
    Ok(())
}

/// A login name: trimmed, lower-cased, letters, digits and `._@+-`.
pub fn login(v: &str) -> Result<String, CoreError> {
    let v = v.trim().to_lowercase();
    check_chars("login", &v, |c| {
        c.is_ascii_alphanumeric() || "._@+-".contains(c)
    })?;
    Ok(v)
}

/// A name of a domain, agent or administrator: letters, digits, `._-` and inner spaces.
pub fn name(field: &'static str, v: &str) -> Result<String, CoreError> {
    let v = v.trim();
    check_chars(field, v, |c| {
        c.is_ascii_alphanumeric() || "._- ".contains(c)
    })?;
    Ok(v.to_owned())
}

/// A token serial number: letters, digits and `-_`.
pub fn serial(v: &str) -> Result<String, CoreError> {
    let v = v.trim();
    check_chars("serial", v, |c| {
        c.is_ascii_alphanumeric() || "-_".contains(c)
    })?;
    Ok(v.to_owned())
}

/// An e-mail address: a plausibility check (the mail system is the real judge).
pub fn email(v: &str) -> Result<String, CoreError> {
    let v = v.trim();
    let bad = |reason: &str| Err(CoreError::invalid("email", reason));
    if v.len() > 254 {
        return bad("longer than 254 characters");
    }
    let Some((local, domain)) = v.rsplit_once('@') else {
        return bad("must contain @");
    };
    if local.is_empty()
        || domain.is_empty()
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return bad("is not an address of the form name@example.org");
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    Ok(v.to_owned())
}

/// Phone numbers: each must be a valid E.164 number (`+` and country code); duplicates refused.
pub fn phones(list: &[Phone]) -> Result<Vec<Phone>, CoreError> {
    if list.len() > 8 {
        return Err(CoreError::invalid("phones", "at most 8 numbers"));
    }
    let mut out: Vec<Phone> = Vec::with_capacity(list.len());
    for p in list {
        let n = p.number.trim();
        let e164 =
            n.starts_with('+') && n.len() <= 16 && n.chars().skip(1).all(|c| c.is_ascii_digit());
        let parsed = if e164 {
            phonenumber::parse(None, n).ok()
        } else {
            None
        };
        match parsed {
            Some(pn) if phonenumber::is_valid(&pn) => {}
            _ => {
                return Err(CoreError::invalid(
                    "phones",
                    format!(
                        "{n:?} is not a valid E.164 number (+ country code and digits, no spaces)"
                    ),
                ));
            }
        }
        if out.iter().any(|o| o.number == n) {
            return Err(CoreError::invalid(
                "phones",
                format!("{n:?} is listed twice"),
            ));
        }
        out.push(Phone {
            number: n.to_owned(),
            source: p.source,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_proto::admin::PhoneSource;

    #[test]
    fn logins_are_normalised_and_checked() {
        assert_eq!(login("  Alice.Smith ").unwrap(), "alice.smith");
        assert!(login("").is_err());
        assert!(login("a b").is_err());
        assert!(login(&"x".repeat(65)).is_err());
        assert!(login("bob'; drop table").is_err());
    }

    #[test]
    fn phones_must_be_e164() {
        let p = |n: &str| Phone {
            number: n.into(),
            source: PhoneSource::Manual,
        };
        assert!(phones(&[p("+14155550123")]).is_ok());
        assert!(phones(&[p("+442079460958")]).is_ok());
        assert!(phones(&[p("4155550123")]).is_err());
        assert!(phones(&[p("+1 415 555 0123")]).is_err());
        assert!(phones(&[p("+999123")]).is_err());
        assert!(phones(&[p("+14155550123"), p("+14155550123")]).is_err());
    }

    #[test]
    fn emails_are_plausible() {
        assert!(email("a@example.org").is_ok());
        assert!(email("a@localhost").is_err());
        assert!(email("no-at.example.org").is_err());
        assert!(email("a b@example.org").is_err());
    }
}
