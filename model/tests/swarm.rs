//! The swarm flow end to end through the CLI, as a job engine runs it: two shards of
//! guided walks with disjoint seeds, each writing JSON, then `merge`.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_assoc-model"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("assoc-swarm-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs shards `0/2` and `1/2` of `preset` (optionally mutated), then merges them.
fn two_shards_then_merge(name: &str, preset: &str, mutation: Option<&str>) -> (bool, String) {
    let dir = scratch(name);
    let mut files = Vec::new();
    for i in 0..2 {
        let json = dir.join(format!("shard-{i}.json"));
        let mut cmd = bin();
        cmd.args(["simulate", "--preset", preset, "--shard", &format!("{i}/2"), "--seeds", "3"]);
        cmd.args(["--steps", "400", "--depth", "40", "--json"]).arg(&json);
        if let Some(m) = mutation {
            cmd.args(["--mutation", m]);
        }
        assert!(cmd.status().expect("run a shard").success(), "shard {i}/2 failed");
        files.push(json);
    }
    let out = bin().arg("merge").args(&files).output().expect("run merge");
    let _ = std::fs::remove_dir_all(&dir);
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn shards_merge_into_one_report_with_guided_coverage() {
    let (ok, report) = two_shards_then_merge("clean", "ci-msg", None);
    assert!(ok, "{report}");
    assert!(report.contains("2 shards, 6 seeds"), "{report}");
    assert!(report.contains("no always-property violated"), "{report}");
    let delivered = report.lines().find(|l| l.contains("every message delivered")).expect("row");
    assert!(!delivered.contains("reached by 0 of"), "guided walks reach delivery: {report}");
}

#[test]
fn a_violation_in_a_shard_fails_the_merge_with_its_trace() {
    let (ok, report) = two_shards_then_merge("mutant", "ci-two", Some("watermark-off-by-one"));
    assert!(!ok, "{report}");
    assert!(report.contains("VIOLATED"), "{report}");
    assert!(report.contains("initial state:"), "the shortest trace is printed: {report}");
}
