//! The kernel's process-event connector (netlink, `CN_IDX_PROC`).

use super::*;

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_CN_MCAST_IGNORE: u32 = 2;
const NLMSG_HDRLEN: usize = 16;
const CN_MSG_LEN: usize = 20;
const PROC_EVENT_FORK: u32 = 0x1;
const PROC_EVENT_EXEC: u32 = 0x2;
const PROC_EVENT_UID: u32 = 0x4;
const PROC_EVENT_NONE: u32 = 0x0;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// The events the guard asks for, where the kernel can filter.
const WANTED: u32 = PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_UID;

/// A process event the guard cares about (thread-group ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// A new process (not a thread).
    Fork(i32),
    /// A process exec'd.
    Exec(i32),
    /// A process changed uid.
    Uid(i32),
    /// A process exited.
    Exit(i32),
    /// The kernel's answer to a request.
    Ack {
        /// The kernel's sequence number.
        seq: u32,
        /// The request's ack + 1.
        ack: u32,
        /// 0, or an errno.
        err: u32,
    },
}

/// A netlink socket subscribed to process events.
pub(super) struct Connector {
    fd: OwnedFd,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}
fn i32_at(b: &[u8], off: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}
fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

/// Sends a `PROC_CN_MCAST_*` request. With `filter`, the request carries a `struct
/// proc_input` (Linux 6.6+: only the events in the mask are delivered to this socket);
/// older kernels ignore such a request.
fn control(fd: BorrowedFd<'_>, op: u32, filter: Option<u32>, nonce: u32) -> io::Result<()> {
    let payload: u16 = if filter.is_some() { 8 } else { 4 };
    let total = NLMSG_HDRLEN + CN_MSG_LEN + usize::from(payload);
    let mut m = Vec::with_capacity(total);
    // struct nlmsghdr
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&std::process::id().to_ne_bytes());
    // struct cn_msg
    m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    // seq and ack: the kernel's answer carries our ack + 1.
    m.extend_from_slice(&nonce.to_ne_bytes());
    m.extend_from_slice(&nonce.to_ne_bytes());
    m.extend_from_slice(&payload.to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes());
    // enum proc_cn_mcast_op, then enum proc_cn_event (the mask)
    m.extend_from_slice(&op.to_ne_bytes());
    if let Some(mask) = filter {
        m.extend_from_slice(&mask.to_ne_bytes());
    }
    crate::sys::send(fd, &m)?;
    Ok(())
}

impl Connector {
    /// Opens the socket, joins the process-events group and asks the kernel to send
    /// events. Needs CAP_NET_ADMIN in the initial namespaces (root on the host).
    pub(super) fn open() -> io::Result<Connector> {
        // A big receive buffer makes lost events (ENOBUFS) rare under fork storms.
        let fd = crate::sys::netlink_connector(CN_IDX_PROC, 4 << 20)?;
        let c = Connector { fd };
        // Listen to everything (every kernel understands this) and wait for the
        // kernel's answer: without CAP_NET_ADMIN (before Linux 6.6) it is an error, and
        // from another user or pid namespace there is none. Answers are multicast, so
        // ours is told apart by a nonce.
        let nonce = std::process::id().rotate_left(16)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
        control(c.fd(), PROC_CN_MCAST_LISTEN, None, nonce)?;
        c.wait_ack(nonce, Duration::from_millis(500))?;
        // Then ask for only the events used: Linux 6.6+ filters per socket (threads'
        // exits and renames are many on a busy host); older kernels ignore this.
        control(
            c.fd(),
            PROC_CN_MCAST_LISTEN,
            Some(WANTED),
            nonce.wrapping_add(2),
        )?;
        Ok(c)
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Waits up to `limit` for the kernel's answer to our request `nonce`.
    fn wait_ack(&self, nonce: u32, limit: Duration) -> io::Result<()> {
        let end = Instant::now() + limit;
        let mut events = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the kernel did not answer the subscription (not in the initial namespaces?)",
                ));
            }
            let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0) {
                continue;
            }
            events.clear();
            self.drain(&mut events)?;
            for e in &events {
                // The kernel overwrites seq with its own counter; ack is ours + 1.
                if let Event::Ack { ack, err, .. } = *e
                    && ack == nonce.wrapping_add(1)
                {
                    return match err {
                        0 => Ok(()),
                        e => Err(io::Error::from_raw_os_error(
                            i32::try_from(e).unwrap_or(libc::EPERM),
                        )),
                    };
                }
            }
        }
    }

    /// Reads every pending datagram from the kernel into `out`. `Err` with `ENOBUFS`
    /// means events were lost: the caller must rescan `/proc`.
    pub(super) fn drain(&self, out: &mut Vec<Event>) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        for _ in 0..4096 {
            let (n, sender) = match crate::sys::recv_from_kernel(self.fd.as_fd(), &mut buf) {
                Ok(r) => r,
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(()),
                    Some(libc::EINTR) => continue,
                    _ => return Err(e),
                },
            };
            // Only the kernel (port 0) speaks for the kernel.
            if sender != 0 {
                continue;
            }
            parse(&buf[..n], out);
        }
        Ok(())
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        let _ = control(self.fd.as_fd(), PROC_CN_MCAST_IGNORE, None, 0);
    }
}

/// Parses the netlink messages of one datagram.
pub(super) fn parse(buf: &[u8], out: &mut Vec<Event>) {
    let mut off = 0;
    while let Some(len) = u32_at(buf, off) {
        let len = len as usize;
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            return;
        }
        let msg = &buf[off..off + len];
        if u16_at(msg, 4) == Some(libc::NLMSG_DONE as u16) {
            event(&msg[NLMSG_HDRLEN..], out);
        }
        off += (len + 3) & !3;
    }
}

/// One `struct cn_msg` carrying a `struct proc_event`.
fn event(cn: &[u8], out: &mut Vec<Event>) {
    if u32_at(cn, 0) != Some(CN_IDX_PROC) || u32_at(cn, 4) != Some(CN_VAL_PROC) {
        return;
    }
    let Some(dlen) = u16_at(cn, 16) else { return };
    let Some(ev) = cn.get(CN_MSG_LEN..CN_MSG_LEN + dlen as usize) else {
        return;
    };
    // struct proc_event: what @0, cpu @4, timestamp_ns @8, event_data @16.
    let d = 16;
    let e = match u32_at(ev, 0) {
        Some(PROC_EVENT_FORK) => match (i32_at(ev, d + 8), i32_at(ev, d + 12)) {
            (Some(pid), Some(tgid)) if pid == tgid => Event::Fork(tgid),
            _ => return,
        },
        Some(PROC_EVENT_EXEC) => match i32_at(ev, d + 4) {
            Some(tgid) => Event::Exec(tgid),
            None => return,
        },
        Some(PROC_EVENT_UID) => match i32_at(ev, d + 4) {
            Some(tgid) => Event::Uid(tgid),
            None => return,
        },
        Some(PROC_EVENT_NONE) => match (u32_at(cn, 8), u32_at(cn, 12), u32_at(ev, d)) {
            (Some(seq), Some(ack), Some(err)) => Event::Ack { seq, ack, err },
            _ => return,
        },
        Some(PROC_EVENT_EXIT) => match (i32_at(ev, d), i32_at(ev, d + 4)) {
            (Some(pid), Some(tgid)) if pid == tgid => Event::Exit(tgid),
            _ => return,
        },
        _ => return,
    };
    out.push(e);
}

#[cfg(test)]
pub(super) fn fake_event(what: u32, data: &[i32]) -> Vec<u8> {
    let mut ev = Vec::new();
    ev.extend_from_slice(&what.to_ne_bytes());
    ev.extend_from_slice(&0u32.to_ne_bytes());
    ev.extend_from_slice(&0u64.to_ne_bytes());
    for x in data {
        ev.extend_from_slice(&x.to_ne_bytes());
    }
    let total = NLMSG_HDRLEN + CN_MSG_LEN + ev.len();
    let mut m = Vec::new();
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
    m.extend_from_slice(&[0; 10]);
    m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&(ev.len() as u16).to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&ev);
    m
}
