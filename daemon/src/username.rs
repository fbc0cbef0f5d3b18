//! Username template (skeleton).
