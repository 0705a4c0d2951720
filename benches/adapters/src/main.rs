//! Side-by-side transfer benchmark: assoc (std and tokio drivers, UDP and TCP bearers,
//! ChaCha20-Poly1305, redb store without fsync) against kernel TCP (length-prefixed frames)
//! and quinn (QUIC, one unidirectional stream per message), moving the same messages.
//!
//! ```text
//! assoc-bench loopback [--messages N] [--size BYTES] [--repeat R] [--protos a,b,..]
//! assoc-bench peers [--peers N] [--messages M] [--size BYTES] [--repeat R] [--threads 1,2] [--rto-ms MS]  (see peers.rs)
//! assoc-bench impaired --ns-src NS1 --ns-dst NS2 --dst-ip IP [--messages N] [--size BYTES] ...
//! assoc-bench sink   --proto P --listen ADDR --messages N --size BYTES [--cert FILE]
//! assoc-bench source --proto P --peer ADDR   --messages N --size BYTES [--cert FILE]
//! ```
//!
//! `loopback` runs sink and source in this process on 127.0.0.1 and reports throughput and
//! the p50/p99 delivery latency (from the moment the message was offered to the API to the
//! moment the receiving application has it); `impaired` runs the sink in one network
//! namespace and the source in another (joined by `benches/impair/relay.py`) as child
//! processes and reports goodput (payload bytes / time from starting the source to the
//! sink holding every message). Each figure is the median of `--repeat` runs; the output is
//! a markdown table with ratios against kernel TCP measured in the same run.
//!
//! Every transport is offered the whole batch as fast as its API accepts it: assoc takes
//! custody of all messages at once (`submit_many`, one durable commit), so its latency
//! includes the time a message waits in the session's queue; kernel TCP and quinn apply
//! back-pressure in `write`, so a message is "offered" only when the previous write returned.

mod peers;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assoc_core::{Config, PeerName, Priority, Psk, Submission};
use assoc_io::{Bearer, Options, Store, SyncMode};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::mpsc;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    AssocTokioUdp,
    /// `AssocTokioUdp` with the flight recorder on at both ends (its overhead).
    AssocTokioUdpRec,
    AssocTokioTcp,
    AssocStdUdp,
    AssocStdTcp,
    KernelTcp,
    Quinn,
}

impl Proto {
    const ALL: [Proto; 7] = [
        Proto::KernelTcp,
        Proto::Quinn,
        Proto::AssocTokioUdp,
        Proto::AssocTokioUdpRec,
        Proto::AssocTokioTcp,
        Proto::AssocStdUdp,
        Proto::AssocStdTcp,
    ];

    fn name(self) -> &'static str {
        match self {
            Proto::AssocTokioUdp => "assoc-tokio-udp",
            Proto::AssocTokioUdpRec => "assoc-tokio-udp+recorder",
            Proto::AssocTokioTcp => "assoc-tokio-tcp",
            Proto::AssocStdUdp => "assoc-std-udp",
            Proto::AssocStdTcp => "assoc-std-tcp",
            Proto::KernelTcp => "kernel-tcp",
            Proto::Quinn => "quinn",
        }
    }

    fn parse(s: &str) -> Res<Proto> {
        Proto::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| format!("unknown proto {s}").into())
    }
}

/// Command-line arguments as `--key value` pairs.
struct Args(Vec<(String, String)>);

impl Args {
    fn parse(raw: &[String]) -> Res<Args> {
        let mut out = Vec::new();
        let mut it = raw.iter();
        while let Some(k) = it.next() {
            let key = k.strip_prefix("--").ok_or_else(|| format!("expected --key, got {k}"))?;
            let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            out.push((key.to_string(), v.clone()));
        }
        Ok(Args(out))
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    fn num(&self, key: &str, default: usize) -> Res<usize> {
        Ok(match self.get(key) {
            Some(v) => v.parse().map_err(|e| format!("--{key}: {e}"))?,
            None => default,
        })
    }
    fn req(&self, key: &str) -> Res<&str> {
        self.get(key).ok_or_else(|| format!("--{key} is required").into())
    }
    fn protos(&self) -> Res<Vec<Proto>> {
        match self.get("protos") {
            None => Ok(Proto::ALL.to_vec()),
            Some(list) => list.split(',').map(Proto::parse).collect(),
        }
    }
}

fn main() -> Res<()> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some(mode) = raw.first() else {
        return Err("usage: assoc-bench loopback|peers|impaired|sink|source [--key value ...]".into());
    };
    let args = Args::parse(&raw[1..])?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match mode.as_str() {
        "loopback" => rt.block_on(loopback(&args)),
        "peers" => rt.block_on(peers::peers(&args)),
        "impaired" => rt.block_on(impaired(&args)),
        "sink" => rt.block_on(sink_process(&args)),
        "source" => rt.block_on(source_process(&args)),
        other => Err(format!("unknown mode {other}").into()),
    }
}

// ---------------------------------------------------------------------------------------
// Measurements

/// One run's result: wall time and per-message delivery latencies.
struct Run {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Medians over repeats: (seconds, p50 ms, p99 ms).
fn summarize(runs: &[Run]) -> (f64, f64, f64) {
    let secs = median(runs.iter().map(|r| r.elapsed.as_secs_f64()).collect());
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    for r in runs {
        let mut l = r.latencies.clone();
        l.sort();
        p50.push(percentile(&l, 0.50).as_secs_f64() * 1e3);
        p99.push(percentile(&l, 0.99).as_secs_f64() * 1e3);
    }
    (secs, median(p50), median(p99))
}

fn human_size(size: usize) -> String {
    if size >= 1 << 20 && size % (1 << 20) == 0 {
        format!("{} MiB", size >> 20)
    } else if size >= 1024 && size % 1024 == 0 {
        format!("{} KiB", size >> 10)
    } else {
        format!("{size} B")
    }
}

// ---------------------------------------------------------------------------------------
// Loopback: both ends in this process

async fn loopback(args: &Args) -> Res<()> {
    let n = args.num("messages", 10_000)?;
    let size = args.num("size", 1024)?;
    let repeat = args.num("repeat", 3)?.max(1);
    let protos = args.protos()?;
    let mut rows = Vec::new();
    for &p in &protos {
        let mut runs = Vec::new();
        for _ in 0..repeat {
            let r = tokio::time::timeout(Duration::from_secs(600), loopback_once(p, n, size))
                .await
                .map_err(|_| format!("{}: no result after 600 s", p.name()))??;
            eprintln!("  {} {}x{}: {:.3} s", p.name(), n, human_size(size), r.elapsed.as_secs_f64());
            runs.push(r);
        }
        rows.push((p, summarize(&runs)));
    }
    let base = rows.iter().find(|(p, _)| *p == Proto::KernelTcp).map(|(_, s)| s.0);
    println!(
        "| workload | transport | msgs/s | MB/s | p50 latency | p99 latency | throughput vs kernel TCP |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (p, (secs, p50, p99)) in rows {
        let ratio = base.map(|b| format!("{:.2}", b / secs)).unwrap_or_else(|| "–".into());
        println!(
            "| {n} × {} | {} | {:.0} | {:.1} | {:.2} ms | {:.2} ms | {ratio} |",
            human_size(size),
            p.name(),
            n as f64 / secs,
            (n * size) as f64 / secs / 1e6,
            p50,
            p99,
        );
    }
    Ok(())
}

async fn loopback_once(p: Proto, n: usize, size: usize) -> Res<Run> {
    let dir = TempDir::new(p.name())?;
    let cert = dir.0.join("cert.der");
    let listen: SocketAddr = (Ipv4Addr::LOCALHOST, 0).into();
    let (addr, sink) = start_sink(p, listen, n, size, &dir.0, &cert).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let src_dir = dir.0.clone();
    let source = tokio::spawn(async move { run_source(p, addr, n, size, &src_dir, &cert, tx).await });
    let received = sink.await??;
    let offered = {
        let mut v = vec![None; n];
        while let Ok((i, t)) = rx.try_recv() {
            v[i] = Some(t);
        }
        v
    };
    source.abort();
    let start = offered.iter().flatten().min().copied().ok_or("nothing offered")?;
    let end = received.iter().map(|(_, t)| *t).max().ok_or("nothing received")?;
    let latencies = received
        .iter()
        .filter_map(|&(i, t)| offered.get(i).copied().flatten().map(|o| t.saturating_duration_since(o)))
        .collect();
    Ok(Run { elapsed: end - start, latencies })
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Res<TempDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let base = std::env::var_os("ASSOC_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let p = base.join(format!(
            "assoc-bench-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------
// Impaired: sink and source as child processes in two network namespaces

async fn impaired(args: &Args) -> Res<()> {
    let n = args.num("messages", 200)?;
    let size = args.num("size", 1024)?;
    let repeat = args.num("repeat", 1)?.max(1);
    let limit = Duration::from_secs(args.num("limit-secs", 300)? as u64);
    let (ns_src, ns_dst, dst_ip) = (args.req("ns-src")?, args.req("ns-dst")?, args.req("dst-ip")?);
    let protos = args.protos()?;
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    for &p in &protos {
        let mut secs = Vec::new();
        for _ in 0..repeat {
            let dir = TempDir::new(&format!("imp-{}", p.name()))?;
            let cert = dir.0.join("cert.der");
            let common = |role: &str, addr: &str, sub: &str| {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", if role == "sink" { ns_dst } else { ns_src }])
                    .arg(&exe)
                    .args([role, "--proto", p.name(), if role == "sink" { "--listen" } else { "--peer" }, addr])
                    .args(["--messages", &n.to_string(), "--size", &size.to_string()])
                    .arg("--cert")
                    .arg(&cert)
                    .arg("--dir")
                    .arg(dir.0.join(sub));
                c
            };
            let mut sink = common("sink", &format!("{dst_ip}:0"), "sink")
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?;
            let mut lines = std::io::BufRead::lines(std::io::BufReader::new(sink.stdout.take().ok_or("stdout")?));
            let ready = lines.next().ok_or("sink exited")??;
            let port: u16 = ready.strip_prefix("ready ").ok_or("sink did not say ready")?.parse()?;
            let started = Instant::now();
            let mut source =
                common("source", &format!("{dst_ip}:{port}"), "source").stdout(Stdio::null()).spawn()?;
            let done = tokio::task::spawn_blocking(move || lines.next());
            let outcome = tokio::time::timeout(limit, done).await;
            let elapsed = started.elapsed();
            let _ = source.kill();
            let _ = source.wait();
            let _ = sink.kill();
            let _ = sink.wait();
            match outcome {
                Ok(Ok(Some(Ok(line)))) if line.starts_with("done") => {
                    eprintln!("  {} {}x{}: {:.2} s", p.name(), n, human_size(size), elapsed.as_secs_f64());
                    secs.push(elapsed.as_secs_f64());
                }
                _ => {
                    eprintln!("  {} {}x{}: not done within {limit:?}", p.name(), n, human_size(size));
                    secs.push(f64::INFINITY);
                }
            }
        }
        rows.push((p, median(secs)));
    }
    let base = rows.iter().find(|(p, _)| *p == Proto::KernelTcp).map(|(_, s)| *s);
    println!("| workload | transport | time | goodput | goodput vs kernel TCP |");
    println!("|---|---|---:|---:|---:|");
    for (p, secs) in rows {
        let ratio = base.map(|b| format!("{:.2}", b / secs)).unwrap_or_else(|| "–".into());
        let time = if secs.is_finite() { format!("{secs:.1} s") } else { format!("> {} s", limit.as_secs()) };
        println!(
            "| {n} × {} | {} | {time} | {:.0} kbit/s | {ratio} |",
            human_size(size),
            p.name(),
            (n * size) as f64 * 8.0 / secs / 1e3,
        );
    }
    Ok(())
}

async fn sink_process(args: &Args) -> Res<()> {
    let p = Proto::parse(args.req("proto")?)?;
    let listen: SocketAddr = args.req("listen")?.parse()?;
    let (n, size) = (args.num("messages", 100)?, args.num("size", 1024)?);
    let dir = PathBuf::from(args.req("dir")?);
    std::fs::create_dir_all(&dir)?;
    let cert = PathBuf::from(args.req("cert")?);
    let (addr, sink) = start_sink(p, listen, n, size, &dir, &cert).await?;
    println!("ready {}", addr.port());
    let got = sink.await??;
    println!("done {}", got.len());
    Ok(())
}

async fn source_process(args: &Args) -> Res<()> {
    let p = Proto::parse(args.req("proto")?)?;
    let peer: SocketAddr = args.req("peer")?.parse()?;
    let (n, size) = (args.num("messages", 100)?, args.num("size", 1024)?);
    let dir = PathBuf::from(args.req("dir")?);
    std::fs::create_dir_all(&dir)?;
    let cert = PathBuf::from(args.req("cert")?);
    let (tx, _rx) = mpsc::unbounded_channel();
    run_source(p, peer, n, size, &dir, &cert, tx).await
}

// ---------------------------------------------------------------------------------------
// The transports

/// What a sink hands back: (message index, when the application had it).
type Received = Vec<(usize, Instant)>;
type SinkTask = tokio::task::JoinHandle<Res<Received>>;

async fn start_sink(
    p: Proto,
    listen: SocketAddr,
    n: usize,
    size: usize,
    dir: &std::path::Path,
    cert: &std::path::Path,
) -> Res<(SocketAddr, SinkTask)> {
    match p {
        Proto::KernelTcp => tcp_sink(listen, n, size).await,
        Proto::Quinn => quinn_sink(listen, n, size, cert).await,
        Proto::AssocTokioUdp | Proto::AssocTokioTcp | Proto::AssocTokioUdpRec => {
            assoc_tokio_sink(p, listen, n, size, dir).await
        }
        Proto::AssocStdUdp | Proto::AssocStdTcp => assoc_std_sink(p == Proto::AssocStdTcp, listen, n, size, dir),
    }
}

/// Runs the sending side until the transport says everything arrived (assoc: every
/// outcome; TCP: the sink closed; quinn: the sink closed the connection). Sends
/// (index, offered-at) for each message on `offered`.
async fn run_source(
    p: Proto,
    peer: SocketAddr,
    n: usize,
    size: usize,
    dir: &std::path::Path,
    cert: &std::path::Path,
    offered: mpsc::UnboundedSender<(usize, Instant)>,
) -> Res<()> {
    let payload = Bytes::from(vec![0x5au8; size]);
    match p {
        Proto::KernelTcp => tcp_source(peer, n, payload, offered).await,
        Proto::Quinn => quinn_source(peer, n, payload, cert, offered).await,
        Proto::AssocTokioUdp | Proto::AssocTokioTcp | Proto::AssocTokioUdpRec => {
            assoc_tokio_source(p, peer, n, payload, dir, offered).await
        }
        Proto::AssocStdUdp | Proto::AssocStdTcp => {
            let (tcp, dir) = (p == Proto::AssocStdTcp, dir.to_path_buf());
            tokio::task::spawn_blocking(move || assoc_std_source(tcp, peer, n, payload, &dir, offered)).await?
        }
    }
}

// --- assoc

const PSK: &[u8] = b"assoc-bench-psk-32-bytes-long!!!";

fn assoc_options(sink: bool, tcp: bool, addr: SocketAddr) -> Res<Options> {
    let psk = Psk::new(PSK)?;
    let (a, b) = (PeerName::new(b"bench-src")?, PeerName::new(b"bench-dst")?);
    let mut config = if sink { Config::new(b, a, psk) } else { Config::new(a, b, psk) };
    config.max_queued_messages = 20_000;
    config.max_queued_bytes = 1 << 30;
    config.params.msg_window = 256;
    config.handshake_rto = assoc_core::Duration::from_millis(200);
    config.open_backoff_start = assoc_core::Duration::from_millis(100);
    let any: SocketAddr = (Ipv4Addr::UNSPECIFIED, 0).into();
    let bearer = match (tcp, sink) {
        (false, true) => Bearer::Udp { bind: addr, peer: None },
        (false, false) => Bearer::Udp { bind: any, peer: Some(addr) },
        (true, true) => Bearer::Tcp { listen: Some(addr), peer: None },
        (true, false) => Bearer::Tcp { listen: None, peer: Some(addr) },
    };
    let mut o = Options::new(config, bearer);
    o.shutdown_grace = std::time::Duration::from_millis(100);
    Ok(o)
}

/// The store in `Os` mode, or `Full` with `ASSOC_BENCH_SYNC=full`.
fn assoc_store(dir: &std::path::Path, name: &str) -> Res<Store> {
    let mut s = Store::open(dir.join(name))?;
    let full = std::env::var("ASSOC_BENCH_SYNC").is_ok_and(|v| v == "full");
    s.set_sync(if full { SyncMode::Full } else { SyncMode::Os });
    Ok(s)
}

/// One stderr line with the store's work per message (commits, records, B-tree operations).
fn store_line(side: &str, n: usize, s: &assoc_io::Snapshot) {
    let per = |v: u64| v as f64 / n.max(1) as f64;
    eprintln!(
        "  store {side}: {} commits, {} records, {} B-tree ops = {:.3} commits, {:.2} ops per message",
        s.commits,
        s.records,
        s.store_ops,
        per(s.commits),
        per(s.store_ops)
    );
}

fn submissions(n: usize, payload: &Bytes) -> Vec<Submission> {
    (0..n)
        .map(|i| Submission {
            app_id: i as u64 + 1,
            priority: Priority::Normal,
            deadline: None,
            bytes: payload.clone(),
        })
        .collect()
}

/// `opts` for `p`: the flight recorder on (to `dir/NAME.rec`) for the `+recorder` row.
fn with_recorder(p: Proto, mut opts: Options, dir: &std::path::Path, name: &str) -> Options {
    if p == Proto::AssocTokioUdpRec {
        opts.record = Some(assoc_io::recorder::RecordOptions::new(dir.join(format!("{name}.rec"))));
    }
    opts
}

async fn assoc_tokio_sink(
    p: Proto,
    listen: SocketAddr,
    n: usize,
    size: usize,
    dir: &std::path::Path,
) -> Res<(SocketAddr, SinkTask)> {
    let opts = with_recorder(p, assoc_options(true, p == Proto::AssocTokioTcp, listen)?, dir, "sink");
    let (ep, mut inbox, _outs) = assoc_io::tokio::Endpoint::start(opts, assoc_store(dir, "sink.redb")?).await?;
    let addr = ep.local_addr().ok_or("no local address")?;
    let task = tokio::spawn(async move {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let d = inbox.recv().await.ok_or("sink endpoint stopped")?;
            let at = Instant::now();
            if d.bytes.len() != size {
                return Err(format!("message of {} bytes, expected {size}", d.bytes.len()).into());
            }
            got.push((d.app_id as usize - 1, at));
            d.ack();
        }
        if let Ok(snap) = ep.snapshot().await {
            store_line("sink", n, &snap);
        }
        let _ = ep.shutdown().await;
        Ok(got)
    });
    Ok((addr, task))
}

async fn assoc_tokio_source(
    p: Proto,
    peer: SocketAddr,
    n: usize,
    payload: Bytes,
    dir: &std::path::Path,
    offered: mpsc::UnboundedSender<(usize, Instant)>,
) -> Res<()> {
    let opts = with_recorder(p, assoc_options(false, p == Proto::AssocTokioTcp, peer)?, dir, "source");
    let (ep, _inbox, mut outs) = assoc_io::tokio::Endpoint::start(opts, assoc_store(dir, "source.redb")?).await?;
    ep.open()?;
    let subs = submissions(n, &payload);
    let t = Instant::now();
    for i in 0..n {
        let _ = offered.send((i, t));
    }
    for r in ep.submit_many(subs).await? {
        r?;
    }
    for _ in 0..n {
        let o = outs.recv().await.ok_or("source endpoint stopped")?;
        o.ack();
    }
    if let Ok(snap) = ep.snapshot().await {
        store_line("source", n, &snap);
    }
    let _ = ep.shutdown().await;
    Ok(())
}

fn assoc_std_sink(
    tcp: bool,
    listen: SocketAddr,
    n: usize,
    size: usize,
    dir: &std::path::Path,
) -> Res<(SocketAddr, SinkTask)> {
    let opts = assoc_options(true, tcp, listen)?;
    let (ep, inbox, _outs) = assoc_io::blocking::Endpoint::start(opts, assoc_store(dir, "sink.redb")?)?;
    let addr = ep.local_addr().ok_or("no local address")?;
    let task = tokio::task::spawn_blocking(move || -> Res<Received> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let d = inbox.recv().ok_or("sink endpoint stopped")?;
            let at = Instant::now();
            if d.bytes.len() != size {
                return Err(format!("message of {} bytes, expected {size}", d.bytes.len()).into());
            }
            got.push((d.app_id as usize - 1, at));
            d.ack();
        }
        if let Ok(snap) = ep.snapshot() {
            store_line("sink", n, &snap);
        }
        let _ = ep.shutdown();
        Ok(got)
    });
    Ok((addr, task))
}

fn assoc_std_source(
    tcp: bool,
    peer: SocketAddr,
    n: usize,
    payload: Bytes,
    dir: &std::path::Path,
    offered: mpsc::UnboundedSender<(usize, Instant)>,
) -> Res<()> {
    let opts = assoc_options(false, tcp, peer)?;
    let (ep, _inbox, outs) = assoc_io::blocking::Endpoint::start(opts, assoc_store(dir, "source.redb")?)?;
    ep.open()?;
    if std::env::var_os("ASSOC_BENCH_SNAPSHOTS").is_some() {
        // Diagnostics: the sending endpoint's snapshot every second, on stderr.
        let ep = ep.clone();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let every = std::env::var("ASSOC_BENCH_SNAPSHOTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
            while let Ok(s) = ep.snapshot() {
                eprintln!("{:>6.1}s {s:?}", t0.elapsed().as_secs_f64());
                std::thread::sleep(Duration::from_secs_f64(every));
            }
        });
    }
    let subs = submissions(n, &payload);
    let t = Instant::now();
    for i in 0..n {
        let _ = offered.send((i, t));
    }
    for r in ep.submit_many(subs)? {
        r?;
    }
    for _ in 0..n {
        let o = outs.recv().ok_or("source endpoint stopped")?;
        o.ack();
    }
    if let Ok(snap) = ep.snapshot() {
        store_line("source", n, &snap);
    }
    let _ = ep.shutdown();
    Ok(())
}

// --- kernel TCP: frames of [u32 length][u64 index][payload]

async fn tcp_sink(listen: SocketAddr, n: usize, size: usize) -> Res<(SocketAddr, SinkTask)> {
    let l = tokio::net::TcpListener::bind(listen).await?;
    let addr = l.local_addr()?;
    let task = tokio::spawn(async move {
        let (s, _) = l.accept().await?;
        s.set_nodelay(true)?;
        let mut r = BufReader::with_capacity(256 * 1024, s);
        let mut got = Vec::with_capacity(n);
        let mut buf = vec![0u8; size];
        while got.len() < n {
            let len = r.read_u32().await? as usize;
            let i = r.read_u64().await? as usize;
            if len != size {
                return Err(format!("frame of {len} bytes, expected {size}").into());
            }
            r.read_exact(&mut buf).await?;
            got.push((i, Instant::now()));
        }
        Ok(got)
    });
    Ok((addr, task))
}

async fn tcp_source(
    peer: SocketAddr,
    n: usize,
    payload: Bytes,
    offered: mpsc::UnboundedSender<(usize, Instant)>,
) -> Res<()> {
    let s = tokio::net::TcpStream::connect(peer).await?;
    s.set_nodelay(true)?;
    let mut w = BufWriter::with_capacity(64 * 1024, s);
    for i in 0..n {
        let _ = offered.send((i, Instant::now()));
        w.write_u32(payload.len() as u32).await?;
        w.write_u64(i as u64).await?;
        w.write_all(&payload).await?;
    }
    w.flush().await?;
    let mut s = w.into_inner();
    s.shutdown().await?;
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await; // until the sink closes
    Ok(())
}

// --- quinn: one unidirectional stream per message, [u64 index][payload]

async fn quinn_sink(listen: SocketAddr, n: usize, size: usize, cert_path: &std::path::Path) -> Res<(SocketAddr, SinkTask)> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let cert = ck.cert.der().clone();
    std::fs::write(cert_path, &cert)?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let mut cfg = quinn::ServerConfig::with_single_cert(vec![cert], key)?;
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_uni_streams(1024u32.into());
    transport.stream_receive_window(((size + 1024).max(1 << 20) as u32).into());
    transport.receive_window((16u32 << 20).into());
    cfg.transport_config(Arc::new(transport));
    let ep = quinn::Endpoint::server(cfg, listen)?;
    let addr = ep.local_addr()?;
    let task = tokio::spawn(async move {
        let conn = ep.accept().await.ok_or("endpoint closed")?.await?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Res<(usize, Instant)>>();
        let reader = {
            let conn = conn.clone();
            tokio::spawn(async move {
                while let Ok(mut s) = conn.accept_uni().await {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let r = async {
                            let data = s.read_to_end(size + 8).await?;
                            if data.len() != size + 8 {
                                return Err(format!("stream of {} bytes, expected {}", data.len(), size + 8).into());
                            }
                            let mut idx = [0u8; 8];
                            idx.copy_from_slice(&data[..8]);
                            Ok((u64::from_be_bytes(idx) as usize, Instant::now()))
                        }
                        .await;
                        let _ = tx.send(r);
                    });
                }
            })
        };
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            got.push(rx.recv().await.ok_or("connection lost")??);
        }
        reader.abort();
        conn.close(0u32.into(), b"done");
        ep.wait_idle().await;
        Ok(got)
    });
    Ok((addr, task))
}

async fn quinn_source(
    peer: SocketAddr,
    n: usize,
    payload: Bytes,
    cert_path: &std::path::Path,
    offered: mpsc::UnboundedSender<(usize, Instant)>,
) -> Res<()> {
    // The sink writes its certificate when it starts.
    let mut cert = None;
    for _ in 0..100 {
        if let Ok(c) = std::fs::read(cert_path) {
            cert = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(cert.ok_or("no certificate from the sink")?))?;
    let mut cfg = quinn::ClientConfig::with_root_certificates(Arc::new(roots))?;
    let mut transport = quinn::TransportConfig::default();
    transport.send_window(16 << 20);
    cfg.transport_config(Arc::new(transport));
    let mut ep = quinn::Endpoint::client((Ipv4Addr::UNSPECIFIED, 0).into())?;
    ep.set_default_client_config(cfg);
    let conn = ep.connect(peer, "localhost")?.await?;
    for i in 0..n {
        let _ = offered.send((i, Instant::now()));
        let mut s = conn.open_uni().await?;
        s.write_all(&(i as u64).to_be_bytes()).await?;
        s.write_chunk(payload.clone()).await?;
        s.finish()?;
    }
    let _ = conn.closed().await;
    Ok(())
}
