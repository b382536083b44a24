use std::path::Path;

use serde::Deserialize;

use crate::check::{KeyError, check_range};

#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Stable id; the Kafka key of this camera's events.
    pub id: String,
    /// `rtsp://[user:pass@]host[:port]/path`, or a video file path. Credentials are
    /// redacted everywhere Squint writes.
    pub url: String,
    /// Template name in the templates folder; default `rtsp_h264` for rtsp:// URLs, `file`
    /// otherwise.
    #[serde(default)]
    pub template: Option<String>,
    /// RTSP jitter-buffer latency.
    #[serde(default)]
    pub latency_ms: u32,
    /// RTSP transport: `tcp` or `udp`.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// No frame for this long → the pipeline is restarted (a frozen server sends nothing and
    /// GStreamer reports nothing).
    #[serde(default = "default_stall_timeout")]
    pub stall_timeout_s: f64,
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
    /// Files only: start again at the end instead of finishing.
    #[serde(default)]
    pub loop_file: bool,
    /// Files only: play at the file's frame rate instead of as fast as detection allows.
    #[serde(default)]
    pub realtime: bool,
    /// GStreamer decoder element for templates with a `{decoder}` placeholder (each template
    /// names its own default, e.g. avdec_h264).
    #[serde(default)]
    pub decoder: Option<String>,
    /// Deliver at most this many frames per second (0 = all); the rest are skipped, not queued.
    #[serde(default)]
    pub max_fps: f64,
    /// Region of interest `[x, y, width, height]` in frame pixels; faces are searched only
    /// there (coordinates in events stay those of the full frame).
    #[serde(default)]
    pub roi: Option<[u32; 4]>,
    /// Recognizer card for this camera instead of `models.recognizer`, e.g. a model adapted
    /// to it with `squint adapt`; it must embed into the same space as the default.
    #[serde(default)]
    pub recognizer: Option<std::path::PathBuf>,
    /// Face widths routed to other recognizers for this camera, replacing `models.routes`
    /// (an empty list: no routing here).
    #[serde(default)]
    pub routes: Option<Vec<crate::recognize::Route>>,
    /// This many consecutive (near-)identical frames mean the camera is frozen while still
    /// sending: the pipeline is restarted. 0 disables the check.
    #[serde(default = "default_repeat_frames")]
    pub stall_repeat_frames: u32,
}

fn default_repeat_frames() -> u32 {
    100
}

fn default_transport() -> String {
    "tcp".into()
}
fn default_stall_timeout() -> f64 {
    5.0
}
fn default_backoff_initial() -> u64 {
    500
}
fn default_backoff_max() -> u64 {
    10_000
}

impl CameraConfig {
    pub fn is_live(&self) -> bool {
        self.url.contains("://") && !self.url.starts_with("file://")
    }

    pub fn template_name(&self) -> &str {
        match &self.template {
            Some(name) => name,
            None if self.is_live() => "rtsp_h264",
            None => "file",
        }
    }

    /// File path of a file source.
    pub fn file_path(&self) -> &str {
        self.url.strip_prefix("file://").unwrap_or(&self.url)
    }

    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        if !self.is_live() && !self.url.trim().is_empty() && Path::new(self.file_path()).is_relative() {
            self.url = base.join(self.file_path()).to_string_lossy().into_owned();
        }
    }

    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        if self.id.trim().is_empty() {
            return Err(("id".into(), "must not be empty".into()));
        }
        if self.url.trim().is_empty() {
            return Err((
                "url".into(),
                "must not be empty; use rtsp://host:port/path or a file path".into(),
            ));
        }
        if self.is_live() {
            check_url(&self.url, self.template_name()).map_err(|message| ("url".to_string(), message))?;
        }
        if !matches!(self.transport.as_str(), "tcp" | "udp") {
            return Err((
                "transport".into(),
                format!("`{}` is not `tcp` or `udp`", self.transport),
            ));
        }
        check_range("stall_timeout_s", self.stall_timeout_s, 0.5, 3600.0)?;
        check_range("backoff_initial_ms", self.backoff_initial_ms, 10, 600_000)?;
        check_range(
            "backoff_max_ms",
            self.backoff_max_ms,
            self.backoff_initial_ms,
            3_600_000,
        )?;
        Ok(())
    }
}

/// Why a camera URL can never work, found before anything starts: no retry can fix it, so it
/// must not be retried as if the camera were away. The URL itself is not echoed (it may hold
/// a password).
fn check_url(url: &str, template: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(());
    };
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid_scheme {
        return Err(format!("`{scheme}` is not a URL scheme; use rtsp://host[:port]/path"));
    }
    let rtsp = ["rtsp", "rtsps", "rtspt", "rtspu", "rtsph"].contains(&scheme.to_ascii_lowercase().as_str());
    if template.starts_with("rtsp") && !rtsp {
        return Err(format!(
            "`{scheme}://` is not RTSP, which template `{template}` reads; use rtsp://host[:port]/path, or set the camera's `template` to a pipeline for this kind of source"
        ));
    }
    // The user-info runs to the last `@`: passwords may hold `/ ? # @`.
    let after_user_info = rest.rfind('@').map_or(rest, |at| &rest[at + 1..]);
    let authority = after_user_info.split(['/', '?', '#']).next().unwrap_or("");
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, tail) = v6
                .split_once(']')
                .ok_or("the IPv6 host has no closing `]`; write it as rtsp://[::1]:8554/path")?;
            match tail {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        tail.strip_prefix(':')
                            .ok_or("expected `:port` after the IPv6 host's `]`")?,
                    ),
                ),
            }
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err("the URL has no host; use rtsp://host[:port]/path".into());
    }
    if host.contains(char::is_whitespace) {
        return Err("the URL's host contains white space".into());
    }
    match port.map(|p| (p, p.parse::<u16>())) {
        Some((port, Ok(0) | Err(_))) => Err(format!("port `{port}` is not a number from 1 to 65535")),
        _ => Ok(()),
    }
}

/// Checks `[[cameras]]` tables (of a config file, or of a file for `squint cameras put` when
/// `clustered`); the key is `cameras[i].<key>`.
pub fn validate_cameras(cameras: &[CameraConfig], templates: &Path, clustered: bool) -> Result<(), KeyError> {
    let mut seen = std::collections::HashSet::new();
    for (i, camera) in cameras.iter().enumerate() {
        camera
            .validate()
            .map_err(|(key, msg)| (format!("cameras[{i}].{key}"), msg))?;
        super::check_template(templates, camera).map_err(|message| {
            let key = if camera.template.is_some() { "template" } else { "url" };
            (format!("cameras[{i}].{key}"), message)
        })?;
        if !seen.insert(camera.id.as_str()) {
            return Err((
                format!("cameras[{i}].id"),
                format!("`{}` is used by two cameras; ids must be unique", camera.id),
            ));
        }
        if let Some(routes) = &camera.routes {
            crate::recognize::validate_routes(routes)
                .map_err(|(key, msg)| (format!("cameras[{i}].routes{key}"), msg))?;
        }
        if clustered && camera.routes.is_some() {
            return Err((
                format!("cameras[{i}].routes"),
                "a camera of the cameras topic uses the models.routes of whichever worker holds it; remove the key"
                    .into(),
            ));
        }
        if clustered && camera.recognizer.is_some() {
            return Err((
                format!("cameras[{i}].recognizer"),
                "a camera of the cameras topic runs on models.recognizer of whichever worker holds it; remove the key (per-camera recognizers need a config file of their own)".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn urls_that_can_never_work_are_refused() {
        for url in [
            "rtsp://",
            "rtsp://:8554/x",
            "foo://bar/baz",
            "rtsp://[::1",
            "rtsp://h:99999/x",
            "rtsp://h:port/x",
            "1rtsp://h/x",
        ] {
            assert!(check_url(url, "rtsp_h264").is_err(), "{url}");
        }
    }

    #[test]
    fn unusual_but_valid_urls_pass() {
        for url in [
            "rtsp://127.0.0.1:8554/scene",
            "rtsp://cam.local/x",
            "rtsps://[::1]:322/x",
            "rtsp://[fe80::1]/x",
            "rtsp://admin:Pa/ss#9?q@w@10.0.0.5:554/stream?channel=1",
            "rtsp://u:p@h",
        ] {
            assert_eq!(check_url(url, "rtsp_h264"), Ok(()), "{url}");
        }
        assert_eq!(
            check_url("srt://h:9000", "srt_h264"),
            Ok(()),
            "a custom template reads its own scheme"
        );
    }

    #[test]
    fn the_error_never_repeats_the_password() {
        let error = check_url("rtsp://admin:S3cretPw@:554/x", "rtsp_h264").unwrap_err();
        assert!(!error.contains("S3cretPw"), "{error}");
    }
}
