//! What every authentication reads but almost never changes — the domain tree (policies)
//! and the agent owning an API key — kept in memory for at most [`HOT_TTL`].
//!
//! Each request used to read both from the store; on SQLite that is two round trips to a
//! connection's worker thread out of the five a successful authentication made (see
//! docs/benchmarks.md). Users, tokens, lock state and emergency credentials are never cached:
//! they decide whether a code is accepted and are read fresh every time.
//!
//! Staleness: a change made through this node's [`AdminService`] takes effect at once (it
//! bumps the configuration epoch, which empties the cache). A change made on another node
//! takes effect here within [`HOT_TTL`]: a deleted agent's key, or a policy edited on another
//! node, still works for at most that long (docs/design/authentication.md). The time is the
//! monotonic process clock, not the injected [`crate::ports::Clock`]: this is a cache
//! lifetime, not a security decision, and tests that move a fake clock must not see stale
//! policy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::authz::DomainTree;
use crate::ids::DomainId;
use crate::model::Agent;

/// How long a cached value is used before it is read again.
pub const HOT_TTL: Duration = Duration::from_secs(1);

/// Agents remembered at most; the map is emptied when full (keys are only ever added for
/// agents that exist, so an attacker guessing keys cannot grow it).
const MAX_AGENTS: usize = 1024;

/// A value read at `at` under configuration epoch `epoch`.
struct Entry<T> {
    at: Instant,
    epoch: u64,
    value: T,
}

impl<T> Entry<T> {
    fn fresh(&self, epoch: u64, now: Instant) -> bool {
        self.epoch == epoch && now.saturating_duration_since(self.at) < HOT_TTL
    }
}

/// The cache. Every method takes the current configuration epoch.
#[derive(Default)]
pub(crate) struct HotCache {
    tree: Mutex<Option<Entry<Arc<DomainTree>>>>,
    agents: Mutex<HashMap<String, Entry<Agent>>>,
}

impl HotCache {
    /// The cached tree, when fresh and holding `domain` (a domain created on another node a
    /// moment ago forces a read).
    pub(crate) fn tree(&self, epoch: u64, domain: Option<DomainId>) -> Option<Arc<DomainTree>> {
        let guard = self.tree.lock().unwrap_or_else(PoisonError::into_inner);
        let e = guard.as_ref()?;
        let known = domain.is_none_or(|d| e.value.get(d).is_some());
        (known && e.fresh(epoch, Instant::now())).then(|| Arc::clone(&e.value))
    }

    /// Remembers the tree read under `epoch`.
    pub(crate) fn put_tree(&self, epoch: u64, tree: Arc<DomainTree>) {
        let mut guard = self.tree.lock().unwrap_or_else(PoisonError::into_inner);
        *guard = Some(Entry {
            at: Instant::now(),
            epoch,
            value: tree,
        });
    }

    /// The agent owning the key with this hash, when fresh.
    pub(crate) fn agent(&self, epoch: u64, key_hash: &str) -> Option<Agent> {
        let guard = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .get(key_hash)
            .filter(|e| e.fresh(epoch, Instant::now()))
            .map(|e| e.value.clone())
    }

    /// Remembers an agent that exists, read under `epoch`.
    pub(crate) fn put_agent(&self, epoch: u64, key_hash: String, agent: Agent) {
        let mut guard = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.len() >= MAX_AGENTS {
            guard.clear();
        }
        guard.insert(
            key_hash,
            Entry {
                at: Instant::now(),
                epoch,
                value: agent,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AgentId;
    use latchkey_proto::admin::AgentKind;

    fn agent() -> Agent {
        Agent {
            id: AgentId(1),
            name: "vpn".to_owned(),
            kind: AgentKind::Rest,
            domain_id: DomainId(1),
            api_key_hash: Some("h".to_owned()),
            address: None,
            secret_sealed: None,
            require_message_authenticator: false,
            created_at: 0,
        }
    }

    #[test]
    fn an_epoch_change_empties_the_cache() {
        let c = HotCache::default();
        c.put_agent(1, "h".to_owned(), agent());
        c.put_tree(1, Arc::new(DomainTree::new(Vec::new())));
        assert!(c.agent(1, "h").is_some());
        assert!(c.tree(1, None).is_some());
        assert!(c.agent(2, "h").is_none());
        assert!(c.tree(2, None).is_none());
        assert!(c.agent(1, "other").is_none());
    }

    #[test]
    fn a_domain_missing_from_the_cached_tree_forces_a_read() {
        let c = HotCache::default();
        c.put_tree(1, Arc::new(DomainTree::new(Vec::new())));
        assert!(c.tree(1, Some(DomainId(7))).is_none());
    }
}
