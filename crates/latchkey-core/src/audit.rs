//! The audit chain: append-only records, each carrying the hash of its predecessor.
//!
//! `hash(n) = SHA-256(hash(n-1) as hex || "\n" || canonical(n))` where `canonical` is the JSON
//! array `[seq, at, actor, action, target, outcome, source, detail]` (detail as its stored
//! JSON text). A separate head (last sequence number and hash) lets [`verify`] notice records
//! deleted from the end, which a chain alone cannot.

use sha2::{Digest, Sha256};

/// Hash that precedes the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A record to append; the store assigns `seq` and the hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditDraft {
    /// Time, Unix seconds.
    pub at: i64,
    /// `admin:NAME`, `agent:NAME`, `system`.
    pub actor: String,
    /// Dotted action name, e.g. `user.create`.
    pub action: String,
    /// Object, e.g. `user:alice`.
    pub target: String,
    /// `ok` or a reason.
    pub outcome: String,
    /// Client address.
    pub source: Option<String>,
    /// JSON object text with details; never secrets.
    pub detail: String,
}

impl AuditDraft {
    /// A successful action with no details.
    pub fn ok(at: i64, actor: &str, action: &str, target: &str, source: Option<&str>) -> Self {
        Self {
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            outcome: "ok".to_owned(),
            source: source.map(str::to_owned),
            detail: "{}".to_owned(),
        }
    }

    /// Adds details (a JSON object without secrets).
    #[must_use]
    pub fn with_detail(mut self, detail: &serde_json::Value) -> Self {
        self.detail = detail.to_string();
        self
    }

    /// Adds one key to the details (which become an object if they were not one).
    #[must_use]
    pub fn with_field(mut self, key: &str, value: serde_json::Value) -> Self {
        let mut v: serde_json::Value =
            serde_json::from_str(&self.detail).unwrap_or_else(|_| serde_json::json!({}));
        match v.as_object_mut() {
            Some(o) => {
                o.insert(key.to_owned(), value);
            }
            None => v = serde_json::json!({ key: value }),
        }
        self.detail = v.to_string();
        self
    }

    /// Sets the outcome.
    #[must_use]
    pub fn with_outcome(mut self, outcome: &str) -> Self {
        outcome.clone_into(&mut self.outcome);
        self
    }
}

/// A stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Sequence number, from 1, without gaps.
    pub seq: i64,
    /// The fields as drafted.
    pub draft: AuditDraft,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// Hash of this record.
    pub hash: String,
}

/// The head of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditHead {
    /// Last sequence number (0 when empty).
    pub seq: i64,
    /// Last hash ([`GENESIS_HASH`] when empty).
    pub hash: String,
}

/// The hash of record `seq` with these fields after `prev_hash`.
pub fn chain_hash(prev_hash: &str, seq: i64, d: &AuditDraft) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    // The tuple serialises as the JSON array `canonical` names, written straight into the
    // hash: no `Value` tree and no text in between (this runs once per record inside the
    // group-commit writer). Writing into a hash cannot fail, nor can serialising these types.
    let canonical = (
        seq, d.at, &d.actor, &d.action, &d.target, &d.outcome, &d.source, &d.detail,
    );
    let _ = serde_json::to_writer(&mut h, &canonical);
    hex::encode(h.finalize())
}

/// What a verification found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Intact, with this many records.
    Intact(i64),
    /// Broken at this sequence number, for this reason.
    Broken {
        /// Records checked before the break.
        checked: i64,
        /// First bad sequence number.
        seq: i64,
        /// What is wrong.
        problem: String,
    },
}

/// Incremental verifier: feed records in ascending order, then the head.
#[derive(Debug)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    broken: Option<Verdict>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            broken: None,
        }
    }
}

impl Verifier {
    /// Checks the next record; returns `false` once the chain is broken.
    pub fn feed(&mut self, r: &AuditRecord) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let checked = self.expected_seq - 1;
        let problem = if r.seq != self.expected_seq {
            Some(if r.seq > self.expected_seq {
                format!("record(s) {} to {} deleted", self.expected_seq, r.seq - 1)
            } else {
                "sequence out of order (record inserted)".to_owned()
            })
        } else if r.prev_hash != self.prev_hash {
            Some("previous-hash link broken (record inserted or replaced)".to_owned())
        } else if chain_hash(&r.prev_hash, r.seq, &r.draft) != r.hash {
            Some("contents altered".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            self.broken = Some(Verdict::Broken {
                checked,
                seq: self.expected_seq,
                problem,
            });
            return false;
        }
        self.expected_seq += 1;
        self.prev_hash.clone_from(&r.hash);
        true
    }

    /// Checks the head against the last record fed and returns the verdict.
    pub fn finish(self, head: &AuditHead) -> Verdict {
        if let Some(v) = self.broken {
            return v;
        }
        let last = self.expected_seq - 1;
        if head.seq != last || head.hash != self.prev_hash {
            let problem = if head.seq > last {
                format!(
                    "record(s) {} to {} deleted from the end",
                    last + 1,
                    head.seq
                )
            } else {
                "chain head does not match the last record".to_owned()
            };
            return Verdict::Broken {
                checked: last,
                seq: last + 1,
                problem,
            };
        }
        Verdict::Intact(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash is that of the documented text: the JSON array built as a `Value`, rendered
    /// compactly, for values that need escaping and for an absent source.
    #[test]
    fn chain_hash_hashes_the_canonical_json_array() {
        for source in [None, Some("10.0.0.1".to_owned())] {
            let d = AuditDraft {
                at: 1_700_000_000,
                actor: "agent:vpn \"west\"".to_owned(),
                action: "authn".to_owned(),
                target: "user:zoë\\x".to_owned(),
                outcome: "fail:wrong_pin".to_owned(),
                source: source.clone(),
                detail: "{\"tokens\":[\"T1\"],\"client\":\"a\\nb\"}".to_owned(),
            };
            let text = serde_json::json!([
                42, d.at, d.actor, d.action, d.target, d.outcome, d.source, d.detail
            ])
            .to_string();
            let mut h = Sha256::new();
            h.update(b"ab12\n");
            h.update(text.as_bytes());
            assert_eq!(chain_hash("ab12", 42, &d), hex::encode(h.finalize()));
        }
    }

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let draft =
                    AuditDraft::ok(seq, "admin:a", "user.create", &format!("user:u{seq}"), None);
                let hash = chain_hash(&prev, seq, &draft);
                let r = AuditRecord {
                    seq,
                    draft,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                r
            })
            .collect()
    }

    fn run(records: &[AuditRecord], head: &AuditHead) -> Verdict {
        let mut v = Verifier::default();
        for r in records {
            v.feed(r);
        }
        v.finish(head)
    }

    fn head_of(records: &[AuditRecord]) -> AuditHead {
        records.last().map_or(
            AuditHead {
                seq: 0,
                hash: GENESIS_HASH.into(),
            },
            |r| AuditHead {
                seq: r.seq,
                hash: r.hash.clone(),
            },
        )
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        assert_eq!(run(&c, &head_of(&c)), Verdict::Intact(5));
        assert_eq!(run(&[], &head_of(&[])), Verdict::Intact(0));
    }

    #[test]
    fn altered_record_is_found() {
        let mut c = chain(5);
        let head = head_of(&c);
        c[2].draft.target = "user:mallory".into();
        assert!(matches!(run(&c, &head), Verdict::Broken { seq: 3, .. }));
    }

    #[test]
    fn deleted_record_is_found() {
        let mut c = chain(5);
        let head = head_of(&c);
        c.remove(1);
        assert!(matches!(run(&c, &head), Verdict::Broken { seq: 2, .. }));
        let mut c = chain(5);
        c.pop();
        assert!(matches!(run(&c, &head), Verdict::Broken { seq: 5, .. }));
    }

    #[test]
    fn inserted_record_is_found() {
        let c = chain(3);
        let head = head_of(&c);
        let mut forged = c[1].clone();
        forged.draft.action = "user.delete".into();
        forged.hash = chain_hash(&forged.prev_hash, forged.seq, &forged.draft);
        let tampered = vec![c[0].clone(), forged, c[2].clone()];
        assert!(matches!(
            run(&tampered, &head),
            Verdict::Broken { seq: 3, .. }
        ));
    }
}
