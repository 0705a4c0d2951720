//! The properties checked, each a named predicate over a model state with a one-line doc,
//! and the goal of the AG EF ("no stuck state") check.
//!
//! A crashed side's state is the stale state it had when it crashed; properties look only
//! at live sides.

use stateright::Expectation;

use crate::actor::{AssocId, SideState};
use crate::preset::{AssocModel, Preset, State};

/// A named property.
#[derive(Clone, Copy)]
pub struct Prop {
    /// `Always` (a safety invariant) or `Sometimes` (a reachability canary).
    pub expectation: Kind,
    /// The name stateright and the CLI use.
    pub name: &'static str,
    /// One line saying what it means.
    pub doc: &'static str,
    /// The predicate.
    pub condition: fn(&AssocModel, &State) -> bool,
    /// Whether the property applies to a preset (a collision needs both sides opening,
    /// a re-establishment needs a disruption).
    pub applies: fn(&Preset) -> bool,
}

/// The two kinds of stateright property used here (`eventually` is deliberately absent:
/// it misses violations on cycles; see [`crate::graph`] for AG EF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Must hold in every reachable state.
    Always,
    /// Must hold in some reachable state.
    Sometimes,
}

impl Prop {
    /// The stateright expectation.
    pub fn expectation(&self) -> Expectation {
        match self.expectation {
            Kind::Always => Expectation::Always,
            Kind::Sometimes => Expectation::Sometimes,
        }
    }
}

/// Name of the AG EF check in tables and on the command line.
pub const NO_STUCK_STATE: &str = "no stuck state";
/// One line about the AG EF check.
pub const NO_STUCK_STATE_DOC: &str =
    "AG EF: from every reachable state, without further faults, both sides can still agree on a usable association";

/// Every stateright property of the model.
pub const ALL: [Prop; 7] = [
    Prop {
        expectation: Kind::Always,
        name: "association agreement",
        doc: "both sides usable at the same epoch => mirrored tags and opposite roles",
        condition: agreement,
        applies: always,
    },
    Prop {
        expectation: Kind::Always,
        name: "epochs monotone",
        doc: "a side never establishes, nor reports up, an epoch <= one it had before (ghost history)",
        condition: epochs_monotone,
        applies: always,
    },
    Prop {
        expectation: Kind::Always,
        name: "session epoch >= durable epoch",
        doc: "the session's epoch is never below what its disk holds",
        condition: epoch_not_below_disk,
        applies: always,
    },
    Prop {
        expectation: Kind::Always,
        name: "association epoch <= session epoch",
        doc: "a side's association never has an epoch above the session's (persisted or in fsync) epoch",
        condition: association_epoch_recorded,
        applies: always,
    },
    Prop {
        expectation: Kind::Sometimes,
        name: "association established",
        doc: "both sides agree on a usable association",
        condition: established,
        applies: always,
    },
    Prop {
        expectation: Kind::Sometimes,
        name: "re-established after a disruption",
        doc: "a side reports an association up after a link drop or crash ended an earlier one",
        condition: reestablished,
        applies: |p| p.crashes.iter().chain(&p.link_drops).any(|n| *n > 0),
    },
    Prop {
        expectation: Kind::Sometimes,
        name: "collision",
        doc: "both sides have handshake attempts in progress at once",
        condition: collision,
        applies: |p| p.both_open,
    },
];

fn always(_: &Preset) -> bool {
    true
}

/// The property called `name`.
pub fn by_name(name: &str) -> Option<&'static Prop> {
    ALL.iter().find(|p| p.name == name)
}

/// The live sides' states (`None` for a crashed side).
pub fn live(s: &State) -> [Option<&SideState>; 2] {
    let side = |i: usize| {
        if s.crashed[i] {
            None
        } else {
            s.actor_states.get(i).map(|a| &**a)
        }
    };
    [side(0), side(1)]
}

fn mirrored(a: &AssocId, b: &AssocId) -> bool {
    a.epoch == b.epoch && a.local_tag == b.peer_tag && a.peer_tag == b.local_tag && a.role != b.role
}

/// Both sides live, usable and holding the same association.
pub fn agreed(s: &State) -> bool {
    match live(s) {
        [Some(a), Some(b)] => match (a.usable(), b.usable()) {
            (Some(x), Some(y)) => mirrored(&x, &y),
            _ => false,
        },
        _ => false,
    }
}

fn agreement(_: &AssocModel, s: &State) -> bool {
    match live(s) {
        [Some(a), Some(b)] => match (a.usable(), b.usable()) {
            (Some(x), Some(y)) if x.epoch == y.epoch => mirrored(&x, &y),
            _ => true,
        },
        _ => true,
    }
}

fn epochs_monotone(_: &AssocModel, s: &State) -> bool {
    s.actor_states.iter().all(|a| a.disk.ghost.violation.is_none())
}

fn epoch_not_below_disk(_: &AssocModel, s: &State) -> bool {
    live(s).into_iter().flatten().all(|a| a.session.store().epoch >= a.disk.store.epoch)
}

fn association_epoch_recorded(_: &AssocModel, s: &State) -> bool {
    live(s)
        .into_iter()
        .flatten()
        .all(|a| a.session.association().is_none_or(|x| x.epoch <= a.session.store().epoch))
}

fn established(_: &AssocModel, s: &State) -> bool {
    agreed(s)
}

fn reestablished(_: &AssocModel, s: &State) -> bool {
    s.actor_states.iter().any(|a| a.disk.ghost.reestablished)
}

fn collision(_: &AssocModel, s: &State) -> bool {
    live(s).into_iter().all(|a| a.is_some_and(|a| a.session.state() == assoc_core::SessionState::Opening))
}

/// The goal of AG EF: both sides agree on a usable association.
pub fn goal(_: &AssocModel, s: &State) -> bool {
    agreed(s)
}
