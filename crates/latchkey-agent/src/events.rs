//! The queue of offline authentication events, `STATE_DIR/events.json` (0600, replaced
//! atomically), uploaded to `POST /api/v1/offline/events` at the next successful contact.
//!
//! Invariants:
//! - An event is queued (on disk) before the PAM module gets its answer.
//! - An event leaves the queue only after the server answered 200 to an upload containing it;
//!   ids are random UUIDs chosen here, so a re-upload after a lost answer is not recorded
//!   twice by the server.
//! - The queue is bounded ([`MAX_EVENTS`]); past the bound the oldest events are dropped
//!   (and that is logged), so a host offline for months cannot fill its disk.
//! - A damaged queue file is logged and set aside as `events.json.damaged`, never silently
//!   emptied.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::write_private;

/// Most events kept.
pub const MAX_EVENTS: usize = 10_000;

/// Most events per upload request.
pub const BATCH: usize = 500;

/// One offline authentication, as uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Random UUID (v4) chosen by the host: the server's idempotency key.
    pub id: String,
    /// Login.
    pub user: String,
    /// Unix seconds, host clock.
    pub at: i64,
    /// `success` or `fail`.
    pub result: String,
    /// Which credential matched (`tokencode`, `offline_emergency_tokencode`, …), or none.
    pub credential: Option<String>,
    /// Short `snake_case` reason.
    pub reason: String,
}

/// A random version-4 UUID.
pub fn new_id() -> String {
    let mut b: [u8; 16] = rand::random();
    if let Some(x) = b.get_mut(6) {
        *x = (*x & 0x0f) | 0x40;
    }
    if let Some(x) = b.get_mut(8) {
        *x = (*x & 0x3f) | 0x80;
    }
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(12..16).unwrap_or_default(),
        h.get(16..20).unwrap_or_default(),
        h.get(20..32).unwrap_or_default()
    )
}

/// The queue file.
#[derive(Debug, Clone)]
pub struct EventQueue {
    path: PathBuf,
}

impl EventQueue {
    /// The queue of a state directory.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("events.json"),
        }
    }

    /// Queued events, oldest first. A damaged file is moved aside (and reported in the error).
    pub fn load(&self) -> io::Result<Vec<Event>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        match serde_json::from_slice(&bytes) {
            Ok(v) => Ok(v),
            Err(e) => {
                let aside = self.path.with_extension("json.damaged");
                std::fs::rename(&self.path, &aside)?;
                Err(io::Error::other(format!(
                    "{} is damaged ({e}); moved to {}",
                    self.path.display(),
                    aside.display()
                )))
            }
        }
    }

    fn save(&self, events: &[Event]) -> io::Result<()> {
        let bytes = serde_json::to_vec(events).map_err(io::Error::other)?;
        write_private(&self.path, &bytes)
    }

    /// Appends an event; returns how many old events were dropped to stay in bound.
    pub fn push(&self, event: Event) -> io::Result<usize> {
        let mut all = match self.load() {
            Ok(v) => v,
            Err(e) => {
                tracing::error!("event queue: {e}; starting a new queue");
                Vec::new()
            }
        };
        all.push(event);
        let dropped = all.len().saturating_sub(MAX_EVENTS);
        if dropped > 0 {
            all.drain(..dropped);
        }
        self.save(&all)?;
        Ok(dropped)
    }

    /// Removes the events whose ids are in `ids`.
    pub fn remove(&self, ids: &[String]) -> io::Result<()> {
        let mut all = self.load()?;
        all.retain(|e| !ids.contains(&e.id));
        self.save(&all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(user: &str) -> Event {
        Event {
            id: new_id(),
            user: user.to_owned(),
            at: 1,
            result: "fail".to_owned(),
            credential: None,
            reason: "wrong_passcode".to_owned(),
        }
    }

    #[test]
    fn queue_survives_and_removes_only_accepted() {
        let d = tempfile::tempdir().unwrap();
        let q = EventQueue::new(d.path());
        assert!(q.load().unwrap().is_empty());
        let a = ev("ann");
        let b = ev("bob");
        q.push(a.clone()).unwrap();
        q.push(b.clone()).unwrap();
        assert_eq!(q.load().unwrap(), [a.clone(), b.clone()]);
        q.remove(std::slice::from_ref(&a.id)).unwrap();
        assert_eq!(EventQueue::new(d.path()).load().unwrap(), [b]);
        assert_ne!(new_id(), new_id());
        assert_eq!(new_id().len(), 36);
        assert_eq!(new_id().as_bytes()[14], b'4');
    }

    #[test]
    fn damaged_queue_is_set_aside() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("events.json"), b"[{\"id\":").unwrap();
        let q = EventQueue::new(d.path());
        assert!(q.load().unwrap_err().to_string().contains("damaged"));
        assert!(d.path().join("events.json.damaged").exists());
        assert!(q.load().unwrap().is_empty());
    }
}
