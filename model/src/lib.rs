//! Model checking of the `assoc-core` state machine with stateright (issue 6).
//!
//! Not yet built: this crate exists so the workspace layout is fixed from day one.
