//! ssm-runas-bench (skeleton; filled in by its own change).
fn main() {}
