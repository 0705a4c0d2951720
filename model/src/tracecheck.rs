//! Trace checking: the model's safety properties, checked on what two real endpoints went
//! through.
//!
//! Each side's flight recording (`assoc_io::recorder`) is replayed through the core, and
//! the two replays are merged into one timeline by the inputs' times (both endpoints' clocks
//! read the same wall clock, so on one host the order is the causal one). After every step
//! the two sides are put into a model [`State`] — the replayed session, the records still
//! in fsync, the durable store, and the ghost of what each application was told — and every
//! [`Kind::Always`] property of [`properties::ALL`] is evaluated on it, exactly as the model
//! checker does; the first step where one fails is reported with the model's state lines.
//!
//! A side is *live* from the start of each recorded incarnation until its last recorded
//! entry; in between (killed, not yet restarted) it counts as crashed, so association
//! agreement is checked only where both recordings overlap.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use assoc_core::{AssociationId, Event, Input, Instant, Output, Psk, SessionStore};
use assoc_io::recorder::{Entry, Recording, ReplayError, Replayer};
use bytes::Bytes;
use stateright::actor::{Network, RandomChoices, Timers};

use crate::actor::{Disk, Reported, SideState, Violation};
use crate::preset::{AssocModel, State};
use crate::properties::{self, Kind, Prop};

/// Properties that do not apply to real runs: the model's applications never cancel and
/// time never reaches expiry there, real applications do both.
const NOT_FOR_REAL_RUNS: [&str; 1] = ["release never creates an NDR"];

/// Properties about messages: checked only when both recordings start from empty stores
/// (otherwise deliveries and submissions from before the recordings are unknown).
const ABOUT_MESSAGES: [&str; 3] = [
    "no duplicate delivery",
    "delivered = submitted, in msn order",
    "one outcome, agreeing with the receiver",
];

/// Why a trace check could not run.
#[derive(Debug)]
#[non_exhaustive]
pub enum TraceError {
    /// A side's recording does not replay (it is not the run it claims to be).
    Replay {
        /// 0 or 1: which recording.
        side: usize,
        /// Why.
        error: ReplayError,
    },
    /// The two recordings are not the two ends of one session.
    NotAPair(String),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Replay { side, error } => write!(f, "recording {}: {error}", side + 1),
            TraceError::NotAPair(why) => write!(f, "not the two ends of one session: {why}"),
        }
    }
}

impl std::error::Error for TraceError {}

/// A property that failed, and where.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The property's name (as in `assoc-model presets`).
    pub property: &'static str,
    /// 1-based step of the merged timeline.
    pub step: usize,
    /// Which recording's step it was (0 or 1).
    pub side: usize,
    /// 1-based input number within that recording (as `assoc replay --until` counts).
    pub input: u64,
    /// The recent steps and both sides' states, as model traces print them.
    pub trace: String,
}

/// The outcome of a trace check.
#[derive(Clone, Debug)]
pub struct Report {
    /// Steps of the merged timeline checked.
    pub steps: usize,
    /// Properties evaluated after every step.
    pub checked: Vec<&'static str>,
    /// Remarks (properties skipped and why).
    pub notes: Vec<String>,
    /// The first failure, if any.
    pub failure: Option<Failure>,
}

/// One side's position in its recording and the model view of it.
struct Cursor<'a> {
    rec: &'a Recording,
    incarnation: usize,
    pos: usize,
    replayer: Option<Replayer>,
    inputs: u64,
    state: SideState,
    /// The recording of this incarnation is over (killed or stopped).
    down: bool,
    /// Application ids this side submitted (from its recorded inputs), with their bytes.
    submitted: BTreeMap<u64, Bytes>,
}

impl<'a> Cursor<'a> {
    fn new(rec: &'a Recording, psk: &Psk, side: usize) -> Result<Self, TraceError> {
        let first = &rec.incarnations[0];
        let r = Replayer::start(&first.start, psk).map_err(|error| TraceError::Replay { side, error })?;
        let state = SideState {
            session: r.session().clone(),
            in_fsync: VecDeque::new(),
            disk: Disk::default(),
            last_seen: None,
            overheard: None,
        };
        Ok(Cursor {
            rec,
            incarnation: 0,
            pos: 0,
            replayer: None,
            inputs: 0,
            state,
            down: true,
            submitted: BTreeMap::new(),
        })
    }

    /// The time of this side's next step (`None`: the recording is over).
    fn next_at(&self) -> Option<Instant> {
        let mut inc = self.incarnation;
        let mut pos = self.pos;
        while let Some(i) = self.rec.incarnations.get(inc) {
            for e in &i.entries[pos..] {
                if let Entry::Input { at, .. } = e {
                    return Some(*at);
                }
            }
            inc += 1;
            pos = 0;
        }
        None
    }
}

/// Checks the model's safety properties on two recordings of the ends of one session.
pub fn check(model: &AssocModel, recs: [&Recording; 2], psk: &Psk) -> Result<Report, TraceError> {
    let names = |r: &Recording, side| -> Result<(String, String), TraceError> {
        let c = r.incarnations[0]
            .start
            .config(psk.clone())
            .map_err(|e| TraceError::Replay { side, error: e.into() })?;
        Ok((c.local_name.as_str().to_string(), c.peer_name.as_str().to_string()))
    };
    let (a, b) = (names(recs[0], 0)?, names(recs[1], 1)?);
    if a.0 != b.1 || a.1 != b.0 {
        return Err(TraceError::NotAPair(format!("{} → {} and {} → {}", a.0, a.1, b.0, b.1)));
    }
    let fresh = recs.iter().all(|r| r.incarnations[0].start.store == SessionStore::default());
    let mut notes = Vec::new();
    let props: Vec<&Prop> = properties::ALL
        .iter()
        .filter(|p| p.expectation == Kind::Always && !NOT_FOR_REAL_RUNS.contains(&p.name))
        .filter(|p| fresh || !ABOUT_MESSAGES.contains(&p.name))
        .collect();
    if !fresh {
        notes.push(format!(
            "a recording starts from a non-empty store: message properties not checked ({})",
            ABOUT_MESSAGES.join("; ")
        ));
    }
    notes.push(format!("not applicable to real runs: {}", NOT_FOR_REAL_RUNS.join("; ")));
    let mut cursors = [Cursor::new(recs[0], psk, 0)?, Cursor::new(recs[1], psk, 1)?];
    let mut state = State {
        actor_states: cursors.iter().map(|c| Arc::new(c.state.clone())).collect(),
        network: Network::new_unordered_duplicating([]),
        timers_set: vec![Timers::default(); 2],
        random_choices: vec![RandomChoices::default(); 2],
        crashed: vec![true; 2],
        history: crate::timely::Env::default(),
        actor_storages: vec![None, None],
    };
    let mut recent: VecDeque<String> = VecDeque::new();
    let mut steps = 0;
    loop {
        let side = match (cursors[0].next_at(), cursors[1].next_at()) {
            (None, None) => break,
            (Some(_), None) => 0,
            (None, Some(_)) => 1,
            (Some(x), Some(y)) => usize::from(y < x),
        };
        let (mine, theirs) = split(&mut cursors, side);
        let line = step(mine, theirs, psk, side)?;
        steps += 1;
        recent.push_back(format!("  {steps:>6}. {line}"));
        if recent.len() > 8 {
            recent.pop_front();
        }
        for (i, c) in cursors.iter().enumerate() {
            state.crashed[i] = c.down;
        }
        state.actor_states[side] = Arc::new(cursors[side].state.clone());
        if let Some(p) = props.iter().find(|p| !(p.condition)(model, &state)) {
            let mut trace = recent.iter().cloned().collect::<Vec<_>>().join("\n");
            for l in crate::trace::side_lines(&state) {
                trace.push_str(&format!("\n       {}", shortened(&l)));
            }
            let failure = Failure { property: p.name, step: steps, side, input: cursors[side].inputs, trace };
            return Ok(Report {
                steps,
                checked: props.iter().map(|p| p.name).collect(),
                notes,
                failure: Some(failure),
            });
        }
    }
    Ok(Report { steps, checked: props.iter().map(|p| p.name).collect(), notes, failure: None })
}

/// A state line cut to a readable length (a long run's lists run to thousands of entries).
fn shortened(line: &str) -> String {
    const MAX: usize = 2000;
    match line.char_indices().nth(MAX) {
        None => line.to_string(),
        Some((at, _)) => format!("{} …[{} more bytes]", &line[..at], line.len() - at),
    }
}

fn split<'c, 'a>(c: &'c mut [Cursor<'a>; 2], side: usize) -> (&'c mut Cursor<'a>, &'c Cursor<'a>) {
    let [x, y] = c;
    if side == 0 {
        (x, y)
    } else {
        (y, x)
    }
}

/// Runs one step of `c`: (re)starts an incarnation if due, feeds its next input and every
/// drain after it, and updates the model view. Returns a line describing it.
fn step(c: &mut Cursor<'_>, peer: &Cursor<'_>, psk: &Psk, side: usize) -> Result<String, TraceError> {
    let mut line = String::new();
    // Skip past finished incarnations to the one holding the next input.
    while c.pos >= c.rec.incarnations[c.incarnation].entries.len() || c.replayer.is_none() {
        if c.replayer.is_some() {
            c.incarnation += 1;
            c.pos = 0;
            c.replayer = None;
        }
        let inc = &c.rec.incarnations[c.incarnation];
        let r = Replayer::start(&inc.start, psk).map_err(|error| TraceError::Replay { side, error })?;
        if c.incarnation > 0 {
            // A new incarnation: records still in fsync are either in the restored store or
            // lost, and the restored session reports again (in its first drain) every
            // delivery and outcome its application has not acknowledged.
            c.state.in_fsync.clear();
            let g = &mut c.state.disk.ghost;
            g.restarts = g.restarts.saturating_add(1);
        }
        c.state.session = r.session().clone();
        c.state.disk.store = inc.start.store.clone();
        c.state.last_seen = None;
        // Durable custody before this incarnation: the application was told (or will be told
        // from the store) about these.
        for m in inc.start.store.outbound.values() {
            c.state.disk.ghost.queued.insert(m.app_id);
        }
        c.replayer = Some(r);
        c.down = false;
        line.push_str(&format!(
            "{} (re)starts from its store; ",
            c.state.session.config().local_name.as_str()
        ));
    }
    let entries = &c.rec.incarnations[c.incarnation].entries;
    let Some(r) = c.replayer.as_mut() else { return Ok(line) };
    let mut outputs = Vec::new();
    let mut first = true;
    while let Some(entry) = entries.get(c.pos) {
        if matches!(entry, Entry::Input { .. }) && !first {
            break;
        }
        first = false;
        outputs.clear();
        let before = r.session().association().map(|a| a.id);
        if let Err(what) = r.apply(entry, &mut outputs) {
            let error = ReplayError::Diverged { input: c.inputs, incarnation: c.incarnation, what };
            return Err(TraceError::Replay { side, error });
        }
        c.pos += 1;
        match entry {
            Entry::Input { input, at, .. } => {
                c.inputs += 1;
                line.push_str(&format!(
                    "{} input {} @{}: {input:?}",
                    r.session().config().local_name.as_str(),
                    c.inputs,
                    at.as_micros()
                ));
                note_input(&mut c.state, &mut c.submitted, input);
                note_established(&mut c.state, r.session(), before);
            }
            Entry::Drain { .. } => {
                for o in &outputs {
                    note_output(&mut c.state, o, &peer.submitted);
                }
            }
        }
    }
    c.state.session = r.session().clone();
    if c.pos >= entries.len() {
        c.down = true;
        line.push_str(" (last entry of this incarnation)");
    }
    Ok(line)
}

/// An input's effect on the model view: durability and the application's submissions.
fn note_input(st: &mut SideState, submitted: &mut BTreeMap<u64, Bytes>, input: &Input) {
    match input {
        Input::Persisted { upto } => {
            while st.in_fsync.front().is_some_and(|(seq, _)| seq <= upto) {
                if let Some((_, record)) = st.in_fsync.pop_front() {
                    st.disk.store.apply(&record);
                }
            }
        }
        Input::Submit(s) => {
            submitted.insert(s.app_id, s.bytes.clone());
        }
        _ => {}
    }
}

/// The model driver's `after_input`: an association established in memory at an epoch not
/// above the previous one (within one incarnation) is a violation.
fn note_established(st: &mut SideState, s: &assoc_core::Session, before: Option<AssociationId>) {
    let Some(a) = s.association() else { return };
    if Some(a.id) == before {
        return;
    }
    let id = a.id;
    if let Some(prev) = st.last_seen {
        if id.epoch <= prev.epoch && st.disk.ghost.violation.is_none() {
            st.disk.ghost.violation = Some(Violation::EstablishedBackwards { before: prev, now: id });
        }
    }
    st.last_seen = Some(id);
}

/// What the model's driver notes when it drains an output (`actor::Side::drain`), with the
/// peer's recorded submissions in place of the model's workload.
fn note_output(st: &mut SideState, o: &Output, peer_submitted: &BTreeMap<u64, Bytes>) {
    let g = &mut st.disk.ghost;
    match o {
        Output::Persist { seq, record } => st.in_fsync.push_back((*seq, record.clone())),
        Output::Event(Event::AssociationUp { epoch, role }) => {
            let id = Reported { epoch: *epoch, role: *role };
            if let Some(prev) = g.last_up {
                if id.epoch <= prev.epoch && g.violation.is_none() {
                    g.violation = Some(Violation::ReportedBackwards { before: prev, now: id });
                }
            }
            g.last_up = Some(id);
        }
        Output::Event(Event::Queued { app_id, .. }) => {
            g.queued.insert(*app_id);
        }
        Output::Event(Event::Outcome { app_id, outcome, .. }) => g.report_outcome(*app_id, *outcome),
        Output::Event(Event::Delivered { msn, app_id, bytes }) => {
            g.report_delivery(*msn, *app_id, peer_submitted.get(app_id) == Some(bytes))
        }
        _ => {}
    }
}

impl Report {
    /// The report as text: the properties checked, notes, and the failure with its trace.
    pub fn text(&self) -> String {
        let mut out = format!("{} steps checked against {} properties:\n", self.steps, self.checked.len());
        for p in &self.checked {
            out.push_str(&format!("  always {p}\n"));
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        match &self.failure {
            None => out.push_str("no property violated\n"),
            Some(f) => out.push_str(&format!(
                "VIOLATED {:?} at step {} (recording {}, input {}):\n{}\n",
                f.property,
                f.step,
                f.side + 1,
                f.input,
                f.trace
            )),
        }
        out
    }
}
