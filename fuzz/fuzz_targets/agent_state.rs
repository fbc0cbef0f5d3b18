//! The SSM agent's per-session state file. Written by the agent (root), but its
//! content carries names a session's starter chose, and a torn write is normal.
//! The input is `<session id>\n<file content>`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde_json::Value;
use ssm_runas::agent_state::{AgentStateError, parse_content};

fuzz_target!(|data: &[u8]| {
    let (sid, content) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"alice-0123456789abcdef0"[..], data),
    };
    let Ok(sid) = std::str::from_utf8(sid) else {
        return;
    };
    match parse_content(content, sid) {
        Ok(s) => {
            assert_eq!(s.session_id, sid);
            assert!(!s.owner.trim().is_empty());
            // Fields the parser skips are not checked for valid UTF-8 (serde_json does
            // not look inside what it ignores), so a `Value` may refuse what it accepted.
            let Ok(doc) = serde_json::from_slice::<Value>(content) else {
                return;
            };
            // Accepted only when the document really says so.
            assert_eq!(doc["DocumentType"], "StartSession");
            let info = &doc["DocumentInformation"];
            assert_eq!(info["DocumentID"], sid);
            assert_eq!(info["SessionOwner"], s.owner.as_str());
            let cfg = &doc["InstancePluginsInformation"][0]["Configuration"];
            if let Some(other) = cfg["SessionId"].as_str().filter(|x| !x.trim().is_empty()) {
                assert_eq!(other, sid);
            }
            match &s.run_as {
                Some(r) => {
                    assert!(!r.trim().is_empty());
                    assert_eq!(cfg["RunAsUser"], r.as_str());
                }
                None => assert!(
                    cfg["RunAsUser"]
                        .as_str()
                        .is_none_or(|r| r.trim().is_empty())
                ),
            }
            if let Some(d) = &s.document_name {
                assert!(!d.trim().is_empty());
            }
        }
        Err(AgentStateError::Torn) => {
            // Only empty text, or an object cut short, is "being written".
            let all_space = content.iter().all(u8::is_ascii_whitespace);
            let object = content.trim_ascii_start().first() == Some(&b'{');
            // Cut short: the JSON reader stops at the very end of the text (read as the
            // parser reads what it skips: `IgnoredAny`, no UTF-8 check). Some cut-short
            // values (a lone `-`) are reported as a syntax error at the end rather than
            // as end of input, depending on the type being read.
            let cut_short = serde_json::from_slice::<IgnoredAny>(content)
                .is_err_and(|e| e.is_eof() || at_end(content, e.line(), e.column()));
            assert!(all_space || (object && cut_short));
        }
        Err(e) => {
            assert!(!e.to_string().contains('\n') || matches!(e, AgentStateError::Unreadable(_)))
        }
    }
});

/// Whether a reader's error position (1-based line, column of the last byte read) is
/// the end of `text`.
fn at_end(text: &[u8], line: usize, column: usize) -> bool {
    let lines = 1 + text.iter().filter(|&&b| b == b'\n').count();
    let last = text.rsplit(|&b| b == b'\n').next().map_or(0, <[u8]>::len);
    line == lines && column >= last
}
