//! A full check of one preset: one exploration, our own graph pass ([`crate::graph`]) over
//! the compact model ([`crate::compact`]), decides every `always` and `sometimes` property
//! and AG EF with minimal traces. With `--cross-check`, stateright's own checker (BFS or
//! DFS, any number of threads) also explores the full-state model, and the check fails if
//! the two disagree on the number of unique states. The result is a table.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use assoc_core::mutation::Mutations;
use stateright::{Checker, Model};

use crate::compact::{CompactModel, Packed, PackedAction, PartCounts, StatePredicate};
use crate::graph::{self, AgEfSpec, Explored, Progress, Search, Watch};
use crate::preset::{AssocModel, Preset};
use crate::properties::{self, Kind, Prop, NO_STUCK_STATE, NO_STUCK_STATE_DOC};
use crate::trace;

/// stateright's search order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Breadth first (more memory).
    Bfs,
    /// Depth first (less memory).
    Dfs,
}

/// What a check runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Only this property (a stateright property name or [`NO_STUCK_STATE`]).
    pub property: Option<String>,
    /// Worker threads: the graph pass's expansion (results do not depend on it) and
    /// stateright's checker.
    pub threads: usize,
    /// stateright's search order.
    pub strategy: Strategy,
    /// Also run stateright's checker on the full states and compare its unique-state count
    /// with the graph pass's (`--cross-check`).
    pub stateright: bool,
    /// Run the graph pass on full states (the engine before compact states) rather than
    /// on the compact model.
    pub full_states: bool,
    /// Print progress lines every this often (None: silent).
    pub progress: Option<Duration>,
    /// AG EF without optimism (the default): a state that reaches the goal only beyond the
    /// search bound fails the check ([`Outcome::BoundDependent`]). Otherwise such states
    /// are counted and reported, and only states stuck even beyond the bound fail. Every
    /// built-in preset with AG EF has none (timely timers and loss budgets, see
    /// [`crate::timely`]).
    pub strict_agef: bool,
    /// Stop the graph pass at the first `always` violation (AG EF is then not decided): for
    /// mutants, where the first failure is all that matters.
    pub stop_on_violation: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            property: None,
            threads: 1,
            strategy: Strategy::Bfs,
            stateright: false,
            full_states: false,
            progress: None,
            strict_agef: true,
            stop_on_violation: false,
        }
    }
}

/// How one property came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `always` held / no stuck state.
    Holds,
    /// `sometimes`: an example, with the length of the shortest one.
    Example {
        /// Actions in the shortest example.
        len: usize,
    },
    /// `sometimes`: never reached.
    Missing,
    /// `always` failed: the minimal counterexample.
    Counterexample {
        /// Actions in the minimal counterexample.
        len: usize,
        /// The trace, rendered.
        trace: String,
    },
    /// AG EF failed within the search bound only: these states reach the goal only by
    /// leaving the bound (raise it, or shape the preset).
    BoundDependent {
        /// Number of such states.
        states: usize,
        /// Actions in the shortest path to one.
        len: usize,
        /// The trace, rendered.
        trace: String,
    },
    /// AG EF failed.
    Stuck {
        /// Number of stuck states.
        states: usize,
        /// Actions in the shortest path to one.
        len: usize,
        /// The trace, rendered.
        trace: String,
    },
}

impl Outcome {
    /// Whether this outcome fails the check.
    pub fn failed(&self) -> bool {
        matches!(
            self,
            Outcome::Missing
                | Outcome::Counterexample { .. }
                | Outcome::Stuck { .. }
                | Outcome::BoundDependent { .. }
        )
    }
    /// The trace length of a failure or example.
    pub fn trace_len(&self) -> Option<usize> {
        match self {
            Outcome::Example { len }
            | Outcome::Counterexample { len, .. }
            | Outcome::Stuck { len, .. }
            | Outcome::BoundDependent { len, .. } => Some(*len),
            _ => None,
        }
    }
}

/// One row of the result table.
#[derive(Clone, Debug)]
pub struct Row {
    /// Property name.
    pub name: &'static str,
    /// `always`, `sometimes` or `AG EF`.
    pub kind: &'static str,
    /// What it means.
    pub doc: &'static str,
    /// How it came out.
    pub outcome: Outcome,
}

/// State counts of one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Generated states (including revisits).
    pub states: usize,
    /// Unique states.
    pub unique: usize,
    /// Maximum depth.
    pub depth: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// The result of a check.
#[derive(Clone, Debug)]
pub struct Report {
    /// Preset name.
    pub preset: &'static str,
    /// One row per property checked.
    pub rows: Vec<Row>,
    /// stateright's counts, if it ran.
    pub stateright: Option<Counts>,
    /// The graph pass's counts, if it ran.
    pub graph: Option<Counts>,
    /// AG EF details: (goal states, states that reach the goal only beyond the search
    /// bound), if it ran.
    pub agef_detail: Option<(usize, usize)>,
    /// The compact model's interned parts, if the graph pass ran on it.
    pub parts: Option<PartCounts>,
    /// The preset's search bound, as the tables name it (`epoch ≤ 3, pn ≤ 4`): what a
    /// state that reaches the AG EF goal only by leaving it depends on.
    pub search_bound: String,
}

impl Report {
    /// Whether any property failed, or the cross-check found different unique counts.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(|r| r.outcome.failed()) || self.counts_differ()
    }

    /// Whether stateright and the graph pass both ran and disagree on unique states.
    pub fn counts_differ(&self) -> bool {
        matches!((self.stateright, self.graph), (Some(a), Some(b)) if a.unique != b.unique)
    }

    /// The row of property `name`.
    pub fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// The final table, then every failure's trace.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "preset {}", self.preset);
        if let Some(c) = self.stateright {
            let _ = writeln!(
                out,
                "  stateright: states={} unique={} depth={} time={:.2}s",
                c.states,
                c.unique,
                c.depth,
                c.elapsed.as_secs_f64()
            );
        }
        if let Some(c) = self.graph {
            let _ = writeln!(
                out,
                "  graph pass: states={} unique={} depth={} time={:.2}s",
                c.states,
                c.unique,
                c.depth,
                c.elapsed.as_secs_f64()
            );
        }
        if let Some(p) = self.parts {
            let _ = writeln!(
                out,
                "  compact parts: {} side states, {} disks, {} envelopes, {} interned networks (envelope ids >= 128); {} session steps run",
                p.side_states, p.disks, p.envelopes, p.high_networks, p.session_steps
            );
        }
        if let (Some(a), Some(b)) = (self.stateright, self.graph) {
            if a.unique != b.unique {
                let _ = writeln!(
                    out,
                    "  CROSS-CHECK FAILED: unique counts differ (stateright {} vs graph {})",
                    a.unique, b.unique
                );
            } else {
                let _ = writeln!(out, "  cross-check: stateright and the graph pass agree");
            }
        }
        let w = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
        let _ = writeln!(out, "  {:<w$}  {:<9}  result", "property", "kind");
        for r in &self.rows {
            let res = match &r.outcome {
                Outcome::Holds => "holds".to_string(),
                Outcome::Example { len } => format!("holds (example in {len} steps)"),
                Outcome::Missing => "FAILS: never reached".to_string(),
                Outcome::Counterexample { len, .. } => {
                    format!("FAILS: counterexample in {len} steps")
                }
                Outcome::Stuck { states, len, .. } => {
                    format!("FAILS: {states} stuck states, shortest path {len} steps")
                }
                Outcome::BoundDependent { states, len, .. } => {
                    format!("FAILS: {states} states reach the goal only beyond the search bound (shortest {len} steps)")
                }
            };
            let _ = writeln!(out, "  {:<w$}  {:<9}  {res}", r.name, r.kind);
        }
        if let Some((goal, dependent)) = self.agef_detail {
            let _ = writeln!(
                out,
                "  (AG EF: {goal} goal states; {dependent} states reach the goal only beyond the search bound ({}): they depend on the bound, and fail unless --optimistic-agef)",
                self.search_bound
            );
        }
        for r in &self.rows {
            match &r.outcome {
                Outcome::Counterexample { trace, .. } => {
                    let _ = writeln!(out, "\ncounterexample to \"{}\" ({}):\n{trace}", r.name, r.doc);
                }
                Outcome::BoundDependent { trace, .. } => {
                    let _ = writeln!(
                        out,
                        "\nshortest path to a state that reaches the goal only beyond the search bound (\"{}\"):\n{trace}",
                        r.name
                    );
                }
                Outcome::Stuck { trace, .. } => {
                    let _ = writeln!(
                        out,
                        "\nshortest path to a STUCK state (\"{}\": {}):\n{trace}",
                        r.name, r.doc
                    );
                }
                _ => {}
            }
        }
        out
    }
}

fn kind_name(p: &Prop) -> &'static str {
    match p.expectation {
        Kind::Always => "always",
        Kind::Sometimes => "sometimes",
    }
}

fn selected(opts: &Options) -> (Vec<&'static Prop>, bool) {
    match opts.property.as_deref() {
        None => (properties::ALL.iter().collect(), true),
        Some(NO_STUCK_STATE) => (Vec::new(), true),
        Some(name) => (properties::by_name(name).into_iter().collect(), false),
    }
}

/// Runs stateright's checker on `model`, printing progress if asked.
fn run_stateright(model: AssocModel, opts: &Options) -> (Counts, Vec<(&'static str, usize)>) {
    let start = Instant::now();
    let builder = model.checker().threads(opts.threads.max(1));
    let checker = match opts.strategy {
        Strategy::Bfs => Box::new(builder.spawn_bfs()) as Box<dyn CheckerDyn>,
        Strategy::Dfs => Box::new(builder.spawn_dfs()),
    };
    let mut last = Instant::now();
    let mut last_states = 0usize;
    while !checker.done() {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(every) = opts.progress {
            if last.elapsed() >= every {
                let (states, unique, depth) = checker.counts();
                let rate = (states - last_states) as f64 / last.elapsed().as_secs_f64();
                println!(
                    "  stateright pass… states={states} unique={unique} states/s={rate:.0} depth={depth} ({:.0}s)",
                    start.elapsed().as_secs_f64()
                );
                last = Instant::now();
                last_states = states;
            }
        }
    }
    let (states, unique, depth) = checker.counts();
    if opts.progress.is_some() {
        println!(
            "  stateright pass done: states={states} unique={unique} depth={depth} ({:.0}s)",
            start.elapsed().as_secs_f64()
        );
    }
    let found = checker.found();
    (Counts { states, unique, depth, elapsed: start.elapsed() }, found)
}

/// Object-safe view of a running checker.
trait CheckerDyn {
    fn done(&self) -> bool;
    fn counts(&self) -> (usize, usize, usize);
    fn found(&self) -> Vec<(&'static str, usize)>;
}

impl<C: Checker<AssocModel>> CheckerDyn for C {
    fn done(&self) -> bool {
        self.is_done()
    }
    fn counts(&self) -> (usize, usize, usize) {
        (self.state_count(), self.unique_state_count(), self.max_depth())
    }
    fn found(&self) -> Vec<(&'static str, usize)> {
        self.discoveries().into_iter().map(|(name, path)| (name, path.into_actions().len())).collect()
    }
}

/// Prints a progress line of the graph pass, with the expected total if known.
fn print_progress(p: &Progress, expected: Option<usize>) {
    let of = expected.map_or(String::new(), |n| {
        format!(" of {n} expected ({:.0} %)", 100.0 * p.unique as f64 / n.max(1) as f64)
    });
    println!(
        "  graph pass… unique={}{of} states={} states/s={:.0} depth={} ({:.0}s)",
        p.unique,
        p.states,
        p.states as f64 / p.elapsed.as_secs_f64().max(1e-9),
        p.depth,
        p.elapsed.as_secs_f64()
    );
}

/// The expected unique-state count of `model`'s run, if known: the built-in preset
/// unchanged and no mutation active.
fn expected_unique(model: &AssocModel) -> Option<usize> {
    let unmutated = model.inner.actors.iter().all(|a| a.cfg.mutations == Mutations::NONE);
    crate::preset::expected_unique(model.preset()).filter(|_| unmutated)
}

/// The watch list of `props`, with `pred(i)` the predicate of property `i` (`edge(i)` for
/// the properties evaluated on transitions, [`Prop::on_edges`]).
fn watches<'a, M: Model>(
    props: &[&'static Prop],
    pred: impl Fn(usize) -> graph::Predicate<'a, M>,
    edge: impl Fn(usize) -> graph::Predicate<'a, M>,
) -> Vec<Watch<'a, M>> {
    props
        .iter()
        .enumerate()
        .map(|(i, p)| match p.expectation {
            Kind::Always => Watch::Violates(pred(i)),
            Kind::Sometimes if p.on_edges() => Watch::SatisfiesOnEdge(edge(i)),
            Kind::Sometimes => Watch::Satisfies(pred(i)),
        })
        .collect()
}

/// Runs the graph pass on the full-state model (the engine before compact states).
pub fn run_graph_full(
    model: &AssocModel,
    props: &[&'static Prop],
    agef: bool,
    progress: Option<Duration>,
    stop_on_violation: bool,
    threads: usize,
) -> Explored {
    let expected = expected_unique(model);
    let mut cb = |p: &Progress| print_progress(p, expected);
    graph::explore(
        model,
        Search {
            watch: watches(props, |i| Box::new(props[i].condition), |i| Box::new(props[i].condition)),
            agef: agef.then(|| AgEfSpec {
                goal: Box::new(properties::goal),
                is_progress: trace::is_progress,
                bound_exit: Box::new(crate::preset::bound_exit),
            }),
            progress: if progress.is_some() { Some(&mut cb) } else { None },
            progress_every: progress.unwrap_or(Duration::from_secs(3600)),
            threads,
            stop_on_violation,
        },
    )
}

/// Runs the graph pass on the compact model of `model`: minimal traces for every selected
/// property and AG EF. The ids and action indices found replay on `model`.
pub fn run_graph_compact(
    model: AssocModel,
    props: &[&'static Prop],
    agef: bool,
    progress: Option<Duration>,
    stop_on_violation: bool,
    threads: usize,
) -> (Explored, PartCounts) {
    let mut predicates: Vec<StatePredicate> =
        props.iter().map(|p| Box::new(p.condition) as StatePredicate).collect();
    let goal_index = predicates.len();
    predicates.push(Box::new(properties::goal));
    let expected = expected_unique(&model);
    let compact = CompactModel::new(model, predicates);
    let mut cb = |p: &Progress| print_progress(p, expected);
    let explored = graph::explore(
        &compact,
        Search {
            watch: watches(
                props,
                |i| Box::new(move |m: &CompactModel, s: &Packed| m.holds(i, s)),
                |i| Box::new(move |m: &CompactModel, s: &Packed| m.holds_on_edge(i, s)),
            ),
            agef: agef.then(|| AgEfSpec {
                goal: Box::new(move |m: &CompactModel, s: &Packed| m.holds(goal_index, s)),
                is_progress: PackedAction::is_progress,
                bound_exit: Box::new(|m: &CompactModel, s: &Packed| m.within_budgets(s)),
            }),
            progress: if progress.is_some() { Some(&mut cb) } else { None },
            progress_every: progress.unwrap_or(Duration::from_secs(3600)),
            threads,
            stop_on_violation,
        },
    );
    (explored, compact.part_counts())
}

/// Checks `preset` with `mutations` active.
pub fn run(preset: &Preset, mutations: Mutations, opts: &Options) -> Report {
    let (props, agef) = selected(opts);
    let agef = agef && preset.agef;
    let props: Vec<&'static Prop> = props.into_iter().filter(|p| (p.applies)(preset)).collect();
    let model = preset.model(mutations);
    let mut report = Report {
        preset: preset.name,
        rows: Vec::new(),
        stateright: None,
        graph: None,
        agef_detail: None,
        parts: None,
        search_bound: search_bound(preset),
    };
    let mut sr_found = Vec::new();
    if opts.stateright {
        if opts.progress.is_some() {
            println!("pass 1 of 2: stateright's checker on full states (--cross-check)");
        }
        let (counts, found) = run_stateright(preset.model(mutations), opts);
        report.stateright = Some(counts);
        sr_found = found;
    }
    if opts.progress.is_some() {
        let (pass, again) =
            if opts.stateright { ("pass 2 of 2: ", " (its counts start again from zero)") } else { ("", "") };
        let engine = if opts.full_states { "full states" } else { "compact states" };
        println!("{pass}graph pass on {engine}{again}");
    }
    let explored = if opts.full_states {
        run_graph_full(&model, &props, agef, opts.progress, opts.stop_on_violation, opts.threads)
    } else {
        let (e, parts) = run_graph_compact(
            preset.model(mutations),
            &props,
            agef,
            opts.progress,
            opts.stop_on_violation,
            opts.threads,
        );
        report.parts = Some(parts);
        e
    };
    let explored = Some(explored);
    if let Some(e) = &explored {
        report.graph = Some(Counts {
            states: e.progress.states,
            unique: e.progress.unique,
            depth: e.progress.depth,
            elapsed: e.progress.elapsed,
        });
    }
    for (i, p) in props.iter().enumerate() {
        let graph_hit = explored.as_ref().and_then(|e| e.found[i]);
        // With a property filter, stateright still checks all; only the selected are shown.
        let sr_hit = sr_found.iter().find(|(n, _)| *n == p.name).map(|(_, l)| *l);
        let outcome = match (p.expectation, &explored, graph_hit, sr_hit) {
            (Kind::Always, Some(e), Some(id), _) => {
                let path = e.path(&model, id);
                Outcome::Counterexample { len: path.len(), trace: trace::render(&path) }
            }
            (Kind::Always, None, _, Some(len)) => {
                Outcome::Counterexample { len, trace: "  (run the graph pass for the minimal trace)".into() }
            }
            (Kind::Always, _, _, _) => Outcome::Holds,
            (Kind::Sometimes, Some(e), _, _) if p.on_edges() => match e.edge_path_len(i) {
                Some(len) => Outcome::Example { len },
                None => Outcome::Missing,
            },
            (Kind::Sometimes, Some(e), Some(id), _) => Outcome::Example { len: e.path(&model, id).len() },
            (Kind::Sometimes, None, _, Some(len)) => Outcome::Example { len },
            (Kind::Sometimes, _, _, _) => Outcome::Missing,
        };
        report.rows.push(Row { name: p.name, kind: kind_name(p), doc: p.doc, outcome });
    }
    if let Some(a) = explored.as_ref().and_then(|e| e.agef.map(|a| (e, a))) {
        let (e, a) = a;
        report.agef_detail = Some((a.goal_states, a.bound_dependent));
        let outcome = match (a.first_stuck, a.first_bound_dependent) {
            (None, None) => Outcome::Holds,
            (Some(id), _) => {
                let path = e.path(&model, id);
                Outcome::Stuck { states: a.stuck, len: path.len(), trace: trace::render(&path) }
            }
            (None, Some(id)) if opts.strict_agef => {
                let path = e.path(&model, id);
                Outcome::BoundDependent {
                    states: a.bound_dependent,
                    len: path.len(),
                    trace: trace::render(&path),
                }
            }
            (None, _) => Outcome::Holds,
        };
        report.rows.push(Row { name: NO_STUCK_STATE, kind: "AG EF", doc: NO_STUCK_STATE_DOC, outcome });
    }
    report
}

/// The search bound of `preset` as README and `proofs/RESULTS.md` name it: the epoch bound
/// and the packet-number bound `pn` (with the ACK-only margin when it differs).
pub fn search_bound(preset: &Preset) -> String {
    let ack = if preset.max_pn_ack_only == preset.max_pn {
        String::new()
    } else {
        format!(" (ACK-only ≤ {})", preset.max_pn_ack_only)
    };
    format!("epoch ≤ {}, pn ≤ {}{ack}", preset.max_epoch, preset.max_pn)
}

/// The unique-state count stateright's BFS reports for `preset` (no mutation).
pub fn stateright_unique(preset: &Preset, strategy: Strategy, threads: usize) -> usize {
    let opts = Options { threads, strategy, ..Options::default() };
    run_stateright(preset.model(Mutations::NONE), &opts).0.unique
}
