use std::path::Path;

use super::{CameraConfig, IngestError};

/// Fills a pipeline template's `{placeholders}` for one camera. Every placeholder a template
/// uses must be known, so a typo in a template fails loudly instead of reaching GStreamer.
pub fn render_template(templates: &Path, camera: &CameraConfig) -> Result<String, IngestError> {
    let path = template_path(templates, camera);
    let text = std::fs::read_to_string(&path).map_err(|e| IngestError::Template {
        path: path.clone(),
        message: format!("cannot read it: {e}; {}", missing_template_hint(templates, camera)),
    })?;
    let body: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    let values = [
        ("url", quote(&camera.url)),
        ("location", quote(camera.file_path())),
        ("latency_ms", camera.latency_ms.to_string()),
        ("transport", camera.transport.clone()),
        ("sync", camera.realtime.to_string()),
    ];
    let decoder = camera.decoder.clone();
    let mut values = values.to_vec();
    if let Some(decoder) = decoder {
        values.push(("decoder", decoder));
    }
    fill(&body, &values).map_err(|message| IngestError::Template { path, message })
}

/// Whether the camera's template exists; if not, which key to change and to what.
pub fn check_template(templates: &Path, camera: &CameraConfig) -> Result<(), String> {
    let path = template_path(templates, camera);
    if path.is_file() {
        return Ok(());
    }
    Err(format!(
        "{} does not exist; {}",
        path.display(),
        missing_template_hint(templates, camera)
    ))
}

fn template_path(templates: &Path, camera: &CameraConfig) -> std::path::PathBuf {
    templates.join(format!("{}.pipeline", camera.template_name()))
}

/// A camera that names a template picks another one; one that relies on the default needs
/// the folder that holds Squint's templates.
fn missing_template_hint(templates: &Path, camera: &CameraConfig) -> String {
    let mut found: Vec<String> = std::fs::read_dir(templates)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".pipeline").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    let available = match found.is_empty() {
        true => format!("{} holds no templates", templates.display()),
        false => format!("templates in {}: {}", templates.display(), found.join(", ")),
    };
    match camera.template {
        Some(_) => format!(
            "{available}; set the camera's `template` to one of them, or pipeline.templates to the folder that holds {}.pipeline",
            camera.template_name()
        ),
        None => format!(
            "{available}; set pipeline.templates to Squint's pipelines/ folder (this camera uses the default template `{}`)",
            camera.template_name()
        ),
    }
}

/// Replaces `{name}` with its value; `{name:default}` falls back to `default` when the
/// camera leaves `name` unset.
fn fill(body: &str, values: &[(&str, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').ok_or("unclosed `{`")? + start;
        let (name, default) = match rest[start + 1..end].split_once(':') {
            Some((name, default)) => (name, Some(default)),
            None => (&rest[start + 1..end], None),
        };
        let value = values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, v)| v.as_str())
            .or(default)
            .ok_or_else(|| {
                format!("unknown placeholder {{{name}}}; known: url, location, latency_ms, transport, sync, decoder")
            })?;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Quotes a value for gst-launch syntax.
fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_known_placeholders() {
        let values = [("url", "\"rtsp://h/x\"".to_string()), ("latency_ms", "0".to_string())];
        assert_eq!(
            fill("rtspsrc location={url} latency={latency_ms}", &values).unwrap(),
            "rtspsrc location=\"rtsp://h/x\" latency=0"
        );
    }

    #[test]
    fn placeholder_defaults_apply_only_when_unset() {
        let set = [("decoder", "openh264dec".to_string())];
        assert_eq!(fill("! {decoder:avdec_h264} !", &set).unwrap(), "! openh264dec !");
        assert_eq!(fill("! {decoder:avdec_h264} !", &[]).unwrap(), "! avdec_h264 !");
    }

    #[test]
    fn unknown_placeholder_is_an_error() {
        let err = fill("rtspsrc location={uri}", &[]).unwrap_err();
        assert!(err.contains("{uri}"), "{err}");
    }

    #[test]
    fn quoting_escapes_quotes() {
        assert_eq!(quote(r#"a"b"#), r#""a\"b""#);
    }

    #[test]
    fn shipped_templates_render() {
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let toml = "id = \"c\"\nurl = \"rtsp://u:p@127.0.0.1:1/x\"\n";
        let mut camera: CameraConfig = toml::from_str(toml).unwrap();
        let rendered = render_template(&templates, &camera).unwrap();
        assert!(
            rendered.contains("rtspsrc") && rendered.contains("appsink name=sink"),
            "{rendered}"
        );
        camera.url = "/tmp/a b.mp4".into();
        let rendered = render_template(&templates, &camera).unwrap();
        assert!(rendered.contains("filesrc location=\"/tmp/a b.mp4\""), "{rendered}");
        for entry in std::fs::read_dir(&templates).unwrap().flatten() {
            let name = entry.path().file_stem().unwrap().to_string_lossy().into_owned();
            camera.template = Some(name.clone());
            let rendered = render_template(&templates, &camera).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(rendered.contains("appsink name=sink"), "{name}: {rendered}");
            gst::init().unwrap();
            assert!(gst::parse::launch(&rendered).is_ok(), "{name} must parse: {rendered}");
        }
    }
}
