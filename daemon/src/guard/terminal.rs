//! Writing the guard's one line to a session's terminal.

use super::*;

/// Major/minor of a userspace `dev_t` (`st_rdev`).
pub(super) fn decode_rdev(d: u64) -> (u32, u32) {
    let major = ((d >> 8) & 0xfff) | ((d >> 32) & 0xffff_f000);
    let minor = (d & 0xff) | ((d >> 12) & 0xffff_ff00);
    (
        u32::try_from(major).unwrap_or(0),
        u32::try_from(minor).unwrap_or(0),
    )
}

/// Pseudo-terminal slaves (`/dev/pts/N`).
pub(super) fn is_pts(dev: (u32, u32)) -> bool {
    peer::pts_number(dev).is_some()
}

/// Opens a terminal for writing without ever blocking or becoming its controller, checks
/// it is still the device we looked at, and writes the line once.
pub(super) fn write_line(path: &Path, dev: (u32, u32)) -> bool {
    let Ok(mut f) = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    else {
        return false;
    };
    match f.metadata() {
        Ok(m) if m.file_type().is_char_device() && decode_rdev(m.rdev()) == dev => {}
        _ => return false,
    }
    f.write(TERMINAL_LINE.as_bytes()).is_ok()
}

/// Writes [`TERMINAL_LINE`] to the process's terminal: one of its fds 0–2 when it is the
/// controlling pty (or any pty when it has none), else `/dev/pts/N` from `tty_nr`.
pub(super) fn write_terminal(proc_root: &Path, pid: i32, st: &Stat) -> bool {
    let ctty = st.tty_device();
    let fd_dir = proc_root.join(pid.to_string()).join("fd");
    for fd in 0..3 {
        let p = fd_dir.join(fd.to_string());
        // `metadata` follows the fd link to the device without opening it.
        let Ok(m) = fs::metadata(&p) else { continue };
        if !m.file_type().is_char_device() {
            continue;
        }
        let dev = decode_rdev(m.rdev());
        if is_pts(dev) && ctty.is_none_or(|c| c == dev) && write_line(&p, dev) {
            return true;
        }
    }
    if let Some((dev, n)) = ctty.and_then(|d| Some((d, peer::pts_number(d)?))) {
        let p = PathBuf::from(format!("/dev/pts/{n}"));
        if let Ok(m) = fs::metadata(&p)
            && m.file_type().is_char_device()
            && decode_rdev(m.rdev()) == dev
        {
            return write_line(&p, dev);
        }
    }
    false
}
