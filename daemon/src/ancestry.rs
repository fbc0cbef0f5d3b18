//! ancestry (skeleton; filled in by its own change).
