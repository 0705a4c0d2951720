//! `assoc-model`: model-check the shipping assoc core.
//!
//! ```text
//! assoc-model check [--preset P] [--property NAME] [--threads N] [--bfs|--dfs]
//! assoc-model explore [--preset P] [--addr 127.0.0.1:3000]
//! assoc-model simulate --seed S --steps N [--preset P] [--depth D] [--guided [--fault-pct F]]
//! assoc-model simulate --shard i/N --seeds K --json OUT [--preset P] [--steps N] [--depth D]
//! assoc-model merge SHARD.json...
//! assoc-model mutants
//! assoc-model presets
//! ```

use std::process::ExitCode;
use std::time::Duration;

use assoc_core::mutation::{Mutation, Mutations};
use assoc_model::check::{self, Options, Strategy};
use assoc_model::preset::{self, Preset};
use assoc_model::walk::Guide;
use assoc_model::{mutants, properties, swarm, trace, walk};
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
        /// stateright worker threads.
        #[arg(long, default_value_t = 1)]
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
        /// Skip stateright's checker; run only our graph pass (AG EF + minimal traces).
        #[arg(long)]
        graph_only: bool,
        /// Progress interval in seconds.
        #[arg(long, default_value_t = 3)]
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
        Command::Check { preset, property, threads, bfs: _, dfs, mutation, graph_only, every } => {
            let p = preset_arg(&preset)?;
            let m = mutation_arg(mutation.as_deref())?;
            if let Some(name) = &property {
                if name != properties::NO_STUCK_STATE && properties::by_name(name).is_none() {
                    return Err(format!("unknown property {name:?} (see `presets`)"));
                }
            }
            println!("checking preset {} ({})", p.name, p.about);
            let opts = Options {
                property,
                threads,
                strategy: if dfs { Strategy::Dfs } else { Strategy::Bfs },
                stateright: !graph_only,
                graph: true,
                progress: Some(Duration::from_secs(every.max(1))),
                stop_on_violation: false,
            };
            let report = check::run(p, m, &opts);
            print!("{}", report.table());
            Ok(!report.failed())
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
