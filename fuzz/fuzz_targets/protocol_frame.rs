//! Frames on the daemon's socket: requests from the PAM module and the switch helper
//! (running in a hostile landing session), answers read by them.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use serde::{Serialize, de::DeserializeOwned};
use ssm_runas_protocol::{
    FrameError, MAX_FRAME, Request, Response, check_len, decode, encode, read_frame,
};

/// Reads one frame from `stream` as `T`; whatever decodes must re-encode into a frame
/// that decodes to the same value.
fn one<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    stream: &[u8],
    payload: &[u8],
) {
    // A whole stream, length prefix included.
    let got = read_frame::<_, T>(&mut Cursor::new(stream));
    if let Some(prefix) = stream.get(..4) {
        let announced = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if announced > MAX_FRAME {
            assert!(matches!(got, Err(FrameError::TooLarge(n)) if n == announced));
        } else if stream.len() - 4 < announced {
            assert!(matches!(got, Err(FrameError::Closed)));
        }
    }
    if let Ok(v) = got {
        round_trip(&v);
    }
    // A payload on its own, as the daemon's async reader hands it over.
    if let Ok(v) = decode::<T>(payload) {
        round_trip(&v);
    }
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) {
    let frame = match encode(v) {
        Ok(f) => f,
        // Re-encoding may only fail by being too large (escapes can grow a string).
        Err(FrameError::TooLarge(_)) => return,
        Err(e) => panic!("a decoded message does not encode again: {e}"),
    };
    let len = frame.get(..4).map(|p| check_len([p[0], p[1], p[2], p[3]]));
    assert!(matches!(len, Some(Ok(n)) if n + 4 == frame.len()));
    let again: T = read_frame(&mut Cursor::new(&frame)).expect("re-encoded frame decodes");
    assert_eq!(&again, v);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // Bit 1 set: `rest` is a whole stream; clear: it is a payload, framed here.
    let framed;
    let (stream, payload) = if mode & 2 != 0 {
        (rest, rest.get(4..).unwrap_or_default())
    } else {
        let mut f = (rest.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(rest);
        framed = f;
        (&framed[..], rest)
    };
    if mode & 1 == 0 {
        one::<Request>(stream, payload);
    } else {
        one::<Response>(stream, payload);
    }
});
