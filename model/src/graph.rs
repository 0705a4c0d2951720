//! Our own explicit-state exploration over stateright's [`Model`] trait: a level-synchronous
//! breadth-first search (each level's states expanded on several threads, merged in order,
//! so the result does not depend on the thread count) that keeps the whole state graph
//! (fingerprints, BFS parents and edges, not the states), so that it can
//!
//! * give the **shortest** counterexample to each `always` property and the shortest
//!   example of each `sometimes` property (stateright 0.31's own discoveries are not
//!   minimal: later ones overwrite earlier ones), and
//! * decide the CTL property **AG EF goal** ("no stuck state"): forward exploration,
//!   reverse edges, backward reachability from the goal states. Only *progress* edges
//!   count for EF (faults such as crashes, link drops and losses never rescue a state),
//!   while AG ranges over every reachable state. Two answers are computed. Without
//!   optimism, a state whose only progress towards the goal leaves the *search bound* (as
//!   opposed to an environment budget; the model says which) does not reach it: such
//!   states are counted apart ([`AgEf::bound_dependent`]) — stuck within the bound, maybe
//!   not beyond it, so the bound must be raised or the preset shaped until there are none.
//!   The states that cannot reach the goal even when every exit from the bound counts as
//!   reaching it are stuck for real ([`AgEf::stuck`]).
//!
//! Ids are assigned in BFS order, so the smallest failing id is a failing state of
//! minimal depth.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use stateright::Model;

/// A state predicate of model `M`.
pub type Predicate<'a, M> = Box<dyn Fn(&M, &<M as Model>::State) -> bool + Send + Sync + 'a>;

/// What to look for during the exploration.
pub struct Search<'a, M: Model> {
    /// Predicates whose first (shallowest) satisfying state is recorded, in order.
    /// Pass the *negation* of an `always` property's condition via [`Watch::Violates`].
    pub watch: Vec<Watch<'a, M>>,
    /// The AG EF goal and the progress-edge classifier, if AG EF is wanted.
    pub agef: Option<AgEfSpec<'a, M>>,
    /// Called every `progress_every` with the counts so far.
    pub progress: Option<&'a mut dyn FnMut(&Progress)>,
    /// How often to call `progress`.
    pub progress_every: Duration,
    /// Threads expanding states (1: all in the caller's thread). Results do not depend
    /// on it.
    pub threads: usize,
    /// Stop as soon as an `always` predicate is violated (the violation found is still one
    /// of minimal depth); AG EF is then not decided (`agef` is `None`).
    pub stop_on_violation: bool,
}

/// One predicate to watch.
pub enum Watch<'a, M: Model> {
    /// Record the first state where the predicate is false (an `always` property).
    Violates(Predicate<'a, M>),
    /// Record the first state where the predicate is true (a `sometimes` property).
    Satisfies(Predicate<'a, M>),
    /// Record the first *transition* whose target, as the transition produced it, satisfies
    /// the predicate: evaluated on every successor, revisits included (a `sometimes`
    /// property about what a transition did, which the state does not keep; see
    /// [`crate::properties::take_edge_events`]). The hit is the shallowest source state and
    /// the action's index ([`Explored::found_edges`]).
    SatisfiesOnEdge(Predicate<'a, M>),
}

/// AG EF parameters.
pub struct AgEfSpec<'a, M: Model> {
    /// The goal states.
    pub goal: Predicate<'a, M>,
    /// Whether an action is progress (usable on an EF path); faults are not.
    pub is_progress: fn(&M::Action) -> bool,
    /// Whether an out-of-boundary successor (reached by progress) is excluded only by a
    /// search bound, not by a budget: such exits make a state [`AgEf::bound_dependent`].
    pub bound_exit: Predicate<'a, M>,
}

/// Counts reported while exploring.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Generated states (including revisits).
    pub states: usize,
    /// Unique states.
    pub unique: usize,
    /// Depth of the BFS level being expanded (1 = init states).
    pub depth: usize,
    /// Time since the start.
    pub elapsed: Duration,
}

/// The result of an exploration.
pub struct Explored {
    /// Final counts.
    pub progress: Progress,
    /// Per watched predicate: the id of the first matching state (`None` for
    /// [`Watch::SatisfiesOnEdge`]).
    pub found: Vec<Option<u32>>,
    /// Per watched predicate: for [`Watch::SatisfiesOnEdge`], the first matching
    /// transition, as (source state id, action index); `None` otherwise.
    pub found_edges: Vec<Option<(u32, u32)>>,
    /// AG EF result, if asked for.
    pub agef: Option<AgEf>,
    parents: Vec<(u32, u32)>,
}

/// Result of the AG EF check.
#[derive(Clone, Copy, Debug)]
pub struct AgEf {
    /// Reachable states from which the goal cannot be reached without faults, even if
    /// every exit from the search bound counted as reaching it: stuck for real.
    pub stuck: usize,
    /// The shallowest such state.
    pub first_stuck: Option<u32>,
    /// Goal states found.
    pub goal_states: usize,
    /// States that reach the goal only by leaving the search bound: not counted as
    /// reaching it (no optimism), so AG EF holds only when there are none.
    pub bound_dependent: usize,
    /// The shallowest such state.
    pub first_bound_dependent: Option<u32>,
}

const ROOT: u32 = u32::MAX;

/// Fingerprints are already hashes: the map uses them as they are.
#[derive(Default)]
struct IdentityHasher(u64);
impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A fingerprint as the id map's key: two `u32` halves, so that a map entry (key and `u32`
/// id) takes 12 bytes rather than 16 (a `u64` key pads the entry).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fp([u32; 2]);

impl Fp {
    fn new(fp: u64) -> Self {
        Fp([fp as u32, (fp >> 32) as u32])
    }
}

impl Hash for Fp {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(u64::from(self.0[1]) << 32 | u64::from(self.0[0]));
    }
}

/// A 64-bit fingerprint of a state (SipHash with fixed keys: stable across runs).
pub fn fingerprint<T: Hash>(t: &T) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

/// States expanded per batch (2 Ki): successors are computed for a whole batch (in parallel),
/// then merged in order, so memory for pending successors stays bounded.
const BATCH: usize = 1 << 11;

/// One successor of a state within the boundary, computed without touching the graph (so
/// in parallel): the state, its fingerprint, the index of its action, and whether the
/// action is a fault. Ignored actions and successors outside the boundary are not kept.
struct Succ<S> {
    state: S,
    fp: u64,
    action: u32,
    fault: bool,
}

/// What [`expand`] found about one state: how many successors it appended, and whether a
/// progress action leaves only a search bound.
#[derive(Clone, Copy)]
struct Expanded {
    count: u32,
    bound_exit: bool,
}

/// Appends the successors of `s` within the boundary to `out`, in action order.
fn expand<M>(
    model: &M,
    agef: Option<&AgEfSpec<'_, M>>,
    s: &M::State,
    actions: &mut Vec<M::Action>,
    out: &mut Vec<Succ<M::State>>,
) -> Expanded
where
    M: Model,
    M::State: Hash,
{
    actions.clear();
    model.actions(s, actions);
    let before = out.len();
    let mut bound_exit = false;
    for (i, action) in actions.drain(..).enumerate() {
        let fault = agef.is_some_and(|a| !(a.is_progress)(&action));
        match model.next_state(s, action) {
            None => {}
            Some(next) if !model.within_boundary(&next) => {
                bound_exit |= !fault && agef.is_some_and(|spec| (spec.bound_exit)(model, &next));
            }
            Some(next) => {
                let fp = fingerprint(&next);
                out.push(Succ { state: next, fp, action: i as u32, fault });
            }
        }
    }
    Expanded { count: (out.len() - before) as u32, bound_exit }
}

/// Successors of a run of consecutive states, and what each state's expansion found.
/// Kept across batches (allocating and freeing megabytes per batch fragments the heap).
type Buffer<S> = (Vec<Succ<S>>, Vec<Expanded>);

/// Expands the states of `batch` into `buffers` (consecutive runs of states, one buffer
/// per thread); returns how many buffers were used, in state order.
fn expand_batch<M>(
    model: &M,
    agef: Option<&AgEfSpec<'_, M>>,
    batch: &[(u32, M::State)],
    buffers: &mut [Buffer<M::State>],
) -> usize
where
    M: Model + Sync,
    M::State: Hash + Send + Sync,
    M::Action: Send,
{
    let run = |part: &[(u32, M::State)], (succs, counts): &mut Buffer<M::State>| {
        let mut actions = Vec::new();
        succs.clear();
        counts.clear();
        counts.extend(part.iter().map(|(_, s)| expand(model, agef, s, &mut actions, succs)));
    };
    let threads = buffers.len();
    if threads <= 1 || batch.len() < 2 * threads {
        run(batch, &mut buffers[0]);
        return 1;
    }
    let chunk = batch.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut used = 0;
        for (part, buffer) in batch.chunks(chunk).zip(buffers.iter_mut()) {
            scope.spawn(move || run(part, buffer));
            used += 1;
        }
        used
    })
}

/// Explores every reachable state within the boundary, breadth first, level by level.
///
/// Each level is expanded in batches: the successors of a batch are computed on
/// `search.threads` threads, then merged in order (state order, then action order), so
/// ids, parents, edges and every result are the same whatever the thread count.
pub fn explore<M>(model: &M, mut search: Search<'_, M>) -> Explored
where
    M: Model + Sync,
    M::State: Hash + Send + Sync,
    M::Action: Send,
{
    let start = Instant::now();
    let mut last_report = start;
    let mut ids: HashMap<Fp, u32, BuildHasherDefault<IdentityHasher>> = HashMap::default();
    let mut parents: Vec<(u32, u32)> = Vec::new();
    let mut found: Vec<Option<u32>> = vec![None; search.watch.len()];
    let mut found_edges: Vec<Option<(u32, u32)>> = vec![None; search.watch.len()];
    let edge_watches: Vec<usize> =
        (0..search.watch.len()).filter(|i| matches!(search.watch[*i], Watch::SatisfiesOnEdge(_))).collect();
    let want_agef = search.agef.is_some();
    // Edges (only kept for AG EF): CSR over states in id order; the top bit marks a fault.
    let mut edge_start: Vec<u32> = Vec::new();
    let mut edges: Vec<u32> = Vec::new();
    let mut goal: Vec<bool> = Vec::new();
    let mut escapes: Vec<bool> = Vec::new();
    let mut progress = Progress::default();
    let mut level: Vec<(u32, M::State)> = Vec::new();
    let mut buffers: Vec<Buffer<M::State>> =
        (0..search.threads.max(1)).map(|_| (Vec::new(), Vec::new())).collect();

    let check = |id: u32, s: &M::State, found: &mut [Option<u32>]| {
        for (w, slot) in search.watch.iter().zip(found.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            let hit = match w {
                Watch::Violates(p) => !p(model, s),
                Watch::Satisfies(p) => p(model, s),
                Watch::SatisfiesOnEdge(_) => false,
            };
            if hit {
                *slot = Some(id);
            }
        }
    };

    for (i, s) in model.init_states().into_iter().enumerate() {
        if !model.within_boundary(&s) {
            continue;
        }
        progress.states += 1;
        let fp = Fp::new(fingerprint(&s));
        if ids.contains_key(&fp) {
            continue;
        }
        let id = parents.len() as u32;
        ids.insert(fp, id);
        parents.push((ROOT, i as u32));
        check(id, &s, &mut found);
        if let Some(spec) = &search.agef {
            goal.push((spec.goal)(model, &s));
        }
        level.push((id, s));
    }

    let violated = |found: &[Option<u32>]| {
        search.watch.iter().zip(found).any(|(w, f)| matches!(w, Watch::Violates(_)) && f.is_some())
    };
    let mut stopped = false;
    let mut depth = 0;
    'levels: while !level.is_empty() {
        depth += 1;
        progress.depth = depth;
        let mut next_level = Vec::new();
        for batch in level.chunks(BATCH) {
            let used = expand_batch(model, search.agef.as_ref(), batch, &mut buffers);
            let mut states = batch.iter();
            for (succs, counts) in &mut buffers[..used] {
                let mut succs = succs.drain(..);
                for &Expanded { count, bound_exit } in counts.iter() {
                    let (id, _) = states.next().expect("one count per state of the batch");
                    if search.stop_on_violation && violated(&found) {
                        stopped = true;
                        break 'levels;
                    }
                    let id = *id;
                    if want_agef {
                        // States are expanded in id order, so edge lists line up with ids.
                        debug_assert_eq!(edge_start.len(), id as usize);
                        edge_start.push(edges.len() as u32);
                        escapes.push(bound_exit);
                    }
                    for Succ { state: next, fp, action: ai, fault } in succs.by_ref().take(count as usize) {
                        let fp = Fp::new(fp);
                        progress.states += 1;
                        for &w in &edge_watches {
                            if found_edges[w].is_none() {
                                if let Watch::SatisfiesOnEdge(p) = &search.watch[w] {
                                    if p(model, &next) {
                                        found_edges[w] = Some((id, ai));
                                    }
                                }
                            }
                        }
                        let nid = match ids.get(&fp) {
                            Some(&n) => n,
                            None => {
                                let n = parents.len() as u32;
                                ids.insert(fp, n);
                                parents.push((id, ai));
                                check(n, &next, &mut found);
                                if let Some(spec) = &search.agef {
                                    goal.push((spec.goal)(model, &next));
                                }
                                next_level.push((n, next));
                                n
                            }
                        };
                        if want_agef {
                            edges.push(if fault { nid | 1 << 31 } else { nid });
                        }
                    }
                }
            }
            let now = Instant::now();
            if now - last_report >= search.progress_every {
                last_report = now;
                progress.unique = parents.len();
                progress.elapsed = now - start;
                if let Some(cb) = search.progress.as_mut() {
                    cb(&progress);
                }
            }
        }
        level = next_level;
    }
    progress.unique = parents.len();
    progress.elapsed = start.elapsed();
    // The fingerprint map is the largest structure; AG EF needs only the edges (without
    // the growth slack of the vectors, before it allocates the reverse edges).
    drop((ids, buffers));
    edges.shrink_to_fit();
    edge_start.shrink_to_fit();
    parents.shrink_to_fit();

    let agef = if want_agef && !stopped {
        edge_start.push(edges.len() as u32);
        Some(backward(&edge_start, &edges, &goal, &escapes))
    } else {
        None
    };
    Explored { progress, found, found_edges, agef, parents }
}

/// Backward reachability over progress edges: once from the goal states (strict), once
/// from the goal states and the states with an exit from the search bound (optimistic).
fn backward(edge_start: &[u32], edges: &[u32], goal: &[bool], escapes: &[bool]) -> AgEf {
    let n = goal.len();
    // Reverse CSR of progress edges.
    let mut indeg = vec![0u32; n + 1];
    for &e in edges {
        if e & 1 << 31 == 0 {
            indeg[e as usize + 1] += 1;
        }
    }
    for i in 0..n {
        indeg[i + 1] += indeg[i];
    }
    let mut fill = indeg.clone();
    let mut rev = vec![0u32; indeg[n] as usize];
    for src in 0..n {
        for &e in &edges[edge_start[src] as usize..edge_start[src + 1] as usize] {
            if e & 1 << 31 == 0 {
                let slot = &mut fill[e as usize];
                rev[*slot as usize] = src as u32;
                *slot += 1;
            }
        }
    }
    let reach = |seed: &dyn Fn(usize) -> bool| {
        let mut good = vec![false; n];
        let mut queue = VecDeque::new();
        for (i, g) in good.iter_mut().enumerate() {
            if seed(i) {
                *g = true;
                queue.push_back(i as u32);
            }
        }
        while let Some(t) = queue.pop_front() {
            let t = t as usize;
            for &src in &rev[indeg[t] as usize..indeg[t + 1] as usize] {
                if !good[src as usize] {
                    good[src as usize] = true;
                    queue.push_back(src);
                }
            }
        }
        good
    };
    let strict = reach(&|i| goal[i]);
    let optimistic = reach(&|i| goal[i] || escapes[i]);
    let stuck = optimistic.iter().filter(|g| !**g).count();
    let dependent = |i: usize| optimistic[i] && !strict[i];
    AgEf {
        stuck,
        first_stuck: optimistic.iter().position(|g| !*g).map(|i| i as u32),
        goal_states: goal.iter().filter(|g| **g).count(),
        bound_dependent: (0..n).filter(|i| dependent(*i)).count(),
        first_bound_dependent: (0..n).find(|i| dependent(*i)).map(|i| i as u32),
    }
}

impl Explored {
    /// The init-state index and action indices leading to state `id` (BFS: shortest).
    pub fn path_indices(&self, id: u32) -> (usize, Vec<usize>) {
        let mut steps = Vec::new();
        let mut cur = id;
        loop {
            let (parent, ai) = self.parents[cur as usize];
            if parent == ROOT {
                steps.reverse();
                return (ai as usize, steps);
            }
            steps.push(ai as usize);
            cur = parent;
        }
    }

    /// The number of actions of the shortest path that ends with the transition found by
    /// edge watch `i` (the path to its source, then its action).
    pub fn edge_path_len(&self, i: usize) -> Option<usize> {
        self.found_edges[i].map(|(src, _)| self.path_indices(src).1.len() + 1)
    }

    /// Replays the path to state `id`: the init state, then each action with the state it
    /// leads to.
    pub fn path<M: Model>(&self, model: &M, id: u32) -> Path<M>
    where
        M::State: Clone,
        M::Action: Clone,
    {
        let (init, steps) = self.path_indices(id);
        let mut state = model.init_states().into_iter().nth(init).expect("init index recorded by explore");
        let init_state = state.clone();
        let mut out = Vec::new();
        let mut actions = Vec::new();
        for ai in steps.iter().copied() {
            actions.clear();
            model.actions(&state, &mut actions);
            let action = actions.swap_remove(ai);
            let next = model.next_state(&state, action.clone()).expect("recorded actions are not ignored");
            out.push((action, next.clone()));
            state = next;
        }
        Path { init: init_state, init_index: init, indices: steps, steps: out }
    }
}

/// A replayed path: the init state and each step.
pub struct Path<M: Model> {
    /// The initial state.
    pub init: M::State,
    /// Index of the initial state in `init_states()`.
    pub init_index: usize,
    /// Action indices (as stateright's Explorer numbers them).
    pub indices: Vec<usize>,
    /// Each action and the state after it.
    pub steps: Vec<(M::Action, M::State)>,
}

impl<M: Model> Path<M> {
    /// The number of actions.
    pub fn len(&self) -> usize {
        self.steps.len()
    }
    /// Whether the path has no action.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
    /// The last state.
    pub fn last_state(&self) -> &M::State {
        self.steps.last().map_or(&self.init, |(_, s)| s)
    }
    /// The Explorer URL fragment of this path (`#/steps/...`).
    pub fn explorer_fragment(&self) -> String {
        let mut s = format!("#/steps/{}", self.init_index);
        for i in &self.indices {
            s.push_str(&format!("/{i}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter 0..=n with an optional trap: from `trap` the only move is to itself.
    struct Chain {
        n: u8,
        trap: Option<u8>,
        /// The search bound: states above it are outside the boundary.
        bound: u8,
    }
    impl Model for Chain {
        type State = u8;
        type Action = i8;
        fn init_states(&self) -> Vec<u8> {
            vec![0]
        }
        fn actions(&self, s: &u8, a: &mut Vec<i8>) {
            if Some(*s) == self.trap {
                a.push(0);
                return;
            }
            if *s < self.n {
                a.push(1);
            }
            if *s > 0 {
                a.push(-1);
            }
        }
        fn next_state(&self, s: &u8, a: i8) -> Option<u8> {
            Some((i16::from(*s) + i16::from(a)) as u8)
        }
        fn within_boundary(&self, s: &u8) -> bool {
            *s <= self.bound
        }
    }

    /// One thread, every action progress, every exit a search bound: AG EF towards `goal`.
    fn agef_search(
        watch: Vec<Watch<'static, Chain>>,
        goal: fn(&Chain, &u8) -> bool,
    ) -> Search<'static, Chain> {
        Search {
            watch,
            agef: Some(AgEfSpec {
                goal: Box::new(goal),
                is_progress: |_| true,
                bound_exit: Box::new(|_, _| true),
            }),
            progress: None,
            progress_every: Duration::from_secs(1),
            threads: 1,
            stop_on_violation: false,
        }
    }

    fn below_3(_: &Chain, s: &u8) -> bool {
        *s < 3
    }
    fn is_top(m: &Chain, s: &u8) -> bool {
        *s == m.n
    }
    fn is_two(_: &Chain, s: &u8) -> bool {
        *s == 2
    }

    #[test]
    fn shortest_counterexample_and_agef() {
        let m = Chain { n: 10, trap: None, bound: 10 };
        let e = explore(&m, agef_search(vec![Watch::Violates(Box::new(below_3))], is_top));
        assert_eq!(e.progress.unique, 11);
        let id = e.found[0].unwrap();
        let p = e.path(&m, id);
        assert_eq!(p.len(), 3, "0→1→2→3 is the shortest");
        assert_eq!(*p.last_state(), 3);
        assert_eq!(e.agef.unwrap().stuck, 0);

        let trapped = Chain { n: 10, trap: Some(4), bound: 10 };
        let e = explore(&trapped, agef_search(vec![], is_two));
        let a = e.agef.unwrap();
        assert_eq!(a.stuck, 1, "only the trap itself cannot get back to 2");
        let p = e.path(&trapped, a.first_stuck.unwrap());
        assert_eq!(*p.last_state(), 4);
        assert_eq!(p.len(), 4);
    }

    /// An edge watch sees transitions into states already found (revisits), and reports the
    /// shallowest one: the move 1→0 first happens from 1 (path 0→1→0, two actions), though
    /// 0 itself is found first; a state watch on 0 reports 0 itself.
    #[test]
    fn edge_watches_fire_on_revisits_and_keep_the_shortest_transition() {
        let m = Chain { n: 5, trap: None, bound: 5 };
        let e = explore(
            &m,
            agef_search(
                vec![
                    Watch::SatisfiesOnEdge(Box::new(|_, s| *s == 0)),
                    Watch::Satisfies(Box::new(|_, s| *s == 0)),
                ],
                is_top,
            ),
        );
        assert_eq!(e.found_edges[0], Some((1, 1)), "from state 1 (id 1), action -1 (index 1)");
        assert_eq!(e.edge_path_len(0), Some(2));
        assert_eq!((e.found[0], e.found_edges[1]), (None, None));
        assert_eq!(e.found[1], Some(0));
    }

    /// Below a bound that cuts the way to the goal, every state depends on the bound
    /// (none is stuck for real); a trap stays stuck for real.
    #[test]
    fn states_beyond_the_bound_are_not_counted_as_reaching_the_goal() {
        let agef = |m: &Chain| {
            let e = explore(m, agef_search(vec![], is_top));
            e.agef.unwrap()
        };
        let a = agef(&Chain { n: 10, trap: None, bound: 5 });
        assert_eq!((a.stuck, a.bound_dependent, a.goal_states), (0, 6, 0));
        assert_eq!(a.first_bound_dependent, Some(0));
        let a = agef(&Chain { n: 10, trap: Some(3), bound: 5 });
        assert_eq!(
            (a.stuck, a.bound_dependent),
            (4, 0),
            "the trap blocks the way beyond the bound too: 0..=3 are stuck for real"
        );
        let a = agef(&Chain { n: 10, trap: None, bound: 10 });
        assert_eq!((a.stuck, a.bound_dependent, a.goal_states), (0, 0, 1));
    }
}
