//! `assoc-bench peers`: many peers, one endpoint (issue #17). N peers (default 1,000) each
//! send M messages (default 10) of `--size` bytes (default 1 KiB) to one many-peer server
//! (`assoc_io::multi::Server`: one UDP socket, one database) over loopback. The N senders
//! are the same many-peer driver on a second socket (one session per peer, each with its
//! own name, key and session id), so the receiving endpoint runs N handshakes and N
//! sessions. Reported: aggregate msgs/s (first submission to the last delivery at the
//! server), handshakes/s (N over the time until every session delivered its first
//! message), and the one-session figure measured in the same run — the std driver over
//! UDP moving the same N × M messages on one session — with the ratio of the two.
//!
//! `--threads 1,2` (default `1,2`): the many-peer figure at each of these driver-thread
//! counts (`ServerOptions::threads`, the same at both ends, so one thread is one driver
//! thread per end like the one-session figure), interleaved with the one-session run in
//! every repeat, and the ratio of the last count to the first.
//!
//! `--rto-ms MS` (default 1,000, the `Config` default): both ends' `handshake_rto`. It
//! must exceed the queueing delay of the burst: all N handshakes start at once and wait
//! behind the DATA of the sessions already open, in the hub's channel (up to 8,192
//! datagrams per shard), for up to ~0.5 s on a loaded 2-core machine. A shorter RTO
//! (this bench used 200 ms) makes the initiators retransmit INITs and CONFIRMs that were
//! only queued — extra work at the worst moment (issue #17: the slow runs answered up to
//! 1,306 INITs for 1,000 peers). `ASSOC_BENCH_STATS=1` prints every 50 ms both servers'
//! counters and how long a `stats()` request waited in the channel, the spread of the
//! sessions' first deliveries, and the kernel's UDP counters before and after a run.
//!
//! Both stores run without fsync (`ASSOC_BENCH_SYNC=full` for fsync), as in `loopback`.
//! The endpoints' `max_queued_answers` and `max_live_sessions` are raised to N so a burst
//! of N INITs is answered at once rather than after the initiators' retransmissions.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use assoc_core::{Config, EndpointConfig, PeerName, Priority, Psk, Submission};
use assoc_io::multi::{Incoming, PeerEntry, Server, ServerOptions};
use assoc_io::{Database, SyncMode};
use bytes::Bytes;

use crate::{human_size, loopback_once, median, Args, Proto, Res, TempDir};

/// One many-peer run: seconds until every message was delivered, and until every
/// session delivered its first.
struct PeersRun {
    secs: f64,
    handshake_secs: f64,
    /// INITs the hub answered: N unless initiators retransmitted.
    inits: u64,
}

pub(crate) async fn peers(args: &Args) -> Res<()> {
    let n = args.num("peers", 1000)?.max(1);
    let m = args.num("messages", 10)?.max(1);
    let size = args.num("size", 1024)?;
    let repeat = args.num("repeat", 3)?.max(1);
    let rto = args.num("rto-ms", 1000)?.max(1) as u64;
    let threads: Vec<usize> = match args.get("threads") {
        None => vec![1, 2],
        Some(list) => list
            .split(',')
            .map(|t| t.parse::<usize>().map_err(|e| format!("--threads: {e}")))
            .collect::<Result<_, _>>()?,
    };
    let mut single = Vec::new();
    let (mut many, mut hs) = (vec![Vec::new(); threads.len()], vec![Vec::new(); threads.len()]);
    let mut inits = vec![Vec::new(); threads.len()];
    for _ in 0..repeat {
        let r =
            tokio::time::timeout(Duration::from_secs(600), loopback_once(Proto::AssocStdUdp, n * m, size))
                .await
                .map_err(|_| "one session: no result after 600 s")??;
        let secs = r.elapsed.as_secs_f64();
        eprintln!("  one session {}x{}: {secs:.3} s", n * m, human_size(size));
        single.push(secs);
        for (i, &t) in threads.iter().enumerate() {
            let r = tokio::task::spawn_blocking(move || peers_once(n, m, size, t, rto)).await??;
            eprintln!(
                "  {n} peers x {m}x{}, {t} thread(s): {:.3} s (handshakes {:.3} s)",
                human_size(size),
                r.secs,
                r.handshake_secs
            );
            many[i].push(r.secs);
            hs[i].push(r.handshake_secs);
            inits[i].push(r.inits);
        }
    }
    let total = (n * m) as f64;
    let one = median(single);
    println!("| workload | endpoint | msgs/s | handshakes/s | msgs/s vs one session |");
    println!("|---|---|---:|---:|---:|");
    println!(
        "| {} × {} on one session | assoc-std-udp | {:.0} | – | 1.00 |",
        n * m,
        human_size(size),
        total / one
    );
    let aggs: Vec<f64> = many.into_iter().map(median).collect();
    for ((t, agg), hs) in threads.iter().zip(&aggs).zip(hs) {
        println!(
            "| {n} peers × {m} × {} | assoc multi, {t} thread(s) (one socket, one database) | {:.0} | {:.0} | {:.2} |",
            human_size(size),
            total / agg,
            n as f64 / median(hs),
            one / agg
        );
    }
    println!();
    for (t, inits) in threads.iter().zip(&inits) {
        println!("INITs answered for {n} peers, {t} thread(s), per repeat: {inits:?} (more than {n}: retransmitted).");
    }
    if let (Some(first), Some(last)) = (aggs.first(), aggs.last()) {
        if threads.len() > 1 {
            println!();
            println!(
                "Scaling: {} threads vs {}: {:.2}× the aggregate msgs/s ({} cores visible).",
                threads[threads.len() - 1],
                threads[0],
                first / last,
                std::thread::available_parallelism().map_or(1, usize::from)
            );
        }
    }
    Ok(())
}

fn psk(i: usize) -> Res<Psk> {
    Ok(Psk::new(format!("bench-peer-{i:06}-pre-shared-key").as_bytes())?)
}

fn name(i: usize) -> Res<PeerName> {
    Ok(PeerName::new(format!("mta-{i}").as_bytes())?)
}

fn tune(mut c: Config, sid: usize, rto_ms: u64) -> Config {
    c.sid = sid as u32 + 1;
    c.params.msg_window = 256;
    c.handshake_rto = assoc_core::Duration::from_millis(rto_ms);
    c.open_backoff_start = assoc_core::Duration::from_millis(100);
    c
}

fn database(path: std::path::PathBuf) -> Res<Database> {
    let db = Database::open(path)?;
    let full = std::env::var("ASSOC_BENCH_SYNC").is_ok_and(|v| v == "full");
    db.set_sync(if full { SyncMode::Full } else { SyncMode::Os });
    Ok(db)
}

fn server(
    bind: SocketAddr,
    peers: Vec<PeerEntry>,
    db: Database,
    threads: usize,
) -> Res<(Server, assoc_io::multi::Incomings)> {
    let n = peers.len();
    let mut o = ServerOptions::new(bind, peers);
    o.threads = threads;
    o.endpoint = EndpointConfig {
        max_live_sessions: n.max(EndpointConfig::DEFAULT.max_live_sessions),
        max_queued_answers: n.max(EndpointConfig::DEFAULT.max_queued_answers),
        ..EndpointConfig::DEFAULT
    };
    Ok(Server::start(o, db)?)
}

fn peers_once(n: usize, m: usize, size: usize, threads: usize, rto_ms: u64) -> Res<PeersRun> {
    let dir = TempDir::new("peers")?;
    let hub = PeerName::new(b"hub")?;
    let local: SocketAddr = (Ipv4Addr::LOCALHOST, 0).into();
    let mut table = Vec::with_capacity(n);
    for i in 0..n {
        table.push(PeerEntry { config: tune(Config::new(hub, name(i)?, psk(i)?), i, rto_ms), addr: None });
    }
    let (hub_server, hub_in) = server(local, table, database(dir.0.join("hub.redb"))?, threads)?;
    let hub_addr = hub_server.local_addr();
    let mut table = Vec::with_capacity(n);
    for i in 0..n {
        table.push(PeerEntry {
            config: tune(Config::new(name(i)?, hub, psk(i)?), i, rto_ms),
            addr: Some(hub_addr),
        });
    }
    let (senders, _outcomes) = server(local, table, database(dir.0.join("senders.redb"))?, threads)?;
    let total = n * m;
    let receiver = std::thread::spawn(move || -> Res<(Vec<Option<Instant>>, Instant)> {
        let mut first = vec![None; n];
        let mut got = 0;
        while got < total {
            let item = hub_in
                .recv_timeout(Duration::from_secs(120))
                .map_err(|_| format!("{got} of {total} delivered"))?;
            let Incoming::Delivery { sid, delivery } = item else { continue };
            if delivery.bytes.len() != size {
                return Err(format!("message of {} bytes, expected {size}", delivery.bytes.len()).into());
            }
            let slot = first.get_mut(sid as usize - 1).ok_or("unknown session")?;
            slot.get_or_insert_with(Instant::now);
            delivery.ack();
            got += 1;
        }
        Ok((first, Instant::now()))
    });
    let payload = Bytes::from(vec![0x5a; size]);
    let udp_before = udp_snmp();
    let start = Instant::now();
    let verbose = std::env::var("ASSOC_BENCH_STATS").is_ok();
    let watch = verbose.then(|| watch(hub_server.clone(), senders.clone(), start, total));
    let subs = (0..n).flat_map(|i| {
        let payload = payload.clone();
        (0..m).map(move |k| {
            let s = Submission {
                app_id: k as u64 + 1,
                priority: Priority::Normal,
                deadline: None,
                bytes: payload.clone(),
            };
            (i as u32 + 1, s)
        })
    });
    for r in senders.submit_many(subs)? {
        r?;
    }
    let submitted = start.elapsed();
    let (first, end) = receiver.join().map_err(|_| "receiver panicked")??;
    let handshakes_done = first.iter().flatten().max().copied().ok_or("nothing delivered")?;
    let stats = hub_server.stats()?;
    if let Some(w) = watch {
        let _ = w.join();
    }
    eprintln!(
        "  hub: {} datagrams in, {} sessions restored, {} evicted, {} group commits ({:.3} per message), {} inits answered",
        stats.endpoint.datagrams_in,
        stats.endpoint.restores,
        stats.endpoint.evictions,
        stats.commits,
        stats.commits as f64 / total as f64,
        stats.endpoint.inits_answered
    );
    if verbose {
        let mut f: Vec<f64> = first.iter().flatten().map(|t| (*t - start).as_secs_f64()).collect();
        f.sort_by(f64::total_cmp);
        let q = |p: f64| f[((f.len() - 1) as f64 * p) as usize];
        eprintln!(
            "  submitted in {:.3} s; first delivery per session at p0 {:.3} p10 {:.3} p50 {:.3} p90 {:.3} p99 {:.3} p100 {:.3} s",
            submitted.as_secs_f64(),
            q(0.0),
            q(0.1),
            q(0.5),
            q(0.9),
            q(0.99),
            q(1.0)
        );
        eprintln!("  hub {stats:?}");
        eprintln!("  senders {:?}", senders.stats()?);
        eprintln!("  /proc/net/snmp before: {udp_before}\n  /proc/net/snmp after:  {}", udp_snmp());
    }
    let _ = senders.shutdown();
    let _ = hub_server.shutdown();
    Ok(PeersRun {
        secs: (end - start).as_secs_f64(),
        handshake_secs: (handshakes_done - start).as_secs_f64(),
        inits: stats.endpoint.inits_answered,
    })
}

/// Prints both servers' counters every 50 ms until the hub delivered `total`, with how
/// long each `stats()` request waited behind the shards' queued datagrams.
fn watch(hub: Server, senders: Server, start: Instant, total: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for _ in 0..200 {
            std::thread::sleep(Duration::from_millis(50));
            let t0 = Instant::now();
            let Ok(h) = hub.stats() else { break };
            let t1 = Instant::now();
            let Ok(s) = senders.stats() else { break };
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            eprintln!(
                "  {:.3} s hub (waited {:.0} ms): {} in, {} INITs answered, {} restored, {} delivered | senders (waited {:.0} ms): {} in, {} out",
                (t0 - start).as_secs_f64(),
                ms(t1 - t0),
                h.endpoint.datagrams_in,
                h.endpoint.inits_answered,
                h.endpoint.restores,
                h.delivered,
                ms(t1.elapsed()),
                s.endpoint.datagrams_in,
                s.datagrams_out
            );
            if h.delivered as usize >= total {
                break;
            }
        }
    })
}

/// The kernel's UDP counters (`RcvbufErrors`: datagrams dropped on a full receive buffer).
fn udp_snmp() -> String {
    let t = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    t.lines().rfind(|l| l.starts_with("Udp:")).unwrap_or("").to_string()
}
