//! The switches in progress and the sessions they opened, keyed by the helper process
//! that asked (pid and start time, both from the kernel).
//!
//! Once the daemon has allowed a switch, the helper leaves the landing user's reach: it
//! makes its real and saved uid root too, so no landing process can signal it. From then
//! on its requests (session opened, session closed, switch failed) can no longer be tied
//! to the session by the landing-user check of [`crate::ancestry::identify`]; they are
//! tied through this table instead, filled by the allow the same process received.
//!
//! A helper that disappears without saying its session closed (SIGKILLed by root, or a
//! crash) leaves an entry behind: [`Switches::sweep`] finds it and the daemon records
//! the session's end itself.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use crate::peer;

/// A process as the kernel names it: pid and start time (clock ticks after boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessKey {
    /// Process id.
    pub pid: i32,
    /// Start time (`/proc/<pid>/stat` field 22), which tells a reused pid apart.
    pub starttime: u64,
}

impl ProcessKey {
    /// Whether this process still runs (same pid, same start time, not exited).
    pub fn alive(&self, proc_root: &Path) -> bool {
        peer::stat(proc_root, self.pid).is_ok_and(|s| s.starttime == self.starttime && !s.exited())
    }
}

/// One allowed switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// The SSM SessionId.
    pub session_id: String,
    /// The account the daemon mapped the session to.
    pub user: String,
    /// Whether the helper reported its PAM session open.
    pub opened: bool,
    /// The session's terminal (`pts/3`), read from the helper when it opened.
    pub tty: Option<String>,
}

/// A switch whose helper is gone without closing its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned {
    /// The helper that held it.
    pub helper: ProcessKey,
    /// What it was.
    pub switch: Switch,
}

/// The table. Small: one entry per live switched session on the host.
#[derive(Debug, Default)]
pub struct Switches {
    map: Mutex<HashMap<ProcessKey, Switch>>,
}

impl Switches {
    fn lock(&self) -> MutexGuard<'_, HashMap<ProcessKey, Switch>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The daemon allowed `helper` to switch `session_id` into `user`.
    pub fn allowed(&self, helper: ProcessKey, session_id: &str, user: &str) {
        let mut m = self.lock();
        let e = m.entry(helper).or_insert_with(|| Switch {
            session_id: session_id.to_owned(),
            user: user.to_owned(),
            opened: false,
            tty: None,
        });
        // A second allow for the same process (the account step) confirms the first.
        e.session_id = session_id.to_owned();
        e.user = user.to_owned();
    }

    /// The switch `helper` holds, if the daemon allowed one.
    pub fn get(&self, helper: ProcessKey) -> Option<Switch> {
        self.lock().get(&helper).cloned()
    }

    /// The helper opened its PAM session on terminal `tty`.
    pub fn opened(&self, helper: ProcessKey, tty: Option<String>) -> Option<Switch> {
        let mut m = self.lock();
        let e = m.get_mut(&helper)?;
        e.opened = true;
        e.tty = tty;
        Some(e.clone())
    }

    /// The helper closed its session, or gave up: the entry goes.
    pub fn ended(&self, helper: ProcessKey) -> Option<Switch> {
        self.lock().remove(&helper)
    }

    /// Removes the entries whose helper no longer runs and returns those that had an
    /// open session (the caller records their end). `alive` is asked once per entry.
    pub fn sweep(&self, alive: impl Fn(&ProcessKey) -> bool) -> Vec<Abandoned> {
        let mut m = self.lock();
        let gone: Vec<ProcessKey> = m.keys().filter(|k| !alive(k)).copied().collect();
        gone.into_iter()
            .filter_map(|k| {
                let s = m.remove(&k)?;
                s.opened.then_some(Abandoned {
                    helper: k,
                    switch: s,
                })
            })
            .collect()
    }

    /// How many switches are tracked.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pid: i32) -> ProcessKey {
        ProcessKey {
            pid,
            starttime: 100 + u64::try_from(pid).unwrap(),
        }
    }

    #[test]
    fn an_abandoned_open_session_is_reported_once() {
        let t = Switches::default();
        t.allowed(key(10), "alice-1", "alice");
        t.allowed(key(11), "bob-1", "bob");
        t.allowed(key(12), "carol-1", "carol");
        assert_eq!(
            t.opened(key(10), None).map(|s| s.user),
            Some("alice".into())
        );
        assert_eq!(
            t.opened(key(12), None).map(|s| s.user),
            Some("carol".into())
        );
        assert!(t.opened(key(99), None).is_none(), "never allowed");
        // carol closes normally.
        assert!(t.ended(key(12)).is_some());
        // alice's and bob's helpers die; bob never opened a session.
        let gone = t.sweep(|k| k.pid == 12);
        assert_eq!(gone.len(), 1, "{gone:?}");
        assert_eq!(gone[0].helper, key(10));
        assert_eq!(gone[0].switch.session_id, "alice-1");
        assert!(t.is_empty());
        assert!(t.sweep(|_| false).is_empty(), "reported once");
    }

    #[test]
    fn a_reused_pid_is_another_process() {
        let t = Switches::default();
        t.allowed(key(10), "alice-1", "alice");
        let reused = ProcessKey {
            pid: 10,
            starttime: 999,
        };
        assert!(t.get(reused).is_none());
        assert!(t.opened(reused, None).is_none());
        assert!(t.get(key(10)).is_some());
    }

    #[test]
    fn liveness_is_read_from_proc() {
        let me = i32::try_from(std::process::id()).unwrap();
        let st = peer::stat(Path::new("/proc"), me).unwrap();
        let k = ProcessKey {
            pid: me,
            starttime: st.starttime,
        };
        assert!(k.alive(Path::new("/proc")));
        let older = ProcessKey {
            pid: me,
            starttime: st.starttime.wrapping_sub(1),
        };
        assert!(!older.alive(Path::new("/proc")));
    }
}
