//! Swarm verification: many independent guided walks, split into shards with disjoint
//! seeds so that any job engine (GNU parallel, a Slurm array, a Kubernetes Indexed Job)
//! can run them anywhere, and a merge of the shards' JSON results into one report.
//!
//! Shard `i` of `n` runs the seeds `i, i + n, i + 2n, …` (`seeds` of them); no two shards
//! share a seed, and a shard's result depends only on its arguments.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::preset::AssocModel;
use crate::walk::{simulate_guided, Guide};
use crate::{properties, trace};

/// Which part of the seed space one shard covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard's index, `0..count`.
    pub index: u64,
    /// The number of shards.
    pub count: u64,
}

impl Shard {
    /// Parses `i/N` (0 ≤ i < N).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("shard {s:?} is not i/N with 0 <= i < N");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The `k`-th seed of this shard.
    pub fn seed(&self, k: u64) -> u64 {
        self.index + k * self.count
    }
}

/// An `always` property a walk violated, with its trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The property.
    pub property: String,
    /// The seed whose walk violated it.
    pub seed: u64,
    /// Steps of the walk up to the violation.
    pub steps: usize,
    /// The walk, rendered.
    pub trace: String,
}

/// What one shard found: the JSON a shard writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardReport {
    /// The preset walked.
    pub preset: String,
    /// The active mutation, if any.
    pub mutation: Option<String>,
    /// `i/N`.
    pub shard: String,
    /// The seeds run.
    pub seeds: Vec<u64>,
    /// Walks started.
    pub walks: usize,
    /// Steps taken.
    pub steps: usize,
    /// For each `sometimes` property: how many seeds reached it.
    pub reached: BTreeMap<String, usize>,
    /// `always` violations (at most one per seed: a seed stops at its first).
    pub violations: Vec<Violation>,
}

/// Runs shard `shard`: `seeds` seeds, each `steps` guided steps in walks of at most
/// `depth` steps.
pub fn run_shard(
    model: &AssocModel,
    mutation: Option<&str>,
    shard: Shard,
    seeds: u64,
    steps: usize,
    depth: usize,
    guide: Guide,
) -> ShardReport {
    let mut r = ShardReport {
        preset: model.preset().name.to_string(),
        mutation: mutation.map(str::to_string),
        shard: format!("{}/{}", shard.index, shard.count),
        seeds: Vec::new(),
        walks: 0,
        steps: 0,
        reached: BTreeMap::new(),
        violations: Vec::new(),
    };
    for k in 0..seeds {
        let seed = shard.seed(k);
        let w = simulate_guided(model, seed, steps, depth, guide);
        r.seeds.push(seed);
        r.walks += w.walks;
        r.steps += w.steps;
        let applies = |name: &str| properties::by_name(name).is_some_and(|p| (p.applies)(model.preset()));
        for (name, hit) in w.reached.iter().filter(|(name, _)| applies(name)) {
            *r.reached.entry(name.to_string()).or_default() += usize::from(*hit);
        }
        if let Some((property, path)) = w.violation {
            let trace = trace::render(&path);
            r.violations.push(Violation { property: property.to_string(), seed, steps: path.len(), trace });
        }
    }
    r
}

/// The shards of one swarm, combined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    /// The preset (every shard must agree).
    pub preset: String,
    /// The mutation (every shard must agree).
    pub mutation: Option<String>,
    /// Shards merged.
    pub shards: usize,
    /// Seeds run in total.
    pub seeds: usize,
    /// Walks in total.
    pub walks: usize,
    /// Steps in total.
    pub steps: usize,
    /// For each `sometimes` property: seeds that reached it.
    pub reached: BTreeMap<String, usize>,
    /// Per violated property: how many seeds violated it, and the shortest trace.
    pub violated: BTreeMap<String, (usize, Violation)>,
}

/// Combines shard reports; fails if they are of different presets or mutations, or if two
/// shards ran the same seed.
pub fn merge(shards: &[ShardReport]) -> Result<Merged, String> {
    let first = shards.first().ok_or("no shard reports")?;
    let mut m = Merged {
        preset: first.preset.clone(),
        mutation: first.mutation.clone(),
        shards: 0,
        seeds: 0,
        walks: 0,
        steps: 0,
        reached: BTreeMap::new(),
        violated: BTreeMap::new(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for s in shards {
        if s.preset != m.preset || s.mutation != m.mutation {
            return Err(format!("shard {} is of another run ({} {:?})", s.shard, s.preset, s.mutation));
        }
        if let Some(dup) = s.seeds.iter().find(|seed| !seen.insert(**seed)) {
            return Err(format!("seed {dup} appears in two shards (shard {})", s.shard));
        }
        m.shards += 1;
        m.seeds += s.seeds.len();
        m.walks += s.walks;
        m.steps += s.steps;
        for (name, n) in &s.reached {
            *m.reached.entry(name.clone()).or_default() += n;
        }
        for v in &s.violations {
            let e = m.violated.entry(v.property.clone()).or_insert((0, v.clone()));
            e.0 += 1;
            if (v.steps, v.seed) < (e.1.steps, e.1.seed) {
                e.1 = v.clone();
            }
        }
    }
    Ok(m)
}

impl Merged {
    /// The report: totals, `sometimes` coverage, violated properties with the shortest
    /// trace of each.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mutation = self.mutation.as_deref().map_or(String::new(), |m| format!(", mutation {m}"));
        let _ = writeln!(
            out,
            "preset {}{mutation}: {} shards, {} seeds, {} walks, {} steps",
            self.preset, self.shards, self.seeds, self.walks, self.steps
        );
        for (name, n) in &self.reached {
            let _ = writeln!(out, "  sometimes {name:<40} reached by {n} of {} seeds", self.seeds);
        }
        if self.violated.is_empty() {
            let _ = writeln!(out, "  no always-property violated");
        }
        for (name, (n, v)) in &self.violated {
            let _ = writeln!(
                out,
                "  VIOLATED {name:?} by {n} seeds; shortest: seed {} after {} steps:\n{}",
                v.seed, v.steps, v.trace
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_have_disjoint_seeds() {
        let a = Shard::parse("0/2").unwrap();
        let b = Shard::parse("1/2").unwrap();
        assert_eq!((0..3).map(|k| a.seed(k)).collect::<Vec<_>>(), [0, 2, 4]);
        assert_eq!((0..3).map(|k| b.seed(k)).collect::<Vec<_>>(), [1, 3, 5]);
        assert!(Shard::parse("2/2").is_err());
        assert!(Shard::parse("x").is_err());
    }

    fn report(shard: &str, seeds: Vec<u64>, violations: Vec<Violation>) -> ShardReport {
        ShardReport {
            preset: "ci".into(),
            mutation: None,
            shard: shard.into(),
            seeds,
            walks: 2,
            steps: 10,
            reached: BTreeMap::from([("collision".to_string(), 1)]),
            violations,
        }
    }

    #[test]
    fn merge_adds_up_and_keeps_the_shortest_trace() {
        let v = |seed, steps| Violation { property: "p".into(), seed, steps, trace: format!("t{seed}") };
        let m = merge(&[report("0/2", vec![0, 2], vec![v(0, 9)]), report("1/2", vec![1, 3], vec![v(3, 4)])])
            .unwrap();
        assert_eq!((m.shards, m.seeds, m.walks, m.steps), (2, 4, 4, 20));
        assert_eq!(m.reached["collision"], 2);
        let (n, shortest) = &m.violated["p"];
        assert_eq!((*n, shortest.seed), (2, 3));
        assert!(merge(&[report("0/2", vec![0], vec![]), report("1/2", vec![0], vec![])]).is_err());
    }
}
