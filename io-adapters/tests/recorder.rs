//! The flight recorder: recorded runs replay bit-for-bit through a fresh core, and
//! damaged or doctored recordings are reported with a typed error, never a panic.
//!
//! * an in-process run of both drivers' shared engine over a lossy, reordering shim with a
//!   link drop replays identically;
//! * a CLI run whose sender and receiver are SIGKILLed and restarted (feature `cli`)
//!   replays identically, one incarnation per process start;
//! * every truncation and every single-byte corruption of a recording decodes to a typed
//!   error or replays to one; a doctored digest is reported at its input; a wrong PSK is
//!   refused.
#![cfg(feature = "std")]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assoc_core::Psk;
use assoc_io::blocking::Endpoint;
use assoc_io::recorder::{self, Divergence, Entry, RecordOptions, Recording, RecordingError, ReplayError};
use assoc_io::{Bearer, Impairment, Options, Store};
use common::*;

fn psk() -> Psk {
    Psk::new(PSK).unwrap()
}

/// Runs a recorded exchange of `n` messages each way over UDP through the lossy shim,
/// dropping the link once; returns the two recordings' paths.
fn recorded_exchange(dir: &TempDir, n: u64) -> [PathBuf; 2] {
    let (ca, cb) = configs();
    let any = "127.0.0.1:0".parse().unwrap();
    let paths = [dir.join("a.rec"), dir.join("b.rec")];
    let options = |c, bearer, i: usize| {
        let mut o = Options::new(c, bearer);
        o.impairment = Some(Impairment::lossy());
        o.impairment_seed = 40 + i as u64;
        o.seed = Some(7 + i as u64);
        o.record = Some(RecordOptions::new(&paths[i]));
        o
    };
    let store = |name: &str| Store::open(dir.join(name)).unwrap();
    let (b, b_in, b_out) =
        Endpoint::start(options(cb, Bearer::Udp { bind: any, peer: None }, 1), store("b.redb")).unwrap();
    let peer = Some(b.local_addr().unwrap());
    let (a, a_in, a_out) =
        Endpoint::start(options(ca, Bearer::Udp { bind: any, peer }, 0), store("a.redb")).unwrap();
    a.open().unwrap();
    b.open().unwrap();
    for (side, ep) in [(0, &a), (1, &b)] {
        for s in submissions(side, n) {
            ep.submit_with(s).unwrap();
        }
    }
    let end = Instant::now() + Duration::from_secs(60);
    let (mut got, mut outs, mut dropped) = ([0u64; 2], [0u64; 2], false);
    while got != [n, n] || outs != [n, n] {
        assert!(Instant::now() < end, "exchange not done: delivered {got:?}, outcomes {outs:?}");
        for (i, (inbox, outcomes)) in [(&a_in, &a_out), (&b_in, &b_out)].into_iter().enumerate() {
            for d in inbox.try_iter() {
                d.ack();
                got[i] += 1;
            }
            for o in outcomes.try_iter() {
                o.ack();
                outs[i] += 1;
            }
        }
        if !dropped && got[1] >= n / 2 {
            a.drop_link().unwrap();
            dropped = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    a.shutdown().unwrap();
    b.shutdown().unwrap();
    paths
}

fn replay_file(path: &Path) -> Result<recorder::Summary, ReplayError> {
    recorder::replay(&Recording::open(path)?, &psk(), None, |_| {})
}

#[test]
fn a_recorded_impaired_run_with_a_link_drop_replays_identically() {
    let dir = TempDir::new("rec-inproc");
    for path in recorded_exchange(&dir, 40) {
        let sum = replay_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(sum.incarnations, 1);
        assert!(sum.inputs > 80 && sum.outputs > 80, "a real run was recorded: {sum:?}");
    }
}

#[test]
fn truncated_and_corrupt_recordings_give_typed_errors_never_panics() {
    let dir = TempDir::new("rec-corrupt");
    let [a, _] = recorded_exchange(&dir, 3);
    let bytes = std::fs::read(&a).unwrap();
    let whole = Recording::decode(&[&bytes]).unwrap();
    // Every cut: a typed error, or (at an entry boundary) a shorter recording that replays.
    let mut truncated = 0;
    for len in 0..bytes.len() {
        match Recording::decode(&[&bytes[..len]]) {
            Ok(r) => {
                assert!(r.incarnations[0].entries.len() < whole.incarnations[0].entries.len());
                recorder::replay(&r, &psk(), None, |_| {}).expect("a prefix at an entry boundary replays");
            }
            Err(RecordingError::Truncated { .. }) => truncated += 1,
            Err(RecordingError::BadMagic { .. } | RecordingError::NoStart) => {
                assert!(len < 64, "cut at {len}")
            }
            Err(e) => panic!("cut at {len}: unexpected {e}"),
        }
    }
    assert!(truncated > bytes.len() / 2, "most cuts land inside an entry");
    // Every single-byte corruption: an error from decoding or replaying, or a replay that
    // still runs (the format has no checksum: a config value no input exercises, or an
    // input time moved within a timer's slack, changes no output); never a panic.
    let mut caught = 0;
    for at in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0x41;
        match Recording::decode(&[&bad]) {
            Err(_) => caught += 1,
            Ok(r) => caught += usize::from(recorder::replay(&r, &psk(), None, |_| {}).is_err()),
        }
    }
    assert!(caught > bytes.len() * 3 / 4, "only {caught} of {} corruptions noticed", bytes.len());
    assert!(matches!(
        Recording::decode(&[b"ASSOCREC\x07\x00".as_slice()]),
        Err(RecordingError::UnsupportedVersion { found: 7 })
    ));
}

#[test]
fn a_doctored_digest_is_reported_at_its_input_and_a_wrong_psk_is_refused() {
    let dir = TempDir::new("rec-doctored");
    let [a, _] = recorded_exchange(&dir, 5);
    let mut rec = Recording::open(&a).unwrap();
    // Doctor the 4th drain: the divergence is reported after the inputs before it.
    let entries = &mut rec.incarnations[0].entries;
    let (at, inputs_before) = {
        let mut drains = 0;
        let mut inputs = 0;
        let mut at = 0;
        for (i, e) in entries.iter().enumerate() {
            match e {
                Entry::Input { .. } => inputs += 1,
                Entry::Drain { .. } => {
                    drains += 1;
                    if drains == 4 {
                        at = i;
                        break;
                    }
                }
            }
        }
        (at, inputs)
    };
    if let Entry::Drain { digest, .. } = &mut entries[at] {
        *digest ^= 1;
    }
    match recorder::replay(&rec, &psk(), None, |_| {}) {
        Err(ReplayError::Diverged { input, incarnation: 0, what: Divergence::OutputDigest { .. } }) => {
            assert_eq!(input, inputs_before)
        }
        other => panic!("expected a divergence at input {inputs_before}, got {other:?}"),
    }
    let wrong = Psk::new(b"another-psk-of-32-bytes-........").unwrap();
    assert!(matches!(recorder::replay(&rec, &wrong, None, |_| {}), Err(ReplayError::WrongPsk)));
}

#[test]
fn recordings_rotate_at_their_bound_and_replay_across_parts() {
    let dir = TempDir::new("rec-rotate");
    let (ca, cb) = configs();
    let any = "127.0.0.1:0".parse().unwrap();
    let path = dir.join("a.rec");
    let mut ob = Options::new(cb, Bearer::Udp { bind: any, peer: None });
    ob.seed = Some(2);
    let (b, b_in, _b_out) = Endpoint::start(ob, Store::open(dir.join("b.redb")).unwrap()).unwrap();
    let mut oa = Options::new(ca, Bearer::Udp { bind: any, peer: Some(b.local_addr().unwrap()) });
    oa.seed = Some(1);
    // Small parts, and enough of them kept that the session start is never rotated away.
    oa.record = Some(RecordOptions { path: path.clone(), max_file_bytes: 4096, keep_files: 1000 });
    let (a, _a_in, a_out) = Endpoint::start(oa, Store::open(dir.join("a.redb")).unwrap()).unwrap();
    let n = 30;
    for s in submissions(0, n) {
        a.submit_with(s).unwrap();
    }
    for _ in 0..n {
        b_in.recv_timeout(Duration::from_secs(30)).unwrap().ack();
        a_out.recv_timeout(Duration::from_secs(30)).unwrap().ack();
    }
    a.shutdown().unwrap();
    b.shutdown().unwrap();
    let parts: Vec<_> = (1..).map(|k| dir.join(format!("a.rec.{k}"))).take_while(|p| p.exists()).collect();
    assert!(parts.len() >= 2, "rotated into several parts");
    for p in parts.iter().chain([&path]) {
        assert!(std::fs::metadata(p).unwrap().len() <= 4096 + 2048, "{} within its bound", p.display());
    }
    let sum = replay_file(&path).unwrap();
    assert_eq!((sum.incarnations, sum.orphaned), (1, 0));
    // Without its oldest part the recording has lost its session start.
    std::fs::remove_file(parts.last().unwrap()).unwrap();
    assert!(matches!(Recording::open(&path), Err(RecordingError::NoStart)));
}

/// The CLI: `assoc send` and `assoc serve`, each SIGKILLed once mid-transfer and restarted
/// on its store, over a lossy, reordering link: both recordings replay identically, one
/// incarnation per process start.
#[cfg(feature = "cli")]
#[test]
fn a_killed_and_restarted_cli_run_replays_identically() {
    use std::io::Write;
    use std::process::{Child, Command, Stdio};
    const BIN: &str = env!("CARGO_BIN_EXE_assoc");
    let dir = TempDir::new("rec-kill");
    std::fs::write(dir.join("psk"), PSK).unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let common = |cmd: &mut Command, name: &str, peer: &str, tag: &str| {
        cmd.args([
            "--store",
            dir.join(format!("{tag}.redb")).to_str().unwrap(),
            "--name",
            name,
            "--peer",
            peer,
        ])
        .args(["--psk-file", dir.join("psk").to_str().unwrap(), "--max-probes", "4"])
        .args(["--record", dir.join(format!("{tag}.rec")).to_str().unwrap()]);
    };
    let serve = |round: usize| -> Child {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--out",
            dir.join("out").to_str().unwrap(),
        ]);
        common(&mut cmd, "mta-b", "mta-a", "b");
        let log = std::fs::File::create(dir.join(format!("serve-{round}.log"))).unwrap();
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().unwrap()
    };
    let input: String = (0..400).map(|i| format!("message {i} {}\n", "x".repeat(200))).collect();
    let send = |round: usize| -> Child {
        let mut cmd = Command::new(BIN);
        cmd.args(["send", "--to", &format!("127.0.0.1:{port}")]);
        common(&mut cmd, "mta-a", "mta-b", "a");
        cmd.args(["--rate-kbps", "500", "--loss", "2", "--reorder", "10", "--jitter-ms", "5"]);
        let log = std::fs::File::create(dir.join(format!("send-{round}.log"))).unwrap();
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(log).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child
    };
    // Each kill waits until the process has recorded its start: on a loaded machine a
    // process killed before that leaves no incarnation to count.
    let rec_len = |tag: &str| std::fs::metadata(dir.join(format!("{tag}.rec"))).map_or(0, |m| m.len());
    let wait_recorded = |tag: &str, before: u64| {
        let end = Instant::now() + Duration::from_secs(30);
        while rec_len(tag) <= before {
            assert!(Instant::now() < end, "{tag} never recorded its start");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut b = serve(0);
    wait_recorded("b", 0);
    let mut a = send(0);
    wait_recorded("a", 0);
    std::thread::sleep(Duration::from_millis(300));
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    let a_before = rec_len("a");
    let mut a = send(1);
    wait_recorded("a", a_before);
    std::thread::sleep(Duration::from_millis(300));
    b.kill().unwrap();
    b.wait().unwrap();
    let b_before = rec_len("b");
    let mut b = serve(1);
    wait_recorded("b", b_before);
    let end = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = a.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "the sender did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    b.kill().unwrap();
    b.wait().unwrap();
    assert!(status.success(), "the sender reports every outcome");
    for (tag, starts) in [("a", 2), ("b", 2)] {
        let path = dir.join(format!("{tag}.rec"));
        let sum = replay_file(&path).unwrap_or_else(|e| panic!("{tag}.rec: {e}"));
        assert_eq!(sum.incarnations, starts, "{tag}: one incarnation per process start");
        // The CLI's replay agrees.
        let out = Command::new(BIN)
            .args(["replay", path.to_str().unwrap(), "--psk-file", dir.join("psk").to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("replayed identically"));
    }
}

/// Writes the fuzzer's seed recordings (`fuzz/corpus/recording/`) with the fuzz PSK: a
/// sender with one incarnation, a receiver restarted once (two incarnations), a cut copy
/// and a bare header. Run after a format change:
/// `ASSOC_WRITE_SEEDS=fuzz/corpus/recording cargo test -p assoc-io --test recorder -- --ignored seeds`
/// (relative to the workspace root).
#[test]
#[ignore = "writes files; run on demand after a recording format change"]
fn seeds_for_the_recording_fuzzer() {
    let Some(out) = std::env::var_os("ASSOC_WRITE_SEEDS") else { return };
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(out);
    let dir = TempDir::new("seeds");
    let psk = Psk::new(b"fuzz-recording-psk-of-32-bytes!!").unwrap();
    let (mut ca, mut cb) = configs();
    ca.psk = psk.clone();
    cb.psk = psk.clone();
    let any = "127.0.0.1:0".parse().unwrap();
    let rec = |name: &str| RecordOptions::new(dir.join(name));
    let options = |c: assoc_core::Config, bearer, seed: u64, name: &str| {
        let mut o = Options::new(c, bearer);
        o.seed = Some(seed);
        o.record = Some(rec(name));
        o
    };
    let b_store = dir.join("b.redb");
    let (b, b_in, _b_out) = Endpoint::start(
        options(cb.clone(), Bearer::Udp { bind: any, peer: None }, 2, "b.rec"),
        Store::open(&b_store).unwrap(),
    )
    .unwrap();
    let b_addr = b.local_addr().unwrap();
    let (a, _a_in, a_out) = Endpoint::start(
        options(ca, Bearer::Udp { bind: any, peer: Some(b_addr) }, 1, "a.rec"),
        Store::open(dir.join("a.redb")).unwrap(),
    )
    .unwrap();
    let wait = |n: usize, inbox: &assoc_io::blocking::Deliveries| {
        let end = Instant::now() + Duration::from_secs(20);
        let mut got = 0;
        while got < n {
            assert!(Instant::now() < end, "seed exchange stalled");
            if let Ok(d) = inbox.recv_timeout(Duration::from_millis(50)) {
                d.ack();
                got += 1;
            }
        }
    };
    for s in submissions(0, 2) {
        a.submit_with(s).unwrap();
    }
    wait(2, &b_in);
    b.shutdown().unwrap();
    // The receiver comes back on the same address, store and recording (appended to): a
    // second incarnation.
    let (b, b_in, _b_out) = Endpoint::start(
        options(cb, Bearer::Udp { bind: b_addr, peer: None }, 3, "b.rec"),
        Store::open(&b_store).unwrap(),
    )
    .unwrap();
    for s in submissions(0, 4).into_iter().skip(2) {
        a.submit_with(s).unwrap();
    }
    wait(2, &b_in);
    let end = Instant::now() + Duration::from_secs(20);
    let mut outcomes = 0;
    while outcomes < 4 {
        assert!(Instant::now() < end, "outcomes missing");
        if let Ok(o) = a_out.recv_timeout(Duration::from_millis(50)) {
            o.ack();
            outcomes += 1;
        }
    }
    a.shutdown().unwrap();
    b.shutdown().unwrap();
    let receiver = std::fs::read(dir.join("b.rec")).unwrap();
    // The header: magic, version, part number 0.
    let header = recorder::format::MAGIC.len() + 2;
    let sender = std::fs::read(dir.join("a.rec")).unwrap();
    for (name, bytes) in [("sender-one-incarnation", &sender), ("receiver-two-incarnations", &receiver)] {
        let rec = Recording::decode(&[bytes.as_slice()]).unwrap();
        let sum = recorder::replay(&rec, &psk, None, |_| {}).unwrap();
        assert!(sum.inputs > 5, "{name}: {sum:?}");
        assert_eq!(sum.incarnations, 1 + usize::from(name.starts_with("receiver")), "{name}");
        std::fs::write(out.join(name), bytes).unwrap();
    }
    std::fs::write(out.join("truncated"), &receiver[..600.min(receiver.len() - 1)]).unwrap();
    std::fs::write(out.join("header-only"), &sender[..header]).unwrap();
}
