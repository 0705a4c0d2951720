//! What the subcommands share: the session options, impairment flags, signals, formatting.

use std::net::SocketAddr;
use std::path::PathBuf;

use assoc_core::{Config, Duration, PeerName, Psk};
use assoc_io::recorder::RecordOptions;
use assoc_io::{Bearer, Impairment, Options, Store, SyncMode};
use clap::{Args, ValueEnum};

/// The bearer kind on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BearerKind {
    /// UDP datagrams.
    Udp,
    /// TCP with length-prefixed frames, a new connection per dial.
    Tcp,
}

/// Identity and store of this end of the session.
#[derive(Args, Debug, Clone)]
pub(crate) struct SessionArgs {
    /// The session store (a redb file; created if missing). One process at a time.
    #[arg(long)]
    pub(crate) store: PathBuf,
    /// This endpoint's name (letters, digits, `.`, `-`, `_`; case-insensitive).
    #[arg(long)]
    pub(crate) name: String,
    /// The peer's name (required unless `serve --peers` gives a peer table).
    #[arg(long)]
    pub(crate) peer: Option<String>,
    /// File holding the pre-shared key: 32+ hex digits (e.g. `openssl rand -hex 32`), or
    /// else at least 16 raw bytes. Surrounding whitespace is ignored.
    /// Required unless `serve --peers` gives a peer table.
    #[arg(long)]
    pub(crate) psk_file: Option<PathBuf>,
    /// Bearer.
    #[arg(long, value_enum, default_value = "udp")]
    pub(crate) bearer: BearerKind,
    /// Session id (both ends must agree).
    #[arg(long, default_value_t = 1)]
    pub(crate) sid: u32,
    /// Probe timeouts without an answer before an association is given up (default 8).
    /// Lower values notice a restarted peer sooner.
    #[arg(long)]
    pub(crate) max_probes: Option<u32>,
    /// Release an idle association after this many seconds (default 300).
    #[arg(long)]
    pub(crate) lifetime_secs: Option<u64>,
    /// Commit without waiting for fsync: survives a crash of this process, not a power loss.
    #[arg(long)]
    pub(crate) no_fsync: bool,
    /// Seed for the session's tags and nonces (default: from the OS). For reproducible tests.
    #[arg(long, hide = true)]
    pub(crate) session_seed: Option<u64>,
    /// Record every input the session is handed to FILE, for `assoc replay` and
    /// `assoc-model trace-check` (appended to; rotated to FILE.1, FILE.2, …).
    #[arg(long, value_name = "FILE")]
    pub(crate) record: Option<PathBuf>,
    /// Rotate the recording when a file would pass this many MiB (4 rotated files kept).
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub(crate) record_max_mib: u64,
    #[command(flatten)]
    pub(crate) impair: ImpairArgs,
}

/// An impairment shim on this endpoint's outgoing PDUs (tests and demos).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ImpairArgs {
    /// Percent of PDUs lost.
    #[arg(long, default_value_t = 0)]
    pub(crate) loss: u8,
    /// Percent of PDUs duplicated.
    #[arg(long, default_value_t = 0)]
    pub(crate) dup: u8,
    /// Percent of PDUs held back so later ones overtake them.
    #[arg(long, default_value_t = 0)]
    pub(crate) reorder: u8,
    /// Fixed delay in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub(crate) delay_ms: u64,
    /// Random extra delay up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub(crate) jitter_ms: u64,
    /// Largest hold of a reordered PDU in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub(crate) reorder_ms: u64,
    /// Rate limit in kilobits per second.
    #[arg(long)]
    pub(crate) rate_kbps: Option<u64>,
    /// Seed of the impairment decisions.
    #[arg(long, default_value_t = 1)]
    pub(crate) impair_seed: u64,
}

impl ImpairArgs {
    pub(crate) fn impairment(&self) -> Option<Impairment> {
        let any = self.loss + self.dup + self.reorder > 0
            || self.delay_ms + self.jitter_ms > 0
            || self.rate_kbps.is_some();
        any.then(|| self.always())
    }

    pub(crate) fn always(&self) -> Impairment {
        Impairment {
            loss_pct: self.loss.min(100),
            dup_pct: self.dup.min(100),
            reorder_pct: self.reorder.min(100),
            delay: Duration::from_millis(self.delay_ms),
            jitter: Duration::from_millis(self.jitter_ms),
            reorder_extra: Duration::from_millis(self.reorder_ms),
            rate_bytes_per_sec: self.rate_kbps.map(|k| k * 1000 / 8),
            max_queue_delay: Duration::from_secs(1),
        }
    }
}

pub(crate) type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Reads a PSK file (see [`assoc_io::recorder::read_psk_file`]).
pub(crate) fn read_psk(path: &std::path::Path) -> Fallible<Psk> {
    Ok(assoc_io::recorder::read_psk_file(path)?)
}

impl SessionArgs {
    pub(crate) fn config(&self) -> Fallible<Config> {
        let peer = self.peer.as_deref().ok_or("--peer is required")?;
        let psk_file = self.psk_file.as_deref().ok_or("--psk-file is required")?;
        self.config_for(peer, read_psk(psk_file)?, self.sid)
    }

    /// This end's config for session `sid` with `peer` and `psk` (the one peer of the
    /// flags, or one row of a peer table), with the tuning flags applied.
    pub(crate) fn config_for(&self, peer: &str, psk: Psk, sid: u32) -> Fallible<Config> {
        let name = PeerName::new(self.name.as_bytes()).map_err(|e| format!("--name {}: {e:?}", self.name))?;
        let peer = PeerName::new(peer.as_bytes()).map_err(|e| format!("peer {peer}: {e:?}"))?;
        let mut c = Config::new(name, peer, psk);
        c.sid = sid;
        if let Some(p) = self.max_probes {
            c.max_probes = p;
        }
        if let Some(s) = self.lifetime_secs {
            c.lifetime = Duration::from_secs(s);
        }
        c.validate()?;
        if !c.suite.is_secure() {
            return Err(format!("the crypto suite {:?} is not secure; refusing to run", c.suite).into());
        }
        Ok(c)
    }

    pub(crate) fn open_store(&self) -> Fallible<Store> {
        let mut store = open_store_at(&self.store)?;
        if self.no_fsync {
            store.set_sync(SyncMode::Os);
        }
        Ok(store)
    }

    pub(crate) fn options(&self, bearer: Bearer) -> Fallible<Options> {
        let mut o = Options::new(self.config()?, bearer);
        o.impairment = self.impair.impairment();
        o.impairment_seed = self.impair.impair_seed;
        o.seed = self.session_seed;
        o.record = self.record.as_ref().map(|path| {
            let mut r = RecordOptions::new(path);
            r.max_file_bytes = self.record_max_mib.saturating_mul(1024 * 1024).max(4096);
            r
        });
        Ok(o)
    }

    pub(crate) fn bearer(&self, listen: Option<SocketAddr>, peer: Option<SocketAddr>) -> Bearer {
        match self.bearer {
            BearerKind::Udp => Bearer::Udp { bind: listen.unwrap_or_else(|| any_address_for(peer)), peer },
            BearerKind::Tcp => Bearer::Tcp { listen, peer },
        }
    }
}

/// The wildcard address of `peer`'s family (`[::]:0` for an IPv6 peer, else `0.0.0.0:0`):
/// an IPv4 socket cannot send to an IPv6 address, and the kernel says so only per datagram.
pub(crate) fn any_address_for(peer: Option<SocketAddr>) -> SocketAddr {
    match peer {
        Some(SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
        _ => SocketAddr::from(([0, 0, 0, 0], 0)),
    }
}

/// Opens a store, saying what to do when another process holds it.
pub(crate) fn open_store_at(path: &std::path::Path) -> Fallible<Store> {
    Store::open(path).map_err(|e| {
        format!("store {}: {e} (a running `assoc serve`/`send` holds it open; stop it first)", path.display())
            .into()
    })
}

/// A rate over the intervals between calls of [`RateMeter::update`]. The first call only
/// sets the baseline, so a counter restored from an earlier run (bytes already received or
/// acknowledged) never shows as a burst.
#[derive(Debug, Default)]
pub(crate) struct RateMeter {
    last: Option<(std::time::Instant, u64)>,
}

impl RateMeter {
    /// Records `value` now; returns the rate per second since the previous call, if any.
    pub(crate) fn update(&mut self, value: u64) -> Option<f64> {
        let now = std::time::Instant::now();
        let rate = self.last.map(|(at, before)| {
            value.saturating_sub(before) as f64 / now.duration_since(at).as_secs_f64().max(1e-3)
        });
        self.last = Some((now, value));
        rate
    }

    /// `rate` for humans, `-` before the first interval.
    pub(crate) fn show(rate: Option<f64>) -> String {
        rate.map_or_else(|| "-".to_string(), |r| format!("{}/s", human(r as u64)))
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Bytes for humans: `812 B`, `4.2 KiB`, `10.0 MiB`.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// FNV-1a, 64 bits: a stable fingerprint of a transfer's content.
pub(crate) fn fnv1a(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
