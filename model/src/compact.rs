//! The compact state space: the same model as [`crate::preset::AssocModel`], with every state
//! stored as a small tuple of interned part ids (what SPIN calls *collapse compression*) and
//! every step of a side's real [`assoc_core::Session`] cached.
//!
//! A [`Packed`] state holds, per side, the id of its [`SideState`], of its saved [`Disk`]
//! and of its armed timers, the network as a set of envelope ids ([`Net`]: a bitset of the
//! first 128 envelopes, so it is neither interned nor hashed, plus the interned id of any
//! envelopes beyond them), the crash flags and the environment's budget counters ([`Env`]):
//! 52 bytes instead of a ~2.4 KB [`State`]. A side's step depends only on its own
//! state and its input, so its result — the new side state and the commands it gave — is
//! computed once per distinct (side state, input) by the shipping [`Side`] actor, and
//! replayed from the cache afterwards (ci-resume: 7,848 states, 450 distinct side states,
//! 1,270 session steps run).
//!
//! The semantics are stateright's [`stateright::actor::ActorModel`] on an unordered,
//! duplicating (optionally lossy) network, and the actions come in the same order, so an
//! action index found here replays on the full model ([`crate::graph::Explored::path`]);
//! `check --cross-check` and `model/tests/engine.rs` compare both state for state count.
//!
//! Properties and the AG EF goal are predicates over a full [`State`]; here they are
//! evaluated on a *view* holding the sides, their disks and the crash flags (not the
//! network nor the timers: no property reads them), once per distinct such tuple. The two
//! properties about what a transition did ([`crate::properties::Prop::on_edges`]) read the
//! packed state's [`Env::events`], which the memo leaves out: they are evaluated on the view
//! of each transition that has events, until the first hit.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use assoc_core::wire::Pdu;
use stateright::actor::{
    Actor, ActorModelState, Command, Envelope, Id, LossyNetwork, Network, Out, RandomChoices, Timers,
};
use stateright::Model;

use crate::actor::{Disk, ModelTimer, Side, SideState};
use crate::preset::{self, AssocModel, Preset, State};
use crate::properties;
use crate::timely::{self, Env, Firing};

/// A fast, non-cryptographic hasher for small keys (FxHash's multiply-rotate).
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("chunks of 8")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// `HashMap` with [`FxHasher`].
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Values stored once, referred to by a dense `u32` id.
struct Interner<T> {
    items: Vec<Arc<T>>,
    ids: FxMap<Arc<T>, u32>,
}

impl<T: Hash + Eq> Interner<T> {
    fn new() -> Self {
        Interner { items: Vec::new(), ids: FxMap::default() }
    }
    /// The id of `t`, and whether it is new.
    fn intern(&mut self, t: T) -> (u32, bool) {
        if let Some(&id) = self.ids.get(&t) {
            return (id, false);
        }
        let id = u32::try_from(self.items.len()).expect("fewer than 2^32 distinct parts");
        let t = Arc::new(t);
        self.items.push(t.clone());
        self.ids.insert(t, id);
        (id, true)
    }
    fn get(&self, id: u32) -> &Arc<T> {
        &self.items[id as usize]
    }
    fn len(&self) -> usize {
        self.items.len()
    }
}

/// Envelope ids below this are bits of [`Net::low`]; the rest are interned in [`Net::high`].
const LOW: u32 = 128;

/// The network of a compact state: the set of envelopes ever sent and not lost, by
/// envelope id. Each set has exactly one representation (an id goes to `low` or to `high`
/// by its value alone), so equal networks are equal values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Net {
    /// Envelopes with ids below 128, one bit each (bit `i % 32` of word `i / 32`).
    pub low: [u32; 4],
    /// The interned sorted set of the envelopes with ids from 128 on (0: none).
    pub high: u32,
}

impl Net {
    fn has_low(&self, env: u32) -> bool {
        self.low[(env / 32) as usize] & 1 << (env % 32) != 0
    }
    fn set_low(&mut self, env: u32, on: bool) {
        let (word, bit) = ((env / 32) as usize, 1 << (env % 32));
        if on {
            self.low[word] |= bit;
        } else {
            self.low[word] &= !bit;
        }
    }
    /// The ids in `low`, ascending.
    fn low_ids(&self) -> impl Iterator<Item = u32> + '_ {
        (0..LOW).filter(|e| self.has_low(*e))
    }
}

/// One state of the compact model: interned part ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packed {
    /// Each side's [`SideState`] (a crashed side's is the state it crashed in).
    pub sides: [u32; 2],
    /// Each side's saved [`Disk`] (`None` before the first save).
    pub disks: [u32; 2],
    /// Each side's armed timers (a sorted set).
    pub timers: [u32; 2],
    /// The network: the set of envelopes ever sent and not lost.
    pub net: Net,
    /// Which sides are crashed.
    pub crashed: [bool; 2],
    /// The environment's bookkeeping (early timer firings so far).
    pub env: Env,
}

/// One action of the compact model; the same actions as stateright's, in the same order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PackedAction {
    /// The network loses an envelope (lossy presets).
    Drop(u32),
    /// An envelope is delivered (again).
    Deliver(u32),
    /// A timer of side `.0` fires.
    Timeout(u8, ModelTimer),
    /// A side crashes.
    Crash(u8),
    /// A crashed side restarts from its disk.
    Recover(u8),
}

impl PackedAction {
    /// Whether the action is progress (usable on an AG EF path), as
    /// [`crate::trace::is_progress`] decides for the full model.
    pub fn is_progress(&self) -> bool {
        match self {
            PackedAction::Drop(_) | PackedAction::Crash(_) => false,
            PackedAction::Timeout(_, t) => !t.is_fault(),
            PackedAction::Deliver(_) | PackedAction::Recover(_) => true,
        }
    }
}

/// What a side did in one step, in interned form.
struct Effect {
    /// The new side state (`None`: unchanged).
    side: Option<u32>,
    /// Envelopes sent.
    sends: Vec<u32>,
    /// Timer commands in order: (timer, set?).
    timers: Vec<(ModelTimer, bool)>,
    /// The last `Storage` saved.
    save: Option<u32>,
    /// The sometimes-only flags the step set ([`crate::properties::take_edge_events`]): not
    /// kept in the interned side state or disk, marked on the transition instead.
    events: u8,
}

/// What a step is cached by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Stimulus {
    Deliver(u32),
    Timer(ModelTimer),
}

/// Per side state: what the boundary needs.
#[derive(Clone, Copy)]
struct SideFacts {
    /// Within the held-output bound and the epoch bound.
    within: bool,
    /// Within the held-output bound (a budget, not a search bound).
    budget: bool,
    /// Restarts so far (from the ghost).
    restarts: u8,
}

/// A predicate over full states, answered by [`CompactModel::holds`].
pub type StatePredicate = Box<dyn Fn(&AssocModel, &State) -> bool + Send + Sync>;

/// The memo key of predicates: everything a property may read.
type ViewKey = ([u32; 2], [u32; 2], [bool; 2]);

/// Interned parts and caches.
struct Tables {
    sides: Interner<SideState>,
    side_facts: Vec<SideFacts>,
    disks: Interner<Option<Disk>>,
    timer_sets: Interner<Vec<ModelTimer>>,
    envelopes: Interner<Envelope<Pdu>>,
    envelope_within: Vec<bool>,
    /// Envelope ids below this go to [`Net::low`] ([`LOW`]; lower in tests of the
    /// [`Net::high`] path).
    low: u32,
    /// The envelopes in [`Net::low`] that are within the bounds, as its bits.
    low_within: [u32; 4],
    /// Envelope ids in stateright's order of envelopes (`Envelope`'s `Ord`).
    envelope_order: Vec<u32>,
    /// Each envelope's position in `envelope_order`.
    envelope_rank: Vec<u32>,
    /// The [`Net::high`] parts: sets of envelope ids from `low` on.
    networks: Interner<Vec<u32>>,
    network_within: Vec<bool>,
    effects: Vec<Effect>,
    /// (side, side state, stimulus) → effect index (`None`: a no-op, no successor).
    steps: FxMap<(u8, u32, Stimulus), Option<u32>>,
    /// (side, disk) → effect index of `on_start`.
    starts: FxMap<(u8, u32), u32>,
    /// (timers, effect) → timers after the effect's timer commands.
    timer_ops: FxMap<(u32, u32), u32>,
    /// (timers, timer) → timers without it.
    disarmed: FxMap<(u32, ModelTimer), u32>,
    /// Side state → what it is reset to when its side crashes.
    crashes: FxMap<(u8, u32), u32>,
    /// (high network part, envelope, added?) → high network part.
    net_ops: FxMap<(u32, u32, bool), u32>,
    /// Memoised predicate results (bit i: predicate i holds).
    views: FxMap<ViewKey, u64>,
    /// Step results computed by running the session (cache misses).
    session_steps: u64,
}

/// The compact model of a preset. Implements stateright's [`Model`], so the graph pass
/// ([`crate::graph::explore`]) explores it like the full model.
pub struct CompactModel {
    /// The full model (its actors are stepped; its properties are evaluated on views).
    pub full: AssocModel,
    predicates: Vec<StatePredicate>,
    tables: RwLock<Tables>,
    empty_timers: u32,
    none_disk: u32,
}

impl CompactModel {
    /// The compact model over `full`; `predicates` are the state predicates that
    /// [`CompactModel::holds`] answers (at most 64).
    pub fn new(full: AssocModel, predicates: Vec<StatePredicate>) -> Self {
        assert!(predicates.len() <= 64, "at most 64 memoised predicates");
        let mut t = Tables {
            sides: Interner::new(),
            side_facts: Vec::new(),
            disks: Interner::new(),
            timer_sets: Interner::new(),
            envelopes: Interner::new(),
            envelope_within: Vec::new(),
            low: LOW,
            low_within: [0; 4],
            envelope_order: Vec::new(),
            envelope_rank: Vec::new(),
            networks: Interner::new(),
            network_within: Vec::new(),
            effects: Vec::new(),
            steps: FxMap::default(),
            starts: FxMap::default(),
            net_ops: FxMap::default(),
            crashes: FxMap::default(),
            timer_ops: FxMap::default(),
            disarmed: FxMap::default(),
            views: FxMap::default(),
            session_steps: 0,
        };
        let (empty_timers, _) = t.timer_sets.intern(Vec::new());
        let (none_disk, _) = t.disks.intern(None);
        let (empty_net, _) = t.networks.intern(Vec::new());
        debug_assert_eq!(empty_net, 0);
        t.network_within.push(true);
        CompactModel { full, predicates, tables: RwLock::new(t), empty_timers, none_disk }
    }

    /// The tables, for lookups (the model is shared by the graph pass's threads).
    fn r(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tables, to add to them (a cache miss).
    fn w(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn preset(&self) -> &Preset {
        self.full.preset()
    }

    /// Whether predicate `i` (as passed to [`CompactModel::new`]) holds in `s`.
    pub fn holds(&self, i: usize, s: &Packed) -> bool {
        self.holds_all(s) & (1 << i) != 0
    }

    /// Which predicates hold in `s`: bit `i` is set when predicate `i` holds.
    pub fn holds_all(&self, s: &Packed) -> u64 {
        let key = (s.sides, s.disks, s.crashed);
        if let Some(bits) = self.r().views.get(&key) {
            return *bits;
        }
        let view = self.view(s);
        let bits = self.predicates.iter().enumerate().fold(0u64, |acc, (j, p)| {
            if p(&self.full, &view) {
                acc | 1 << j
            } else {
                acc
            }
        });
        self.w().views.insert(key, bits);
        bits
    }

    /// Whether predicate `i` holds in `s`, evaluated without the memo (whose key leaves out
    /// [`Env`]): for predicates that read [`Env::events`], only called where it is not 0.
    pub fn holds_on_edge(&self, i: usize, s: &Packed) -> bool {
        s.env.events != 0 && self.predicates[i](&self.full, &self.view(s))
    }

    /// A full state with `s`'s sides, disks and crash flags, and an empty network and no
    /// timers (what predicates are evaluated on).
    fn view(&self, s: &Packed) -> State {
        let t = self.r();
        ActorModelState {
            actor_states: s.sides.iter().map(|id| t.sides.get(*id).clone()).collect(),
            network: Network::new_unordered_duplicating([]),
            timers_set: vec![Timers::new(); 2],
            random_choices: vec![RandomChoices::default(); 2],
            crashed: s.crashed.to_vec(),
            history: s.env,
            actor_storages: s.disks.iter().map(|id| (**t.disks.get(*id)).clone()).collect(),
        }
    }

    /// The full state `s` stands for (as the full model would hold it).
    pub fn unpack(&self, s: &Packed) -> State {
        let mut state = self.view(s);
        let t = self.r();
        state.network = Network::new_unordered_duplicating(
            self.envelopes_of(&t, &s.net).into_iter().map(|e| (**t.envelopes.get(e)).clone()),
        );
        for (i, timers) in s.timers.iter().enumerate() {
            for timer in t.timer_sets.get(*timers).iter() {
                state.timers_set[i].set(*timer);
            }
        }
        state
    }

    /// Distinct parts interned so far: side states, disks, envelopes, networks beyond the
    /// first 128 envelopes, and the number of times a session was actually stepped (the rest
    /// came from the cache).
    pub fn part_counts(&self) -> PartCounts {
        let t = self.r();
        PartCounts {
            side_states: t.sides.len(),
            disks: t.disks.len(),
            envelopes: t.envelopes.len(),
            high_networks: t.networks.len() - 1,
            session_steps: t.session_steps,
        }
    }

    /// Whether `s` is within the preset's budgets (the boundary without its search
    /// bounds), as [`preset::within_budgets`] decides for the full model.
    pub fn within_budgets(&self, s: &Packed) -> bool {
        let t = self.r();
        let p = self.preset();
        (0..2).all(|i| {
            let f = t.side_facts[s.sides[i] as usize];
            f.budget && !(s.crashed[i] && f.restarts >= p.crashes[i])
        })
    }

    fn intern_side(&self, t: &mut Tables, st: SideState) -> u32 {
        let p = self.preset();
        let facts = SideFacts {
            within: preset::side_within_bounds(p, &st),
            budget: preset::side_within_budget(&st),
            restarts: st.disk.ghost.restarts,
        };
        let (id, new) = t.sides.intern(st);
        if new {
            t.side_facts.push(facts);
        }
        id
    }

    fn intern_envelope(&self, t: &mut Tables, env: Envelope<Pdu>) -> u32 {
        let within = preset::pdu_within_bounds(self.preset(), &env.msg);
        let (id, new) = t.envelopes.intern(env);
        if new {
            t.envelope_within.push(within);
            if within && id < t.low {
                t.low_within[(id / 32) as usize] |= 1 << (id % 32);
            }
            let at = {
                let e = t.envelopes.get(id);
                t.envelope_order.partition_point(|x| t.envelopes.get(*x).as_ref() < e.as_ref())
            };
            t.envelope_order.insert(at, id);
            t.envelope_rank.push(0);
            for (rank, e) in t.envelope_order.iter().enumerate() {
                t.envelope_rank[*e as usize] = rank as u32;
            }
        }
        id
    }

    /// The envelopes of `net` in stateright's order (`Envelope`'s `Ord`), so that action
    /// indices match the full model's.
    fn envelopes_of(&self, t: &Tables, net: &Net) -> Vec<u32> {
        let mut envs: Vec<u32> = net.low_ids().collect();
        envs.extend_from_slice(t.networks.get(net.high));
        envs.sort_unstable_by_key(|e| t.envelope_rank[*e as usize]);
        envs
    }

    /// Turns an actor's output into an [`Effect`].
    fn effect(&self, t: &mut Tables, i: usize, side: Option<SideState>, out: Out<Side>) -> u32 {
        let mut events = 0;
        let side = side.map(|mut st| {
            events |= properties::take_edge_events(&mut st.disk.ghost);
            self.intern_side(t, st)
        });
        let mut e = Effect { side, sends: Vec::new(), timers: Vec::new(), save: None, events };
        for c in out {
            match c {
                Command::Send(dst, msg) => {
                    e.sends.push(self.intern_envelope(t, Envelope { src: Id::from(i), dst, msg }));
                }
                Command::SetTimer(timer, _) => e.timers.push((timer, true)),
                Command::CancelTimer(timer) => e.timers.push((timer, false)),
                Command::Save(mut disk) => {
                    e.events |= properties::take_edge_events(&mut disk.ghost);
                    e.save = Some(t.disks.intern(Some(disk)).0);
                }
                Command::ChooseRandom(..) => unreachable!("the model's sides never choose at random"),
            }
        }
        t.effects.push(e);
        (t.effects.len() - 1) as u32
    }

    /// The effect of `stimulus` on side `i` in side state `sid` (`None`: a no-op).
    fn step(&self, i: usize, sid: u32, stimulus: Stimulus) -> Option<u32> {
        if let Some(hit) = self.r().steps.get(&(i as u8, sid, stimulus)) {
            return *hit;
        }
        let mut t = self.w();
        t.session_steps += 1;
        let before = t.sides.get(sid).clone();
        let actor = &self.full.inner.actors[i];
        let id = Id::from(i);
        let mut state = Cow::Borrowed(&*before);
        let mut out = Out::new();
        // The same no-op rules as stateright's `ActorModel::next_state`.
        let no_op = match stimulus {
            Stimulus::Deliver(e) => {
                let env = t.envelopes.get(e).clone();
                actor.on_msg(id, &mut state, env.src, env.msg.clone(), &mut out);
                matches!(state, Cow::Borrowed(_)) && out.is_empty()
            }
            Stimulus::Timer(timer) => {
                actor.on_timeout(id, &mut state, &timer, &mut out);
                let renews_only =
                    out.len() == 1 && out.iter().any(|c| matches!(c, Command::SetTimer(x, _) if *x == timer));
                matches!(state, Cow::Borrowed(_)) && renews_only
            }
        };
        let result = if no_op {
            None
        } else {
            let next = match state {
                Cow::Owned(st) => Some(st),
                Cow::Borrowed(_) => None,
            };
            Some(self.effect(&mut t, i, next, out))
        };
        t.steps.insert((i as u8, sid, stimulus), result);
        result
    }

    /// The effect of side `i` starting from disk `disk`.
    fn start(&self, i: usize, disk: u32) -> u32 {
        if let Some(hit) = self.r().starts.get(&(i as u8, disk)) {
            return *hit;
        }
        let mut t = self.w();
        t.session_steps += 1;
        let storage = (**t.disks.get(disk)).clone();
        let mut out = Out::new();
        let st = self.full.inner.actors[i].on_start(Id::from(i), &storage, &mut out);
        let e = self.effect(&mut t, i, Some(st), out);
        t.starts.insert((i as u8, disk), e);
        e
    }

    /// The state side `i` in side state `sid` is reset to when it crashes
    /// ([`Side::crashed_state`], as the full model does).
    fn crashed(&self, i: usize, sid: u32) -> u32 {
        if let Some(hit) = self.r().crashes.get(&(i as u8, sid)) {
            return *hit;
        }
        let mut t = self.w();
        t.session_steps += 1;
        let reset = self.full.inner.actors[i].crashed_state(t.sides.get(sid));
        let id = self.intern_side(&mut t, reset);
        t.crashes.insert((i as u8, sid), id);
        id
    }

    /// The high network part `net` with envelope `env` (from `t.low` on) added (`add`) or
    /// removed.
    fn net_op(&self, t: &mut Tables, net: u32, env: u32, add: bool) -> u32 {
        if let Some(n) = t.net_ops.get(&(net, env, add)) {
            return *n;
        }
        let mut envs = t.networks.get(net).to_vec();
        let pos = envs.binary_search(&env);
        match (pos, add) {
            (Err(at), true) => envs.insert(at, env),
            (Ok(at), false) => {
                envs.remove(at);
            }
            _ => {}
        }
        let within = envs.iter().all(|e| t.envelope_within[*e as usize]);
        envs.shrink_to_fit();
        let (n, new) = t.networks.intern(envs);
        if new {
            t.network_within.push(within);
        }
        t.net_ops.insert((net, env, add), n);
        n
    }

    /// `net` with envelope `env` added (`add`) or removed, from the caches alone (`None`: a
    /// high network part is not cached yet).
    fn net_known(t: &Tables, mut net: Net, env: u32, add: bool) -> Option<Net> {
        if env < t.low {
            net.set_low(env, add);
        } else {
            net.high = *t.net_ops.get(&(net.high, env, add))?;
        }
        Some(net)
    }

    /// `net` with envelope `env` added (`add`) or removed.
    fn net_update(&self, t: &mut Tables, net: Net, env: u32, add: bool) -> Net {
        match Self::net_known(t, net, env, add) {
            Some(n) => n,
            None => Net { high: self.net_op(t, net.high, env, add), ..net },
        }
    }

    /// Applies side `i`'s effect `e` to `s` (stateright's `process_commands`).
    fn apply(&self, s: &mut Packed, i: usize, e: u32) {
        if let Some(next) = self.apply_known(&self.r(), s, i, e) {
            *s = next;
            return;
        }
        let mut t = self.w();
        let t = &mut *t;
        let eff = &t.effects[e as usize];
        s.env.events |= eff.events;
        if let Some(side) = eff.side {
            s.sides[i] = side;
        }
        if let Some(disk) = eff.save {
            s.disks[i] = disk;
        }
        if !eff.timers.is_empty() {
            let mut timers = t.timer_sets.get(s.timers[i]).to_vec();
            for (timer, set) in &eff.timers {
                match (timers.binary_search(timer), set) {
                    (Err(at), true) => timers.insert(at, *timer),
                    (Ok(at), false) => {
                        timers.remove(at);
                    }
                    _ => {}
                }
            }
            let after = t.timer_sets.intern(timers).0;
            t.timer_ops.insert((s.timers[i], e), after);
            s.timers[i] = after;
        }
        let sends = t.effects[e as usize].sends.clone();
        for env in sends {
            s.net = self.net_update(t, s.net, env, true);
        }
    }

    /// [`CompactModel::apply`] from the caches alone (`None`: a part is not cached yet).
    fn apply_known(&self, t: &Tables, s: &Packed, i: usize, e: u32) -> Option<Packed> {
        let eff = &t.effects[e as usize];
        let mut next = *s;
        next.env.events |= eff.events;
        if let Some(side) = eff.side {
            next.sides[i] = side;
        }
        if let Some(disk) = eff.save {
            next.disks[i] = disk;
        }
        if !eff.timers.is_empty() {
            next.timers[i] = *t.timer_ops.get(&(s.timers[i], e))?;
        }
        for env in &eff.sends {
            next.net = Self::net_known(t, next.net, *env, true)?;
        }
        Some(next)
    }
}

impl CompactModel {
    /// The timer rule of [`crate::timely`] on the actions of `s`, as [`AssocModel`] applies
    /// it to the full model.
    fn timely_timers(&self, s: &Packed, actions: &mut Vec<PackedAction>) {
        let budget = self.preset().early_timers;
        let timers = actions.iter().filter_map(|a| match a {
            PackedAction::Timeout(_, t) => Some(t),
            _ => None,
        });
        if budget.is_none() || !timely::any_waiting(timers) {
            return;
        }
        let rule = timely::firing(budget, s.env.early_timers, || self.quiescent(s, actions));
        if rule == Firing::Timely {
            return;
        }
        actions.retain_mut(|a| match a {
            PackedAction::Timeout(_, t) => match timely::apply(rule, *t) {
                Some(new) => {
                    *t = new;
                    true
                }
                None => false,
            },
            _ => true,
        });
    }

    /// Whether `n` differs from `s` in more than what the attacker overheard, as the full
    /// model decides it (see [`SideState::same_but_overheard`]).
    fn changes(&self, s: &Packed, n: &Packed) -> bool {
        if n == s {
            return false;
        }
        let same_but_sides = Packed { sides: s.sides, ..*n } == *s;
        if !same_but_sides {
            return true;
        }
        let t = self.r();
        !n.sides
            .iter()
            .zip(&s.sides)
            .all(|(a, b)| a == b || t.sides.get(*a).same_but_overheard(t.sides.get(*b)))
    }

    /// Whether nothing faster than a protocol timer can happen in `s`, as
    /// [`AssocModel::quiescent`] decides for the full model.
    fn quiescent(&self, s: &Packed, actions: &[PackedAction]) -> bool {
        let settling = {
            let t = self.r();
            s.timers.iter().any(|id| t.timer_sets.get(*id).iter().any(|x| timely::settles(*x)))
        };
        !settling
            && !actions.iter().any(|a| {
                matches!(a, PackedAction::Deliver(_))
                    && self.next_state(s, *a).is_some_and(|n| self.changes(s, &n) && self.within_boundary(&n))
            })
    }
}

/// Sizes of the interned tables.
#[derive(Clone, Copy, Debug)]
pub struct PartCounts {
    /// Distinct side states (both sides).
    pub side_states: usize,
    /// Distinct saved disks.
    pub disks: usize,
    /// Distinct envelopes.
    pub envelopes: usize,
    /// Distinct interned network parts beyond the first 128 envelopes (networks within
    /// them are bitsets in the state, not interned).
    pub high_networks: usize,
    /// Session steps actually run (cache misses).
    pub session_steps: u64,
}

impl Model for CompactModel {
    type State = Packed;
    type Action = PackedAction;

    fn init_states(&self) -> Vec<Packed> {
        let mut s = Packed {
            sides: [0, 0],
            disks: [self.none_disk; 2],
            timers: [self.empty_timers; 2],
            net: Net::default(),
            crashed: [false; 2],
            env: Env::default(),
        };
        for i in 0..2 {
            let e = self.start(i, self.none_disk);
            self.apply(&mut s, i, e);
        }
        vec![s]
    }

    fn actions(&self, s: &Packed, actions: &mut Vec<PackedAction>) {
        let t = self.r();
        let envs = self.envelopes_of(&t, &s.net);
        if self.full.inner.lossy_network == LossyNetwork::Yes {
            actions.extend(envs.iter().map(|e| PackedAction::Drop(*e)));
        }
        actions.extend(envs.iter().map(|e| PackedAction::Deliver(*e)));
        for i in 0..2 {
            let timers = t.timer_sets.get(s.timers[i]);
            actions.extend(timers.iter().map(|timer| PackedAction::Timeout(i as u8, *timer)));
        }
        let crashed = s.crashed.iter().filter(|c| **c).count();
        if crashed < self.full.inner.max_crashes {
            actions.extend((0..2u8).filter(|i| !s.crashed[usize::from(*i)]).map(PackedAction::Crash));
        }
        actions.extend((0..2u8).filter(|i| s.crashed[usize::from(*i)]).map(PackedAction::Recover));
        drop(t);
        if !timely::may_lose(self.preset().max_losses, s.env.losses) {
            actions.retain(|a| !matches!(a, PackedAction::Drop(_)));
        }
        self.timely_timers(s, actions);
    }

    fn next_state(&self, s: &Packed, action: PackedAction) -> Option<Packed> {
        let mut next = *s;
        // What the transition into `s` did is not part of `s` (nor of `next`).
        next.env.events = 0;
        match action {
            PackedAction::Drop(env) => {
                next.env.losses += u8::from(self.preset().max_losses.is_some());
                let known = Self::net_known(&self.r(), s.net, env, false);
                next.net = match known {
                    Some(net) => net,
                    None => self.net_update(&mut self.w(), s.net, env, false),
                };
            }
            PackedAction::Deliver(env) => {
                let dst = usize::from(self.r().envelopes.get(env).dst);
                if s.crashed[dst] {
                    return None;
                }
                let e = self.step(dst, s.sides[dst], Stimulus::Deliver(env))?;
                self.apply(&mut next, dst, e);
            }
            PackedAction::Timeout(i, fired) => {
                let i = usize::from(i);
                // An early firing fires its armed core timer (`crate::timely`).
                let timer = fired.armed();
                next.env.early_timers += u8::from(fired != timer);
                let e = self.step(i, s.sides[i], Stimulus::Timer(timer))?;
                // stateright disarms the fired timer before applying the commands.
                let known = self.r().disarmed.get(&(s.timers[i], timer)).copied();
                next.timers[i] = match known {
                    Some(timers) => timers,
                    None => {
                        let mut t = self.w();
                        let mut timers = t.timer_sets.get(s.timers[i]).to_vec();
                        timers.retain(|x| *x != timer);
                        let id = t.timer_sets.intern(timers).0;
                        t.disarmed.insert((s.timers[i], timer), id);
                        id
                    }
                };
                self.apply(&mut next, i, e);
            }
            PackedAction::Crash(i) => {
                let i = usize::from(i);
                next.sides[i] = self.crashed(i, s.sides[i]);
                next.timers[i] = self.empty_timers;
                next.crashed[i] = true;
            }
            PackedAction::Recover(i) => {
                let i = usize::from(i);
                let e = self.start(i, s.disks[i]);
                next.crashed[i] = false;
                self.apply(&mut next, i, e);
            }
        }
        Some(next)
    }

    fn within_boundary(&self, s: &Packed) -> bool {
        self.within_budgets(s) && {
            let t = self.r();
            let low_within = s.net.low.iter().zip(&t.low_within).all(|(net, ok)| net & !ok == 0);
            s.sides.iter().all(|id| t.side_facts[*id as usize].within)
                && low_within
                && t.network_within[s.net.high as usize]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{self, Search};
    use assoc_core::mutation::Mutations;
    use std::time::Duration;

    fn unique(model: &CompactModel) -> (usize, usize) {
        let search = Search {
            watch: Vec::new(),
            agef: None,
            progress: None,
            progress_every: Duration::from_secs(3600),
            threads: 1,
            stop_on_violation: false,
        };
        let e = graph::explore(model, search);
        (e.progress.unique, e.progress.states)
    }

    /// Networks with envelopes beyond the bitset (interned high parts) explore the same
    /// states as bitsets: the same preset with every envelope from the fourth on in the
    /// high part gives the same counts.
    #[test]
    fn high_network_parts_explore_the_same_states() {
        let preset = crate::preset::by_name("ci-lossy").expect("ci-lossy exists");
        let bits = CompactModel::new(preset.model(Mutations::NONE), Vec::new());
        let high = CompactModel::new(preset.model(Mutations::NONE), Vec::new());
        high.w().low = 4;
        let (a, b) = (unique(&bits), unique(&high));
        assert_eq!(a, b);
        assert!(high.part_counts().high_networks > 10, "the high path was used");
        assert_eq!(bits.part_counts().high_networks, 0);
    }
}
