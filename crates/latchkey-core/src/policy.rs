//! Policy validation and inheritance.

use latchkey_proto::policy::{EffectivePolicies, PinCharset, PolicyKind, PolicyValue, TokenPolicy};

use crate::CoreError;
use crate::authz::DomainTree;
use crate::ids::DomainId;

fn range(field: &'static str, v: u32, lo: u32, hi: u32) -> Result<(), CoreError> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(CoreError::invalid(
            field,
            format!("must be between {lo} and {hi}, got {v}"),
        ))
    }
}

/// Checks a PIN against a token policy; the error says what is wrong, never the PIN.
pub fn check_pin(tp: &TokenPolicy, pin: &str) -> Result<(), String> {
    let len = u32::try_from(pin.chars().count()).unwrap_or(u32::MAX);
    if len < tp.pin_min_length || len > tp.pin_max_length {
        return Err(format!(
            "must be {} to {} characters long",
            tp.pin_min_length, tp.pin_max_length
        ));
    }
    let ok = match tp.pin_charset {
        PinCharset::Numeric => pin.chars().all(|c| c.is_ascii_digit()),
        PinCharset::Alphanumeric => pin.chars().all(|c| c.is_ascii_alphanumeric()),
    };
    if ok {
        Ok(())
    } else {
        Err(match tp.pin_charset {
            PinCharset::Numeric => "must be digits only".to_owned(),
            PinCharset::Alphanumeric => "must be letters and digits only".to_owned(),
        })
    }
}

/// Checks every field of a policy value against its allowed range.
pub fn validate(p: &PolicyValue) -> Result<(), CoreError> {
    match p {
        PolicyValue::Token(t) => {
            range("pin_min_length", t.pin_min_length, 1, 32)?;
            range("pin_max_length", t.pin_max_length, t.pin_min_length, 32)?;
            range(
                "incorrect_passcode_limit",
                t.incorrect_passcode_limit,
                1,
                100,
            )?;
            let f = t.emergency_code_format;
            if !(f.digits || f.upper || f.lower || f.special) {
                return Err(CoreError::invalid(
                    "emergency_code_format",
                    "choose at least one character class",
                ));
            }
        }
        PolicyValue::Lockout(l) => {
            range("max_failures", l.max_failures, 1, 1000)?;
            range("window_seconds", l.window_seconds, 60, 30 * 86_400)?;
            if let Some(m) = l.auto_unlock_minutes {
                range("auto_unlock_minutes", m, 1, 525_600)?;
            }
        }
        PolicyValue::Offline(o) => {
            range("days", o.days, 1, 60)?;
            range("refresh_below_days", o.refresh_below_days, 0, o.days)?;
            range(
                "min_online_passcode_length",
                o.min_online_passcode_length,
                4,
                32,
            )?;
            range(
                "failures_before_online_required",
                o.failures_before_online_required,
                1,
                100,
            )?;
            range(
                "failures_before_wipe",
                o.failures_before_wipe,
                o.failures_before_online_required,
                1000,
            )?;
        }
        PolicyValue::Emergency(e) => {
            range("offline_code_length", e.offline_code_length, 10, 24)?;
            range(
                "offline_code_lifetime_days",
                e.offline_code_lifetime_days,
                1,
                365,
            )?;
            range("one_time_set_size", e.one_time_set_size, 1, 100)?;
        }
    }
    Ok(())
}

/// The policy of `kind` in force for `domain`, and the domain that sets it. The nearest
/// ancestor that sets the kind wins; defaults apply if none does (a damaged tree).
pub fn resolve(
    tree: &DomainTree,
    domain: DomainId,
    kind: PolicyKind,
) -> (PolicyValue, Option<DomainId>) {
    tree.ancestry(domain)
        .into_iter()
        .find_map(|d| d.own_policy(kind).map(|p| (*p, Some(d.id))))
        .unwrap_or_else(|| (PolicyValue::default_of(kind), None))
}

/// All four policies in force for `domain`.
pub fn effective(tree: &DomainTree, domain: DomainId) -> EffectivePolicies {
    let mut e = EffectivePolicies::default();
    for kind in PolicyKind::ALL {
        match resolve(tree, domain, kind).0 {
            PolicyValue::Token(t) => e.token = t,
            PolicyValue::Lockout(l) => e.lockout = l,
            PolicyValue::Offline(o) => e.offline = o,
            PolicyValue::Emergency(x) => e.emergency = x,
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Domain;
    use latchkey_proto::policy::{LockoutPolicy, TokenPolicy};

    #[test]
    fn nearest_ancestor_wins() {
        let root = Domain {
            id: DomainId(1),
            name: "root".into(),
            parent: None,
            policies: PolicyKind::ALL
                .into_iter()
                .map(PolicyValue::default_of)
                .collect(),
            created_at: 0,
        };
        let strict = LockoutPolicy {
            max_failures: 2,
            ..LockoutPolicy::default()
        };
        let a = Domain {
            id: DomainId(2),
            name: "a".into(),
            parent: Some(DomainId(1)),
            policies: vec![PolicyValue::Lockout(strict)],
            created_at: 0,
        };
        let a1 = Domain {
            id: DomainId(3),
            name: "a1".into(),
            parent: Some(DomainId(2)),
            policies: vec![],
            created_at: 0,
        };
        let tree = DomainTree::new(vec![root, a, a1]);
        let e = effective(&tree, DomainId(3));
        assert_eq!(e.lockout.max_failures, 2);
        assert_eq!(e.token, TokenPolicy::default());
        assert_eq!(
            resolve(&tree, DomainId(3), PolicyKind::Lockout).1,
            Some(DomainId(2))
        );
        assert_eq!(
            resolve(&tree, DomainId(3), PolicyKind::Token).1,
            Some(DomainId(1))
        );
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let bad = TokenPolicy {
            pin_min_length: 9,
            pin_max_length: 8,
            ..TokenPolicy::default()
        };
        assert!(validate(&PolicyValue::Token(bad)).is_err());
        assert!(validate(&PolicyValue::Token(TokenPolicy::default())).is_ok());
    }
}
