//! Per-source limiting of unauthenticated INITs: one token bucket per source
//! ([`Remote::source`]: the IP address, or the connection), in a map of bounded size that
//! forgets the least recently charged source first.
//!
//! A session charges only INITs whose MAC fails: an authentic INIT is never charged. A
//! source whose bucket is empty is dropped before the session's own budget for
//! unauthenticated PDUs is touched, so a flood from a few sources cannot use up the answers
//! every other source gets. An `Endpoint` holds one limiter for all its sessions.
//!
//! Invariant: `by_key` and `by_stamp` hold the same sources (`by_stamp[s] == k` exactly
//! when `by_key[k].1 == s`), at most `max_sources` of them, and every stamp is below
//! `next_stamp`. Memory is therefore bounded by configuration whatever peers send, and
//! each charge costs O(log max_sources).

use alloc::collections::BTreeMap;

use crate::crypto::{InitBudget, InitRateLimiter};
use crate::remote::{Remote, Source};
use crate::time::Instant;

/// The numbers of a [`SourceLimiter`] (part of [`Config`](crate::Config), validated there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceLimits {
    /// Each source's bucket (burst ≥ 1, per_second ≥ 1).
    pub budget: InitBudget,
    /// Sources remembered at once (≥ 1); beyond it the least recently charged is forgotten
    /// (and starts again with a full bucket if it comes back).
    pub max_sources: u32,
}

impl SourceLimits {
    /// Bursts of 8, then 2 per second, per source; 1,024 sources remembered.
    pub const DEFAULT: SourceLimits =
        SourceLimits { budget: InitBudget { burst: 8, per_second: 2 }, max_sources: 1024 };
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits::DEFAULT
    }
}

/// Token buckets per source, bounded in number (least recently used evicted). Pure state:
/// it reads no clock.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceLimiter {
    limits: SourceLimits,
    by_key: BTreeMap<Source, (InitRateLimiter, u64)>,
    by_stamp: BTreeMap<u64, Source>,
    next_stamp: u64,
}

impl SourceLimiter {
    /// An empty limiter (every source starts with a full bucket).
    pub fn new(limits: SourceLimits) -> Self {
        SourceLimiter { limits, by_key: BTreeMap::new(), by_stamp: BTreeMap::new(), next_stamp: 0 }
    }

    /// Charges one token to `remote`'s source at `now`: `true` if it had one. A refusal
    /// takes nothing (but still counts as a use for the eviction order).
    pub fn allow(&mut self, now: Instant, remote: Remote) -> bool {
        let key = remote.source();
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let entry = match self.by_key.get_mut(&key) {
            Some(entry) => {
                self.by_stamp.remove(&entry.1);
                entry
            }
            None => {
                let max = usize::try_from(self.limits.max_sources).unwrap_or(usize::MAX).max(1);
                while self.by_key.len() >= max {
                    let Some((_, oldest)) = self.by_stamp.pop_first() else { break };
                    self.by_key.remove(&oldest);
                }
                self.by_key.entry(key).or_insert((InitRateLimiter::new(self.limits.budget), stamp))
            }
        };
        entry.1 = stamp;
        self.by_stamp.insert(stamp, key);
        entry.0.try_acquire(now)
    }

    /// Sources remembered now (at most `max_sources`).
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no source is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The numbers it enforces.
    pub fn limits(&self) -> SourceLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use core::net::SocketAddr;

    fn addr(s: &str) -> Remote {
        Remote::Addr(s.parse::<SocketAddr>().unwrap())
    }

    fn consistent(l: &SourceLimiter) -> bool {
        l.by_key.len() == l.by_stamp.len()
            && l.by_stamp.iter().all(|(s, k)| l.by_key.get(k).is_some_and(|e| e.1 == *s))
            && l.by_key.len() <= l.limits.max_sources as usize
    }

    #[test]
    fn a_flooding_source_is_cut_off_while_others_pass_and_it_refills() {
        let mut l = SourceLimiter::new(SourceLimits {
            budget: InitBudget { burst: 3, per_second: 1 },
            max_sources: 8,
        });
        let now = Instant::from_micros(1_000_000);
        let admitted =
            (0..100).filter(|i| l.allow(now, addr(&alloc::format!("10.0.0.66:{}", 1000 + i)))).count();
        assert_eq!(admitted, 3, "the burst, then nothing, whatever port it uses");
        assert!(l.allow(now, addr("10.0.0.2:1")), "another source has its own bucket");
        assert!(l.allow(now, Remote::Conn(66)), "a connection is its own source");
        assert!(l.allow(now + Duration::from_secs(1), addr("10.0.0.66:1")), "refills");
        assert!(consistent(&l));
    }

    #[test]
    fn bounded_and_the_least_recently_used_is_forgotten() {
        let mut l = SourceLimiter::new(SourceLimits {
            budget: InitBudget { burst: 1, per_second: 1 },
            max_sources: 4,
        });
        let now = Instant::ZERO;
        assert!(l.allow(now, Remote::Conn(0)));
        for i in 1..3000u64 {
            assert!(l.allow(now, Remote::Conn(i)), "a new source starts full");
            // Source 1 stays recent: charged (and refused) every round.
            if i > 1 {
                assert!(!l.allow(now, Remote::Conn(1)));
            }
            assert!(consistent(&l));
        }
        assert_eq!(l.len(), 4);
        assert!(!l.allow(now, Remote::Conn(1)), "the recently used source was kept (still empty)");
        assert!(l.allow(now, Remote::Conn(0)), "the oldest was forgotten: a full bucket again");
    }
}
