//! `/proc/<pid>/stat`: field 2 is the process name, which any process sets itself
//! (`prctl(PR_SET_NAME)`, `exec -a`), so a landing user controls it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssm_runas::peer::parse_stat;

fn num(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 4];
    for (i, v) in x.iter_mut().enumerate() {
        *v = b.get(at + i).copied().unwrap_or(0);
    }
    i64::from(i32::from_le_bytes(x))
}

fuzz_target!(|data: &[u8]| {
    // Anything at all, as `peer::read_small` hands it over (lossy UTF-8).
    let raw = String::from_utf8_lossy(data);
    let _ = parse_stat(&raw);

    // A kernel-shaped line whose name is the input: the name must never change a field.
    let Some((&state, rest)) = data.split_first() else {
        return;
    };
    let (nums, comm) = rest.split_at(rest.len().min(20));
    let state = b"RSDZTtXxIWPK"[usize::from(state) % 12] as char;
    let ppid = num(nums, 0);
    let pgrp = num(nums, 4);
    let sid = num(nums, 8);
    let tty = num(nums, 12);
    let start = u64::from(num(nums, 16).unsigned_abs());
    let comm = String::from_utf8_lossy(comm);
    let line = format!(
        "4242 ({comm}) {state} {ppid} {pgrp} {sid} {tty} -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 {start} 1 2 3\n"
    );
    let p = parse_stat(&line).expect("a kernel-shaped line always parses");
    assert_eq!(p.state, state);
    assert_eq!(i64::from(p.ppid), ppid);
    assert_eq!(i64::from(p.pgrp), pgrp);
    assert_eq!(i64::from(p.sid), sid);
    assert_eq!(p.starttime, start);
    // A negative tty_nr is a known open finding (issue 17): only the others are checked.
    if tty >= 0 {
        assert_eq!(i64::from(p.tty_nr), tty);
    }
});
