//! `assoc serve --peers`: one process serves a table of two peers on one socket and one
//! database; two `assoc send` processes (the one-peer flags) each deliver their lines, the
//! files land under `--out/<peer>/`, and `assoc queue` lists both sessions of the database.
//! Over UDP (one socket) and over TCP (one listener, `--bearer tcp`, two driver threads).
#![cfg(feature = "cli")]
mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{wait_for_exit as wait, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_assoc");

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn one_serve_with_a_peer_table_and_two_senders() {
    scenario(&[]);
}

#[test]
fn one_serve_with_a_peer_table_and_two_senders_over_tcp() {
    scenario(&["--bearer", "tcp"]);
}

/// `bearer`: extra flags of both `serve` and `send`.
fn scenario(bearer: &[&str]) {
    let dir = TempDir::new("cli-peers");
    std::fs::write(dir.join("a.key"), b"peer-a-pre-shared-key-0123456789\n").unwrap();
    std::fs::write(dir.join("b.key"), b"peer-b-pre-shared-key-0123456789\n").unwrap();
    std::fs::write(
        dir.join("peers.toml"),
        "[[peer]]\nname = \"mta-a\"\npsk_file = \"a.key\"\nsid = 1\n\n\
         [[peer]]\nname = \"mta-b\"\npsk_file = \"b.key\"\nsid = 2\n",
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let path = |p: &str| dir.join(p).to_str().unwrap().to_string();
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let mut serve = Command::new(BIN)
        .args(["serve", "--listen", &addr, "--store", &path("hub.redb"), "--name", "hub"])
        .args(["--peers", &path("peers.toml"), "--out", &path("inbox"), "--threads", "2"])
        .args(bearer)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    for (name, key, sid, lines) in
        [("mta-a", "a.key", "1", "one from a\ntwo from a\n"), ("mta-b", "b.key", "2", "one from b\n")]
    {
        let mut send = Command::new(BIN)
            .args(["send", "--to", &addr, "--store", &path(&format!("{name}.redb")), "--name", name])
            .args(["--peer", "hub", "--psk-file", &path(key), "--sid", sid])
            .args(bearer)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        send.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
        assert_eq!(wait(&mut send, Duration::from_secs(60)), Some(0), "{name} sends everything");
    }
    let end = Instant::now() + Duration::from_secs(30);
    while files(&dir.join("inbox/mta-a")).len() + files(&dir.join("inbox/mta-b")).len() < 3
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").args(["-INT", &serve.id().to_string()]).status();
    if wait(&mut serve, Duration::from_secs(10)).is_none() {
        let _ = serve.kill();
    }
    assert_eq!(files(&dir.join("inbox/mta-a")), ["one from a", "two from a"]);
    assert_eq!(files(&dir.join("inbox/mta-b")), ["one from b"]);
    let queue = Command::new(BIN).args(["queue", "--store", &path("hub.redb")]).output().unwrap();
    let text = String::from_utf8_lossy(&queue.stdout);
    assert!(
        text.contains("2 sessions") && text.contains("== session 1 ==") && text.contains("== session 2 =="),
        "{text}"
    );
}
