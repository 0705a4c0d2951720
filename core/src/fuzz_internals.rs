//! Crate internals for the fuzz targets in `fuzz/`. Compiled only under `--cfg fuzzing`
//! (which `cargo fuzz` sets); never part of the public API.
//!
//! Thin wrappers, no logic: [`ReplayWindow`] is the receiver's packet-number record
//! (`recovery::RangeSet`), [`Reassembler`] the receiving side of a session (`Receiver`).

use alloc::vec::Vec;

use crate::config::Config;
use crate::persist::{Record, SessionStore};
use crate::receiver::{Ignored, Receiver};
use crate::recovery::{Insert, RangeSet};
use crate::wire::{DataFrame, Frame, PnRange};

/// What [`ReplayWindow::insert`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Seen {
    /// First time this packet number is seen.
    New,
    /// Already recorded.
    Duplicate,
    /// Below the floor.
    TooOld,
}

/// The replay window / ACK record of one association (`recovery::RangeSet`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplayWindow(RangeSet);

impl ReplayWindow {
    /// An empty record keeping at most `max_ranges` ranges (clamped into `1..=64`).
    pub fn new(max_ranges: usize) -> Self {
        ReplayWindow(RangeSet::new(max_ranges))
    }
    /// Records `pn`; says whether it is new.
    pub fn insert(&mut self, pn: u64) -> Seen {
        match self.0.insert(pn) {
            Insert::New => Seen::New,
            Insert::Duplicate => Seen::Duplicate,
            Insert::TooOld => Seen::TooOld,
        }
    }
    /// Whether `pn` counts as seen.
    pub fn contains(&self, pn: u64) -> bool {
        self.0.contains(pn)
    }
    /// Every pn below this counts as seen.
    pub fn floor(&self) -> u64 {
        self.0.floor()
    }
    /// The largest pn held in a range.
    pub fn largest(&self) -> Option<u64> {
        self.0.largest()
    }
    /// The ranges as ACK ranges, highest first.
    pub fn ack_ranges(&self) -> Vec<PnRange> {
        self.0.to_ack_ranges()
    }
    /// Whether the structure's documented invariant holds.
    pub fn invariant_holds(&self) -> bool {
        self.0.check_invariant()
    }
}

/// Why a DATA frame was ignored (`receiver::Ignored`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataIgnored {
    /// Already resolved or already durable.
    Duplicate,
    /// Outside the message window.
    OutsideWindow,
    /// Beyond the declared length or the checkpoint window.
    OutOfBounds,
    /// Disagrees with bytes already received.
    Conflicting,
}

/// The receiving side of a session: reassembly, checkpoints and delivery (`Receiver`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Reassembler(Receiver);

impl Reassembler {
    /// A new association: forget reassembly beyond the durable prefixes.
    pub fn on_association_up(&mut self) {
        self.0.on_association_up();
    }
    /// One DATA frame against `store`: the records to apply, in order, and why it was
    /// ignored, if it was.
    pub fn on_data(
        &mut self,
        cfg: &Config,
        store: &SessionStore,
        d: &DataFrame,
    ) -> (Vec<Record>, Option<DataIgnored>) {
        let fx = self.0.on_data(cfg, &cfg.params, store, d);
        let ignored = fx.ignored.map(|i| match i {
            Ignored::Duplicate => DataIgnored::Duplicate,
            Ignored::OutsideWindow => DataIgnored::OutsideWindow,
            Ignored::OutOfBounds => DataIgnored::OutOfBounds,
            Ignored::Conflicting => DataIgnored::Conflicting,
        });
        (fx.records, ignored)
    }
    /// The sender gives up on `msn`.
    pub fn on_cancel(&mut self, cfg: &Config, store: &SessionStore, msn: u64) -> Option<Record> {
        self.0.on_cancel(&cfg.params, store, msn)
    }
    /// The next message to deliver, if its turn has come.
    pub fn deliverable(store: &SessionStore) -> Option<Record> {
        Receiver::deliverable(store)
    }
    /// Frames answering CANCELs and rejections.
    pub fn take_answers(&mut self) -> Vec<Frame> {
        self.0.take_answers()
    }
    /// Per msn being reassembled: bytes buffered beyond its durable prefix in `store`
    /// (overlapping segments count once each).
    pub fn buffered(&self, store: &SessionStore) -> Vec<(u64, u64)> {
        self.0.buffered(store)
    }
}
