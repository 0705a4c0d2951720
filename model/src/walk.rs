//! Seeded random walks over the `Model` trait, for depths beyond the exhaustive bounds.
//!
//! Our own walker rather than stateright's simulation checker (whose recorded paths are
//! wrong when it picks an ignored action): each step picks uniformly among the actions
//! that change the state and stay within the boundary, so the recorded walk *is* the
//! trace.

use stateright::Model;

use crate::graph::Path;
use crate::preset::{AssocModel, State};
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

/// Walks from the initial state, restarting after `max_depth` steps or at a dead end,
/// until `steps` steps were taken or an `always` property fails.
pub fn simulate(model: &AssocModel, seed: u64, steps: usize, max_depth: usize) -> WalkReport {
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
            let (ai, next) = options.swap_remove(rng.below(options.len()));
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
