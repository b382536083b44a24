//! `/review`: a page for the operator to look at the strangers `[unknowns]` clustered and at
//! recent matches, and to act on them — promote a stranger to an identity, ignore one, merge
//! two, mark a match as the wrong person (a negative). Plain server-rendered HTML that works
//! on a phone and loads nothing from elsewhere.
//!
//! Nothing is shown without `[http] token`: the operator signs in with it once (a session
//! cookie, HttpOnly and SameSite=Strict, valid until Squint restarts). Every action is a POST
//! that must carry the session cookie and the page's form token, and must come from the
//! page's own origin (`Origin` and `Sec-Fetch-Site`), so another site cannot act through
//! the operator's browser.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use html_escape::encode_text as text;
use subtle::ConstantTimeEq;

use crate::gallery::{Gallery, GalleryError, StoredUnknown};
use crate::unknowns::actions;

/// Confirmed matches kept for review.
const RECENT_KEPT: usize = 30;
/// Largest request body read (form posts are tiny).
pub const MAX_BODY: usize = 64 * 1024;
const SESSION_COOKIE: &str = "squint_review";

/// One confirmed match, for "wrong person".
#[derive(Debug, Clone)]
pub struct RecentMatch {
    pub identity: String,
    pub camera_id: String,
    pub track_id: String,
    pub at_ms: u64,
    pub similarity: f32,
    pub face_jpeg: Option<Vec<u8>>,
    /// The track's template: what becomes the identity's negative.
    pub template: Vec<f32>,
}

/// The latest confirmed matches, newest last, each with a number for its form.
#[derive(Default)]
pub struct RecentMatches(Mutex<(u64, VecDeque<(u64, RecentMatch)>)>);

impl RecentMatches {
    pub fn push(&self, recent: RecentMatch) {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (next, list) = &mut *guard;
        *next += 1;
        list.push_back((*next, recent));
        while list.len() > RECENT_KEPT {
            list.pop_front();
        }
    }

    fn snapshot(&self) -> Vec<(u64, RecentMatch)> {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard.1.iter().rev().cloned().collect()
    }

    fn take(&self, n: u64) -> Option<RecentMatch> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let at = guard.1.iter().position(|(k, _)| *k == n)?;
        guard.1.remove(at).map(|(_, m)| m)
    }

    fn face(&self, n: u64) -> Option<Vec<u8>> {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard.1.iter().find(|(k, _)| *k == n)?.1.face_jpeg.clone()
    }
}

/// The parts of an HTTP request the page looks at.
#[derive(Debug, Default)]
pub struct PageRequest<'a> {
    pub method: &'a str,
    /// Path and query, as requested.
    pub url: &'a str,
    pub cookie: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub host: Option<&'a str>,
    pub fetch_site: Option<&'a str>,
    pub body: &'a [u8],
}

/// A response: status, content type, extra headers, body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    fn html(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            headers: page_headers(),
            body: body.into_bytes(),
        }
    }

    fn jpeg(jpeg: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            content_type: "image/jpeg",
            headers: vec![("Cache-Control", "no-store".into())],
            body: jpeg,
        }
    }

    fn see_other(location: String) -> Reply {
        Reply {
            status: 303,
            content_type: "text/plain",
            headers: vec![("Location", location), ("Cache-Control", "no-store".into())],
            body: Vec::new(),
        }
    }

    fn refused(status: u16, why: &str) -> Reply {
        Reply::html(status, shell("Refused", &format!("<p class=err>{}</p>", text(why))))
    }
}

/// No framing, nothing loaded from elsewhere, forms only back to this page.
fn page_headers() -> Vec<(&'static str, String)> {
    vec![
        (
            "Content-Security-Policy",
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'".into(),
        ),
        ("X-Content-Type-Options", "nosniff".into()),
        ("Referrer-Policy", "same-origin".into()),
        ("Cache-Control", "no-store".into()),
    ]
}

pub struct Review {
    gallery: PathBuf,
    token: Option<String>,
    /// Cookie value of a signed-in browser; new at every start.
    session: String,
    /// Hidden field every action form carries; new at every start.
    form_token: String,
    pub recent: RecentMatches,
}

impl Review {
    pub fn new(gallery: PathBuf, token: Option<String>) -> Review {
        Review {
            gallery,
            token,
            session: uuid::Uuid::new_v4().simple().to_string(),
            form_token: uuid::Uuid::new_v4().simple().to_string(),
            recent: RecentMatches::default(),
        }
    }

    pub fn handle(&self, request: &PageRequest) -> Reply {
        let Some(token) = self.token.as_deref() else {
            return Reply::refused(
                403,
                "The review page shows faces and changes the gallery: set a token under [http] in the config (token = \"…\", at least 16 characters) and restart.",
            );
        };
        let (path, query) = request.url.split_once('?').unwrap_or((request.url, ""));
        let signed_in = self.signed_in(request);
        match (request.method, path) {
            ("POST", "/review/login") => self.login(request, token),
            (_, _) if !signed_in => match request.method {
                "GET" => Reply::html(401, login_page(None)),
                _ => Reply::refused(401, "Not signed in: open /review and sign in with the token first."),
            },
            ("GET", "/review") => match self.page(query) {
                Ok(html) => Reply::html(200, html),
                Err(e) => Reply::refused(500, &e.to_string()),
            },
            ("GET", _) => self.picture(path),
            ("POST", _) => self.act(request, path),
            _ => Reply::refused(405, "Only GET and POST."),
        }
    }

    fn signed_in(&self, request: &PageRequest) -> bool {
        cookie(request.cookie, SESSION_COOKIE).is_some_and(|value| equal(value, &self.session))
    }

    fn login(&self, request: &PageRequest, token: &str) -> Reply {
        if !same_origin(request) {
            return Reply::refused(403, "Cross-site request refused.");
        }
        let given = field(request.body, "token").unwrap_or_default();
        if !equal(&given, token) {
            return Reply::html(401, login_page(Some("That is not the token in [http] token.")));
        }
        let mut reply = Reply::see_other("/review".into());
        reply.headers.push((
            "Set-Cookie",
            format!(
                "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/review",
                self.session
            ),
        ));
        reply
    }

    fn act(&self, request: &PageRequest, path: &str) -> Reply {
        if !same_origin(request) {
            return Reply::refused(403, "Cross-site request refused.");
        }
        let form_token = field(request.body, "form_token").unwrap_or_default();
        if !equal(&form_token, &self.form_token) {
            return Reply::refused(403, "The form is stale or forged: reload /review and try again.");
        }
        let get = |name| field(request.body, name).unwrap_or_default();
        let done = match path {
            "/review/promote" => self.promote(&get("id"), &get("name"), &get("watchlist")),
            "/review/ignore" => self.ignore(&get("id")),
            "/review/merge" => self.merge(&get("id"), &get("other")),
            "/review/wrong" => self.wrong_person(&get("match")),
            _ => return Reply::refused(404, "No such action."),
        };
        match done {
            Ok(message) => Reply::see_other(format!("/review?done={}", encode_query(&message))),
            Err(message) => Reply::see_other(format!("/review?error={}", encode_query(&message))),
        }
    }

    fn writable(&self) -> Result<Gallery, String> {
        Gallery::open(&self.gallery).map_err(|e| e.to_string())
    }

    fn promote(&self, id: &str, name: &str, watchlist: &str) -> Result<String, String> {
        let name = name.trim();
        let watchlist = Some(watchlist.trim()).filter(|w| !w.is_empty());
        let mut gallery = self.writable()?;
        let id = actions::find(&gallery, id).map_err(|e| e.to_string())?.id;
        let templates = gallery
            .promote_unknown(&id, name, watchlist)
            .map_err(|e| e.to_string())?;
        tracing::info!(unknown = %id, identity = name, templates, "stranger promoted on the review page");
        Ok(format!("Promoted to identity {name} ({templates} templates)."))
    }

    fn ignore(&self, id: &str) -> Result<String, String> {
        let mut gallery = self.writable()?;
        let id = actions::find(&gallery, id).map_err(|e| e.to_string())?.id;
        gallery.ignore_unknown(&id).map_err(|e| e.to_string())?;
        Ok(format!(
            "Ignored {}: no alerts, never matched to an identity.",
            short(&id)
        ))
    }

    fn merge(&self, id: &str, other: &str) -> Result<String, String> {
        let mut gallery = self.writable()?;
        let kept = actions::merge(&mut gallery, id, other).map_err(|e| e.to_string())?;
        Ok(format!("Merged into {}.", short(&kept)))
    }

    fn wrong_person(&self, n: &str) -> Result<String, String> {
        let n: u64 = n.parse().map_err(|_| "No such match.".to_string())?;
        let found = self.recent.take(n).ok_or("That match is no longer listed.")?;
        let mut gallery = self.writable()?;
        let space = gallery
            .embedding_space()
            .map_err(|e| e.to_string())?
            .ok_or("The gallery has no embedding space yet.")?;
        let source = format!("review:{}/{}", found.camera_id, found.track_id);
        gallery
            .add_negative(&found.identity, &source, &space, &found.template)
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "Noted: that was not {}; faces like it no longer match them.",
            found.identity
        ))
    }

    fn picture(&self, path: &str) -> Reply {
        let not_found = || Reply::refused(404, "No such picture.");
        if let Some(n) = path
            .strip_prefix("/review/matches/")
            .and_then(|p| p.strip_suffix(".jpg"))
        {
            return match n.parse().ok().and_then(|n| self.recent.face(n)) {
                Some(jpeg) => Reply::jpeg(jpeg),
                None => not_found(),
            };
        }
        let Some((id, k)) = path
            .strip_prefix("/review/faces/")
            .and_then(|p| p.strip_suffix(".jpg"))
            .and_then(|p| p.split_once('/'))
        else {
            return not_found();
        };
        let face = Gallery::open_read_only(&self.gallery)
            .ok()
            .and_then(|g| g.unknown(id).ok().flatten())
            .and_then(|u| u.templates.into_iter().nth(k.parse().ok()?))
            .and_then(|t| t.jpeg);
        face.map_or_else(not_found, Reply::jpeg)
    }

    fn page(&self, query: &str) -> Result<String, GalleryError> {
        let gallery = Gallery::open_read_only(&self.gallery)?;
        let mut unknowns = gallery.unknowns()?;
        unknowns.sort_by_key(|u| std::cmp::Reverse(u.last_seen_ms));
        let identities = gallery.list()?;
        let mut body = String::new();
        if let Some(done) = query_field(query, "done") {
            body.push_str(&format!("<p class=ok role=status>{}</p>", text(&done)));
        }
        if let Some(error) = query_field(query, "error") {
            body.push_str(&format!("<p class=err role=alert>{}</p>", text(&error)));
        }
        body.push_str(&format!("<h2>Strangers ({})</h2>", unknowns.len()));
        if unknowns.is_empty() {
            body.push_str("<p>No strangers clustered yet (is <code>[unknowns] enabled = true</code>?).</p>");
        }
        for unknown in &unknowns {
            body.push_str(&self.stranger_card(unknown, &unknowns));
        }
        body.push_str("<h2>Recent matches</h2>");
        let recent = self.recent.snapshot();
        if recent.is_empty() {
            body.push_str("<p>No confirmed match since Squint started.</p>");
        }
        for (n, m) in &recent {
            body.push_str(&self.match_card(*n, m));
        }
        body.push_str(&format!("<h2>Identities ({})</h2><ul class=ids>", identities.len()));
        for identity in &identities {
            body.push_str(&format!(
                "<li>{} <small>{} templates · {}</small></li>",
                text(&identity.name),
                identity.templates,
                text(&identity.watchlist)
            ));
        }
        body.push_str("</ul>");
        Ok(shell("Squint review", &body))
    }

    fn hidden(&self) -> String {
        format!("<input type=hidden name=form_token value=\"{}\">", self.form_token)
    }

    fn stranger_card(&self, u: &StoredUnknown, all: &[StoredUnknown]) -> String {
        let id = text(&u.id);
        let faces: String = (0..u.templates.len())
            .filter(|&k| u.templates[k].jpeg.is_some())
            .map(|k| format!("<img src=\"/review/faces/{id}/{k}.jpg\" alt=\"face {k}\" width=72 height=72>"))
            .collect();
        let others: String = all
            .iter()
            .filter(|o| o.id != u.id)
            .map(|o| format!("<option value=\"{0}\">{1}</option>", text(&o.id), short(&o.id)))
            .collect();
        let merge = match others.is_empty() {
            true => String::new(),
            false => format!(
                "<form method=post action=/review/merge onsubmit=\"return confirm('Merge these two strangers?')\">{hidden}<input type=hidden name=id value=\"{id}\"><select name=other aria-label=\"merge with\">{others}</select><button>Merge</button></form>",
                hidden = self.hidden()
            ),
        };
        let state = if u.ignored {
            " <span class=tag>ignored</span>"
        } else {
            ""
        };
        let promote = match u.ignored {
            true => String::new(),
            false => format!(
                "<form method=post action=/review/promote class=promote>{hidden}<input type=hidden name=id value=\"{id}\"><input name=name required placeholder=\"name\" aria-label=\"name\"><input name=watchlist placeholder=\"watchlist (optional)\" aria-label=\"watchlist\"><button>Promote</button></form><form method=post action=/review/ignore onsubmit=\"return confirm('Never alert on this stranger?')\">{hidden}<input type=hidden name=id value=\"{id}\"><button>Ignore</button></form>",
                hidden = self.hidden()
            ),
        };
        format!(
            "<section class=card data-unknown=\"{id}\" data-visits={visits}><div class=faces>{faces}</div><p><b title=\"{id}\">{short}</b>{state}<br>{visits} visits · {cameras}<br><small>first {first} · last {last}</small></p>{promote}{merge}</section>",
            short = short(&u.id),
            visits = u.visits,
            cameras = text(&u.cameras.join(", ")),
            first = crate::publish::timestamp(u.first_seen_ms),
            last = crate::publish::timestamp(u.last_seen_ms),
        )
    }

    fn match_card(&self, n: u64, m: &RecentMatch) -> String {
        let face = match m.face_jpeg {
            Some(_) => format!("<img src=\"/review/matches/{n}.jpg\" alt=\"face\" width=72 height=72>"),
            None => String::new(),
        };
        format!(
            "<section class=card><div class=faces>{face}</div><p><b>{identity}</b> on {camera}<br><small>{at} · similarity {similarity:.2}</small></p><form method=post action=/review/wrong onsubmit=\"return confirm('Not this person?')\">{hidden}<input type=hidden name=match value={n}><button>Wrong person</button></form></section>",
            identity = text(&m.identity),
            camera = text(&m.camera_id),
            at = crate::publish::timestamp(m.at_ms),
            similarity = m.similarity,
            hidden = self.hidden(),
        )
    }
}

/// First block of a UUID: enough to tell strangers apart on a page.
fn short(id: &str) -> String {
    text(id.split('-').next().unwrap_or(id)).into_owned()
}

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\"><title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>{body}</body></html>",
        title = text(title)
    )
}

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:60em;padding:.5em 1em;color:#222}\
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}\
.card{border:1px solid #ccc;border-radius:6px;padding:.5em;margin:.5em 0;display:flex;flex-wrap:wrap;gap:.5em;align-items:center}\
.card p{margin:0;flex:1 1 12em}.faces{display:flex;gap:4px;flex-wrap:wrap}.faces img{border-radius:4px;background:#eee}\
form{display:flex;gap:4px;flex-wrap:wrap;margin:0}input,select,button{font:inherit;padding:.35em .5em}\
button{border:1px solid #888;border-radius:4px;background:#f4f4f4}.promote input[name=name]{width:9em}\
.ok{background:#e6f4e6;padding:.5em}.err{background:#fbe9e9;padding:.5em}.tag{background:#eee;border-radius:3px;padding:0 .3em}\
.ids{columns:2 12em}";

fn login_page(error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| format!("<p class=err role=alert>{}</p>", text(e)));
    shell(
        "Squint review",
        &format!(
            "{error}<form method=post action=/review/login><label>Token <input type=password name=token autocomplete=current-password required></label><button>Sign in</button></form><p><small>The token is <code>[http] token</code> in Squint's config.</small></p>"
        ),
    )
}

/// An action must come from this page: a browser's `Origin` names the page's own host and
/// `Sec-Fetch-Site` (when sent) says same-origin. Clients that send neither (curl) still
/// need the session cookie and the form token.
fn same_origin(request: &PageRequest) -> bool {
    if request
        .fetch_site
        .is_some_and(|site| site != "same-origin" && site != "none")
    {
        return false;
    }
    match (request.origin, request.host) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin == format!("http://{host}") || origin == format!("https://{host}"),
        (Some(_), None) => false,
    }
}

fn equal(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn query_field(query: &str, name: &str) -> Option<String> {
    field(query.as_bytes(), name)
}

fn encode_query(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests;
