//! The guarantees, as an oracle: everything the two applications saw, checked after every
//! step of a run.
//!
//! * no duplicate delivery, delivery strictly in msn order, delivered bytes identical to
//!   the submitted ones — a delivery reported again after a restart (not acknowledged
//!   before the crash) carries the same msn, app id and bytes and is not a second one;
//! * at most one outcome per queued message (reported again only unchanged); sender
//!   `Delivered` ⇒ the receiver delivered
//!   it; sender non-delivered ⇒ the receiver never delivers it;
//! * resume points never ahead of the receiver's durable state;
//! * at the end, every queued message has its outcome.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use bytes::Bytes;

use super::Pair;
use crate::message::{MessageId, Outcome};
use crate::output::Event;
use crate::persist::StoredInbound;

/// What each side's application submitted, was told, and received.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Per side: the bytes of every submission by application id (ids unique per side).
    submitted: [BTreeMap<u64, Bytes>; 2],
    /// Per side: queued message id → application id.
    queued: [BTreeMap<MessageId, u64>; 2],
    /// Per side: outcome of each queued message.
    outcomes: [BTreeMap<MessageId, Outcome>; 2],
    /// Per receiving side: application ids delivered, with their msn.
    delivered: [BTreeMap<u64, u64>; 2],
    /// Per receiving side: the last msn delivered.
    last_msn: [Option<u64>; 2],
    /// Per sending side: application ids the sender was told are not delivered.
    non_delivered: [BTreeSet<u64>; 2],
    /// Entries of the pair's event log already observed.
    seen: usize,
}

impl Ledger {
    /// Notes that side `side`'s application submitted `bytes` as `app_id`.
    pub fn submitted(&mut self, side: usize, app_id: u64, bytes: Bytes) {
        self.submitted[side].insert(app_id, bytes);
    }

    /// Whether side `side`'s message `app_id` was queued (the session has custody).
    pub fn is_queued(&self, side: usize, app_id: u64) -> bool {
        self.queued[side].values().any(|a| *a == app_id)
    }

    /// Application ids side `side` submitted that are not (yet) queued.
    pub fn not_queued(&self, side: usize) -> impl Iterator<Item = (u64, &Bytes)> + '_ {
        self.submitted[side].iter().filter(move |(a, _)| !self.is_queued(side, **a)).map(|(a, b)| (*a, b))
    }

    /// Observes every new event of the pair, then checks the state-based guarantees.
    pub fn check(&mut self, pair: &Pair) -> Result<(), String> {
        while self.seen < pair.log.len() {
            let (side, event) = pair.log[self.seen].clone();
            self.seen += 1;
            self.observe(side, &event)?;
        }
        self.check_resume_points(pair)
    }

    fn observe(&mut self, side: usize, event: &Event) -> Result<(), String> {
        let peer = 1 - side;
        match event {
            Event::Queued { id, app_id } => {
                if let Some(old) = self.queued[side].insert(*id, *app_id).filter(|old| old != app_id) {
                    return Err(format!("side {side}: message id {id:?} queued twice ({old}, {app_id})"));
                }
            }
            Event::Outcome { id, app_id, outcome } => {
                if self.queued[side].get(id) != Some(app_id) {
                    return Err(format!(
                        "side {side}: outcome for {id:?} (app {app_id}) that was never queued"
                    ));
                }
                if let Some(old) = self.outcomes[side].insert(*id, *outcome) {
                    if old == *outcome {
                        return Ok(()); // reported again after a restart
                    }
                    return Err(format!("side {side}: second outcome for {id:?}: {old:?} then {outcome:?}"));
                }
                match outcome {
                    Outcome::Delivered if !self.delivered[peer].contains_key(app_id) => {
                        return Err(format!(
                            "side {side}: {id:?} reported delivered, peer never delivered app {app_id}"
                        ));
                    }
                    Outcome::NonDelivered(why) => {
                        if self.delivered[peer].contains_key(app_id) {
                            return Err(format!(
                                "side {side}: {id:?} non-delivered ({why:?}) but the peer delivered it"
                            ));
                        }
                        self.non_delivered[side].insert(*app_id);
                    }
                    Outcome::Delivered => {}
                }
            }
            Event::Delivered { msn, app_id, bytes } => {
                match self.delivered[side].get(app_id) {
                    // Reported again after a restart: the bytes are checked below.
                    Some(m) if m == msn => {}
                    Some(m) => {
                        return Err(format!("side {side}: app {app_id} delivered twice (msn {m}, {msn})"))
                    }
                    None => {
                        if self.last_msn[side].is_some_and(|last| *msn <= last) {
                            return Err(format!(
                                "side {side}: msn {msn} delivered after msn {:?}",
                                self.last_msn[side]
                            ));
                        }
                        self.last_msn[side] = Some(*msn);
                        self.delivered[side].insert(*app_id, *msn);
                    }
                }
                match self.submitted[peer].get(app_id) {
                    Some(b) if b == bytes => {}
                    Some(_) => {
                        return Err(format!(
                            "side {side}: msn {msn} (app {app_id}) delivered with other bytes"
                        ))
                    }
                    None => {
                        return Err(format!(
                            "side {side}: delivered app {app_id} that the peer never submitted"
                        ))
                    }
                }
                if self.non_delivered[peer].contains(app_id) {
                    return Err(format!(
                        "side {side}: delivered app {app_id} after the sender was told non-delivered"
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Resume points never ahead of the receiver's durable (on-disk) state.
    fn check_resume_points(&self, pair: &Pair) -> Result<(), String> {
        for side in 0..2 {
            let disk = &pair.durable[1 - side];
            let store = pair.sessions[side].store();
            for (id, acked) in pair.sessions[side].resume_points() {
                let Some(msn) = store.outbound.get(&id).and_then(|m| m.msn) else { continue };
                let durable = match disk.inbound.get(&msn) {
                    _ if msn < disk.watermark => u64::MAX,
                    Some(StoredInbound::Partial { bytes, .. }) => bytes.len() as u64,
                    Some(StoredInbound::Resolved(_)) => u64::MAX,
                    None => 0,
                };
                if acked > durable {
                    return Err(format!(
                        "side {side}: resume point {acked} of msn {msn} ahead of the peer's disk ({durable})"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether every queued message of both sides has its outcome.
    pub fn all_resolved(&self) -> bool {
        (0..2).all(|s| self.queued[s].keys().all(|id| self.outcomes[s].contains_key(id)))
    }

    /// Messages delivered in total, and outcomes reported in total.
    pub fn totals(&self) -> (usize, usize) {
        (self.delivered[0].len() + self.delivered[1].len(), self.outcomes[0].len() + self.outcomes[1].len())
    }

    /// Outcomes of side `side`.
    pub fn outcomes(&self, side: usize) -> impl Iterator<Item = (&MessageId, &Outcome)> {
        self.outcomes[side].iter()
    }
}
