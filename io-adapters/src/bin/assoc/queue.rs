//! `assoc queue`: what a store holds — per session in the file (one for `serve --peer`,
//! one per peer for `serve --peers`): the outbound queue, inbound progress, the inbox and
//! the outcome log.

use std::path::PathBuf;

use assoc_core::StoredInbound;
use clap::Args;

use assoc_io::{Database, Store};

use crate::common::{human, Fallible};

/// Arguments of `assoc queue`.
#[derive(Args, Debug)]
pub(crate) struct QueueArgs {
    /// The store (a one-session file, or the database of `serve --peers`).
    #[arg(long)]
    store: PathBuf,
    /// List at most this many entries per section.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

pub(crate) fn run(args: QueueArgs) -> Fallible<i32> {
    let db = Database::open(&args.store).map_err(|e| {
        format!(
            "store {}: {e} (a running `assoc serve`/`send` holds it open; stop it first)",
            args.store.display()
        )
    })?;
    let sessions = db.sessions()?;
    println!("store {}: {} sessions", args.store.display(), sessions.len());
    for sid in sessions {
        println!("\n== session {sid} ==");
        show(&db.session(sid)?, args.limit)?;
    }
    Ok(0)
}

/// Prints one session's state.
fn show(store: &Store, limit: usize) -> Fallible<()> {
    let s = store.session_store();
    println!(
        "session: epoch {}, next message id {}, next msn {}, inbound watermark {}",
        s.epoch, s.next_id, s.next_msn, s.watermark
    );
    let queued: u64 = s.outbound.values().map(|m| m.bytes.len() as u64).sum();
    println!("\nqueue: {} messages without an outcome ({})", s.outbound.len(), human(queued));
    if !s.outbound.is_empty() {
        println!("  {:>8} {:>10} {:>10} {:>10} {:>8}  state", "id", "app id", "priority", "size", "msn");
    }
    for (id, m) in s.outbound.iter().take(limit) {
        let state = match (m.msn, m.cancel) {
            (_, Some(c)) => format!("cancelling ({c:?})"),
            (Some(_), None) => "in flight".to_string(),
            (None, None) => "queued".to_string(),
        };
        let msn = m.msn.map_or_else(|| "-".to_string(), |m| m.to_string());
        println!(
            "  {:>8} {:>10} {:>10} {:>10} {:>8}  {state}",
            id.0,
            m.app_id,
            format!("{:?}", m.priority),
            human(m.bytes.len() as u64),
            msn
        );
    }
    let partial: Vec<_> = s
        .inbound
        .iter()
        .filter_map(|(msn, e)| match e {
            StoredInbound::Partial { first, bytes } => Some((msn, first.map(|f| f.total_len), bytes.len())),
            StoredInbound::Resolved(_) => None,
        })
        .collect();
    println!("\nreceiving: {} partial messages", partial.len());
    for (msn, total, have) in partial.iter().take(limit) {
        let total = total.map_or_else(|| "?".to_string(), human);
        println!("  msn {msn}: {} of {total} stored", human(*have as u64));
    }
    let inbox = store.inbox()?;
    println!("\ninbox: {} delivered messages not yet acknowledged by the application", inbox.len());
    for e in inbox.iter().take(limit) {
        println!("  msn {} (app id {}): {}", e.msn, e.app_id, human(e.bytes.len() as u64));
    }
    let outcomes = store.outcomes()?;
    println!("\noutcomes: {} not yet acknowledged by the application", outcomes.len());
    for o in outcomes.iter().take(limit) {
        println!("  id {} (app id {}): {:?}", o.id.0, o.app_id, o.outcome);
    }
    Ok(())
}
