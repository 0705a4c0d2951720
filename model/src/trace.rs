//! Readable traces: one line per action, then the sides whose state changed.

use std::fmt::Write as _;

use assoc_core::wire::{Body, Frame, Pdu};
use stateright::actor::{ActorModelAction, Id};

use crate::actor::ModelTimer;
use crate::graph::Path;
use crate::preset::{Action, AssocModel, State, NAMES};

fn name(id: Id) -> &'static str {
    NAMES.get(usize::from(id)).copied().unwrap_or("?")
}

/// Whether an action is progress (usable on an AG EF path) rather than a fault: losses,
/// crashes, link drops and dial failures are faults.
pub fn is_progress(a: &Action) -> bool {
    match a {
        ActorModelAction::Drop(_) | ActorModelAction::Crash(_) => false,
        ActorModelAction::Timeout(_, t) => !t.is_fault(),
        ActorModelAction::Deliver { .. }
        | ActorModelAction::Recover(_)
        | ActorModelAction::SelectRandom { .. } => true,
    }
}

/// A short hex form of a tag (its low 16 bits), as in the state lines.
fn t(tag: u64) -> String {
    format!("{:04x}", tag & 0xffff)
}

/// A PDU in one compact line: type, the identifiers that decide its meaning, the header.
pub fn pdu_line(p: &Pdu) -> String {
    let h = &p.header;
    let body = match &p.body {
        Body::Init(i) => format!("INIT tag_i={}", t(i.tag_i)),
        Body::Challenge(c) => format!("CHALLENGE tag_r={} for tag_i={}", t(c.tag_r), t(c.cookie.tag_i)),
        Body::Confirm(c) => {
            format!(
                "CONFIRM cookie(tag_i={} tag_r={} e{})",
                t(c.cookie.tag_i),
                t(c.cookie.tag_r),
                c.cookie.epoch
            )
        }
        Body::Accept(_) => "ACCEPT".to_string(),
        Body::Stale(s) => format!("STALE current_epoch={}", s.current_epoch),
        Body::Packet(frames) => {
            let fs: Vec<String> = frames
                .iter()
                .map(|f| match f {
                    Frame::Ack { ranges, .. } => {
                        let r: Vec<String> =
                            ranges.iter().map(|r| format!("{}..={}", r.smallest, r.largest)).collect();
                        format!("Ack[{}]", r.join(","))
                    }
                    other => format!("{other:?}"),
                })
                .collect();
            format!("PACKET pn={} [{}]", h.pn, fs.join(", "))
        }
        Body::Reset => "RESET".to_string(),
    };
    format!("{body} (dst_tag={} e{})", t(h.dst_tag), h.epoch)
}

/// One action as a line.
pub fn action_line(a: &Action) -> String {
    match a {
        ActorModelAction::Deliver { src, dst, msg } => {
            format!("{} → {} → {}", name(*src), pdu_line(msg), name(*dst))
        }
        ActorModelAction::Drop(env) => {
            format!("network loses {} → {} → {}", name(env.src), pdu_line(&env.msg), name(env.dst))
        }
        ActorModelAction::Timeout(id, t) => match t {
            ModelTimer::Core(t) => format!("{}: timer {t:?} fires", name(*id)),
            ModelTimer::Fsync => format!("{}: fsync completes", name(*id)),
            ModelTimer::LinkUp => format!("{}: bearer comes up", name(*id)),
            ModelTimer::DialFail => format!("{}: dial fails", name(*id)),
            ModelTimer::LinkDrop => format!("{}: bearer DROPS", name(*id)),
            ModelTimer::Release => format!("{}: application RELEASES the association", name(*id)),
            ModelTimer::Cancel => format!("{}: application CANCELS its first message", name(*id)),
            ModelTimer::Abort => format!("{}: application ABORTS the association", name(*id)),
            ModelTimer::Inject => {
                format!("{}: the ATTACKER replays what it last saw, from its own address", name(*id))
            }
        },
        ActorModelAction::Crash(id) => format!("{} CRASHES (records in fsync are lost)", name(*id)),
        ActorModelAction::Recover(id) => format!("{} restarts from its disk", name(*id)),
        ActorModelAction::SelectRandom { actor, random, .. } => {
            format!("{} chooses {random:?}", name(*actor))
        }
    }
}

/// The sides of a state, one line each.
pub fn side_lines(s: &State) -> Vec<String> {
    s.actor_states
        .iter()
        .enumerate()
        .map(|(i, a)| if s.crashed[i] { format!("{} CRASHED", NAMES[i]) } else { format!("{a:?}") })
        .collect()
}

/// A whole path: numbered actions, each followed by the sides it changed.
pub fn render(path: &Path<AssocModel>) -> String {
    let mut out = String::new();
    let mut prev = side_lines(&path.init);
    let _ = writeln!(out, "  initial state:");
    for l in &prev {
        let _ = writeln!(out, "       {l}");
    }
    for (n, (action, state)) in path.steps.iter().enumerate() {
        let _ = writeln!(out, "  {:>3}. {}", n + 1, action_line(action));
        let now = side_lines(state);
        for (a, b) in prev.iter().zip(&now) {
            if a != b {
                let _ = writeln!(out, "         {b}");
            }
        }
        prev = now;
    }
    let last = path.last_state();
    let _ = writeln!(out, "  final state:");
    for l in side_lines(last) {
        let _ = writeln!(out, "       {l}");
    }
    let _ = writeln!(
        out,
        "  final: {} PDUs ever sent are in the network; {}",
        last.network.len(),
        path.explorer_fragment()
    );
    out
}
