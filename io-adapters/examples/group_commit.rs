//! Group commit through the [`Committer`]: `SESSIONS` threads, each acting as one session's
//! driver, hand it the records of `MESSAGES` 1 KiB messages (submission, msn, outcome, the
//! application's acknowledgement) one drain at a time, never waiting for the disk, and then
//! wait until all are durable. Prints commits, records and B-tree operations per message;
//! run it under `strace -f -c -e trace=fdatasync` for the syncs.
//!
//! ```text
//! cargo run --release -p assoc-io --example group_commit -- [full|os] [SESSIONS] [MESSAGES]
//! ```

use std::time::{Duration, Instant};

use assoc_core::{Ack, MessageId, Outcome, Priority, Record, StoredMessage};
use assoc_io::store::{Committed, Committer};
use assoc_io::{Database, SyncMode};
use bytes::Bytes;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = if args.get(1).map(String::as_str) == Some("os") { SyncMode::Os } else { SyncMode::Full };
    let sessions: u32 = args.get(2).map_or(Ok(4), |s| s.parse())?;
    let messages: u64 = args.get(3).map_or(Ok(10_000), |s| s.parse())?;
    let dir = std::env::temp_dir().join(format!("assoc-group-commit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = Database::open(dir.join("store.redb"))?;
    db.set_sync(mode);
    let committer = std::sync::Arc::new(Committer::start(db.clone(), |c| {
        if let Committed::Failed(e) = c {
            eprintln!("commit failed: {e}");
        }
    }));
    for sid in 0..sessions {
        committer.attach(db.session(sid)?)?;
    }
    let payload = Bytes::from(vec![7u8; 1024]);
    let start = Instant::now();
    let threads: Vec<_> = (0..sessions)
        .map(|sid| {
            let (committer, payload) = (committer.clone(), payload.clone());
            std::thread::spawn(move || {
                let mut seq = 0;
                let mut send = |records: Vec<Record>| {
                    seq += records.len() as u64;
                    committer.send(sid, records, seq).expect("the committer runs");
                };
                for i in 0..messages {
                    let id = MessageId(i);
                    let message = StoredMessage {
                        app_id: i + 1,
                        priority: Priority::Normal,
                        submitted: assoc_core::Instant::from_micros(1),
                        deadline: assoc_core::Instant::from_micros(1 << 50),
                        bytes: payload.clone(),
                        msn: None,
                        cancel: None,
                    };
                    send(vec![Record::Submitted { id, message }]);
                    send(vec![Record::Assigned { id, msn: i }]);
                    send(vec![Record::Finished { id, outcome: Outcome::Delivered }]);
                    send(vec![Record::Acknowledged(Ack::Outcome(id))]);
                }
                seq
            })
        })
        .collect();
    let last: Vec<u64> = threads.into_iter().map(|t| t.join().expect("a sender")).collect();
    while (0..sessions).any(|sid| committer.durable_upto(sid) < last[sid as usize]) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    let (mut commits, mut records, mut ops) = (0, 0, 0);
    for sid in 0..sessions {
        let store = committer.detach(sid)?.ok_or("attached")?;
        let (c, r) = store.counters();
        (commits, records, ops) = (commits.max(c), records + r, ops + store.ops());
    }
    let n = (u64::from(sessions) * messages) as f64;
    println!(
        "{mode:?}: {sessions} sessions x {messages} messages in {:.2} s ({:.0} msgs/s): {commits} group commits \
         ({:.4} per message), {records} records, {:.2} B-tree operations per message",
        elapsed.as_secs_f64(),
        n / elapsed.as_secs_f64(),
        commits as f64 / n,
        ops as f64 / n
    );
    drop(committer);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
