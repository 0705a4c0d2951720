//! A lean exhaustive count of a preset's reachable states, for state spaces too large for
//! the graph pass ([`crate::graph`]): `assoc-model census`.
//!
//! It explores the compact model ([`crate::compact`]: its interning and its cache of
//! session steps, unchanged) breadth first, level by level, but keeps far less:
//!
//! * the visited set holds a 64-bit **fingerprint** of each state and nothing else (hash
//!   compaction, as SPIN's `-DHC`): an open-addressing table split into shards, so that
//!   several threads insert at once. Two distinct states with the same fingerprint make
//!   the second one look visited and it is omitted, with probability at most
//!   n(n−1)/2 / 2⁶⁴ ≈ n²/2⁶⁵ for n states ([`omission_bound`]), printed with the result;
//! * the BFS frontier is streamed to and from files of 48-byte packed states in a scratch
//!   directory (the current level is read, the next one written, then the old one
//!   deleted), so it costs disk, not memory;
//! * no ids, parents or edges: every `always` property is checked on each new state as it
//!   is found, but there are no traces (a violation prints the property and the state:
//!   re-run `check` on a smaller bound for a trace), and neither `sometimes` properties
//!   nor AG EF ("no stuck state") are decided: they need the graph.
//!
//! Results do not depend on the thread count: each level's set of new states is the same
//! whatever order the threads insert in, so the unique count, the count with revisits,
//! the per-level counts and the violation reported (the smallest by property, then by the
//! full state's text, within the shallowest violating level) are deterministic. (Part ids
//! are interned in whatever order the threads miss the caches, so which fingerprint a state
//! gets varies between runs; only whether two of them collide could, with the probability
//! bound above.)

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use assoc_core::mutation::Mutations;
use stateright::Model;

use crate::compact::{CompactModel, Net, Packed, PackedAction, StatePredicate};
use crate::preset::{Preset, State};
use crate::properties::{self, Kind};
use crate::timely::Env;

/// Bytes of one packed state on disk.
pub const STATE_BYTES: usize = 48;

/// A packed state as stored in the frontier files.
type Bytes = [u8; STATE_BYTES];

/// States handed to a thread at a time.
const CHUNK: usize = 4096;

/// The visited set is split into 2^SHARD_BITS shards (chosen by a fingerprint's top bits),
/// each locked on its own; growing one shard moves only 1/1024 of the table.
const SHARD_BITS: u32 = 10;

/// What a census is asked to do.
#[derive(Clone, Debug)]
pub struct CensusOptions {
    /// Threads expanding states (at least 1). Results do not depend on it.
    pub threads: usize,
    /// Directory under which a fresh scratch directory for the frontier files is made
    /// (and removed at the end).
    pub scratch: PathBuf,
    /// Stop cleanly, with a partial count, when the resident set would exceed this many
    /// bytes (None: no limit).
    pub max_rss: Option<u64>,
    /// Stop cleanly, with a partial count, after this much wall time (None: no limit).
    pub max_time: Option<Duration>,
    /// Print a progress line this often (None: silent).
    pub progress: Option<Duration>,
}

/// Why a census ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every reachable state within the boundary was visited.
    Complete,
    /// An `always` property failed (the census stopped after the level it was found in).
    Violation {
        /// The property.
        property: &'static str,
        /// The BFS depth of the violating state (1: an initial state).
        depth: usize,
        /// The violating state, as the full model holds it (its sets sorted).
        state: String,
    },
    /// The memory limit was reached: the counts are a lower bound.
    MemoryLimit,
    /// The time limit was reached: the counts are a lower bound.
    TimeLimit,
}

/// The result of a census.
#[derive(Clone, Debug)]
pub struct Census {
    /// Preset name.
    pub preset: &'static str,
    /// Why it ended.
    pub end: End,
    /// Unique states (distinct fingerprints).
    pub unique: u64,
    /// States generated within the boundary, revisits included (initial states too).
    pub states: u64,
    /// New states per BFS level (index 0: the initial states); the last entry is partial
    /// unless the census completed.
    pub levels: Vec<u64>,
    /// The `always` properties checked on every state.
    pub properties: Vec<&'static str>,
    /// Wall time.
    pub wall: Duration,
    /// CPU time of the process (user + system), if the OS tells.
    pub cpu: Option<Duration>,
    /// Peak resident set of the process, in bytes, if the OS tells.
    pub peak_rss: Option<u64>,
    /// Bytes of the fingerprint table at the end.
    pub table_bytes: u64,
    /// Largest scratch-disk use seen, in bytes.
    pub peak_disk: u64,
}

impl Census {
    /// Deepest BFS level reached (1: the initial states only).
    pub fn depth(&self) -> usize {
        self.levels.len()
    }

    /// The result as text: counts, resources, the omission bound and the verdict.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let whole = match self.end {
            End::MemoryLimit | End::TimeLimit => "at least ",
            _ => "",
        };
        let _ = writeln!(out, "census of preset {}", self.preset);
        let _ = writeln!(
            out,
            "  unique states: {whole}{} ({whole}{} with revisits), depth {}",
            self.unique,
            self.states,
            self.depth()
        );
        let levels: Vec<String> = self.levels.iter().map(u64::to_string).collect();
        let _ = writeln!(out, "  new states per level: {}", levels.join(" "));
        let cpu = self.cpu.map_or("?".into(), |c| format!("{:.1}s", c.as_secs_f64()));
        let rss = self.peak_rss.map_or("?".into(), |b| format!("{:.2} GB", b as f64 / 1e9));
        let _ = writeln!(
            out,
            "  wall {:.1}s, cpu {cpu}, peak RSS {rss}, fingerprint table {:.2} GB, peak scratch disk {:.2} GB",
            self.wall.as_secs_f64(),
            self.table_bytes as f64 / 1e9,
            self.peak_disk as f64 / 1e9
        );
        let _ = writeln!(
            out,
            "  hash compaction: 64-bit fingerprints; probability that any state was omitted <= {:.1e}",
            omission_bound(self.unique)
        );
        let _ = writeln!(
            out,
            "  checked on every state: {} always properties; sometimes properties and AG EF (no stuck state) are not decided by a census (use `check`)",
            self.properties.len()
        );
        match &self.end {
            End::Complete => {
                let _ = writeln!(out, "  complete: every always property holds in every reachable state");
            }
            End::MemoryLimit | End::TimeLimit => {
                let limit = if self.end == End::MemoryLimit { "memory" } else { "time" };
                let _ = writeln!(
                    out,
                    "  INCOMPLETE: stopped at the {limit} limit during level {}; the counts are lower bounds and no property is verified beyond them",
                    self.depth()
                );
            }
            End::Violation { property, depth, state } => {
                let _ = writeln!(
                    out,
                    "  VIOLATED {property:?} in a state at depth {depth}; re-run `check` on a smaller bound for a trace\n  the state: {state}"
                );
            }
        }
        out
    }
}

/// An upper bound on the probability that hash compaction omitted any state, for `n`
/// distinct states and uniformly distributed 64-bit fingerprints: n(n−1)/2 pairs, each
/// colliding with probability 2⁻⁶⁴.
pub fn omission_bound(n: u64) -> f64 {
    let n = n as f64;
    (n * (n - 1.0) / 2.0 / 2f64.powi(64)).min(1.0)
}

/// Writes `s` as 48 bytes (little-endian ids and the network's bitset words, then flags
/// and budget counters; the transition's edge events are not part of a state).
pub fn encode(s: &Packed) -> Bytes {
    let mut b = [0u8; STATE_BYTES];
    let [l0, l1, l2, l3] = s.net.low;
    let words = [
        s.sides[0],
        s.sides[1],
        s.disks[0],
        s.disks[1],
        s.timers[0],
        s.timers[1],
        l0,
        l1,
        l2,
        l3,
        s.net.high,
    ];
    for (i, w) in words.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    b[44] = u8::from(s.crashed[0]);
    b[45] = u8::from(s.crashed[1]);
    b[46] = s.env.early_timers;
    b[47] = s.env.losses;
    b
}

/// Reads a state written by [`encode`].
pub fn decode(b: &Bytes) -> Packed {
    let w = |i: usize| u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
    Packed {
        sides: [w(0), w(1)],
        disks: [w(2), w(3)],
        timers: [w(4), w(5)],
        net: Net { low: [w(6), w(7), w(8), w(9)], high: w(10) },
        crashed: [b[44] != 0, b[45] != 0],
        env: Env { early_timers: b[46], losses: b[47], events: 0 },
    }
}

/// MurmurHash3's 64-bit finaliser (a bijection with full avalanche).
fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The 64-bit fingerprint of a packed state (never 0: 0 marks an empty slot).
pub fn fingerprint(b: &Bytes) -> u64 {
    let mut h = 0x9e37_79b9_7f4a_7c15u64;
    for c in b.chunks_exact(8) {
        h = fmix(h ^ u64::from_le_bytes(c.try_into().expect("chunks of 8")));
    }
    h.max(1)
}

/// One shard of the visited set: linear probing over fingerprints, 0 = empty.
struct Shard {
    slots: Vec<u64>,
    len: usize,
}

impl Shard {
    fn with_capacity(cap: usize) -> Self {
        Shard { slots: vec![0; cap], len: 0 }
    }

    /// Inserts `fp`; whether it is new, and by how many bytes the table grew.
    fn insert(&mut self, fp: u64) -> (bool, u64) {
        let mut grown = 0;
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            let bigger = vec![0; self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, bigger);
            grown = (old.len() * 8) as u64;
            for f in old.into_iter().filter(|f| *f != 0) {
                self.place(f);
            }
        }
        let new = self.place(fp);
        self.len += usize::from(new);
        (new, grown)
    }

    /// Puts `fp` in its slot; false if it was there already.
    fn place(&mut self, fp: u64) -> bool {
        let mask = self.slots.len() - 1;
        // The top bits chose the shard; the low bits choose the slot.
        let mut i = fp as usize & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = fp;
                    return true;
                }
                f if f == fp => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }
}

/// The visited set: fingerprints in independently locked shards.
struct FpSet {
    shards: Vec<Mutex<Shard>>,
    bytes: AtomicU64,
}

impl FpSet {
    fn new() -> Self {
        let cap = 1 << 8;
        let n = 1usize << SHARD_BITS;
        FpSet {
            shards: (0..n).map(|_| Mutex::new(Shard::with_capacity(cap))).collect(),
            bytes: AtomicU64::new((n * cap * 8) as u64),
        }
    }

    /// Inserts `fp`; whether it is new.
    fn insert(&self, fp: u64) -> bool {
        let shard = &self.shards[(fp >> (64 - SHARD_BITS)) as usize];
        let (new, grown) = shard.lock().unwrap_or_else(PoisonError::into_inner).insert(fp);
        if grown > 0 {
            self.bytes.fetch_add(grown, Ordering::Relaxed);
        }
        new
    }
}

/// The frontier files of one level, read in chunks by all threads in turn.
struct LevelReader {
    files: Vec<PathBuf>,
    current: Option<BufReader<File>>,
}

impl LevelReader {
    /// Fills `buf` with up to [`CHUNK`] states; false when the level is exhausted.
    fn next_chunk(&mut self, buf: &mut Vec<Bytes>) -> io::Result<bool> {
        buf.clear();
        while buf.len() < CHUNK {
            let reader = match &mut self.current {
                Some(r) => r,
                None => match self.files.pop() {
                    Some(path) => self.current.insert(BufReader::with_capacity(1 << 20, File::open(path)?)),
                    None => break,
                },
            };
            let mut b = [0u8; STATE_BYTES];
            match reader.read_exact(&mut b) {
                Ok(()) => buf.push(b),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => self.current = None,
                Err(e) => return Err(e),
            }
        }
        Ok(!buf.is_empty())
    }
}

/// The scratch directory of one census, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(parent: &Path) -> io::Result<Self> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("census-{}-{run}", std::process::id()));
        fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
    fn level_file(&self, depth: usize, thread: usize) -> PathBuf {
        self.0.join(format!("level-{depth}-{thread}.bin"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What the threads share while expanding one level.
struct Shared<'a> {
    model: &'a CompactModel,
    visited: &'a FpSet,
    /// Bit mask of all the checked predicates.
    all: u64,
    /// Set to stop the threads (memory limit).
    stop: AtomicBool,
    /// Generated (within-boundary) successors so far in this level.
    states: AtomicU64,
    /// New states so far in this level.
    new: AtomicU64,
    /// The smallest violation of this level: (predicate index, the full state's text).
    violation: Mutex<Option<(usize, String)>>,
}

impl Shared<'_> {
    /// Records `s` if it violates a checked property.
    fn check(&self, s: &Packed) {
        let bits = self.model.holds_all(s);
        if bits == self.all {
            return;
        }
        let found = ((!bits) & self.all).trailing_zeros() as usize;
        if self.violation.lock().unwrap_or_else(PoisonError::into_inner).as_ref().is_some_and(|v| v.0 < found)
        {
            return;
        }
        // Packed ids depend on the threads' timing; the full state's text does not.
        let text = canonical(&self.model.unpack(s));
        let mut v = self.violation.lock().unwrap_or_else(PoisonError::into_inner);
        if v.as_ref().is_none_or(|old| (found, &text) < (old.0, &old.1)) {
            *v = Some((found, text));
        }
    }

    /// Expands the states of `reader` until it is exhausted (or the census stops),
    /// writing the new ones to `out`.
    fn expand(&self, reader: &Mutex<LevelReader>, out: &mut BufWriter<File>) -> io::Result<()> {
        let mut buf = Vec::with_capacity(CHUNK);
        let mut actions: Vec<PackedAction> = Vec::new();
        while !self.stop.load(Ordering::Relaxed)
            && reader.lock().unwrap_or_else(PoisonError::into_inner).next_chunk(&mut buf)?
        {
            let (mut states, mut new) = (0, 0);
            for b in &buf {
                let s = decode(b);
                actions.clear();
                self.model.actions(&s, &mut actions);
                for a in actions.drain(..) {
                    let Some(next) = self.model.next_state(&s, a) else { continue };
                    if !self.model.within_boundary(&next) {
                        continue;
                    }
                    states += 1;
                    let nb = encode(&next);
                    if self.visited.insert(fingerprint(&nb)) {
                        new += 1;
                        out.write_all(&nb)?;
                        self.check(&next);
                    }
                }
            }
            self.states.fetch_add(states, Ordering::Relaxed);
            self.new.fetch_add(new, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The text of a full state, its sets (network, timers) sorted so that it does not depend
/// on their hashers' seeds.
fn canonical(s: &State) -> String {
    let sorted = |items: Vec<String>| {
        let mut items = items;
        items.sort();
        items.join(", ")
    };
    let network = sorted(s.network.iter_all().map(|e| format!("{e:?}")).collect());
    let timers: Vec<String> = s
        .timers_set
        .iter()
        .map(|t| format!("[{}]", sorted(t.iter().map(|x| format!("{x:?}")).collect())))
        .collect();
    format!(
        "sides {:?}; disks {:?}; crashed {:?}; env {:?}; timers {}; network {{{network}}}",
        s.actor_states,
        s.actor_storages,
        s.crashed,
        s.history,
        timers.join(" ")
    )
}

/// Resident set and its peak, in bytes (Linux `/proc`; None elsewhere).
pub fn rss() -> Option<(u64, u64)> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU time (user + system) of the process (Linux `/proc`; None elsewhere).
pub fn cpu_time() -> Option<Duration> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after it are plain.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // /proc reports clock ticks of USER_HZ, which Linux fixes at 100 for user space.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Which limit of `opts` is reached, if any, `start` being the start of the census and
/// `mem` what [`rss`] said.
fn limit_reached(opts: &CensusOptions, start: Instant, mem: Option<(u64, u64)>) -> Option<End> {
    if let (Some(limit), Some((now, _))) = (opts.max_rss, mem) {
        if now > limit {
            return Some(End::MemoryLimit);
        }
    }
    opts.max_time.filter(|t| start.elapsed() >= *t).map(|_| End::TimeLimit)
}

/// Counts the reachable states of `preset` (with `mutations` active), checking every
/// `always` property on each. Fails only on scratch-directory I/O errors.
pub fn run(preset: &Preset, mutations: Mutations, opts: &CensusOptions) -> io::Result<Census> {
    let start = Instant::now();
    let props: Vec<_> =
        properties::ALL.iter().filter(|p| p.expectation == Kind::Always && (p.applies)(preset)).collect();
    let predicates: Vec<StatePredicate> =
        props.iter().map(|p| Box::new(p.condition) as StatePredicate).collect();
    let all = if props.len() == 64 { u64::MAX } else { (1u64 << props.len()) - 1 };
    let model = CompactModel::new(preset.model(mutations), predicates);
    let visited = FpSet::new();
    let scratch = Scratch::new(&opts.scratch)?;
    let threads = opts.threads.max(1);
    let shared = Shared {
        model: &model,
        visited: &visited,
        all,
        stop: AtomicBool::new(false),
        states: AtomicU64::new(0),
        new: AtomicU64::new(0),
        violation: Mutex::new(None),
    };

    let mut census = Census {
        preset: preset.name,
        end: End::Complete,
        unique: 0,
        states: 0,
        levels: Vec::new(),
        properties: props.iter().map(|p| p.name).collect(),
        wall: Duration::ZERO,
        cpu: None,
        peak_rss: None,
        table_bytes: 0,
        peak_disk: 0,
    };

    // Level 1: the initial states.
    let mut files = vec![scratch.level_file(1, 0)];
    {
        let mut out = BufWriter::new(File::create(&files[0])?);
        let mut new = 0;
        for s in model.init_states() {
            if !model.within_boundary(&s) {
                continue;
            }
            census.states += 1;
            let b = encode(&s);
            if visited.insert(fingerprint(&b)) {
                new += 1;
                out.write_all(&b)?;
                shared.check(&s);
            }
        }
        out.flush()?;
        census.levels.push(new);
        census.unique += new;
    }

    let mut last_report = Instant::now();
    let mut level_bytes = census.unique * STATE_BYTES as u64;
    while census.levels.last().is_some_and(|n| *n > 0)
        && shared.violation.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    {
        let depth = census.levels.len() + 1;
        let next: Vec<PathBuf> = (0..threads).map(|t| scratch.level_file(depth, t)).collect();
        let reader = Mutex::new(LevelReader { files: files.clone(), current: None });
        shared.states.store(0, Ordering::Relaxed);
        shared.new.store(0, Ordering::Relaxed);
        let mut stopped = None;
        let results: Vec<io::Result<()>> = std::thread::scope(|scope| {
            let handles: Vec<_> = next
                .iter()
                .map(|path| {
                    let (shared, reader) = (&shared, &reader);
                    scope.spawn(move || -> io::Result<()> {
                        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
                        shared.expand(reader, &mut out)?;
                        out.flush()
                    })
                })
                .collect();
            let mut last_look = Instant::now();
            while !handles.iter().all(|h| h.is_finished()) {
                std::thread::sleep(Duration::from_millis(2));
                if last_look.elapsed() < Duration::from_millis(250) {
                    continue;
                }
                last_look = Instant::now();
                let new = shared.new.load(Ordering::Relaxed);
                let disk = level_bytes + new * STATE_BYTES as u64;
                census.peak_disk = census.peak_disk.max(disk);
                let mem = rss();
                if let Some(end) = limit_reached(opts, start, mem) {
                    stopped = Some(end);
                    shared.stop.store(true, Ordering::Relaxed);
                }
                if let Some(every) = opts.progress {
                    if last_report.elapsed() >= every {
                        last_report = Instant::now();
                        let unique = census.unique + new;
                        let states = census.states + shared.states.load(Ordering::Relaxed);
                        let secs = start.elapsed().as_secs_f64();
                        let parts = model.part_counts();
                        println!(
                            "  census… depth={depth} unique={unique} states={states} unique/s={:.0} states/s={:.0} rss={:.2}GB table={:.2}GB disk={:.2}GB parts={}/{}/{}/{} ({secs:.0}s)",
                            unique as f64 / secs,
                            states as f64 / secs,
                            mem.map_or(0.0, |(r, _)| r as f64 / 1e9),
                            visited.bytes.load(Ordering::Relaxed) as f64 / 1e9,
                            disk as f64 / 1e9,
                            parts.side_states,
                            parts.disks,
                            parts.high_networks,
                            parts.session_steps,
                        );
                    }
                }
            }
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
        for r in results {
            r?;
        }
        for f in &files {
            fs::remove_file(f)?;
        }
        let new = shared.new.load(Ordering::Relaxed);
        census.states += shared.states.load(Ordering::Relaxed);
        census.unique += new;
        level_bytes = new * STATE_BYTES as u64;
        census.peak_disk = census.peak_disk.max(level_bytes);
        if opts.progress.is_some() {
            println!(
                "  census: level {depth} done: {new} new, {} unique so far ({:.0}s)",
                census.unique,
                start.elapsed().as_secs_f64()
            );
        }
        if new == 0 {
            break;
        }
        census.levels.push(new);
        if let Some(end) = stopped.take().or_else(|| limit_reached(opts, start, rss())) {
            census.end = end;
            break;
        }
        files = next;
    }
    if let Some((i, state)) = shared.violation.lock().unwrap_or_else(PoisonError::into_inner).take() {
        census.end = End::Violation { property: census.properties[i], depth: census.levels.len(), state };
    }
    census.wall = start.elapsed();
    census.cpu = cpu_time();
    census.peak_rss = rss().map(|(_, peak)| peak);
    census.table_bytes = visited.bytes.load(Ordering::Relaxed);
    Ok(census)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn a_packed_state_survives_its_bytes() {
        let s = Packed {
            sides: [1, u32::MAX],
            disks: [7, 0x0102_0304],
            timers: [0, 9],
            net: Net { low: [0xdead_beef, 1, 0, 1 << 31], high: 7 },
            crashed: [true, false],
            env: Env { early_timers: 3, losses: 255, events: 0 },
        };
        assert_eq!(decode(&encode(&s)), s);
        let other = Packed { crashed: [false, true], ..s };
        assert_ne!(encode(&other), encode(&s));
        assert_ne!(fingerprint(&encode(&other)), fingerprint(&encode(&s)));
    }

    #[test]
    fn the_visited_set_agrees_with_a_hash_set_across_growth() {
        let set = FpSet::new();
        let mut oracle = HashSet::new();
        let start = set.bytes.load(Ordering::Relaxed);
        // Few distinct values hashed to spread over shards, each inserted about twice.
        for i in 0..600_000u64 {
            let fp = fmix(i % 400_000 + 1).max(1);
            assert_eq!(set.insert(fp), oracle.insert(fp), "fingerprint {fp:#x}");
        }
        let total: usize =
            set.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len).sum();
        assert_eq!(total, oracle.len());
        assert!(set.bytes.load(Ordering::Relaxed) > start, "the shards grew");
    }

    #[test]
    fn the_omission_bound_is_n_squared_over_two_to_the_65() {
        assert_eq!(omission_bound(1), 0.0);
        let n = 1u64 << 32;
        let b = omission_bound(n);
        assert!((b - 0.5).abs() < 1e-6, "{b}");
        assert_eq!(omission_bound(u64::MAX), 1.0);
    }
}
