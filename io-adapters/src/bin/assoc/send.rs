//! `assoc send`: submit files (one message each) or stdin lines (one message each) to the
//! peer and wait for every outcome, with progress. Restartable: run it again with the same
//! store and input after a crash and it resumes the same transfer without sending
//! anything twice.
//!
//! Exit status: 0 every message delivered; 2 some not delivered or refused; 3 timed out
//! (`--timeout-secs`); 4 the peer holds another pre-shared key (after
//! `Config::max_auth_failures` failed proofs in a row; the messages stay queued); 130
//! interrupted; 1 any other error.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use assoc_core::{Outcome, Priority, Submission};
use assoc_io::tokio::Endpoint;
use bytes::Bytes;
use clap::{Args, ValueEnum};

use crate::common::{fnv1a, human, stop_signal, Fallible, RateMeter, SessionArgs, FNV_OFFSET};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Prio {
    Urgent,
    Normal,
    NonUrgent,
}

/// Arguments of `assoc send`.
#[derive(Args, Debug)]
pub(crate) struct SendArgs {
    /// The peer's address.
    #[arg(long)]
    to: SocketAddr,
    /// Send this file as one message (repeatable). Without it, each line of stdin is one message.
    #[arg(long)]
    file: Vec<PathBuf>,
    /// Local address to bind (UDP; default any).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Priority of the messages.
    #[arg(long, value_enum, default_value = "normal")]
    priority: Prio,
    /// Give up waiting after this many seconds (the messages stay queued in the store).
    #[arg(long)]
    timeout_secs: Option<u64>,
    #[command(flatten)]
    session: SessionArgs,
}

fn read_messages(args: &SendArgs) -> Fallible<Vec<Bytes>> {
    if args.file.is_empty() {
        let mut all = Vec::new();
        std::io::stdin().read_to_end(&mut all)?;
        let mut lines: Vec<Bytes> = all.split(|b| *b == b'\n').map(Bytes::copy_from_slice).collect();
        if all.ends_with(b"\n") || all.is_empty() {
            lines.pop();
        }
        Ok(lines)
    } else {
        args.file
            .iter()
            .map(|f| std::fs::read(f).map(Bytes::from).map_err(|e| format!("{}: {e}", f.display()).into()))
            .collect()
    }
}

pub(crate) async fn run(args: SendArgs) -> Fallible<i32> {
    let messages = read_messages(&args)?;
    if messages.is_empty() {
        eprintln!("assoc: nothing to send");
        return Ok(0);
    }
    // A transfer is identified by its content: the same input resumes the same app ids.
    let fingerprint =
        messages.iter().fold(fnv1a(FNV_OFFSET, &(messages.len() as u64).to_be_bytes()), |h, m| {
            fnv1a(fnv1a(h, &(m.len() as u64).to_be_bytes()), m)
        });
    let job_key = format!("send-job:{fingerprint:016x}");
    let acked_key = format!("{job_key}:acked");
    let mut store = args.session.open_store()?;
    // What an earlier run of this transfer saw acknowledged: shown until the session has
    // re-associated and learned the receiver's progress again.
    let remembered = store.app_meta(&acked_key)?.unwrap_or(0);
    let first = match store.app_meta(&job_key)? {
        Some(first) => {
            eprintln!("assoc: resuming this transfer (app ids from {first})");
            first
        }
        None => {
            let first = store.app_meta("send-job:next")?.unwrap_or(1).max(store.max_app_id() + 1);
            store.set_app_meta(&[(&job_key, first), ("send-job:next", first + messages.len() as u64)])?;
            first
        }
    };
    let app_ids = first..first + messages.len() as u64;
    let sizes: BTreeMap<u64, u64> = app_ids.clone().zip(messages.iter().map(|m| m.len() as u64)).collect();
    let total: u64 = sizes.values().sum();
    // Outcomes known from an earlier run of this transfer.
    let mut outcomes: BTreeMap<u64, Outcome> = BTreeMap::new();
    for app_id in app_ids.clone() {
        if let Some(o) = store.app_id_status(app_id)?.and_then(|s| s.outcome) {
            outcomes.insert(app_id, o);
        }
    }

    let mut options = args.session.options(args.session.bearer(args.bind, Some(args.to)))?;
    // Resuming skips the app ids with a known outcome; the session must remember every
    // acknowledged outcome of this transfer for that (its idempotency window).
    let window = &mut options.config.idempotency_window;
    *window = (*window).max(u32::try_from(sizes.len()).unwrap_or(u32::MAX));
    let (endpoint, _deliveries, mut reports) = Endpoint::start(options, store).await?;
    let priority = match args.priority {
        Prio::Urgent => Priority::Urgent,
        Prio::Normal => Priority::Normal,
        Prio::NonUrgent => Priority::NonUrgent,
    };
    let subs: Vec<Submission> = app_ids
        .clone()
        .zip(messages)
        .filter(|(app_id, _)| !outcomes.contains_key(app_id))
        .map(|(app_id, bytes)| Submission { app_id, priority, deadline: None, bytes })
        .collect();
    let mut refused = 0;
    for chunk in subs.chunks(1000) {
        for (s, r) in chunk.iter().zip(endpoint.submit_many(chunk.to_vec()).await?) {
            if let Err(e) = r {
                eprintln!("assoc: message {} refused: {e}", s.app_id - first + 1);
                refused += 1;
            }
        }
    }
    eprintln!(
        "assoc: {} messages ({}) to {} as {}: {} already done, {} in custody",
        sizes.len(),
        human(total),
        args.to,
        args.session.name,
        outcomes.len(),
        subs.len() - refused
    );

    let started = Instant::now();
    let deadline = args.timeout_secs.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut progress = tokio::time::interval(Duration::from_secs(1));
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut rate = RateMeter::default();
    let mut acked = AckedBytes { floor: remembered, total };
    let code = loop {
        if outcomes.len() + refused == sizes.len() {
            break 0;
        }
        tokio::select! {
            () = &mut stop => { eprintln!("assoc: interrupted; the messages stay queued in the store"); break 130 }
            () = sleep_until(deadline) => { eprintln!("assoc: timed out; the messages stay queued in the store"); break 3 }
            r = reports.recv() => match r {
                Some(r) => {
                    if app_ids.contains(&r.app_id) {
                        outcomes.insert(r.app_id, r.outcome);
                    }
                    r.ack();
                }
                None => break 1,
            },
            _ = progress.tick() => {
                let s = endpoint.snapshot().await?;
                if s.core.wrong_key > 0 {
                    eprintln!(
                        "assoc: {} answers but cannot prove it holds our key: wrong pre-shared key? \
                         The messages stay queued in the store",
                        args.to
                    );
                    break 4;
                }
                let done: u64 = outcomes.keys().filter_map(|a| sizes.get(a)).sum();
                let acked = acked.update(done, s.acked_bytes);
                let rate = RateMeter::show(rate.update(acked));
                eprintln!(
                    "assoc: {} of {} acknowledged ({:.0} %), {rate}; {}/{} messages done; {:?}, {} retransmissions",
                    human(acked),
                    human(total),
                    if total == 0 { 100.0 } else { 100.0 * acked as f64 / total as f64 },
                    outcomes.len(),
                    sizes.len(),
                    s.state,
                    s.core.packets_lost + s.core.probes
                );
            }
        }
    };
    let delivered = outcomes.values().filter(|o| **o == Outcome::Delivered).count();
    if code == 0 {
        eprintln!(
            "assoc: done in {:.1} s: {delivered} of {} messages delivered",
            started.elapsed().as_secs_f64(),
            sizes.len()
        );
        for (app_id, o) in outcomes.iter().filter(|(_, o)| **o != Outcome::Delivered) {
            eprintln!("assoc: message {} not delivered: {o:?}", app_id - first + 1);
        }
    }
    let s = endpoint.shutdown().await?;
    if code != 0 && acked.floor > remembered {
        // For the next run's first progress line (best effort: the transfer itself is safe).
        if let Err(e) =
            args.session.open_store().and_then(|mut st| Ok(st.set_app_meta(&[(&acked_key, acked.floor)])?))
        {
            eprintln!("assoc: could not remember the progress for the next run: {e}");
        }
    }
    eprintln!(
        "assoc: {} pdus sent, {} retransmissions, {} associations",
        s.io.pdus_out,
        s.core.packets_lost + s.core.probes,
        s.core.associations
    );
    Ok(if code == 0 && delivered + refused < sizes.len() || refused > 0 { 2 } else { code })
}

/// Bytes of a transfer the receiver has durably acknowledged, as far as this process knows.
/// The receiver's durable state never goes back, but after a restart the sender learns its
/// progress on unfinished messages (the resume points) only once it has re-associated:
/// until then the figure stays at what was seen before (`floor`: an earlier run's last
/// figure at first), never dropping to the outcomes alone.
#[derive(Debug)]
struct AckedBytes {
    /// The highest figure shown so far.
    floor: u64,
    /// The transfer's size.
    total: u64,
}

impl AckedBytes {
    /// `done`: bytes of messages with an outcome; `in_flight`: the receiver's durable
    /// prefixes of the unfinished ones, as the session knows them now. Returns the figure
    /// to show.
    fn update(&mut self, done: u64, in_flight: u64) -> u64 {
        self.floor = self.floor.max(done.saturating_add(in_flight)).min(self.total);
        self.floor
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::AckedBytes;

    #[test]
    fn a_resumed_transfer_shows_what_was_acknowledged_before_until_the_session_knows_more() {
        // An earlier run saw 19 of 100 bytes acknowledged; the restarted session knows no
        // outcome and no resume point until it re-associates.
        let mut acked = AckedBytes { floor: 19, total: 100 };
        let shown: Vec<u64> = [(0, 0), (0, 10), (0, 25), (40, 0), (40, 60), (100, 0)]
            .iter()
            .map(|&(done, in_flight)| acked.update(done, in_flight))
            .collect();
        assert_eq!(shown, [19, 19, 25, 40, 100, 100], "never below what was seen, never above the total");
    }

    #[test]
    fn a_fresh_transfer_starts_at_zero() {
        let mut acked = AckedBytes { floor: 0, total: 10 };
        assert_eq!((acked.update(0, 0), acked.update(3, 4)), (0, 7));
    }
}
