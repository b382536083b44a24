//! Operating Squint unattended: an HTTP endpoint with `/metrics` (Prometheus text format) and
//! `/health` (overall and per-camera state as JSON; 503 while any camera is down) and
//! `/cameras/{id}/snapshot.jpg` (latest frame with faces and names drawn).

mod metrics;
pub mod review;
mod snapshot;

pub use metrics::render_metrics;
pub use review::{RecentMatch, RecentMatches, Review};
pub use snapshot::Snapshots;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;

use crate::ingest::{CameraHealth, CameraState, HealthSnapshot};
use crate::publish::DeliveryStats;
use crate::stats::PipelineStats;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `host:port` to serve /metrics, /health and /review on; absent = no HTTP endpoint.
    /// Keep it on 127.0.0.1 unless a reverse proxy with TLS stands in front.
    #[serde(default)]
    pub address: Option<String>,
    /// Secret that signs the operator in to `/review`; without it the page is refused.
    #[serde(default)]
    pub token: Option<String>,
}

/// Everything the endpoint reports, shared with the pipeline's threads.
#[derive(Clone)]
pub struct Observed {
    pub cameras: Arc<CameraRegistry>,
    pub stats: Arc<PipelineStats>,
    pub delivery: Arc<DeliveryStats>,
    pub spool: Arc<crate::publish::SpoolStats>,
    pub snapshots: Arc<Snapshots>,
    pub queues: QueueDepths,
    pub review: Arc<Review>,
    /// This worker's view of its consumer group, with `[cluster]`.
    pub cluster: Option<Arc<crate::cluster::ClusterState>>,
}

/// One running camera as the endpoint reports it.
#[derive(Clone)]
pub struct ObservedCamera {
    pub id: String,
    pub health: Arc<CameraHealth>,
    /// Its frame queue, held only to read its length.
    pub frames: crossbeam_channel::Receiver<crate::types::Frame>,
    /// Its region-search counters.
    pub search: Arc<crate::detect::SearchStats>,
}

/// The cameras running now: fixed for a config file's cameras, changing as a cluster worker
/// is given and relieved of cameras.
#[derive(Default)]
pub struct CameraRegistry(std::sync::RwLock<Vec<ObservedCamera>>);

impl CameraRegistry {
    pub fn add(&self, camera: ObservedCamera) {
        if let Ok(mut cameras) = self.0.write() {
            cameras.retain(|c| c.id != camera.id);
            cameras.push(camera);
        }
    }

    pub fn remove(&self, id: &str) {
        if let Ok(mut cameras) = self.0.write() {
            cameras.retain(|c| c.id != id);
        }
    }

    pub fn all(&self) -> Vec<ObservedCamera> {
        self.0.read().map(|c| c.clone()).unwrap_or_default()
    }
}

/// Receiving ends of the pipeline's queues after the cameras', held only to read their lengths.
#[derive(Clone)]
pub struct QueueDepths {
    pub crops: Vec<crossbeam_channel::Receiver<crate::types::TrackMessage<crate::types::FaceCrop>>>,
    pub faces: crossbeam_channel::Receiver<crate::types::TrackMessage<crate::types::EmbeddedFace>>,
    pub events: crossbeam_channel::Receiver<crate::publish::Outgoing>,
}

/// States in which a camera delivers no frames through no choice of the operator.
pub fn is_down(state: CameraState) -> bool {
    matches!(
        state,
        CameraState::Failed | CameraState::Reconnecting | CameraState::Stalled
    )
}

/// The /health body and whether it is healthy.
pub fn health(cameras: &[HealthSnapshot], cluster: Option<&crate::cluster::GroupView>) -> (bool, serde_json::Value) {
    let healthy = !cameras.iter().any(|c| is_down(c.state));
    let mut body = serde_json::json!({ "status": if healthy { "ok" } else { "degraded" }, "cameras": cameras });
    if let Some(cluster) = cluster {
        body["cluster"] = serde_json::json!(cluster);
    }
    (healthy, body)
}

impl HttpConfig {
    pub(crate) fn validate(&self) -> Result<(), crate::check::KeyError> {
        use std::net::ToSocketAddrs;
        if let Some(token) = &self.token
            && token.chars().count() < 16
        {
            return Err((
                "token".into(),
                "is shorter than 16 characters; use a long random one, e.g. from `openssl rand -hex 24`".into(),
            ));
        }
        let Some(address) = &self.address else { return Ok(()) };
        match address.to_socket_addrs().map(|mut found| found.next()) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(("address".into(), format!("`{address}` resolves to no address"))),
            Err(e) => Err((
                "address".into(),
                format!("`{address}` is not host:port ({e}); e.g. \"127.0.0.1:9100\" or \"0.0.0.0:9100\""),
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("HTTP endpoint (http.address = \"{address}\"): {message}")]
pub struct HttpError {
    pub address: String,
    pub message: String,
}

/// The running endpoint; stops when dropped.
pub struct HttpEndpoint {
    pub address: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpEndpoint {
    pub fn start(address: &str, observed: Observed) -> Result<HttpEndpoint, HttpError> {
        let error = |message: String| HttpError {
            address: address.to_string(),
            message,
        };
        let server = tiny_http::Server::http(address).map_err(|e| error(e.to_string()))?;
        let bound = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| error("not an IP address".into()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || serve(&server, &observed, &flag))
            .map_err(|e| error(e.to_string()))?;
        tracing::info!(address = %bound, "serving /metrics and /health");
        Ok(HttpEndpoint {
            address: bound,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for HttpEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(server: &tiny_http::Server, observed: &Observed, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(mut request)) = server.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let path = request.url().split('?').next().unwrap_or("");
        let reply = match path == "/review" || path.starts_with("/review/") {
            true => review_reply(&mut request, &observed.review),
            false => respond(request.url(), observed),
        };
        let (status, content_type, mut body, headers) = reply;
        // Health and metrics carry camera errors and ids: never let a secret out.
        if content_type != "image/jpeg" {
            body = crate::redact::redact_credentials(&String::from_utf8_lossy(&body)).into_bytes();
        }
        let mut response = tiny_http::Response::from_data(body).with_status_code(status);
        for (name, value) in std::iter::once(("Content-Type", content_type.to_string())).chain(headers) {
            if let Ok(header) = tiny_http::Header::from_bytes(name, value) {
                response.add_header(header);
            }
        }
        if let Err(e) = request.respond(response) {
            tracing::debug!(error = %e, "HTTP client went away");
        }
    }
}

type HttpReply = (u16, &'static str, Vec<u8>, Vec<(&'static str, String)>);

/// Hands a /review request, with the headers and body the page checks, to the page.
fn review_reply(request: &mut tiny_http::Request, review: &Review) -> HttpReply {
    use std::io::Read;
    let header = |name: &'static str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_string())
    };
    let (cookie, origin, host, fetch_site) = (
        header("Cookie"),
        header("Origin"),
        header("Host"),
        header("Sec-Fetch-Site"),
    );
    let mut body = Vec::new();
    if let Err(e) = request.as_reader().take(review::MAX_BODY as u64).read_to_end(&mut body) {
        tracing::debug!(error = %e, "review request body not read");
    }
    let method = request.method().as_str().to_string();
    let url = request.url().to_string();
    let reply = review.handle(&review::PageRequest {
        method: &method,
        url: &url,
        cookie: cookie.as_deref(),
        origin: origin.as_deref(),
        host: host.as_deref(),
        fetch_site: fetch_site.as_deref(),
        body: &body,
    });
    (reply.status, reply.content_type, reply.body, reply.headers)
}

fn respond(url: &str, observed: &Observed) -> HttpReply {
    let (status, content_type, body) = respond_plain(url, observed);
    (status, content_type, body, Vec::new())
}

fn respond_plain(url: &str, observed: &Observed) -> (u16, &'static str, Vec<u8>) {
    let path = url.split('?').next().unwrap_or("");
    if let Some(camera) = path
        .strip_prefix("/cameras/")
        .and_then(|p| p.strip_suffix("/snapshot.jpg"))
    {
        return match observed.snapshots.jpeg(camera) {
            Some(Ok(jpeg)) => (200, "image/jpeg", jpeg),
            Some(Err(e)) => (500, "text/plain", format!("snapshot: {e}\n").into_bytes()),
            None => (
                404,
                "text/plain",
                format!("no frame from camera {camera} yet\n").into_bytes(),
            ),
        };
    }
    // Only these two read camera health (which also advances each camera's fps window).
    let cameras = || -> Vec<HealthSnapshot> { observed.cameras.all().iter().map(|c| c.health.snapshot()).collect() };
    match path {
        "/metrics" => (
            200,
            "text/plain; version=0.0.4",
            render_metrics(observed, &cameras()).into_bytes(),
        ),
        "/health" => {
            let cluster = observed.cluster.as_ref().map(|c| c.view());
            let (healthy, body) = health(&cameras(), cluster.as_ref());
            (
                if healthy { 200 } else { 503 },
                "application/json",
                body.to_string().into_bytes(),
            )
        }
        _ => (
            404,
            "text/plain",
            b"not found: try /metrics, /health, /review or /cameras/ID/snapshot.jpg\n".to_vec(),
        ),
    }
}
