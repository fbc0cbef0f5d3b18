//! Core of ssm-runas: configuration, owner ARN parsing, mapping rules, and (in the
//! daemon) session resolution, the socket server and the audit trail.
//!
//! Where things live:
//! - [`config`]: `/etc/ssm-runas/config.toml`, parsed and validated with file:line:column errors.
//! - [`owner`]: an SSM session `Owner` ARN becomes a typed [`owner::Principal`].
//! - [`rules`]: which Linux account a principal maps to.
//! - [`username`]: the `{user}` template's fixed rules for making a Linux user name.
//! - [`session_id`]: what a well-formed SessionId / instance id looks like.
//! - [`peer`]: who is at the other end of the socket (`SO_PEERCRED`, pidfd, start time).
//! - [`ancestry`]: walking `/proc` from the peer to its verified session worker.
//! - [`agent_state`]: reading the agent's per-session state file.
//! - [`aws_api`]: `DescribeSessions` with batching, single-flight, backoff and a cache.
//! - [`audit`]: one structured record per decision (journald, or JSON lines).
//! - [`service`]: the daemon's decision for one request, and its counters.
//! - [`switches`]: allowed switches by helper process, and sessions whose helper vanished.
//! - [`server`]: the Unix socket, frames, timeouts and the connection bound.
//! - [`login_records`]: closes the utmp entries of switched sessions that are gone.
//! - [`sys`]: the C library calls nix does not wrap (utmp).
// Product code never panics on purpose: errors are values (tests may unwrap).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
pub mod agent_state;
pub mod ancestry;
pub mod audit;
pub mod aws_api;
pub mod config;
pub mod glob;
pub mod guard;
pub mod login_records;
pub mod owner;
pub mod peer;
pub mod rules;
pub mod server;
pub mod service;
pub mod session_id;
pub mod switches;
pub mod sys;
pub mod username;
