//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use assoc_core::{Config, Duration, MessageId, Outcome, PeerName, Psk};
use bytes::Bytes;

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("assoc-io-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("ASSOC_KEEP_TEMP").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const PSK: &[u8] = b"integration-test-psk-32-bytes!!!";

/// `c` tuned for a fast loopback test.
pub fn tune(mut c: Config) -> Config {
    c.handshake_rto = Duration::from_millis(200);
    c.open_backoff_start = Duration::from_millis(100);
    c.open_interval = Duration::from_secs(2);
    c.disconnect_delay = Duration::from_secs(2);
    c.max_ack_delay = Duration::from_millis(10);
    c.initial_rtt = Duration::from_millis(100);
    c.keepalive = Some(Duration::from_secs(1));
    c.max_probes = 6;
    c.params.msg_window = 256;
    c
}

/// Configs for the pair a ↔ b, tuned for a fast loopback test.
pub fn configs() -> (Config, Config) {
    let psk = Psk::new(PSK).unwrap();
    let (a, b) = (PeerName::new(b"mta-a").unwrap(), PeerName::new(b"mta-b").unwrap());
    (tune(Config::new(a, b, psk.clone())), tune(Config::new(b, a, psk)))
}

/// Message `i` of side `side`: distinct, with varying small lengths.
pub fn message(side: usize, i: u64) -> Bytes {
    let len = 8 + (i * 7919 % 120) as usize;
    let mut v = format!("{side}:{i}:").into_bytes();
    while v.len() < len {
        v.push(b'a' + ((i as usize + v.len()) % 26) as u8);
    }
    Bytes::from(v)
}

/// What one receiving application saw, checked as it goes.
#[derive(Default)]
pub struct Received {
    pub by_app_id: BTreeMap<u64, Bytes>,
    pub last_msn: Option<u64>,
}

impl Received {
    /// Records a delivery; panics on a duplicate or an out-of-order msn.
    pub fn take(&mut self, msn: u64, app_id: u64, bytes: Bytes) {
        assert!(self.last_msn.is_none_or(|l| msn > l), "msn {msn} after {:?}", self.last_msn);
        self.last_msn = Some(msn);
        assert!(self.by_app_id.insert(app_id, bytes).is_none(), "app id {app_id} delivered twice");
    }
}

/// What one sending application saw.
#[derive(Default)]
pub struct Sent {
    pub bytes_by_app_id: BTreeMap<u64, Bytes>,
    pub ids: BTreeMap<MessageId, u64>,
    pub outcomes: BTreeMap<MessageId, Outcome>,
}

impl Sent {
    pub fn outcome(&mut self, id: MessageId, outcome: Outcome) {
        assert!(self.ids.contains_key(&id), "outcome for unknown {id:?}");
        assert!(self.outcomes.insert(id, outcome).is_none(), "second outcome for {id:?}");
    }
}

/// Checks the end state: every message delivered once with identical bytes, every
/// outcome reported and `Delivered`.
pub fn check_exchange(sent: &Sent, received: &Received) {
    assert_eq!(sent.outcomes.len(), sent.ids.len(), "every message has its outcome");
    assert!(sent.outcomes.values().all(|o| *o == Outcome::Delivered), "all delivered");
    assert_eq!(received.by_app_id.len(), sent.bytes_by_app_id.len(), "every message delivered");
    for (app_id, bytes) in &sent.bytes_by_app_id {
        assert_eq!(received.by_app_id.get(app_id), Some(bytes), "bytes of app id {app_id}");
    }
}

/// Messages per direction: `ASSOC_MESSAGES` if set, else `default`.
pub fn message_count(default: u64) -> u64 {
    std::env::var("ASSOC_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The submissions of side `side`: app ids 1..=n.
pub fn submissions(side: usize, n: u64) -> Vec<assoc_core::Submission> {
    (1..=n)
        .map(|i| assoc_core::Submission {
            app_id: i,
            priority: assoc_core::Priority::Normal,
            deadline: None,
            bytes: message(side, i),
        })
        .collect()
}

/// One line of figures for the closing note.
pub fn report(label: &str, n: u64, elapsed: std::time::Duration, snaps: &[assoc_io::Snapshot]) {
    let retrans: u64 = snaps.iter().map(|s| s.core.packets_lost + s.core.probes).sum();
    let lost: u64 = snaps.iter().map(|s| s.core.packets_lost).sum();
    let probes: u64 = snaps.iter().map(|s| s.core.probes).sum();
    let pdus: u64 = snaps.iter().map(|s| s.io.pdus_out).sum();
    let assocs: u64 = snaps.iter().map(|s| s.core.associations).sum();
    let commits: u64 = snaps.iter().map(|s| s.commits).sum();
    let shim_lost: u64 = snaps.iter().filter_map(|s| s.shim).map(|s| s.lost).sum();
    println!(
        "FIGURES {label}: {n} messages each way in {:.1} s; retransmissions {retrans} \
         (packets declared lost {lost}, probe timeouts {probes}); pdus sent {pdus}; \
         shim dropped {shim_lost}; associations {assocs}; commits {commits}",
        elapsed.as_secs_f64()
    );
}

/// `ASSOC_SYNC=full` makes the loopback tests fsync every commit (the default for real
/// use); by default they use `SyncMode::Os`, which survives a process crash.
pub fn sync_mode() -> assoc_io::SyncMode {
    match std::env::var("ASSOC_SYNC").as_deref() {
        Ok("full") => assoc_io::SyncMode::Full,
        _ => assoc_io::SyncMode::Os,
    }
}

/// Logs to stderr at debug level when `ASSOC_TRACE` is set (for hunting a failure).
pub fn trace() {
    if std::env::var_os("ASSOC_TRACE").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    }
}

/// Waits for `child` to exit, at most `limit` (a hang guard, not a performance bound);
/// its exit code, or `None` if it is still running.
pub fn wait_for_exit(child: &mut std::process::Child, limit: std::time::Duration) -> Option<i32> {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

/// Acknowledges up to `n` deliveries arriving within `limit`; how many arrived.
pub fn delivered(inbox: &assoc_io::blocking::Deliveries, n: usize, limit: std::time::Duration) -> usize {
    let end = std::time::Instant::now() + limit;
    let mut got = 0;
    while got < n && std::time::Instant::now() < end {
        if let Ok(d) = inbox.recv_timeout(std::time::Duration::from_millis(20)) {
            d.ack();
            got += 1;
        }
    }
    got
}
