//! Fuzz target bodies for assoc (issue 8).
//!
//! Not yet built: this crate exists so the workspace layout is fixed from day one.
