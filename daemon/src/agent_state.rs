//! agent_state (skeleton; filled in by its own change).
