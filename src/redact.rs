//! Removes credentials from anything that could reach a log, an error, an event or health.

/// Replaces the user-info part of every URL in `text` (`rtsp://user:pass@host` →
/// `rtsp://***@host`). Works on free text, so GStreamer messages that echo a URL are safe too.
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_user_and_password() {
        assert_eq!(
            redact_credentials("rtsp://admin:s3cret@10.0.0.5:554/stream1"),
            "rtsp://***@10.0.0.5:554/stream1"
        );
    }

    #[test]
    fn strips_every_url_in_free_text() {
        let text = "could not open rtsp://a:b@h1/x, fell back to rtsp://c:d@h2/y";
        let redacted = redact_credentials(text);
        assert!(!redacted.contains("a:b") && !redacted.contains("c:d"), "{redacted}");
        assert!(redacted.contains("rtsp://***@h1/x") && redacted.contains("rtsp://***@h2/y"));
    }

    #[test]
    fn password_with_at_sign_is_removed_whole() {
        assert_eq!(redact_credentials("rtsp://u:p@ss@h/s"), "rtsp://***@h/s");
    }

    #[test]
    fn leaves_plain_urls_alone() {
        let text = "rtsp://127.0.0.1:8554/scene and file:///tmp/x.mp4";
        assert_eq!(redact_credentials(text), text);
    }
}
