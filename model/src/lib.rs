//! # assoc-model
//!
//! Model checking of the **shipping** `assoc-core` state machine with
//! [stateright](https://docs.rs/stateright/0.31.0) (issues 6 and 21).
//!
//! Each actor ([`actor::Side`]) *wraps* a real [`assoc_core::Session`] and drives it the
//! way an io-adapter does — there is no re-implementation of protocol logic here. The
//! network is stateright's unordered, duplicating network (reordering, duplication,
//! replay and unbounded delay in one rule), optionally lossy; the environment drops
//! links, fails dials, delays fsyncs and crashes sides between a record and its
//! durability. Time never advances: any armed timer may fire at any moment.
//!
//! Each side's application submits the preset's workload of messages at the start (and
//! again, after a crash, whatever was not yet in the session's custody); the driver
//! checks every delivery against what the peer's application submitted and keeps what
//! each application was told in a ghost that survives crashes, so the message
//! guarantees are state properties (see [`properties`]).
//!
//! Modules, one job each:
//!
//! * [`actor`] — the driver around the session (inputs, outputs, timers, disk, ghost);
//! * [`preset`] — bounds and environment of a run, and building the model;
//! * [`properties`] — the `always` / `sometimes` properties and the AG EF goal;
//! * [`compact`] — the same model with interned parts and cached session steps;
//! * [`graph`] — our own BFS over the `Model` trait: minimal traces and AG EF;
//! * [`census`] — a lean exhaustive count (fingerprints only, frontier on disk, safety
//!   checked on the fly) for presets too large for the graph pass;
//! * [`check`] — a full check: stateright's checker plus the graph pass, as a table;
//! * [`mutants`] — every hidden mutation of the core must be caught;
//! * [`walk`] — seeded random walks beyond the exhaustive bounds (uniform or guided);
//! * [`swarm`] — guided walks in shards with disjoint seeds, and the merge of their JSON;
//! * [`trace`] — readable counterexamples;
//! * [`tracecheck`] — the safety properties checked on two real endpoints' recordings.

pub mod actor;
pub mod census;
pub mod check;
pub mod compact;
pub mod graph;
pub mod mutants;
pub mod preset;
pub mod properties;
pub mod swarm;
pub mod timely;
pub mod trace;
pub mod tracecheck;
pub mod walk;
