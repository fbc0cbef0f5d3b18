//! Core of ssm-runas: configuration, owner ARN parsing, mapping rules, and (in the
//! daemon) session resolution, the socket server and the audit trail.
//!
//! Where things live:
//! - [`config`]: `/etc/ssm-runas/config.toml`, parsed and validated with file:line:column errors.
//! - [`owner`]: an SSM session `Owner` ARN becomes a typed [`owner::Principal`].
//! - [`rules`]: which Linux account a principal maps to.
//! - [`username`]: the `{user}` template's fixed rules for making a Linux user name.
pub mod config;
pub mod glob;
pub mod owner;
pub mod rules;
pub mod username;
