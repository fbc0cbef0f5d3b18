//! session_id (skeleton; filled in by its own change).
