//! I/O drivers for `assoc-core` (issue 7).
//!
//! Not yet built: this crate exists so the workspace layout is fixed from day one.
