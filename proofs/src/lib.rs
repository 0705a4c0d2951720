//! Exhaustive proofs over bounded configurations (issue 8).
//!
//! Not yet built: this crate exists so the workspace layout is fixed from day one.
