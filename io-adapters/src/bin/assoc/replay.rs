//! `assoc replay`: re-run a recording through a fresh core and check every output.

use std::path::PathBuf;

use assoc_io::recorder::{self, Recording};
use clap::Args;

use crate::common::{read_psk, Fallible};

/// Arguments of `assoc replay`.
#[derive(Args, Debug)]
pub(crate) struct ReplayArgs {
    /// The recording (`--record FILE` of `serve` / `send`); rotated parts FILE.N are read too.
    file: PathBuf,
    /// The PSK file the recorded endpoint used (the recording holds only a fingerprint).
    #[arg(long)]
    psk_file: PathBuf,
    /// Stop after input N (1-based, counted over the whole recording) and print the
    /// session's state.
    #[arg(long, value_name = "N")]
    until: Option<u64>,
    /// Print every input as it is replayed.
    #[arg(long)]
    inputs: bool,
}

/// Exit code when the replay diverges from the run (1 is any other error).
const DIVERGED: i32 = 2;

pub(crate) fn run(args: ReplayArgs) -> Fallible<i32> {
    let psk = read_psk(&args.psk_file)?;
    let rec = Recording::open(&args.file)?;
    let mut last = String::new();
    let show = args.inputs;
    let result = recorder::replay(&rec, &psk, args.until, |step| {
        if let Some(input) = step.entry.and_then(recorder::input_of) {
            if show {
                println!("{:>8}  {input:?}", step.inputs);
            }
        }
        if args.until.is_some() {
            last = recorder::describe(step.session);
        }
    });
    match result {
        Ok(sum) => {
            if sum.orphaned > 0 {
                println!("skipped {} entries whose session start was rotated away", sum.orphaned);
            }
            println!(
                "replayed identically: {} incarnation(s), {} inputs, {} drains, {} outputs",
                sum.incarnations, sum.inputs, sum.drains, sum.outputs
            );
            if let Some(n) = args.until {
                println!(
                    "state after input {}{}:",
                    sum.inputs.min(n),
                    if sum.inputs < n { " (end)" } else { "" }
                );
                print!("{last}");
            }
            Ok(0)
        }
        Err(e @ recorder::ReplayError::Diverged { .. }) => {
            eprintln!("assoc: {e}");
            if !last.is_empty() {
                eprint!("state before the difference:\n{last}");
            }
            Ok(DIVERGED)
        }
        Err(e) => Err(e.into()),
    }
}
