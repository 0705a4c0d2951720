//! `assoc-model`: model-check the shipping assoc core.
//!
//! ```text
//! assoc-model check [--preset P] [--property NAME] [--cross-check [--threads N] [--bfs|--dfs]] [--full-states]
//! assoc-model census --preset P [--threads N] [--scratch DIR] [--max-rss-gb G] [--max-seconds T] [--mutation M]
//! assoc-model explore [--preset P] [--addr 127.0.0.1:3000]
//! assoc-model simulate --seed S --steps N [--preset P] [--depth D] [--guided [--fault-pct F]]
//! assoc-model simulate --shard i/N --seeds K --json OUT [--preset P] [--steps N] [--depth D]
//! assoc-model merge SHARD.json...
//! assoc-model mutants
//! assoc-model presets
//! assoc-model trace-check --psk-file F A.rec B.rec
//! ```

use std::process::ExitCode;
use std::time::Duration;

use assoc_core::mutation::{Mutation, Mutations};
use assoc_model::check::{self, Options, Strategy};
use assoc_model::preset::{self, Preset};
use assoc_model::walk::Guide;
use assoc_model::{census, mutants, properties, swarm, trace, tracecheck, walk};
use clap::{Parser, Subcommand};
use stateright::Model;

/// Model-check the shipping assoc core (stateright).
#[derive(Parser)]
#[command(name = "assoc-model", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check every property (or one) of a preset; non-zero exit if any fails.
    Check {
        /// Preset (see `presets`): ci, ci-peer-crash, ci-collide, ci-lossy, ci-msg, ci-resume,
        /// ci-expiry, ci-release, standard, assoc, deep.
        #[arg(long, default_value = "standard")]
        preset: String,
        /// Only this property (see `presets` for the names; "no stuck state" is AG EF).
        #[arg(long)]
        property: Option<String>,
        /// Worker threads of the graph pass (and of stateright's checker with
        /// --cross-check); 0: one per core. Results do not depend on it.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Breadth-first search (the default).
        #[arg(long, conflicts_with = "dfs")]
        bfs: bool,
        /// Depth-first search (less memory).
        #[arg(long)]
        dfs: bool,
        /// Activate a core mutation (e.g. no-epoch-check) to see its counterexample.
        #[arg(long)]
        mutation: Option<String>,
        /// Also run stateright's checker on the full states; fail if its unique-state count
        /// differs from the graph pass's.
        #[arg(long, conflicts_with = "graph_only")]
        cross_check: bool,
        /// Run the graph pass on full states (the engine before compact states).
        #[arg(long)]
        full_states: bool,
        /// AG EF without optimism (the default): fail if any state reaches the goal only
        /// beyond the search bound (their number is printed either way). Kept for old scripts.
        #[arg(long, conflicts_with = "optimistic_agef")]
        strict_agef: bool,
        /// AG EF with optimism: a state that reaches the goal only beyond the search bound
        /// counts as reaching it (only states stuck even beyond it fail).
        #[arg(long)]
        optimistic_agef: bool,
        /// Free timers: any armed timer fires at any moment (the semantics before timely
        /// timers; its state space contains the timely one's). For cross-checking.
        #[arg(long)]
        free_timers: bool,
        /// Override the preset's budget of early timer firings.
        #[arg(long)]
        early_timers: Option<u8>,
        /// Override the preset's loss budget (lossy presets).
        #[arg(long)]
        max_losses: Option<u8>,
        /// Override the preset's epoch bound (to see whether AG EF depends on it).
        #[arg(long)]
        max_epoch: Option<u64>,
        /// Override the preset's packet-number bound.
        #[arg(long)]
        max_pn: Option<u64>,
        /// Only the graph pass (the default; kept for old scripts).
        #[arg(long)]
        graph_only: bool,
        /// Progress interval in seconds.
        #[arg(long, default_value_t = 3)]
        every: u64,
    },
    /// Count every reachable state of a preset too large for `check` (e.g. deep), checking
    /// every always property on each; non-zero exit on a violation or an incomplete count.
    ///
    /// Lean: 64-bit fingerprints only (hash compaction; the bound on the probability that a
    /// state was omitted is printed), the BFS frontier on disk under --scratch. No traces
    /// (re-run `check` on a smaller bound for one), and neither sometimes properties nor
    /// AG EF (no stuck state) are decided.
    Census {
        /// Preset (see `presets`).
        #[arg(long, default_value = "deep")]
        preset: String,
        /// Threads expanding states; 0: one per core. Results do not depend on it.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Directory for the frontier files (a fresh subdirectory is made and removed);
        /// default: the system's temporary directory.
        #[arg(long)]
        scratch: Option<std::path::PathBuf>,
        /// Stop cleanly with a partial count when the resident set exceeds this many GB.
        #[arg(long)]
        max_rss_gb: Option<f64>,
        /// Stop cleanly with a partial count after this many seconds.
        #[arg(long)]
        max_seconds: Option<u64>,
        /// Activate a core mutation.
        #[arg(long)]
        mutation: Option<String>,
        /// Progress interval in seconds.
        #[arg(long, default_value_t = 10)]
        every: u64,
    },
    /// Serve stateright's web Explorer for a preset (never returns).
    Explore {
        /// Preset.
        #[arg(long, default_value = "ci")]
        preset: String,
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: String,
        /// Activate a core mutation.
        #[arg(long)]
        mutation: Option<String>,
    },
    /// Seeded random walks beyond the exhaustive bounds.
    Simulate {
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Total steps.
        #[arg(long, default_value_t = 100_000)]
        steps: usize,
        /// Preset (its epoch bound still applies).
        #[arg(long, default_value = "deep")]
        preset: String,
        /// Longest single walk.
        #[arg(long, default_value_t = 200)]
        depth: usize,
        /// Activate a core mutation.
        #[arg(long)]
        mutation: Option<String>,
        /// Guided walks: prefer undelivered PDUs, fsyncs and the bearer coming up; inject
        /// faults at `--fault-pct` (always on with `--shard`).
        #[arg(long)]
        guided: bool,
        /// Percent of guided steps that inject a fault when one is possible.
        #[arg(long, default_value_t = 5)]
        fault_pct: u8,
        /// Run shard i of N (disjoint seeds i, i+N, …) of guided walks; `--steps` per seed.
        #[arg(long, requires = "json")]
        shard: Option<String>,
        /// Seeds per shard.
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Where a shard writes its JSON result (for `merge`).
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
    /// Combine shard JSON results into one report; non-zero exit if a property was violated.
    Merge {
        /// The shards' JSON files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Run every core mutation; non-zero exit if any is missed.
    Mutants {
        /// Print every counterexample trace.
        #[arg(long)]
        traces: bool,
    },
    /// List presets and properties.
    Presets,
    /// Check the safety properties on recordings (`assoc serve/send --record`) of both ends
    /// of one session; non-zero exit at the first violating step.
    TraceCheck {
        /// The PSK file both endpoints used (recordings hold only its fingerprint).
        #[arg(long)]
        psk_file: std::path::PathBuf,
        /// One end's recording (rotated parts FILE.N are read too).
        a: std::path::PathBuf,
        /// The other end's recording.
        b: std::path::PathBuf,
    },
}

fn preset_arg(name: &str) -> Result<&'static Preset, String> {
    preset::by_name(name).ok_or_else(|| {
        let names: Vec<_> = preset::ALL.iter().map(|p| p.name).collect();
        format!("unknown preset {name:?}; one of {}", names.join(", "))
    })
}

fn mutation_arg(name: Option<&str>) -> Result<Mutations, String> {
    match name {
        None => Ok(Mutations::NONE),
        Some(n) => {
            Mutation::ALL.iter().find(|m| m.name() == n).map(|m| Mutations::NONE.with(*m)).ok_or_else(|| {
                let names: Vec<_> = Mutation::ALL.iter().map(|m| m.name()).collect();
                format!("unknown mutation {n:?}; one of {}", names.join(", "))
            })
        }
    }
}

fn run(cli: Cli) -> Result<bool, String> {
    match cli.command {
        Command::Check {
            preset,
            property,
            threads,
            bfs: _,
            dfs,
            mutation,
            cross_check,
            full_states,
            graph_only: _,
            every,
            max_epoch,
            max_pn,
            strict_agef: _,
            optimistic_agef,
            free_timers,
            early_timers,
            max_losses,
        } => {
            let mut p = preset_arg(&preset)?.clone();
            if let Some(n) = early_timers {
                p.early_timers = Some(n);
            }
            if free_timers {
                p.early_timers = None;
            }
            if let Some(n) = max_losses {
                p.max_losses = Some(n);
            }
            p.max_epoch = max_epoch.unwrap_or(p.max_epoch);
            if let Some(pn) = max_pn {
                // ACK-only packets keep their margin above the bound.
                p.max_pn_ack_only = pn + p.max_pn_ack_only.saturating_sub(p.max_pn);
                p.max_pn = pn;
            }
            let p = &p;
            let m = mutation_arg(mutation.as_deref())?;
            if let Some(name) = &property {
                if name != properties::NO_STUCK_STATE && properties::by_name(name).is_none() {
                    return Err(format!("unknown property {name:?} (see `presets`)"));
                }
            }
            println!("checking preset {} ({})", p.name, p.about);
            let threads = match threads {
                0 => std::thread::available_parallelism().map_or(1, usize::from),
                n => n,
            };
            let opts = Options {
                property,
                threads,
                strategy: if dfs { Strategy::Dfs } else { Strategy::Bfs },
                stateright: cross_check,
                full_states,
                progress: Some(Duration::from_secs(every.max(1))),
                strict_agef: !optimistic_agef,
                stop_on_violation: false,
            };
            let report = check::run(p, m, &opts);
            print!("{}", report.table());
            Ok(!report.failed())
        }
        Command::Census { preset, threads, scratch, max_rss_gb, max_seconds, mutation, every } => {
            let p = preset_arg(&preset)?;
            let m = mutation_arg(mutation.as_deref())?;
            let threads = match threads {
                0 => std::thread::available_parallelism().map_or(1, usize::from),
                n => n,
            };
            let opts = census::CensusOptions {
                threads,
                scratch: scratch.unwrap_or_else(std::env::temp_dir),
                max_rss: max_rss_gb.map(|g| (g * 1e9) as u64),
                max_time: max_seconds.map(Duration::from_secs),
                progress: Some(Duration::from_secs(every.max(1))),
            };
            println!("census of preset {} ({}) on {threads} threads", p.name, p.about);
            let c =
                census::run(p, m, &opts).map_err(|e| format!("scratch {}: {e}", opts.scratch.display()))?;
            print!("{}", c.render());
            Ok(c.end == census::End::Complete)
        }
        Command::Explore { preset, addr, mutation } => {
            let p = preset_arg(&preset)?;
            let m = mutation_arg(mutation.as_deref())?;
            println!("Explorer for preset {} on http://{addr}/", p.name);
            let _ = p.model(m).checker().serve(addr.as_str());
            Ok(true)
        }
        Command::Simulate { seed, steps, preset, depth, mutation, guided, fault_pct, shard, seeds, json } => {
            let p = preset_arg(&preset)?;
            let m = mutation_arg(mutation.as_deref())?;
            let model = p.model(m);
            let guide =
                if guided || shard.is_some() { Guide::Progress { fault_pct } } else { Guide::Uniform };
            if let (Some(shard), Some(json)) = (shard, json) {
                let shard = swarm::Shard::parse(&shard)?;
                let r = swarm::run_shard(&model, mutation.as_deref(), shard, seeds, steps, depth, guide);
                let text = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
                std::fs::write(&json, text).map_err(|e| format!("{}: {e}", json.display()))?;
                println!(
                    "preset {} shard {}: {} seeds, {} steps, {} violations -> {}",
                    p.name,
                    r.shard,
                    r.seeds.len(),
                    r.steps,
                    r.violations.len(),
                    json.display()
                );
                return Ok(true);
            }
            let r = walk::simulate_guided(&model, seed, steps, depth, guide);
            println!(
                "preset {}: {} walks, {} steps (seed {seed}, depth <= {depth})",
                p.name, r.walks, r.steps
            );
            for (name, hit) in &r.reached {
                println!("  sometimes {name:<36} {}", if *hit { "reached" } else { "not reached" });
            }
            match r.violation {
                None => {
                    println!("  no always-property violated");
                    Ok(true)
                }
                Some((name, path)) => {
                    println!("  VIOLATED {name:?} after {} steps:\n{}", path.len(), trace::render(&path));
                    Ok(false)
                }
            }
        }
        Command::Merge { files } => {
            let mut shards = Vec::new();
            for f in &files {
                let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
                shards.push(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?);
            }
            let merged = swarm::merge(&shards)?;
            print!("{}", merged.render());
            Ok(merged.violated.is_empty())
        }
        Command::Mutants { traces } => {
            let mut all = true;
            println!("{:<26} {:<8} {:<11} {:<40} trace", "mutation", "result", "preset", "property");
            for r in mutants::run_all() {
                match r.caught {
                    Some((preset, prop, len)) => {
                        println!(
                            "{:<26} {:<8} {preset:<11} {prop:<40} {len} steps",
                            r.mutation.name(),
                            "caught"
                        );
                        if traces {
                            print!("{}", r.report.table());
                        }
                    }
                    None => {
                        all = false;
                        println!("{:<26} MISSED", r.mutation.name());
                    }
                }
            }
            Ok(all)
        }
        Command::TraceCheck { psk_file, a, b } => {
            let psk = assoc_io::recorder::read_psk_file(&psk_file)?;
            let open = |p: &std::path::Path| {
                assoc_io::recorder::Recording::open(p).map_err(|e| format!("{}: {e}", p.display()))
            };
            let (ra, rb) = (open(&a)?, open(&b)?);
            let model = preset_arg("ci")?.model(Mutations::NONE);
            let report = tracecheck::check(&model, [&ra, &rb], &psk).map_err(|e| e.to_string())?;
            print!("{}", report.text());
            Ok(report.failure.is_none())
        }
        Command::Presets => {
            for p in preset::ALL {
                let m = p.model(Mutations::NONE);
                println!("{:<11} {} ({} init state)", p.name, p.about, m.init_states().len());
            }
            println!();
            for p in properties::ALL.iter() {
                println!("{:<9} {:<36} {}", format!("{:?}", p.expectation).to_lowercase(), p.name, p.doc);
            }
            println!("{:<9} {:<36} {}", "AG EF", properties::NO_STUCK_STATE, properties::NO_STUCK_STATE_DOC);
            Ok(true)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
