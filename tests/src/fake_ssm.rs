//! fake_ssm (skeleton; filled in by its own change).
