//! Duplicate detection (RFC 5080 §2.2.2): a client that did not hear the answer sends the same
//! request again — same source address and port, identifier and Request Authenticator. It must
//! get the same answer, and the user must not be authenticated twice (the passcode was used up
//! by the first one, so a second run would turn an Access-Accept into an Access-Reject).
//!
//! The cache maps that key to the request's digest and, once known, the reply octets. A
//! retransmission arriving while the first copy is still being handled is dropped (the client
//! sends again; by then the reply is cached). A packet with the same key but other contents is
//! not a retransmission: when the first is done it replaces the entry, while it is in progress
//! it is dropped. Entries live [`DEFAULT_TTL_SECS`] seconds, enough for a client's usual
//! retries (`pam_radius_auth` 3 × 3 s, radclient 3 × 5 s); at most [`DEFAULT_CAPACITY`] are
//! kept, the oldest evicted first. Time is an argument, so the tests move it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// Seconds an entry is kept.
pub const DEFAULT_TTL_SECS: i64 = 30;
/// Entries kept at most.
pub const DEFAULT_CAPACITY: usize = 16_384;

/// What identifies a request and its retransmissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// Client address and port.
    pub source: SocketAddr,
    /// Identifier.
    pub identifier: u8,
    /// Request Authenticator.
    pub authenticator: [u8; 16],
}

#[derive(Debug)]
struct Entry {
    digest: [u8; 16],
    created: i64,
    /// Increases with every insertion, to tell an entry from a later one with the same key.
    serial: u64,
    reply: Option<Vec<u8>>,
}

/// What to do with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// New: handle it, then call [`DuplicateCache::finish`] or [`DuplicateCache::abandon`].
    New,
    /// A retransmission of a handled request: send this reply again.
    Answered(Vec<u8>),
    /// A retransmission of a request still being handled, or a conflicting packet: drop.
    InProgress,
}

/// The cache.
#[derive(Debug)]
pub struct DuplicateCache {
    entries: HashMap<Key, Entry>,
    order: VecDeque<(Key, u64)>,
    ttl: i64,
    capacity: usize,
    next_serial: u64,
}

impl Default for DuplicateCache {
    fn default() -> Self {
        Self::new(DEFAULT_TTL_SECS, DEFAULT_CAPACITY)
    }
}

impl DuplicateCache {
    /// A cache keeping entries `ttl` seconds, at most `capacity` of them (at least 1).
    pub fn new(ttl: i64, capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            ttl,
            capacity: capacity.max(1),
            next_serial: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Looks a request up; a new one is recorded as in progress.
    pub fn begin(&mut self, key: Key, digest: [u8; 16], now: i64) -> Seen {
        self.expire(now);
        if let Some(e) = self.entries.get(&key) {
            match (&e.reply, e.digest == digest) {
                (Some(reply), true) => return Seen::Answered(reply.clone()),
                (None, _) => return Seen::InProgress,
                // Same key, other contents, first one done: a new request.
                (Some(_), false) => {}
            }
        }
        while self.entries.len() >= self.capacity {
            let Some((old, serial)) = self.order.pop_front() else {
                break;
            };
            self.remove_if(&old, serial);
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        self.entries.insert(
            key,
            Entry {
                digest,
                created: now,
                serial,
                reply: None,
            },
        );
        self.order.push_back((key, serial));
        Seen::New
    }

    /// Records the reply of a request begun with [`Seen::New`].
    pub fn finish(&mut self, key: &Key, digest: [u8; 16], reply: Vec<u8>) {
        if let Some(e) = self.entries.get_mut(key)
            && e.digest == digest
        {
            e.reply = Some(reply);
        }
    }

    /// Forgets a request that got no reply (an internal error), so a retransmission is
    /// handled afresh.
    pub fn abandon(&mut self, key: &Key, digest: [u8; 16]) {
        if self
            .entries
            .get(key)
            .is_some_and(|e| e.digest == digest && e.reply.is_none())
        {
            self.entries.remove(key);
        }
    }

    fn remove_if(&mut self, key: &Key, serial: u64) {
        if self.entries.get(key).is_some_and(|e| e.serial == serial) {
            self.entries.remove(key);
        }
    }

    fn expire(&mut self, now: i64) {
        while let Some(&(key, serial)) = self.order.front() {
            match self.entries.get(&key) {
                Some(e) if e.serial == serial && now - e.created < self.ttl => break,
                _ => {
                    self.order.pop_front();
                    self.remove_if(&key, serial);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16, id: u8) -> Key {
        Key {
            source: SocketAddr::from(([127, 0, 0, 1], port)),
            identifier: id,
            authenticator: [id; 16],
        }
    }

    #[test]
    fn retransmissions_get_the_cached_reply_until_it_expires() {
        let mut c = DuplicateCache::new(30, 100);
        let k = key(1000, 1);
        assert_eq!(c.begin(k, [1; 16], 100), Seen::New);
        assert_eq!(c.begin(k, [1; 16], 100), Seen::InProgress);
        c.finish(&k, [1; 16], b"reply".to_vec());
        assert_eq!(c.begin(k, [1; 16], 129), Seen::Answered(b"reply".to_vec()));
        // Other port, identifier or authenticator: another request.
        assert_eq!(c.begin(key(1001, 1), [1; 16], 129), Seen::New);
        assert_eq!(c.begin(key(1000, 2), [1; 16], 129), Seen::New);
        // Expired.
        assert_eq!(c.begin(k, [1; 16], 130), Seen::New);
    }

    #[test]
    fn conflicting_contents_are_a_new_request_once_the_first_is_done() {
        let mut c = DuplicateCache::new(30, 100);
        let k = key(1000, 1);
        assert_eq!(c.begin(k, [1; 16], 0), Seen::New);
        assert_eq!(c.begin(k, [2; 16], 0), Seen::InProgress);
        c.finish(&k, [1; 16], b"one".to_vec());
        assert_eq!(c.begin(k, [2; 16], 1), Seen::New);
        // The first request's late finish does not overwrite the second's entry.
        c.finish(&k, [1; 16], b"late".to_vec());
        assert_eq!(c.begin(k, [2; 16], 1), Seen::InProgress);
        c.finish(&k, [2; 16], b"two".to_vec());
        assert_eq!(c.begin(k, [2; 16], 2), Seen::Answered(b"two".to_vec()));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn abandoned_requests_are_handled_again() {
        let mut c = DuplicateCache::new(30, 100);
        let k = key(1000, 1);
        assert_eq!(c.begin(k, [1; 16], 0), Seen::New);
        c.abandon(&k, [1; 16]);
        assert!(c.is_empty());
        assert_eq!(c.begin(k, [1; 16], 0), Seen::New);
    }

    #[test]
    fn capacity_evicts_the_oldest() {
        let mut c = DuplicateCache::new(30, 3);
        for i in 0..5u8 {
            assert_eq!(c.begin(key(1, i), [i; 16], 0), Seen::New);
            c.finish(&key(1, i), [i; 16], vec![i]);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.begin(key(1, 4), [4; 16], 0), Seen::Answered(vec![4]));
        assert_eq!(c.begin(key(1, 0), [0; 16], 0), Seen::New);
        assert_eq!(c.len(), 3);
        assert!(
            c.order.len() <= 6,
            "eviction order grows: {}",
            c.order.len()
        );
    }
}
