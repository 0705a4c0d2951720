//! The properties checked, each a named predicate over a model state with a one-line doc,
//! and the goal of the AG EF ("no stuck state") check.
//!
//! A crashed side's state is the stale state it had when it crashed; properties look only
//! at live sides.

use stateright::Expectation;

use assoc_core::wire::Resolution;
use assoc_core::{Outcome, StoredInbound};

use crate::actor::{Ghost, MsgFault, SideState};
use crate::preset::{AssocModel, Preset, State, CHECKPOINT};

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
    /// Whether the property is about what a transition did ([`take_edge_events`]): the
    /// graph pass evaluates it on every transition's target as the transition produced it
    /// ([`crate::graph::Watch::SatisfiesOnEdge`]), and it holds only where
    /// [`crate::timely::Env::events`] is not 0.
    pub fn on_edges(&self) -> bool {
        self.name == RESUMED || self.name == REESTABLISHED
    }

    /// The stateright expectation.
    pub fn expectation(&self) -> Expectation {
        match self.expectation {
            Kind::Always => Expectation::Always,
            Kind::Sometimes => Expectation::Sometimes,
        }
    }
}

/// Name of the `sometimes` property of a resume from a checkpoint (an edge property).
pub const RESUMED: &str = "resumed from a checkpoint";
/// Name of the `sometimes` property of a re-establishment (an edge property).
pub const REESTABLISHED: &str = "re-established after a disruption";

/// [`crate::timely::Env::events`] bit: a side resumed a message from a checkpoint
/// ([`Ghost::resumed`] was set by the transition).
pub const RESUMED_EVENT: u8 = 1;
/// [`crate::timely::Env::events`] bit: a side reported an association up after a
/// disruption ([`Ghost::reestablished`] was set by the transition).
pub const REESTABLISHED_EVENT: u8 = 2;

/// Moves the ghost's sometimes-only flags onto the edge: returns them as
/// [`crate::timely::Env::events`] bits and clears them in `g`. Both engines call it on every
/// side state and saved disk a transition produces (the full model in
/// [`crate::preset::AssocModel`]'s `next_state`, the compact one when it interns a step's
/// effect), so no stored state ever holds these flags and the two engines keep the same
/// unique states.
///
/// **Why this is sound.** [`Ghost::resumed`] and [`Ghost::reestablished`] are written by the
/// actor (set, never cleared) and read by nothing but the two `sometimes` properties
/// [`RESUMED`] and [`REESTABLISHED`]: no step, timer, boundary, budget, other property or the
/// AG EF goal depends on them. Two states that differ only in them therefore have the same
/// successors (up to the same flags) and satisfy the same other properties, so merging them
/// keeps every reachable state of the rest, at the same BFS depth. The flag a transition sets
/// is still seen: the actor steps from a state whose flags are clear, so a flag set in its
/// result was set by that transition, and the graph pass evaluates these two properties on
/// every transition (revisits included), recording the shallowest source and the action: the
/// example's length is that source's depth + 1, which is the depth at which the first state
/// holding the flag appears when the flags are part of the state. Before this, the flags made
/// 12 % (`ci`), 14 % (`ci-attacker`), 15 % (`assoc`) and 2 % (`standard`) of the states
/// distinct.
pub fn take_edge_events(g: &mut Ghost) -> u8 {
    let events =
        if g.resumed { RESUMED_EVENT } else { 0 } | if g.reestablished { REESTABLISHED_EVENT } else { 0 };
    g.resumed = false;
    g.reestablished = false;
    events
}

/// Name of the AG EF check in tables and on the command line.
pub const NO_STUCK_STATE: &str = "no stuck state";
/// One line about the AG EF check.
pub const NO_STUCK_STATE_DOC: &str =
    "AG EF: from every reachable state, without further faults, every submitted \
     message can still get its outcome, and every durable delivery and outcome can still be \
     reported to the application (no workload: both sides can still agree on a usable association)";

/// Every stateright property of the model.
pub const ALL: [Prop; 20] = [
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
        expectation: Kind::Always,
        name: "no duplicate delivery",
        doc: "no message is handed to the receiving application twice",
        condition: no_duplicate_delivery,
        applies: has_messages,
    },
    Prop {
        expectation: Kind::Always,
        name: "delivered = submitted, in msn order",
        doc: "delivered bytes are the bytes the peer's application submitted, in increasing msn order",
        condition: delivered_as_submitted,
        applies: has_messages,
    },
    Prop {
        expectation: Kind::Always,
        name: "one outcome, agreeing with the receiver",
        doc: "at most one outcome per queued message; DELIVERED => the receiver delivered it; non-delivered => it never does",
        condition: outcomes_agree,
        applies: has_messages,
    },
    Prop {
        expectation: Kind::Always,
        name: "acks never ahead of durable state",
        doc: "the receiver's durable prefix acknowledged to a sender (its resume point) is on the receiver's disk",
        condition: acks_durable,
        applies: has_messages,
    },
    Prop {
        expectation: Kind::Always,
        name: "windows respected",
        doc: "inbound msns stay within watermark + msg_window; a sender's unresolved msns span less than msg_window",
        condition: windows_respected,
        applies: has_messages,
    },
    Prop {
        expectation: Kind::Always,
        name: "release never creates an NDR",
        doc: "no non-delivery without its cause (cancelled only if the application cancelled it; expiry only where time reaches it)",
        condition: release_no_ndr,
        applies: has_messages,
    },
    Prop {
        expectation: Kind::Always,
        name: "abort never changes a message's fate",
        doc: "after the application aborts an association, no message gets a non-delivery without its own cause",
        condition: abort_keeps_fate,
        applies: |p| has_messages(p) && p.abort.iter().any(|a| *a),
    },
    Prop {
        expectation: Kind::Always,
        name: "outcomes backed by the receiver's disk",
        doc: "a sent message's outcome at its sender is the resolution on the receiver's disk (no crash can take it back)",
        condition: outcomes_durable,
        applies: has_messages,
    },
    Prop {
        expectation: Kind::Sometimes,
        name: "every message delivered",
        doc: "every submitted message is delivered and its sender told DELIVERED",
        condition: all_delivered,
        applies: has_messages,
    },
    Prop {
        expectation: Kind::Sometimes,
        name: RESUMED,
        doc: "a message continues from a nonzero durable offset on a later association after a crash or link drop",
        condition: resumed,
        applies: |p| {
            p.workload.iter().any(|w| w.iter().any(|len| *len > CHECKPOINT))
                && p.crashes.iter().chain(&p.link_drops).any(|n| *n > 0)
        },
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
        name: REESTABLISHED,
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
    Prop {
        expectation: Kind::Always,
        name: "an application id is delivered at most once",
        doc: "the receiving application never gets one sender application id under two msns (resubmitted by id after a crash included)",
        condition: app_id_delivered_once,
        applies: has_messages,
    },
    Prop {
        expectation: Kind::Always,
        name: "resets only for a lost association",
        doc: "a side ends an association on a RESET only if its peer no longer holds it (usable)",
        condition: resets_only_lost,
        applies: |p| p.crashes.iter().chain(&p.link_drops).any(|n| *n > 0),
    },
    Prop {
        expectation: Kind::Always,
        name: "the peer's remote moves only on proof of the key",
        doc: "a side's peer remote changes only on an authenticated PDU from that remote: the attacker, who only replays what it saw, never becomes it",
        condition: remote_follows_only_proof,
        applies: |p| p.attacker,
    },
];

fn remote_follows_only_proof(_: &AssocModel, s: &State) -> bool {
    let attacker = Some(crate::actor::remote(stateright::actor::Id::from(crate::actor::ATTACKER)));
    live(s).iter().flatten().all(|a| a.session.peer_remote() != attacker)
}

fn always(_: &Preset) -> bool {
    true
}

fn has_messages(p: &Preset) -> bool {
    p.workload.iter().any(|w| !w.is_empty())
}

fn no_fault(s: &State, f: fn(&MsgFault) -> bool) -> bool {
    s.actor_states.iter().all(|a| !a.disk.ghost.faults.iter().any(f))
}

fn no_duplicate_delivery(_: &AssocModel, s: &State) -> bool {
    no_fault(s, |f| matches!(f, MsgFault::DuplicateDelivery { .. }))
}

fn app_id_delivered_once(_: &AssocModel, s: &State) -> bool {
    no_fault(s, |f| matches!(f, MsgFault::AppIdDeliveredTwice { .. }))
}

fn delivered_as_submitted(_: &AssocModel, s: &State) -> bool {
    no_fault(s, |f| matches!(f, MsgFault::WrongContent { .. } | MsgFault::OutOfOrder { .. }))
}

fn outcomes_agree(_: &AssocModel, s: &State) -> bool {
    no_fault(s, |f| matches!(f, MsgFault::ExtraOutcome { .. }))
        && (0..2).all(|i| {
            let (me, peer) = (&s.actor_states[i].disk.ghost, &s.actor_states[1 - i].disk.ghost);
            me.outcomes.iter().all(|(app, (o, _))| {
                let there = peer.delivered.iter().any(|(_, a)| a == app);
                match o {
                    Outcome::Delivered => there,
                    Outcome::NonDelivered(_) => !there,
                }
            })
        })
}

/// Every outcome a sender learned for a message it sent is what the receiver's disk says
/// about that msn: delivered below the watermark, or resolved without delivery.
fn outcomes_durable(_: &AssocModel, s: &State) -> bool {
    (0..2).all(|i| {
        let g = &s.actor_states[i].disk.ghost;
        let disk = &s.actor_states[1 - i].disk.store;
        g.outcomes.iter().all(|(app, o)| {
            let Some(&msn) = g.sent_msn.get(app) else { return true };
            let on_disk = match disk.inbound.get(&msn) {
                Some(StoredInbound::Resolved(r)) => Some(*r),
                _ if msn < disk.watermark => {
                    Some(disk.recent_non_delivered.get(&msn).copied().unwrap_or(Resolution::Delivered))
                }
                _ => None,
            };
            match (&o.0, on_disk) {
                (Outcome::Delivered, Some(r)) => r == Resolution::Delivered,
                (Outcome::NonDelivered(_), Some(r)) => r != Resolution::Delivered,
                (_, None) => false,
            }
        })
    })
}

/// The Ledger's resume-point check: what a sender believes the receiver holds durably
/// (from the receiver's acknowledgements) is never more than the receiver's disk holds.
fn acks_durable(_: &AssocModel, s: &State) -> bool {
    (0..2).all(|i| {
        let sender = &s.actor_states[i].session;
        let disk = &s.actor_states[1 - i].disk.store;
        sender.resume_points().all(|(id, acked)| {
            let Some(msn) = sender.store().outbound.get(&id).and_then(|m| m.msn) else { return true };
            let durable = match disk.inbound.get(&msn) {
                _ if msn < disk.watermark => u64::MAX,
                Some(StoredInbound::Partial { bytes, .. }) => bytes.len() as u64,
                Some(StoredInbound::Resolved(_)) => u64::MAX,
                None => 0,
            };
            acked <= durable
        })
    })
}

fn windows_respected(_: &AssocModel, s: &State) -> bool {
    s.actor_states.iter().all(|a| {
        let w = u64::from(a.session.config().params.msg_window);
        let inbound_ok = |st: &assoc_core::SessionStore| {
            st.inbound.keys().all(|msn| *msn >= st.watermark && *msn < st.watermark + w)
        };
        let st = a.session.store();
        let mut msns = st.outbound.values().filter_map(|m| m.msn);
        let lowest = msns.clone().min();
        let outbound_ok = lowest.is_none_or(|lo| msns.all(|m| m < lo + w));
        inbound_ok(st) && inbound_ok(&a.disk.store) && outbound_ok
    })
}

fn release_no_ndr(_: &AssocModel, s: &State) -> bool {
    no_fault(s, |f| matches!(f, MsgFault::UncausedNdr { .. }))
}

fn abort_keeps_fate(_: &AssocModel, s: &State) -> bool {
    no_fault(s, |f| matches!(f, MsgFault::AbortChangedFate { .. }))
}

fn all_delivered(m: &AssocModel, s: &State) -> bool {
    let w = &m.preset().workload;
    (0..2).all(|i| {
        let g = &s.actor_states[i].disk.ghost;
        let peer = &s.actor_states[1 - i].disk.ghost;
        g.outcomes.len() == w[i].len()
            && g.outcomes.values().all(|(o, _)| *o == Outcome::Delivered)
            && peer.delivered.len() == w[i].len()
    })
}

fn resumed(_: &AssocModel, s: &State) -> bool {
    s.history.events & RESUMED_EVENT != 0
}

/// Every message of the workload has its outcome at its sender.
pub fn all_resolved(m: &AssocModel, s: &State) -> bool {
    let w = &m.preset().workload;
    (0..2).all(|i| s.actor_states[i].disk.ghost.outcomes.len() >= w[i].len())
}

/// Every delivery and outcome durable on a live side's disk and not acknowledged there has
/// been reported to its application (a crash between a durable record and its event is made
/// good by the restart).
pub fn all_reported(s: &State) -> bool {
    live(s).into_iter().flatten().all(|a| {
        let (disk, g) = (&a.disk.store, &a.disk.ghost);
        disk.inbox.keys().all(|msn| g.delivered_by.contains_key(msn))
            && disk.outcomes.values().all(|f| g.outcomes.contains_key(&f.app_id))
    })
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

/// Both sides live, usable and holding the same association.
pub fn agreed(s: &State) -> bool {
    match live(s) {
        [Some(a), Some(b)] => match (a.usable(), b.usable()) {
            (Some(x), Some(y)) => x.mirrors(&y),
            _ => false,
        },
        _ => false,
    }
}

fn agreement(_: &AssocModel, s: &State) -> bool {
    match live(s) {
        [Some(a), Some(b)] => match (a.usable(), b.usable()) {
            (Some(x), Some(y)) if x.epoch == y.epoch => x.mirrors(&y),
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
        .all(|a| a.session.association().is_none_or(|x| x.id.epoch <= a.session.store().epoch))
}

fn established(_: &AssocModel, s: &State) -> bool {
    agreed(s)
}

fn reestablished(_: &AssocModel, s: &State) -> bool {
    s.history.events & REESTABLISHED_EVENT != 0
}

fn resets_only_lost(_: &AssocModel, s: &State) -> bool {
    let sides = live(s);
    (0..2).all(|i| {
        let Some(victim) = sides[i].and_then(|a| a.disk.ghost.reset_victim) else { return true };
        !sides[1 - i].and_then(|peer| peer.usable()).is_some_and(|held| victim.mirrors(&held))
    })
}

fn collision(_: &AssocModel, s: &State) -> bool {
    live(s).into_iter().all(|a| a.is_some_and(|a| a.session.state() == assoc_core::SessionState::Opening))
}

/// The goal of AG EF: every submitted message has its outcome and every durable delivery
/// and outcome is reported; without a workload, both sides agree on a usable association.
pub fn goal(m: &AssocModel, s: &State) -> bool {
    if has_messages(m.preset()) {
        all_resolved(m, s) && all_reported(s)
    } else {
        agreed(s)
    }
}
