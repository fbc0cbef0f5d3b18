//! `zombie-leader [SECONDS]`: a process whose main thread ends with a raw `exit`
//! system call while another thread keeps running for SECONDS (default 60), printing
//! `zombie-leader: thread alive` every 200 ms. `/proc/<pid>/stat` then says `Z`
//! although the process still runs code: what a hostile landing shell can do with
//! any interpreter (`ctypes.CDLL(None).syscall(60, 0)`) to look exited to a reader
//! of the state letter alone. Test tool only.

use std::io::Write;
use std::time::{Duration, Instant};

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let worker = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            let _ = writeln!(std::io::stdout(), "zombie-leader: thread alive");
            std::thread::sleep(Duration::from_millis(200));
        }
        std::process::exit(0);
    });
    // Let the thread start, then end only the main thread (SYS_exit, not
    // SYS_exit_group): the thread group lives on without its leader.
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: exit(2) ends the calling thread only; nothing of this thread's stack is
    // used by the other thread, which owns everything it touches.
    unsafe { libc::syscall(libc::SYS_exit, 0) };
    let _ = worker.join();
}
