//! The real network path: `assoc send` and `assoc serve` in two network namespaces, with
//! an `assoc relay` in a third namespace between them, joined by two veth pairs:
//!
//! ```text
//!  ns A: send 10.201.1.2 ──veth── 10.201.1.1 ns R: relay 10.201.2.1 ──veth── 10.201.2.2 ns B: serve
//! ```
//!
//! Every PDU crosses real kernel sockets and interfaces. The relay impairs both directions
//! (reordering, loss, duplication, delay, rate limit; seeded); where the kernel has
//! `sch_netem`, `tc netem` on the relay's interfaces does the impairing instead and the relay
//! only forwards. Needs root and `ip netns`; otherwise the test prints why and is skipped.
//! Namespaces (and with them the veths) are deleted afterwards; nothing is attached to the
//! host's namespace, so no traffic leaves them.
#![cfg(all(feature = "cli", target_os = "linux"))]
mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_assoc");

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Three namespaces and two veth pairs; removed on drop, with every process started in them.
struct Net {
    ns: [String; 3],
    children: Vec<Child>,
}

impl Net {
    fn create() -> Result<Net, String> {
        let n = std::process::id() % 100_000;
        let ns = [format!("assoc-{n}-a"), format!("assoc-{n}-r"), format!("assoc-{n}-b")];
        let net = Net { ns: ns.clone(), children: Vec::new() };
        for name in &ns {
            ip(&["netns", "add", name])?;
        }
        let [a, r, b] = &ns;
        let (va, vra, vb, vrb) = (format!("va{n}"), format!("vra{n}"), format!("vb{n}"), format!("vrb{n}"));
        ip(&["link", "add", &va, "netns", a, "type", "veth", "peer", "name", &vra, "netns", r])?;
        ip(&["link", "add", &vb, "netns", b, "type", "veth", "peer", "name", &vrb, "netns", r])?;
        for (space, dev, addr) in [
            (a, &va, "10.201.1.2/24"),
            (r, &vra, "10.201.1.1/24"),
            (r, &vrb, "10.201.2.1/24"),
            (b, &vb, "10.201.2.2/24"),
        ] {
            ip(&["-n", space, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", space, "link", "set", dev, "up"])?;
        }
        for space in &ns {
            ip(&["-n", space, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// Tries kernel netem on the relay's interfaces; `true` if the kernel has it.
    fn netem(&self) -> bool {
        let n = std::process::id() % 100_000;
        [format!("vra{n}"), format!("vrb{n}")].iter().all(|dev| {
            Command::new("ip")
                .args(["netns", "exec", &self.ns[1], "tc", "qdisc", "add", "dev", dev, "root", "netem"])
                .args([
                    "delay",
                    "5ms",
                    "20ms",
                    "reorder",
                    "25%",
                    "loss",
                    "5%",
                    "duplicate",
                    "2%",
                    "rate",
                    "20mbit",
                ])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    }

    fn spawn(&mut self, ns: usize, args: &[&str], log: std::path::PathBuf, stdin: Option<&[u8]>) -> usize {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns[ns], BIN]).args(args);
        let log = std::fs::File::create(log).unwrap();
        cmd.stdout(Stdio::null()).stderr(log).stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            let mut s = child.stdin.take().unwrap();
            s.write_all(input).unwrap();
        }
        self.children.push(child);
        self.children.len() - 1
    }

    fn wait(&mut self, i: usize, limit: Duration) -> Option<i32> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(s) = self.children[i].try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn terminate(&mut self, i: usize) {
        let _ = Command::new("kill").args(["-TERM", &self.children[i].id().to_string()]).status();
        if self.wait(i, Duration::from_secs(10)).is_none() {
            let _ = self.children[i].kill();
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for name in &self.ns {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

fn skip(reason: &str) {
    println!("SKIPPED netns test: {reason}");
    eprintln!("SKIPPED netns test: {reason}");
}

#[test]
fn two_processes_in_two_namespaces_through_an_impairing_relay() {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    if !root {
        return skip("not root");
    }
    let mut net = match Net::create() {
        Ok(net) => net,
        Err(e) => return skip(&format!("network namespaces unavailable ({e})")),
    };
    let dir = TempDir::new("netns");
    let psk = dir.join("psk");
    std::fs::write(&psk, b"netns-test-pre-shared-key-0123456789").unwrap();
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let kernel = net.netem();
    println!(
        "impairment: {}",
        if kernel {
            "kernel tc netem on the relay's interfaces"
        } else {
            "the relay's shim (no sch_netem in this kernel)"
        }
    );

    let serve = net.spawn(
        2,
        &["serve", "--listen", "10.201.2.2:7400", "--store", &p("b.redb"), "--out", &p("out")]
            .into_iter()
            .chain(["--name", "mta-b", "--peer", "mta-a", "--psk-file", &p("psk")])
            .collect::<Vec<_>>(),
        dir.join("serve.log"),
        None,
    );
    let mut relay_args = vec!["relay", "--listen", "10.201.1.1:7400", "--to", "10.201.2.2:7400"];
    if !kernel {
        relay_args.extend([
            "--loss",
            "5",
            "--dup",
            "2",
            "--reorder",
            "25",
            "--delay-ms",
            "5",
            "--jitter-ms",
            "20",
            "--rate-kbps",
            "20000",
            "--impair-seed",
            "9",
        ]);
    }
    let relay = net.spawn(1, &relay_args, dir.join("relay.log"), None);
    std::thread::sleep(Duration::from_millis(300));

    let sender = |net: &mut Net, extra: &[&str], stdin: Option<&[u8]>, log: &str| {
        let store = p("a.redb");
        let mut args = vec!["send", "--to", "10.201.1.1:7400", "--store", &store];
        args.extend(["--name", "mta-a", "--peer", "mta-b"]);
        let psk = p("psk");
        args.extend(["--psk-file", psk.as_str()]);
        args.extend(extra);
        let i = net.spawn(0, &args, dir.join(log), stdin);
        let code = net.wait(i, Duration::from_secs(180));
        let text = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
        assert_eq!(
            code,
            Some(0),
            "send failed:\n{text}\nrelay:\n{}",
            std::fs::read_to_string(dir.join("relay.log")).unwrap_or_default()
        );
        println!("{}", text.lines().last().unwrap_or(""));
    };
    let started = Instant::now();
    // One 1 MB message, then 300 lines.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    let big_path = p("big.bin");
    sender(&mut net, &["--file", &big_path], None, "send-file.log");
    let lines: Vec<String> = (0..300).map(|i| format!("netns line {i}")).collect();
    sender(&mut net, &[], Some((lines.join("\n") + "\n").as_bytes()), "send-lines.log");
    println!("both transfers in {:.1} s", started.elapsed().as_secs_f64());

    net.terminate(serve);
    net.terminate(relay);
    println!("relay: {}", std::fs::read_to_string(dir.join("relay.log")).unwrap_or_default().trim());
    let mut files: Vec<_> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".msg") && !n.starts_with('.'))
        .collect();
    files.sort();
    assert_eq!(files.len(), 1 + lines.len(), "every message exactly once");
    assert!(std::fs::read(dir.join("out").join(&files[0])).unwrap() == big, "the big message is identical");
    for (name, line) in files[1..].iter().zip(&lines) {
        assert_eq!(std::fs::read(dir.join("out").join(name)).unwrap(), line.as_bytes());
    }
}
