//! harness (skeleton; filled in by its own change).
