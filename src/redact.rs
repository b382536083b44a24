//! Removes credentials from anything that could reach a log, an error, an event, /health,
//! /metrics or a stats file, two ways:
//! - by shape: the user-info of every URL (`rtsp://user:pass@host` → `rtsp://***@host`) and
//!   credential query parameters (`?password=…`), so text Squint never configured (a
//!   GStreamer message echoing a URL) is safe too;
//! - by value: every secret the configuration holds (Kafka properties whose key names a
//!   password, secret, key, token, PEM or JAAS entry; camera passwords) is registered once at
//!   load time and replaced wherever it appears, whatever library printed it.

use std::io::Write;
use std::sync::RwLock;

/// Shorter values are not replaced by value: they would blank ordinary words in every line
/// (and a password that short is no secret anyway). URL shapes are still redacted.
const MIN_SECRET_LEN: usize = 4;

/// Lines of a multi-line secret (a PEM key) at least this long are registered on their own,
/// so a message quoting one line of it is caught too.
const MIN_SECRET_LINE_LEN: usize = 16;

/// Query parameters whose values are credentials.
const CREDENTIAL_PARAMS: [&str; 10] = [
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "auth",
];

const MASK: &str = "***";

/// Every registered secret, longest first (so a secret containing another is replaced whole).
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Whether a librdkafka property (or any `key = value` setting) holds a secret. Locations
/// and endpoint URLs name where a secret lives, not the secret, and stay readable so errors
/// about them still say which file or endpoint failed.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    if key.ends_with(".location") || key.ends_with(".url") {
        return false;
    }
    [
        "password",
        "secret",
        "key",
        "token",
        "pem",
        "jaas",
        "sasl.oauthbearer.config",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// Remembers `value` so that [`redact_credentials`] replaces it wherever it appears from now
/// on, in its raw form and as it looks inside JSON and Rust debug strings.
pub fn register_secret(value: &str) {
    let value = value.trim();
    if value.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let mut forms = vec![value.to_string()];
    if let Ok(json) = serde_json::to_string(value) {
        forms.push(json.trim_matches('"').to_string());
    }
    forms.push(format!("{value:?}").trim_matches('"').to_string());
    forms.extend(
        value
            .lines()
            .map(str::trim)
            .filter(|line| line.chars().count() >= MIN_SECRET_LINE_LEN)
            .map(str::to_string),
    );
    let Ok(mut secrets) = SECRETS.write() else { return };
    for form in forms {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Registers the password (raw and percent-decoded) and every credential query parameter
/// of a URL.
pub fn register_url_secrets(url: &str) {
    let Some((_, rest)) = url.split_once("://") else { return };
    if let Some(at) = rest.rfind('@') {
        let user_info = &rest[..at];
        if let Some((_, password)) = user_info.split_once(':') {
            register_secret(password);
            register_secret(&percent_decode(password));
        }
    }
    for (_, value) in credential_params(rest) {
        register_secret(value);
        register_secret(&percent_decode(value));
    }
}

/// Returns `text` with URL credentials and every registered secret replaced by `***`.
pub fn redact_credentials(text: &str) -> String {
    let shaped = redact_url_shapes(text);
    let Ok(secrets) = SECRETS.read() else { return shaped };
    secrets.iter().fold(shaped, |text, secret| {
        if text.contains(secret.as_str()) {
            text.replace(secret.as_str(), MASK)
        } else {
            text
        }
    })
}

/// User-info and credential parameters of each URL in free text. A URL runs to the next
/// white space or quote; its user-info runs to its last `@`, so passwords holding `/ # ? @`
/// go whole (ones holding spaces or quotes are caught by value once registered).
fn redact_url_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '<' || c == '>')
            .unwrap_or(tail.len());
        let mut url = &tail[..end];
        // Stop before the next URL glued on (`a://x,b://y`): it gets its own pass.
        if let Some(next) = url.find("://") {
            let cut = url[..next].rfind(|c: char| !c.is_ascii_alphanumeric() && c != '+' && c != '-' && c != '.');
            url = &url[..cut.map_or(next, |c| c + 1)];
        }
        let after_user_info = match url.rfind('@') {
            Some(at) => {
                out.push_str(MASK);
                &url[at..]
            }
            None => url,
        };
        out.push_str(&mask_credential_params(after_user_info));
        rest = &tail[url.len()..];
    }
    out.push_str(rest);
    out
}

/// `(name, value)` of each credential parameter in a URL's query.
fn credential_params(url: &str) -> Vec<(&str, &str)> {
    let Some((_, query)) = url.split_once('?') else {
        return Vec::new();
    };
    let query = query.split('#').next().unwrap_or("");
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, value)| !value.is_empty() && CREDENTIAL_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p)))
        .collect()
}

fn mask_credential_params(url: &str) -> String {
    let mut masked = url.to_string();
    for (name, value) in credential_params(url) {
        let pair = format!("{name}={value}");
        masked = masked.replace(&pair, &format!("{name}={MASK}"));
    }
    masked
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A writer that redacts each write before passing it on: the log output's last line of
/// defence (tracing's formatter writes each event in one call, so a secret is never split).
pub struct RedactingWriter<W: Write>(pub W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact_credentials(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Registers the values of `key = "value"` lines whose key names a secret, and the
/// credentials of URL values, read from raw TOML (one line at a time, so it works on files
/// that do not parse).
pub(crate) fn register_assigned_secrets(text: &str) {
    let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(value);
        if is_secret_key(&unquote(key)) {
            register_secret(&value);
        }
        register_url_secrets(&value);
    }
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
    fn password_with_slash_hash_or_question_mark_is_removed_whole() {
        for password in ["Pa/ss9", "Pa#ss9", "Pa?ss9", "a/b?c#d"] {
            let text = format!("error at rtsp://admin:{password}@cam.local:554/x: refused");
            let redacted = redact_credentials(&text);
            assert_eq!(redacted, "error at rtsp://***@cam.local:554/x: refused", "{password}");
        }
    }

    #[test]
    fn glued_urls_are_each_redacted() {
        let redacted = redact_credentials("rtsp://a:pw1@h1/x,rtsp://b:pw2@h2/y");
        assert_eq!(redacted, "rtsp://***@h1/x,rtsp://***@h2/y");
    }

    #[test]
    fn credential_query_parameters_are_masked() {
        let redacted = redact_credentials("rtsp://h/x?channel=1&password=Qu3ry&Token=abc#frag");
        assert_eq!(redacted, "rtsp://h/x?channel=1&password=***&Token=***#frag");
    }

    #[test]
    fn registered_secrets_are_replaced_in_every_form() {
        register_secret("Reg1stered \"quoted\" secret");
        let raw = "librdkafka: bad value Reg1stered \"quoted\" secret";
        let json = serde_json::json!({ "e": raw }).to_string();
        let debug = format!("{raw:?}");
        for text in [raw.to_string(), json, debug] {
            let redacted = redact_credentials(&text);
            assert!(!redacted.contains("Reg1stered"), "{redacted}");
        }
    }

    #[test]
    fn lines_of_a_registered_pem_are_replaced_alone() {
        register_secret("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----");
        let redacted = redact_credentials("PEM line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC is bad");
        assert_eq!(redacted, "PEM line *** is bad");
    }

    #[test]
    fn url_passwords_with_spaces_and_encodings_are_caught_by_value() {
        register_url_secrets("rtsp://admin:Sp ace%2Fd9@h/x?pwd=Qp4ss");
        let redacted = redact_credentials("failed: Sp ace%2Fd9 / Sp ace/d9 / Qp4ss");
        assert_eq!(redacted, "failed: *** / *** / ***");
    }

    #[test]
    fn short_values_are_not_registered() {
        register_secret("ab");
        assert_eq!(redact_credentials("tab stab"), "tab stab");
    }

    #[test]
    fn secret_keys_by_pattern_but_not_their_locations() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.key.pem",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "sasl.jaas.config",
            "api.token",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "ssl.key.location",
            "ssl.ca.location",
            "sasl.username",
            "security.protocol",
            "sasl.oauthbearer.token.endpoint.url",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn writer_redacts_what_passes_through() {
        register_secret("Wr1terSecret");
        let mut writer = RedactingWriter(Vec::new());
        writer.write_all(b"value Wr1terSecret at rtsp://u:p@h/x\n").unwrap();
        assert_eq!(String::from_utf8(writer.0).unwrap(), "value *** at rtsp://***@h/x\n");
    }

    #[test]
    fn leaves_plain_urls_alone() {
        let text = "rtsp://127.0.0.1:8554/scene and file:///tmp/x.mp4";
        assert_eq!(redact_credentials(text), text);
    }
}
