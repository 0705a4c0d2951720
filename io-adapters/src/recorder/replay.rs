//! Replay: re-run a recording through a fresh core and check every output against the
//! digests the run recorded. The first input whose answer, outputs or deadline differ is
//! reported; nothing the run did is trusted.

use std::fmt::Write as _;

use assoc_core::{ConfigError, Input, Output, Psk, Session, StoredInbound};

use super::digest::{result_code, Digest};
use super::format::{Entry, Recording, RecordingError, Start};

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The recording does not decode.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The PSK given is not the one the run used.
    #[error("the PSK given is not the one the recorded run used (fingerprint differs)")]
    WrongPsk,
    /// The recorded configuration is refused by this build's core.
    #[error("the recorded configuration is refused: {0}")]
    Config(#[from] ConfigError),
    /// The replay produced something else than the run.
    #[error("replay diverges at input {input} (incarnation {incarnation}): {what}")]
    Diverged {
        /// 1-based number of the last input fed before the difference, counted over the
        /// whole recording (as `--until` counts).
        input: u64,
        /// 0-based incarnation (session start) it belongs to.
        incarnation: usize,
        /// What differs.
        what: Divergence,
    },
}

/// What differed between the run and its replay.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Divergence {
    /// The core accepted or refused the input differently.
    #[error("the core's answer to the input differs (recorded {recorded:#x}, replayed {replayed:#x})")]
    Answer {
        /// Recorded result code (0: accepted).
        recorded: u64,
        /// Replayed result code.
        replayed: u64,
    },
    /// A different number of outputs was drained.
    #[error("{replayed} outputs drained where the run drained {recorded}")]
    OutputCount {
        /// In the run.
        recorded: u64,
        /// In the replay.
        replayed: u64,
    },
    /// The same number of outputs (and deadline) but different content.
    #[error("the drained outputs differ in content (digest {recorded:#x} vs {replayed:#x})")]
    OutputDigest {
        /// In the run.
        recorded: u64,
        /// In the replay.
        replayed: u64,
    },
    /// The session's next deadline differs after a drain.
    #[error("the next deadline differs (recorded {recorded:?}, replayed {replayed:?})")]
    Deadline {
        /// In the run.
        recorded: Option<assoc_core::Instant>,
        /// In the replay.
        replayed: Option<assoc_core::Instant>,
    },
}

/// One session incarnation being replayed.
pub struct Replayer {
    session: Session,
}

impl Replayer {
    /// Restores the session exactly as the run did: same configuration (with `psk`), store
    /// and seed.
    pub fn start(start: &Start, psk: &Psk) -> Result<Replayer, ReplayError> {
        if super::config::psk_fingerprint(psk) != start.psk_fingerprint {
            return Err(ReplayError::WrongPsk);
        }
        let config = start.config(psk.clone())?;
        let session = Session::restore(config, start.store.clone(), start.seed)?;
        Ok(Replayer { session })
    }

    /// Applies one entry: feeds an input, or drains every output (pushed to `outputs`) and
    /// checks the digest.
    pub fn apply(&mut self, entry: &Entry, outputs: &mut Vec<Output>) -> Result<(), Divergence> {
        match (entry, self.run(entry, outputs)) {
            (Entry::Input { result: recorded, .. }, Entry::Input { result: replayed, .. })
                if replayed != *recorded =>
            {
                return Err(Divergence::Answer { recorded: *recorded, replayed });
            }
            (
                Entry::Drain { outputs: count, digest, deadline },
                Entry::Drain { outputs: n, digest: d, deadline: replayed },
            ) => {
                if n != *count {
                    return Err(Divergence::OutputCount { recorded: *count, replayed: n });
                }
                if replayed != *deadline {
                    return Err(Divergence::Deadline { recorded: *deadline, replayed });
                }
                if d != *digest {
                    return Err(Divergence::OutputDigest { recorded: *digest, replayed: d });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Runs one entry and returns it as this replay produced it (its answer, or its
    /// outputs' count, digest and deadline).
    fn run(&mut self, entry: &Entry, outputs: &mut Vec<Output>) -> Entry {
        match entry {
            Entry::Input { at, input, .. } => {
                let answer = self.session.handle_input(*at, input.clone());
                Entry::Input { at: *at, input: input.clone(), result: result_code(&answer) }
            }
            Entry::Drain { .. } => {
                let mut d = Digest::default();
                let mut n = 0;
                let deadline = loop {
                    match self.session.poll_output() {
                        Output::Wait { until } => break until,
                        o => {
                            d.add(&o);
                            n += 1;
                            outputs.push(o);
                        }
                    }
                };
                d.add(&deadline);
                Entry::Drain { outputs: n, digest: d.value(), deadline }
            }
        }
    }

    /// The replayed session.
    pub fn session(&self) -> &Session {
        &self.session
    }
}

/// Where the replay is, for an observer.
pub struct Step<'a> {
    /// 0-based incarnation.
    pub incarnation: usize,
    /// Inputs fed so far, over the whole recording.
    pub inputs: u64,
    /// The entry just applied (`None`: the incarnation just started).
    pub entry: Option<&'a Entry>,
    /// The session after it.
    pub session: &'a Session,
    /// Outputs drained by it.
    pub outputs: &'a [Output],
}

/// What a replay went through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Incarnations replayed.
    pub incarnations: usize,
    /// Inputs fed.
    pub inputs: u64,
    /// Drains checked.
    pub drains: u64,
    /// Outputs checked.
    pub outputs: u64,
    /// Entries skipped because their session start was rotated away.
    pub orphaned: usize,
}

/// Replays every incarnation of `rec`, calling `observe` after each entry; stops after
/// input `until` (1-based over the whole recording) if given.
pub fn replay(
    rec: &Recording,
    psk: &Psk,
    until: Option<u64>,
    mut observe: impl FnMut(Step<'_>),
) -> Result<Summary, ReplayError> {
    let mut sum = Summary { orphaned: rec.orphaned, ..Summary::default() };
    let mut outputs = Vec::new();
    for (k, inc) in rec.incarnations.iter().enumerate() {
        let mut r = Replayer::start(&inc.start, psk)?;
        sum.incarnations += 1;
        observe(Step { incarnation: k, inputs: sum.inputs, entry: None, session: r.session(), outputs: &[] });
        for entry in &inc.entries {
            if until.is_some_and(|n| sum.inputs >= n) {
                return Ok(sum);
            }
            outputs.clear();
            let applied = r.apply(entry, &mut outputs);
            match entry {
                Entry::Input { .. } => sum.inputs += 1,
                Entry::Drain { .. } => {
                    sum.drains += 1;
                    sum.outputs += outputs.len() as u64;
                }
            }
            if let Err(what) = applied {
                return Err(ReplayError::Diverged { input: sum.inputs, incarnation: k, what });
            }
            observe(Step {
                incarnation: k,
                inputs: sum.inputs,
                entry: Some(entry),
                session: r.session(),
                outputs: &outputs,
            });
        }
    }
    Ok(sum)
}

/// Re-derives every answer and digest of `rec` from a replay of its inputs: what a run
/// with these inputs would have recorded. For tests that doctor a recording's inputs.
#[doc(hidden)]
pub fn redigest(rec: &mut Recording, psk: &Psk) -> Result<(), ReplayError> {
    let mut outputs = Vec::new();
    for inc in &mut rec.incarnations {
        let mut r = Replayer::start(&inc.start, psk)?;
        for entry in &mut inc.entries {
            outputs.clear();
            *entry = r.run(entry, &mut outputs);
        }
    }
    Ok(())
}

/// The session's state in a few lines: what `assoc replay --until` prints.
pub fn describe(s: &Session) -> String {
    let mut out = String::new();
    let st = s.store();
    let _ = writeln!(
        out,
        "{} state={:?} link={:?} epoch={}",
        s.config().local_name.as_str(),
        s.state(),
        s.link(),
        st.epoch
    );
    if let Some(a) = s.association() {
        let _ = writeln!(
            out,
            "  association: e{} {:?} tags {:04x}:{:04x}{}",
            a.id.epoch,
            a.id.role,
            a.id.local_tag & 0xffff,
            a.id.peer_tag & 0xffff,
            if a.usable { "" } else { " (not usable)" }
        );
    }
    let timers: Vec<String> = s.armed_timers().map(|(t, at)| format!("{t:?}@{}", at.as_micros())).collect();
    let _ = writeln!(out, "  timers: [{}]", timers.join(", "));
    let acked: std::collections::BTreeMap<_, _> = s.resume_points().collect();
    let _ = writeln!(out, "  outbound ({} unresolved, next msn {}):", st.outbound.len(), st.next_msn);
    for (id, m) in &st.outbound {
        let msn = m.msn.map_or(String::from("-"), |n| n.to_string());
        let acked = acked.get(id).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "    {id:?} app_id={} msn={msn} {}B acked={acked}{}",
            m.app_id,
            m.bytes.len(),
            if m.cancel.is_some() { " cancelling" } else { "" }
        );
    }
    let _ = writeln!(out, "  inbound (watermark {}):", st.watermark);
    for (msn, e) in &st.inbound {
        match e {
            StoredInbound::Partial { bytes, first } => {
                let total = first.map_or(String::from("?"), |f| f.total_len.to_string());
                let _ = writeln!(out, "    msn{msn}: {}/{total}B", bytes.len());
            }
            StoredInbound::Resolved(r) => {
                let _ = writeln!(out, "    msn{msn}: {r:?}");
            }
        }
    }
    let _ = writeln!(out, "  outputs pending: {}", s.pending_outputs());
    out
}

/// The input an entry feeds, if it is one (for printing).
pub fn input_of(entry: &Entry) -> Option<&Input> {
    match entry {
        Entry::Input { input, .. } => Some(input),
        Entry::Drain { .. } => None,
    }
}
