//! Counters of what the RADIUS server received, answered and dropped. Kept as atomics (the
//! handler runs on many tasks); the server logs them periodically and at shutdown, and they
//! are ready for the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a datagram got no answer, or what it was answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not a well-formed packet.
    Malformed,
    /// A packet type this port does not serve (accounting, replies, …).
    UnsupportedCode,
    /// No RADIUS client covers the source address.
    UnknownClient,
    /// The Message-Authenticator is wrong (forged, or another secret).
    BadAuthenticator,
    /// No Message-Authenticator where the client, or the packet type, requires one.
    MissingAuthenticator,
    /// A retransmission answered from the duplicate cache.
    DuplicateAnswered,
    /// A retransmission of a request still being handled, or a conflicting packet.
    DuplicateDropped,
    /// The engine failed (database unavailable); no answer so the client retries.
    Error,
    /// Too many requests in flight.
    Overload,
    /// Access-Accept sent.
    Accept,
    /// Access-Reject sent.
    Reject,
    /// Access-Challenge sent.
    Challenge,
}

/// The counters.
#[derive(Debug, Default)]
pub struct Stats {
    received: AtomicU64,
    counts: [AtomicU64; 12],
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Datagrams received.
    pub received: u64,
    /// Dropped: malformed.
    pub malformed: u64,
    /// Dropped: unsupported packet type.
    pub unsupported_code: u64,
    /// Dropped: unknown client.
    pub unknown_client: u64,
    /// Dropped: wrong Message-Authenticator.
    pub bad_authenticator: u64,
    /// Dropped: missing Message-Authenticator.
    pub missing_authenticator: u64,
    /// Answered from the duplicate cache.
    pub duplicate_answered: u64,
    /// Dropped: duplicate in progress or conflicting.
    pub duplicate_dropped: u64,
    /// Dropped: engine error.
    pub errors: u64,
    /// Dropped: overload.
    pub overload: u64,
    /// Access-Accept sent.
    pub accepts: u64,
    /// Access-Reject sent.
    pub rejects: u64,
    /// Access-Challenge sent.
    pub challenges: u64,
}

impl Snapshot {
    /// Datagrams dropped without an answer, for whatever reason.
    pub fn dropped(&self) -> u64 {
        self.malformed
            + self.unsupported_code
            + self.unknown_client
            + self.bad_authenticator
            + self.missing_authenticator
            + self.duplicate_dropped
            + self.errors
            + self.overload
    }
}

fn slot(o: Outcome) -> usize {
    match o {
        Outcome::Malformed => 0,
        Outcome::UnsupportedCode => 1,
        Outcome::UnknownClient => 2,
        Outcome::BadAuthenticator => 3,
        Outcome::MissingAuthenticator => 4,
        Outcome::DuplicateAnswered => 5,
        Outcome::DuplicateDropped => 6,
        Outcome::Error => 7,
        Outcome::Overload => 8,
        Outcome::Accept => 9,
        Outcome::Reject => 10,
        Outcome::Challenge => 11,
    }
}

impl Stats {
    /// Counts a received datagram.
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an outcome.
    pub fn count(&self, o: Outcome) {
        if let Some(c) = self.counts.get(slot(o)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        let g = |o| {
            self.counts
                .get(slot(o))
                .map_or(0, |c| c.load(Ordering::Relaxed))
        };
        Snapshot {
            received: self.received.load(Ordering::Relaxed),
            malformed: g(Outcome::Malformed),
            unsupported_code: g(Outcome::UnsupportedCode),
            unknown_client: g(Outcome::UnknownClient),
            bad_authenticator: g(Outcome::BadAuthenticator),
            missing_authenticator: g(Outcome::MissingAuthenticator),
            duplicate_answered: g(Outcome::DuplicateAnswered),
            duplicate_dropped: g(Outcome::DuplicateDropped),
            errors: g(Outcome::Error),
            overload: g(Outcome::Overload),
            accepts: g(Outcome::Accept),
            rejects: g(Outcome::Reject),
            challenges: g(Outcome::Challenge),
        }
    }
}
