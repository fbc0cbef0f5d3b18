//! Test support for ssm-runas's end-to-end tests: the fakes that stand in for what
//! cannot exist on a test machine (AWS itself, the SSM agent) and a harness for
//! users, ptys and processes that cleans up after itself.
//!
//! - [`daemon_env`]: a running ssm-runasd with users, a fake SSM and a stand-in worker.
//! - [`fake_ssm`]: a local HTTP endpoint speaking SSM's JSON 1.1 `DescribeSessions`.
//! - [`harness`]: test users, a pty, child processes, temporary files; all removed on drop.
//! - [`login_files`]: utmp, wtmp and lastlog read back, and the tests' records removed again.
//! - [`journal`]: a standalone journald in a private mount namespace, and reading records back.
pub mod daemon_env;
pub mod fake_ssm;
pub mod harness;
pub mod journal;
pub mod login_files;
