//! Per-source limiting of INITs, the one receive-path duty the core leaves to drivers
//! (it never sees addresses): one [`InitRateLimiter`] per source IP address, in a bounded
//! map that forgets the least recently used source. An INIT from a source whose bucket is
//! empty is dropped before it reaches the session, so a flood from some addresses cannot
//! use up the session's own budget for answering the rest.

use std::collections::HashMap;
use std::net::IpAddr;

use assoc_core::wire::{PduType, RawPdu};
use assoc_core::{InitBudget, InitRateLimiter, Instant};
use bytes::Bytes;

/// Sources remembered at once.
const MAX_SOURCES: usize = 1024;

pub(crate) struct InitLimits {
    budget: InitBudget,
    sources: HashMap<IpAddr, (InitRateLimiter, u64)>,
    uses: u64,
}

impl InitLimits {
    pub(crate) fn new(budget: InitBudget) -> Self {
        InitLimits { budget, sources: HashMap::new(), uses: 0 }
    }

    /// Whether `pdu` from `from` may go to the session: anything but an INIT always may.
    pub(crate) fn admit(&mut self, now: Instant, from: IpAddr, pdu: &Bytes) -> bool {
        if !RawPdu::parse(pdu).is_ok_and(|raw| raw.ty == PduType::Init) {
            return true;
        }
        self.uses += 1;
        if !self.sources.contains_key(&from) && self.sources.len() >= MAX_SOURCES {
            if let Some(oldest) = self.sources.iter().min_by_key(|(_, (_, used))| *used).map(|(ip, _)| *ip) {
                self.sources.remove(&oldest);
            }
        }
        let (uses, budget) = (self.uses, self.budget);
        let (bucket, used) = self.sources.entry(from).or_insert_with(|| (InitRateLimiter::new(budget), 0));
        *used = uses;
        bucket.try_acquire(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assoc_core::{Config, Input, Output, PeerName, Psk, Session};

    fn an_init() -> Bytes {
        let psk = Psk::new(&[5u8; 16]).unwrap();
        let (a, b) = (PeerName::new(b"a").unwrap(), PeerName::new(b"b").unwrap());
        let mut s = Session::new(Config::new(a, b, psk), 1).unwrap();
        let now = Instant::from_micros(1);
        s.handle_input(now, Input::LinkUp).unwrap();
        s.handle_input(now, Input::Open).unwrap();
        loop {
            match s.poll_output() {
                Some(Output::Persist { seq, .. }) => {
                    s.handle_input(now, Input::Persisted { upto: seq }).unwrap()
                }
                Some(Output::Transmit(t)) => return t.datagram,
                Some(_) => {}
                None => panic!("no INIT"),
            }
        }
    }

    #[test]
    fn a_flooding_source_is_cut_off_while_others_and_other_pdus_pass() {
        let init = an_init();
        let mut l = InitLimits::new(InitBudget { burst: 3, per_second: 1 });
        let now = Instant::from_micros(1_000_000);
        let (flooder, peer): (IpAddr, IpAddr) = ("10.0.0.66".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let admitted = (0..100).filter(|_| l.admit(now, flooder, &init)).count();
        assert_eq!(admitted, 3, "the burst, then nothing");
        assert!(l.admit(now, peer, &init), "another source has its own bucket");
        assert!(l.admit(now, flooder, &Bytes::from_static(b"not an init")), "only INITs are limited");
        assert!(l.admit(now + assoc_core::Duration::from_secs(1), flooder, &init), "refills");
    }

    #[test]
    fn the_map_stays_bounded() {
        let init = an_init();
        let mut l = InitLimits::new(InitBudget::DEFAULT);
        for i in 0..3000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            assert!(l.admit(Instant::ZERO, ip, &init));
        }
        assert!(l.sources.len() <= MAX_SOURCES);
    }
}
