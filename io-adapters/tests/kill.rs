//! Crash test with real processes: `assoc serve` and `assoc send` run as child processes
//! on loopback; one of them is SIGKILLed at random points during a transfer and restarted
//! on the same store, several times. Afterwards every message is in the receiver's output
//! directory exactly once with identical bytes, and the sender reports every outcome.
#![cfg(feature = "cli")]
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{wait_for_exit as wait, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_assoc");

/// A small seeded generator for kill times.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Setup<'a> {
    dir: &'a TempDir,
    port: u16,
}

impl Setup<'_> {
    fn common(&self, cmd: &mut Command, name: &str, peer: &str, store: &str) {
        cmd.args(["--store", self.dir.join(store).to_str().unwrap(), "--name", name, "--peer", peer]).args([
            "--psk-file",
            self.dir.join("psk").to_str().unwrap(),
            "--max-probes",
            "4",
        ]);
    }

    fn serve(&self, round: usize) -> Child {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--out", self.dir.join("out").to_str().unwrap()]);
        self.common(&mut cmd, "mta-b", "mta-a", "b.redb");
        let log = std::fs::File::create(self.dir.join(format!("serve-{round}.log"))).unwrap();
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().unwrap()
    }

    fn send(&self, round: usize, input: &[u8], file: Option<&Path>) -> Child {
        let mut cmd = Command::new(BIN);
        cmd.args(["send", "--to", &format!("127.0.0.1:{}", self.port)]);
        if let Some(f) = file {
            cmd.args(["--file", f.to_str().unwrap()]);
        }
        self.common(&mut cmd, "mta-a", "mta-b", "a.redb");
        // A slow, lossy link so that the kills land in the middle of the transfer.
        cmd.args(["--rate-kbps", "2000", "--loss", "2", "--reorder", "10", "--jitter-ms", "5"]);
        let log = std::fs::File::create(self.dir.join(format!("send-{round}.log"))).unwrap();
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(log).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        child
    }
}

fn logs(dir: &TempDir) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "log") {
            out += &format!(
                "--- {}\n{}",
                e.path().display(),
                std::fs::read_to_string(e.path()).unwrap_or_default()
            );
        }
    }
    out
}

/// Files in the output directory: app id → (msn, bytes). Panics on a duplicate app id.
fn received(dir: &Path) -> BTreeMap<u64, (u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".msg").filter(|_| !name.starts_with('.')) else { continue };
        let (msn, app_id) = stem.split_once('-').unwrap();
        let (msn, app_id): (u64, u64) = (msn.parse().unwrap(), app_id.parse().unwrap());
        let bytes = std::fs::read(e.path()).unwrap();
        assert!(out.insert(app_id, (msn, bytes)).is_none(), "app id {app_id} delivered twice");
    }
    out
}

/// Runs one transfer while killing a process `kills` times at random moments, then waits
/// (bounded) for `expect` messages in the receiver's output directory before stopping it.
/// Returns how many kills hit a running transfer.
fn transfer_with_kills(
    setup: &Setup<'_>,
    rng: &mut Lcg,
    input: &[u8],
    file: Option<&Path>,
    kills: usize,
    expect: usize,
) -> usize {
    let mut serve = setup.serve(0);
    let mut send = setup.send(0, input, file);
    let mut hits = 0;
    let parity = rng.next(2) as usize;
    for round in 1..=kills {
        std::thread::sleep(Duration::from_millis(200 + rng.next(700)));
        // Alternate victims, so both the sender and the receiver die several times.
        let victim_is_sender = (round + parity) % 2 == 0;
        let victim = if victim_is_sender { &mut send } else { &mut serve };
        if victim.try_wait().unwrap().is_some() {
            continue; // already finished
        }
        victim.kill().unwrap(); // SIGKILL
        victim.wait().unwrap();
        hits += 1;
        eprintln!("round {round}: killed the {}", if victim_is_sender { "sender" } else { "receiver" });
        if victim_is_sender {
            send = setup.send(round, input, file);
        } else {
            serve = setup.serve(round);
        }
    }
    let code = wait(&mut send, Duration::from_secs(180));
    if code != Some(0) {
        let _ = send.kill();
        let _ = serve.kill();
        panic!("sender ended with {code:?}\n{}", logs(setup.dir));
    }
    // The sender's outcomes say the messages are durable at the receiver, not yet handed
    // to its application: `serve` writes them out as its driver delivers them (and hands
    // over at its next start whatever is still in the inbox at a stop). Wait for the
    // files, then stop it gracefully (SIGTERM).
    let end = Instant::now() + Duration::from_secs(60);
    while received(&setup.dir.join("out")).len() < expect && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").args(["-TERM", &serve.id().to_string()]).status();
    if wait(&mut serve, Duration::from_secs(10)).is_none() {
        let _ = serve.kill();
    }
    hits
}

#[test]
fn sigkill_at_random_points_loses_and_duplicates_nothing() {
    let dir = TempDir::new("kill");
    std::fs::write(dir.join("psk"), b"kill-test-pre-shared-key-0123456789\n").unwrap();
    let setup = Setup { dir: &dir, port: free_udp_port() };
    let mut rng = Lcg(std::env::var("ASSOC_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7));

    // Phase 1: 2,000 small messages (stdin lines).
    let lines: Vec<String> = (0..2000).map(|i| format!("line {i} {}", "x".repeat(i % 197))).collect();
    let input = lines.join("\n") + "\n";
    let started = Instant::now();
    let hits = transfer_with_kills(&setup, &mut rng, input.as_bytes(), None, 6, lines.len());
    assert!(hits >= 4, "only {hits} kills landed during the transfer");
    let got = received(&dir.join("out"));
    assert_eq!(got.len(), lines.len(), "every line delivered exactly once");
    let first = *got.keys().next().unwrap();
    let mut last_msn = None;
    for (app_id, (msn, bytes)) in &got {
        assert_eq!(bytes, lines[(app_id - first) as usize].as_bytes(), "bytes of app id {app_id}");
        assert!(last_msn < Some(*msn), "msn order follows submission order here");
        last_msn = Some(*msn);
    }
    eprintln!(
        "phase 1: {} messages with {hits} kills in {:.1} s",
        lines.len(),
        started.elapsed().as_secs_f64()
    );

    // Phase 2: one 3 MB message, killed while it is partially received.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let big_path = dir.join("big.bin");
    std::fs::write(&big_path, &big).unwrap();
    let started = Instant::now();
    let hits = transfer_with_kills(&setup, &mut rng, b"", Some(&big_path), 4, lines.len() + 1);
    assert!(hits >= 3, "only {hits} kills landed during the transfer");
    let got = received(&dir.join("out"));
    assert_eq!(got.len(), lines.len() + 1, "the big message arrived once");
    let (_, (_, bytes)) = got.iter().next_back().unwrap();
    assert!(bytes == &big, "big message identical");
    eprintln!("phase 2: 3 MB with {hits} kills in {:.1} s", started.elapsed().as_secs_f64());

    // The stores agree: nothing queued, nothing waiting in the inbox.
    let out =
        Command::new(BIN).args(["queue", "--store", dir.join("a.redb").to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("queue: 0 messages"), "{text}");
    let out =
        Command::new(BIN).args(["queue", "--store", dir.join("b.redb").to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("inbox: 0 delivered"), "{text}");
}
