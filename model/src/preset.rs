//! Presets (bounds and environment) and building the stateright model from one.

use assoc_core::mutation::{Mutation, Mutations};
use assoc_core::wire::{Body, Frame, Pdu};
use assoc_core::{Config, DialPolicy, Duration, PeerName, Psk, Suite};
use stateright::actor::{ActorModel, ActorModelAction, ActorModelState, LossyNetwork, Network};
use stateright::{Model, Property};

use crate::actor::{ModelTimer, Side, SideState};
use crate::properties;
use crate::timely::{self, Env, Firing};

/// stateright's actor model of two [`Side`]s over an unordered, duplicating network.
pub type Inner = ActorModel<Side, Preset, Env>;
/// One state of the model.
pub type State = ActorModelState<Side, Env>;
/// One action of the model.
pub type Action = ActorModelAction<assoc_core::wire::Pdu, ModelTimer, ()>;

/// The model checked: stateright's [`ActorModel`] with two normalisations. The duplicating
/// network remembers the *last delivered* envelope (`last_msg`, only used by old Explorer
/// URLs); it is part of the hashed state and multiplies the state count several times
/// without meaning anything, so every state is stored with `last_msg = None`. A crashed
/// side's state is reset to [`Side::crashed_state`]. Everything else delegates to the
/// inner model.
pub struct AssocModel {
    /// The actor model.
    pub inner: Inner,
}

impl AssocModel {
    /// The preset this model was built from.
    pub fn preset(&self) -> &Preset {
        &self.inner.cfg
    }
}

fn normalize(mut s: State) -> State {
    if let Network::UnorderedDuplicating(_, last) = &mut s.network {
        *last = None;
    }
    s
}

/// Moves the sides' sometimes-only flags onto the transition that produced `s`
/// ([`properties::take_edge_events`]): into `s.history.events`, out of the sides' states and
/// saved disks.
fn take_edge_events(mut s: State) -> State {
    s.history.events = 0;
    for side in &mut s.actor_states {
        let g = &side.disk.ghost;
        if g.resumed || g.reestablished {
            s.history.events |= properties::take_edge_events(&mut std::sync::Arc::make_mut(side).disk.ghost);
        }
    }
    for disk in s.actor_storages.iter_mut().flatten() {
        s.history.events |= properties::take_edge_events(&mut disk.ghost);
    }
    s
}

impl Model for AssocModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        self.inner.init_states().into_iter().map(normalize).map(take_edge_events).collect()
    }
    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.inner.actions(state, actions);
        if !timely::may_lose(self.preset().max_losses, state.history.losses) {
            actions.retain(|a| !matches!(a, ActorModelAction::Drop(_)));
        }
        self.timely_timers(state, actions);
    }
    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let crash = match action {
            ActorModelAction::Crash(id) => Some(usize::from(id)),
            _ => None,
        };
        let lost = matches!(action, ActorModelAction::Drop(_)) && self.preset().max_losses.is_some();
        let (action, early) = match action {
            ActorModelAction::Timeout(id, ModelTimer::Early(t)) => {
                (ActorModelAction::Timeout(id, ModelTimer::Core(t)), true)
            }
            other => (other, false),
        };
        let mut next = self.inner.next_state(last, action).map(normalize)?;
        if early {
            next.history.early_timers += 1;
        }
        if lost {
            next.history.losses += 1;
        }
        if let Some(i) = crash {
            // See `Side::crashed_state`: the stale volatile state is needless distinctness.
            let reset = self.inner.actors[i].crashed_state(&next.actor_states[i]);
            next.actor_states[i] = std::sync::Arc::new(reset);
        }
        Some(take_edge_events(next))
    }
    fn format_action(&self, action: &Action) -> String {
        crate::trace::action_line(action)
    }
    fn format_step(&self, last: &State, action: Action) -> Option<String> {
        let action = match action {
            ActorModelAction::Timeout(id, t) => ActorModelAction::Timeout(id, t.armed()),
            other => other,
        };
        self.inner.format_step(last, action)
    }
    fn as_svg(&self, path: stateright::Path<State, Action>) -> Option<String> {
        self.inner.as_svg(path)
    }
    fn properties(&self) -> Vec<Property<Self>> {
        properties::ALL
            .iter()
            .filter(|p| (p.applies)(&self.inner.cfg))
            .map(|p| Property { expectation: p.expectation(), name: p.name, condition: p.condition })
            .collect()
    }
    fn within_boundary(&self, state: &State) -> bool {
        within_boundary(&self.inner.cfg, state)
    }
}

impl AssocModel {
    /// Applies the preset's timer rule ([`crate::timely`]) to the actions of `state`: armed
    /// timers that wait for quiescence stay as they are in a quiescent state, become early
    /// firings while the budget lasts, and are dropped after.
    fn timely_timers(&self, state: &State, actions: &mut Vec<Action>) {
        let timers = actions.iter().filter_map(|a| match a {
            ActorModelAction::Timeout(_, t) => Some(t),
            _ => None,
        });
        if self.preset().early_timers.is_none() || !timely::any_waiting(timers) {
            return;
        }
        let rule = timely::firing(self.preset().early_timers, state.history.early_timers, || {
            self.quiescent(state, actions)
        });
        if rule == Firing::Timely {
            return;
        }
        actions.retain_mut(|a| match a {
            ActorModelAction::Timeout(_, t) => match timely::apply(rule, *t) {
                Some(new) => {
                    *t = new;
                    true
                }
                None => false,
            },
            _ => true,
        });
    }

    /// Whether nothing faster than a protocol timer can happen in `state`: no record in
    /// fsync on either side, and no delivery among `actions` that leads to a different
    /// state within the boundary.
    pub fn quiescent(&self, state: &State, actions: &[Action]) -> bool {
        let settling = state.timers_set.iter().any(|t| t.iter().any(|x| timely::settles(*x)));
        !settling
            && !actions.iter().any(|a| {
                matches!(a, ActorModelAction::Deliver { .. })
                    && self
                        .next_state(state, a.clone())
                        .is_some_and(|n| changes(state, &n) && self.within_boundary(&n))
            })
    }
}

/// Whether `next` differs from `state` in more than what the attacker overheard (see
/// [`SideState::same_but_overheard`]).
fn changes(state: &State, next: &State) -> bool {
    next != state
        && !(next.network == state.network
            && next.timers_set == state.timers_set
            && next.crashed == state.crashed
            && next.history == state.history
            && next.actor_storages == state.actor_storages
            && next.random_choices == state.random_choices
            && next.actor_states.iter().zip(&state.actor_states).all(|(a, b)| a.same_but_overheard(b)))
}

/// For AG EF: an out-of-boundary successor that only a search bound (epoch, packet
/// number) excludes, not a budget.
pub fn bound_exit(m: &AssocModel, s: &State) -> bool {
    within_budgets(m.preset(), s)
}

/// Bounds and environment of one model run. Also the model's `cfg`, so properties and
/// the boundary can read it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Preset {
    /// Name used on the command line.
    pub name: &'static str,
    /// One line for the tables.
    pub about: &'static str,
    /// Largest epoch any session may reach (in memory); beyond is outside the boundary.
    pub max_epoch: u64,
    /// Whether side 1 also opens associations (collisions); otherwise it only answers
    /// (`DialPolicy::RemoteOnly`) and keeps what the peer opens.
    pub both_open: bool,
    /// Link drops the environment may inflict, per side.
    pub link_drops: [u8; 2],
    /// Crashes (restarts) per side.
    pub crashes: [u8; 2],
    /// Whether the network may lose PDUs.
    pub lossy: bool,
    /// Whether dials may fail.
    pub dial_failures: bool,
    /// Whether the AG EF ("no stuck state") check applies: only where every fault is one
    /// the protocol can notice (without keepalive, a peer's lost association is not).
    pub agef: bool,
    /// Whether keepalives are on: the only way a side learns that its peer crashed or
    /// lost its association while nothing else is sent.
    pub keepalive: bool,
    /// `Config::handshake_retransmits` of both sides.
    pub handshake_retransmits: u32,
    /// `Config::max_open_retries` of both sides.
    pub max_open_retries: u32,
    /// `Config::max_probes` of both sides.
    pub max_probes: u32,
    /// Largest packet number any side may send in the checked space (a search bound, like
    /// the epoch bound: retransmissions and probes could otherwise number packets forever).
    pub max_pn: u64,
    /// Largest packet number an ACK-only packet may carry (at least `max_pn`): an ACK
    /// answers a packet and is answered by nothing, so allowing one more lets the last
    /// acknowledgement of a bounded exchange leave without widening the space much.
    pub max_pn_ack_only: u64,
    /// Per side: the length of each message its application submits at the start.
    pub workload: [&'static [usize]; 2],
    /// Whether time may reach the messages' expiry and transfer timeouts (the core's
    /// `Expiry` timer may fire); otherwise the model never fires it.
    pub expiry: bool,
    /// Per side: whether the application releases the association once.
    pub release: [bool; 2],
    /// Whether the core's `Loss` timer (probe timeouts, and so probe exhaustion) may fire;
    /// otherwise the model never fires it, and a side can learn that its peer lost the
    /// association only from what the peer sends (a RESET).
    pub probes: bool,
    /// Per side: whether the application cancels its first message once.
    pub cancel: [bool; 2],
    /// Per side: whether the application aborts an association once.
    pub abort: [bool; 2],
    /// `params.max_datagram` of both sides: below the checkpoint size, a segment leaves
    /// received bytes at the receiver that are not yet durable.
    pub max_datagram: u16,
    /// `params.msg_window` of both sides.
    pub msg_window: u16,
    /// Whether an attacker node overhears what is delivered to each side and may replay
    /// it from its own remote (`ModelTimer::Inject`).
    pub attacker: bool,
    /// Timely timers ([`crate::timely`]): a protocol timer fires freely only when nothing
    /// faster can happen, otherwise early, at most this many times in a run (both sides).
    /// `None`: free timers (any armed timer fires at any moment; `check --free-timers`).
    pub early_timers: Option<u8>,
    /// On a lossy network, how many PDUs it may lose in a run (`None`: any number). A
    /// budget like the crash budget: each loss can cost a failed attempt and so an epoch.
    pub max_losses: Option<u8>,
}

/// The CI preset: the opener's disruptions (its crash, its link drop) and the
/// protocol's own recovery from them (a higher epoch supersedes).
pub const CI: Preset = Preset {
    name: "ci",
    about: "epoch<=3, alpha opens, beta answers; alpha: 1 crash + 1 link drop",
    max_epoch: 3,
    both_open: false,
    link_drops: [1, 0],
    crashes: [1, 0],
    lossy: false,
    dial_failures: false,
    keepalive: false,
    agef: true,
    handshake_retransmits: 1,
    max_open_retries: 1,
    max_probes: 1,
    max_pn: 3,
    max_pn_ack_only: 3,
    workload: [&[], &[]],
    expiry: false,
    release: [false, false],
    probes: true,
    cancel: [false, false],
    abort: [false, false],
    max_datagram: 1400,
    msg_window: 2,
    attacker: false,
    early_timers: Some(0),
    max_losses: None,
};

/// The CI preset for the answering side's disruptions (safety only: without keepalive
/// nothing tells the opener that its peer lost the association).
pub const CI_PEER_CRASH: Preset = Preset {
    name: "ci-peer-crash",
    about: "epoch<=2, alpha opens, beta answers; beta: 1 crash + 1 link drop; safety only",
    max_epoch: 2,
    both_open: false,
    link_drops: [0, 1],
    crashes: [0, 1],
    lossy: false,
    dial_failures: false,
    keepalive: false,
    agef: false,
    handshake_retransmits: 1,
    max_open_retries: 1,
    max_probes: 1,
    max_pn: 3,
    max_pn_ack_only: 3,
    workload: [&[], &[]],
    expiry: false,
    release: [false, false],
    probes: true,
    cancel: [false, false],
    abort: [false, false],
    max_datagram: 1400,
    msg_window: 2,
    attacker: false,
    early_timers: Some(0),
    max_losses: None,
};

/// The CI collision preset: both sides open at once; one timer may fire early (so that
/// both attempts can fail and collide again, what `inverted-tie-break` turns into a loop).
pub const CI_COLLIDE: Preset = Preset {
    name: "ci-collide",
    about: "epoch<=2, both sides open at once; 1 early timer",
    max_epoch: 2,
    both_open: true,
    link_drops: [0, 0],
    crashes: [0, 0],
    lossy: false,
    dial_failures: false,
    keepalive: false,
    agef: true,
    handshake_retransmits: 1,
    max_open_retries: 1,
    max_probes: 1,
    max_pn: 3,
    max_pn_ack_only: 3,
    workload: [&[], &[]],
    expiry: false,
    release: [false, false],
    probes: true,
    cancel: [false, false],
    abort: [false, false],
    max_datagram: 1400,
    msg_window: 2,
    attacker: false,
    early_timers: Some(1),
    max_losses: None,
};

/// The CI preset with loss: a lost PDU is never replayed (on a lossless duplicating
/// network every PDU can still arrive, which hides stuck states).
pub const CI_LOSSY: Preset = Preset {
    name: "ci-lossy",
    about: "epoch<=3, alpha opens, beta answers; alpha: 1 crash; lossy (2 losses)",
    max_epoch: 3,
    both_open: false,
    link_drops: [0, 0],
    crashes: [1, 0],
    lossy: true,
    dial_failures: false,
    keepalive: false,
    agef: true,
    handshake_retransmits: 1,
    max_open_retries: 1,
    max_probes: 1,
    max_pn: 3,
    max_pn_ack_only: 3,
    workload: [&[], &[]],
    expiry: false,
    release: [false, false],
    probes: true,
    cancel: [false, false],
    abort: [false, false],
    max_datagram: 1400,
    msg_window: 2,
    attacker: false,
    early_timers: Some(0),
    max_losses: Some(2),
};

/// The default preset of `check`: a few minutes in release. Messages both ways (alpha's
/// in two segments), alpha crashes once and drops its link once.
pub const STANDARD: Preset = Preset {
    name: "standard",
    about: "alpha sends 1 two-segment message; alpha: 1 crash + 1 link drop",
    max_epoch: 3,
    both_open: false,
    link_drops: [1, 0],
    crashes: [1, 0],
    lossy: false,
    dial_failures: false,
    keepalive: false,
    agef: true,
    handshake_retransmits: 1,
    max_open_retries: 1,
    max_probes: 1,
    max_pn: 4,
    max_pn_ack_only: 4,
    workload: [&[LARGE], &[]],
    expiry: false,
    release: [false, false],
    probes: true,
    cancel: [false, false],
    abort: [false, false],
    max_datagram: 1400,
    msg_window: 2,
    attacker: false,
    early_timers: Some(0),
    max_losses: None,
};

/// The association-level preset of the first model (no messages): lossy, dial failures,
/// alpha crashes once and drops its link once.
pub const ASSOC: Preset = Preset {
    name: "assoc",
    about:
        "epoch<=4, alpha opens; alpha: 1 crash + 1 link drop; lossy (2 losses); dial failures; no messages",
    max_epoch: 4,
    both_open: false,
    link_drops: [1, 0],
    crashes: [1, 0],
    lossy: true,
    dial_failures: true,
    keepalive: false,
    agef: true,
    handshake_retransmits: 1,
    max_open_retries: 1,
    max_probes: 1,
    max_pn: 3,
    max_pn_ack_only: 3,
    workload: [&[], &[]],
    expiry: false,
    release: [false, false],
    probes: true,
    cancel: [false, false],
    abort: [false, false],
    max_datagram: 1400,
    msg_window: 2,
    attacker: false,
    early_timers: Some(0),
    max_losses: Some(2),
};

/// A deep run: 2 messages each way (one in two segments), a crash and a link drop on each
/// side, a lossy network, both sides opening. Hours, if it finishes.
pub const DEEP: Preset = Preset {
    name: "deep",
    about: "2 messages each way (multi-segment); both open; crash + link drop per side; lossy (2 losses)",
    max_epoch: 3,
    both_open: true,
    link_drops: [1, 1],
    crashes: [1, 1],
    lossy: true,
    dial_failures: false,
    keepalive: false,
    agef: true,
    handshake_retransmits: 1,
    max_open_retries: 1,
    max_probes: 1,
    max_pn: 3,
    max_pn_ack_only: 3,
    workload: [&[LARGE, SMALL], &[LARGE, SMALL]],
    expiry: false,
    release: [false, false],
    probes: true,
    cancel: [false, false],
    abort: [false, false],
    max_datagram: 1400,
    msg_window: 2,
    attacker: false,
    early_timers: Some(0),
    max_losses: Some(2),
};

/// The base of the message presets: alpha sends 1 one-segment message, timers are timely
/// with no early firing. Not a preset of its own (not in [`ALL`]).
const ONE_MESSAGE: Preset = Preset {
    name: "one-message",
    about: "alpha sends 1 one-segment message",
    max_epoch: 2,
    both_open: false,
    link_drops: [0, 0],
    crashes: [0, 0],
    lossy: false,
    dial_failures: false,
    keepalive: false,
    agef: true,
    handshake_retransmits: 1,
    max_open_retries: 1,
    max_probes: 1,
    max_pn: 4,
    max_pn_ack_only: 4,
    workload: [&[SMALL], &[]],
    expiry: false,
    release: [false, false],
    probes: true,
    cancel: [false, false],
    abort: [false, false],
    max_datagram: 1400,
    msg_window: 2,
    attacker: false,
    early_timers: Some(0),
    max_losses: None,
};

/// alpha sends 1 one-segment message; one timer may fire early (a retransmission after
/// delivery, whose ACK is still in flight)
pub const CI_MSG: Preset = Preset {
    name: "ci-msg",
    about: "alpha sends 1 one-segment message; 1 early timer",
    early_timers: Some(1),
    ..ONE_MESSAGE
};

/// alpha sends 1 two-segment message; alpha: 1 link drop
pub const CI_RESUME: Preset = Preset {
    name: "ci-resume",
    about: "alpha sends 1 two-segment message; alpha: 1 link drop",
    link_drops: [1, 0],
    workload: [&[LARGE], &[]],
    ..ONE_MESSAGE
};

/// alpha sends 1 one-segment message; it may expire
pub const CI_EXPIRY: Preset = Preset {
    name: "ci-expiry",
    about: "alpha sends 1 one-segment message; it may expire",
    expiry: true,
    ..ONE_MESSAGE
};

/// alpha sends 1 one-segment message; alpha releases once
pub const CI_RELEASE: Preset = Preset {
    name: "ci-release",
    about: "alpha sends 1 one-segment message; alpha releases once",
    release: [true, false],
    ..ONE_MESSAGE
};

/// alpha sends 1 one-segment message; alpha: 1 crash (its application resubmits by app id)
pub const CI_CRASH_MSG: Preset = Preset {
    name: "ci-crash-msg",
    about: "alpha sends 1 one-segment message; alpha: 1 crash (its application resubmits by app id)",
    crashes: [1, 0],
    ..ONE_MESSAGE
};

/// A restarted peer is noticed within a round trip (issue #15): beta crashes and restarts
/// while alpha may hold an established association; alpha's keepalive is on and its probe
/// timeouts never fire, so AG EF ("no stuck state") holds only if a path to a new
/// association exists that does not wait for probe exhaustion — through beta's RESET.
pub const CI_RESET: Preset = Preset {
    name: "ci-reset",
    about: "epoch<=2, alpha opens, beta answers; beta: 1 crash; keepalive on, no probe timeouts",
    link_drops: [0, 0],
    crashes: [0, 1],
    keepalive: true,
    max_epoch: 2,
    max_pn: 1,
    max_pn_ack_only: 1,
    probes: false,
    ..CI
};

/// alpha sends 2 messages, the first in two datagrams without a checkpoint in between
pub const CI_TWO: Preset = Preset {
    name: "ci-two",
    about: "alpha sends 2 messages (the first in two small datagrams: unsaved bytes at beta)",
    workload: [&[MEDIUM, SMALL], &[]],
    max_datagram: SMALL_DATAGRAM,
    ..ONE_MESSAGE
};

/// The receiver crashes with a message in flight that has unsaved bytes at it
pub const CI_RECV_CRASH: Preset = Preset {
    name: "ci-recv-crash",
    about: "alpha sends 1 message in two small datagrams; beta: 1 crash; safety only",
    workload: [&[MEDIUM], &[]],
    max_datagram: SMALL_DATAGRAM,
    crashes: [0, 1],
    agef: false,
    ..ONE_MESSAGE
};

/// The sender cancels a message in flight
pub const CI_CANCEL: Preset = Preset {
    name: "ci-cancel",
    about: "alpha sends 1 one-segment message and cancels it",
    cancel: [true, false],
    ..ONE_MESSAGE
};

/// alpha aborts once with a message in flight
pub const CI_ABORT: Preset = Preset {
    name: "ci-abort",
    about: "alpha sends 1 one-segment message; alpha aborts once",
    abort: [true, false],
    ..ONE_MESSAGE
};

/// The sender crashes with a message in flight that may expire
pub const CI_MSG_CRASH: Preset = Preset {
    name: "ci-msg-crash",
    about: "alpha sends 1 one-segment message; it may expire; alpha: 1 crash",
    crashes: [1, 0],
    expiry: true,
    ..ONE_MESSAGE
};

/// The receiver crashes while the sender cancels a message in flight (safety only, as
/// `ci-recv-crash`: without keepalive nothing tells alpha that beta lost the association)
pub const CI_RECV_CRASH_CANCEL: Preset = Preset {
    name: "ci-recv-crash-cancel",
    about: "alpha sends 1 one-segment message and cancels it; beta: 1 crash; safety only",
    cancel: [true, false],
    crashes: [0, 1],
    agef: false,
    ..ONE_MESSAGE
};

/// Two messages through a window of one: the second may leave only once the first is
/// resolved (what `msg-window-exceeded` breaks)
pub const CI_WINDOW: Preset = Preset {
    name: "ci-window",
    about: "alpha sends 2 one-segment messages through a message window of 1",
    workload: [&[SMALL, SMALL], &[]],
    msg_window: 1,
    ..ONE_MESSAGE
};

/// Every dimension issue #21 asks of the default preset at once: two messages each way
/// (alpha's first with unsaved bytes at the receiver and a checkpoint), simultaneous open,
/// a crash on each side (the receiver's with messages in flight and during alpha's
/// cancellation), alpha's link drop and abort, loss. Not the default: with today's engine
/// it does not finish (see the README's model-checking table for how far it got).
pub const COVERAGE: Preset = Preset {
    name: "coverage",
    about: "2 messages each way (unsaved bytes); both open; crash per side; alpha: link drop, cancel, abort; lossy (2 losses)",
    max_epoch: 3,
    both_open: true,
    link_drops: [1, 0],
    crashes: [1, 1],
    lossy: true,
    keepalive: true,
    workload: [&[LARGE, SMALL], &[SMALL, SMALL]],
    cancel: [true, false],
    abort: [true, false],
    max_datagram: SMALL_DATAGRAM,
    max_pn: 8,
    max_pn_ack_only: 9,
    max_losses: Some(2),
    ..ONE_MESSAGE
};

/// ci with an attacker node: it overhears every PDU delivered to either side and may
/// replay the last one at that side from its own remote (issue 14: the peer's remote must
/// never follow it).
pub const CI_ATTACKER: Preset = Preset {
    name: "ci-attacker",
    about: "ci, plus an attacker that replays the last PDU each side received from its own address",
    attacker: true,
    ..CI
};

/// Every preset (the CI presets first, roughly in size order).
pub const ALL: [&Preset; 22] = [
    &CI,
    &CI_PEER_CRASH,
    &CI_COLLIDE,
    &CI_LOSSY,
    &CI_MSG,
    &CI_RESUME,
    &CI_EXPIRY,
    &CI_RELEASE,
    &CI_TWO,
    &CI_RECV_CRASH,
    &CI_CANCEL,
    &CI_ABORT,
    &CI_MSG_CRASH,
    &CI_RECV_CRASH_CANCEL,
    &CI_WINDOW,
    &STANDARD,
    &ASSOC,
    &DEEP,
    &CI_CRASH_MSG,
    &CI_RESET,
    &CI_ATTACKER,
    &COVERAGE,
];

/// The unique-state count of the last complete run of the built-in preset `p` (from
/// `model/expected.toml`), if known; `None` for a preset whose bounds were changed.
pub fn expected_unique(p: &Preset) -> Option<usize> {
    by_name(p.name).filter(|builtin| *builtin == p)?;
    include_str!("../expected.toml").lines().find_map(|line| {
        let (name, n) = line.split_once('=')?;
        (name.trim() == p.name).then(|| n.trim().parse().ok()).flatten()
    })
}

/// The preset called `name`.
pub fn by_name(name: &str) -> Option<&'static Preset> {
    ALL.iter().copied().find(|p| p.name == name)
}

/// Side names: side 0 orders first, so it wins a collision tie-break.
pub const NAMES: [&str; 2] = ["alpha", "beta"];

impl Preset {
    /// The core configuration of side `i` (0 or 1).
    pub fn core_config(&self, i: usize, mutations: Mutations) -> Config {
        let name = |s: &str| PeerName::new(s.as_bytes()).expect("valid model name");
        let psk = Psk::new(b"model-checking-psk").expect("16+ bytes");
        let mut c = Config::new(name(NAMES[i]), name(NAMES[1 - i]), psk);
        c.keepalive = self.keepalive.then_some(Duration::from_secs(30));
        c.handshake_retransmits = self.handshake_retransmits;
        c.max_open_retries = self.max_open_retries;
        c.max_probes = self.max_probes;
        c.ack_ranges = 2;
        c.drain_ptos = 1;
        // Small checkpoints and windows: a message above `CHECKPOINT` bytes takes two
        // segments with a durable checkpoint in between.
        c.params.checkpoint_size = CHECKPOINT as u32;
        c.params.checkpoint_window = 1;
        c.params.msg_window = self.msg_window;
        c.params.max_datagram = self.max_datagram;
        // Symbolic crypto: the model assumes perfect crypto (and the real suite is slow).
        c.suite = Suite::Symbolic;
        c.mutations = mutations;
        if i == 1 && !self.both_open {
            c.dial = DialPolicy::RemoteOnly;
        }
        c
    }

    /// The model of this preset with `mutations` active on both sides.
    pub fn model(&self, mutations: Mutations) -> AssocModel {
        let sides = (0..2).map(|i| Side {
            peer: stateright::actor::Id::from(1 - i),
            cfg: self.core_config(i, mutations),
            // Side 1 holds what it is given (it never dials unless `both_open`).
            holds_open: true,
            max_link_drops: self.link_drops[i],
            dial_failures: self.dial_failures,
            workload: self.workload[i].to_vec(),
            expiry: self.expiry,
            release: self.release[i],
            probes: self.probes,
            cancel: self.cancel[i],
            abort: self.abort[i],
            index: i,
            peer_workload: self.workload[1 - i].to_vec(),
            attacker: self.attacker,
        });
        let inner = ActorModel::new(self.clone(), Env::default())
            .actors(sides)
            .init_network(Network::new_unordered_duplicating([]))
            .lossy_network(if self.lossy { LossyNetwork::Yes } else { LossyNetwork::No })
            .max_crashes(usize::from(self.crashes.iter().any(|c| *c > 0)))
            .within_boundary(within_boundary);
        AssocModel { inner }
    }

    /// The model with one mutation active.
    pub fn mutant(&self, m: Mutation) -> AssocModel {
        self.model(Mutations::NONE.with(m))
    }
}

/// Most outputs a session may hold back behind its write barrier in the checked space.
///
/// Every replayed PDU that a session answers while a record is in fsync queues one more
/// answer behind the barrier, so on a duplicating network the queue is unbounded (the
/// answers are identical, and sending an identical PDU twice into a duplicating network
/// is the same as once). States beyond this bound are outside the checked space.
pub const MAX_HELD_OUTPUTS: usize = 3;

/// The checked space: no session's epoch beyond the preset's bound, no packet number
/// beyond the preset's `max_pn` (`max_pn_ack_only` for an ACK-only packet), no more than
/// [`MAX_HELD_OUTPUTS`] held outputs, and no side crashed once its crash budget is spent
/// (stateright bounds only *concurrent* crashes).
pub fn within_boundary(p: &Preset, s: &State) -> bool {
    within_budgets(p, s)
        && s.actor_states.iter().all(|a| side_within_bounds(p, a))
        && s.network.iter_all().all(|e| pdu_within_bounds(p, e.msg))
}

/// One PDU's part of the boundary: a packet number within `max_pn`, or within
/// `max_pn_ack_only` for an ACK-only packet (the compact model evaluates it per envelope).
pub fn pdu_within_bounds(p: &Preset, pdu: &Pdu) -> bool {
    match &pdu.body {
        Body::Packet(frames) if frames.iter().any(Frame::is_ack_eliciting) => pdu.header.pn <= p.max_pn,
        Body::Packet(_) => pdu.header.pn <= p.max_pn_ack_only,
        _ => true,
    }
}

/// One side's part of the boundary: its held outputs and its epoch (the compact model
/// evaluates the boundary part by part).
pub fn side_within_bounds(p: &Preset, a: &SideState) -> bool {
    side_within_budget(a) && a.session.store().epoch <= p.max_epoch
}

/// One side's held outputs are within [`MAX_HELD_OUTPUTS`].
pub fn side_within_budget(a: &SideState) -> bool {
    a.session.pending_outputs() <= MAX_HELD_OUTPUTS
}

/// The model's checkpoint size (the core's minimum): a message longer than this is sent
/// in two segments with a durable checkpoint in between.
pub const CHECKPOINT: usize = 1024;

/// A message of one segment.
pub const SMALL: usize = 8;
/// The smallest datagram the core allows: a segment carries about 450 bytes.
pub const SMALL_DATAGRAM: u16 = 512;
/// A message of two segments at [`SMALL_DATAGRAM`] and no checkpoint before its end: after
/// its first segment the receiver holds bytes that are received but not yet durable.
pub const MEDIUM: usize = 600;
/// A message of two segments (one checkpoint in between).
pub const LARGE: usize = CHECKPOINT + 16;

/// The boundary without the epoch bound. A successor outside the boundary only because of
/// its epoch is where the *bound* stopped the search (AG EF counts it as able to reach
/// the goal); a successor outside a budget is a path the environment may not take.
pub fn within_budgets(p: &Preset, s: &State) -> bool {
    s.actor_states
        .iter()
        .enumerate()
        .all(|(i, a)| side_within_budget(a) && !(s.crashed[i] && a.disk.ghost.restarts >= p.crashes[i]))
}
