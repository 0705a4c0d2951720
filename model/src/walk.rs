//! Seeded random walks over the `Model` trait, for depths beyond the exhaustive bounds.
//!
//! Our own walker rather than stateright's simulation checker (whose recorded paths are
//! wrong when it picks an ignored action): each step picks among the actions that change
//! the state and stay within the boundary, so the recorded walk *is* the trace. Uniform
//! walks drown in timer firings and replays and seldom reach delivery; guided walks
//! ([`Guide::Progress`]) prefer what moves the protocol and inject faults at a set rate.

use std::collections::BTreeSet;

use stateright::actor::ActorModelAction;
use stateright::Model;

use crate::actor::ModelTimer;
use crate::graph::{fingerprint, Path};
use crate::preset::{Action, AssocModel, State};
use crate::properties::{Kind, ALL};

/// A small deterministic generator (splitmix64).
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// What the walks found.
pub struct WalkReport {
    /// Walks started.
    pub walks: usize,
    /// Steps taken in total.
    pub steps: usize,
    /// For each `sometimes` property: whether some walk reached it.
    pub reached: Vec<(&'static str, bool)>,
    /// The first `always` violation: property name and the walk up to it.
    pub violation: Option<(&'static str, Path<AssocModel>)>,
}

/// How a walk picks its next action among those that change the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guide {
    /// Uniformly.
    Uniform,
    /// Toward progress: a fault (loss, crash, link drop, dial failure) with probability
    /// `fault_pct` percent when one is possible; otherwise by weight — a PDU not yet
    /// delivered in this walk, a completed fsync or the bearer coming up
    /// ([`PROGRESS_WEIGHT`]) before anything else (a timer, an application action, a
    /// replayed PDU: weight 1).
    Progress {
        /// Percent of steps that inject a fault when one is possible.
        fault_pct: u8,
    },
}

/// Weight of a progress action in a [`Guide::Progress`] walk (others weigh 1).
pub const PROGRESS_WEIGHT: u64 = 12;

/// What kind of step an action is, for [`Guide::Progress`].
fn weight(action: &Action, delivered: &BTreeSet<u64>) -> Option<u64> {
    match action {
        ActorModelAction::Drop(_) | ActorModelAction::Crash(_) => None,
        ActorModelAction::Timeout(_, t) if t.is_fault() => None,
        ActorModelAction::Deliver { src, dst, msg } => {
            Some(if delivered.contains(&fingerprint(&(src, dst, msg))) { 1 } else { PROGRESS_WEIGHT })
        }
        ActorModelAction::Timeout(_, ModelTimer::Fsync | ModelTimer::LinkUp) => Some(PROGRESS_WEIGHT),
        _ => Some(1),
    }
}

/// Picks the index of one option for a [`Guide::Progress`] walk.
fn pick_guided(
    rng: &mut SplitMix,
    options: &[(usize, State)],
    actions: &[Action],
    delivered: &BTreeSet<u64>,
    fault_pct: u8,
) -> usize {
    let weights: Vec<Option<u64>> = options.iter().map(|(i, _)| weight(&actions[*i], delivered)).collect();
    let faults: Vec<usize> = (0..options.len()).filter(|k| weights[*k].is_none()).collect();
    let inject = !faults.is_empty() && rng.below(100) < usize::from(fault_pct);
    let total: u64 = weights.iter().flatten().sum();
    if inject || total == 0 {
        return faults[rng.below(faults.len())];
    }
    let mut at = rng.next_u64() % total;
    for (k, w) in weights.iter().enumerate() {
        let Some(w) = w else { continue };
        if at < *w {
            return k;
        }
        at -= w;
    }
    unreachable!("the weights add up to `total`")
}

/// Walks from the initial state, restarting after `max_depth` steps or at a dead end,
/// until `steps` steps were taken or an `always` property fails. Uniform choice.
pub fn simulate(model: &AssocModel, seed: u64, steps: usize, max_depth: usize) -> WalkReport {
    simulate_guided(model, seed, steps, max_depth, Guide::Uniform)
}

/// Like [`simulate`], with the choice of each step made by `guide`.
pub fn simulate_guided(
    model: &AssocModel,
    seed: u64,
    steps: usize,
    max_depth: usize,
    guide: Guide,
) -> WalkReport {
    let mut rng = SplitMix::new(seed);
    let mut report = WalkReport {
        walks: 0,
        steps: 0,
        reached: ALL.iter().filter(|p| p.expectation == Kind::Sometimes).map(|p| (p.name, false)).collect(),
        violation: None,
    };
    let inits = model.init_states();
    let mut actions = Vec::new();
    'walks: while report.steps < steps {
        report.walks += 1;
        let init_index = rng.below(inits.len());
        let mut state: State = inits[init_index].clone();
        let mut path: Path<AssocModel> =
            Path { init: state.clone(), init_index, indices: Vec::new(), steps: Vec::new() };
        let mut delivered: BTreeSet<u64> = BTreeSet::new();
        for _ in 0..max_depth {
            if report.steps >= steps {
                break 'walks;
            }
            actions.clear();
            model.actions(&state, &mut actions);
            let mut options: Vec<(usize, State)> = Vec::new();
            for (i, a) in actions.iter().enumerate() {
                if let Some(next) = model.next_state(&state, a.clone()) {
                    if model.within_boundary(&next) {
                        options.push((i, next));
                    }
                }
            }
            if options.is_empty() {
                break;
            }
            let k = match guide {
                Guide::Uniform => rng.below(options.len()),
                Guide::Progress { fault_pct } => {
                    pick_guided(&mut rng, &options, &actions, &delivered, fault_pct)
                }
            };
            let (ai, next) = options.swap_remove(k);
            if let ActorModelAction::Deliver { src, dst, msg } = &actions[ai] {
                delivered.insert(fingerprint(&(src, dst, msg)));
            }
            report.steps += 1;
            path.indices.push(ai);
            path.steps.push((actions[ai].clone(), next.clone()));
            state = next;
            for p in ALL.iter() {
                let holds = (p.condition)(model, &state);
                match p.expectation {
                    Kind::Always if !holds => {
                        report.violation = Some((p.name, path));
                        break 'walks;
                    }
                    Kind::Sometimes if holds => {
                        if let Some(r) = report.reached.iter_mut().find(|(n, _)| *n == p.name) {
                            r.1 = true;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    report
}
