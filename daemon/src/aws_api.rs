//! aws_api (skeleton; filled in by its own change).
