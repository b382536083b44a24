use std::path::{Path, PathBuf};

use super::*;
use crate::gallery::StoredFace;

const TOKEN: &str = "correct-horse-battery-staple";
const HOST: &str = "127.0.0.1:9100";
const EVE: &str = "5c1e7a0e-0000-4000-8000-0000000000e1";
const MAL: &str = "5c1e7a0e-0000-4000-8000-0000000000a1";

fn stranger(id: &str, first_seen_ms: u64, direction: [f32; 2]) -> StoredUnknown {
    StoredUnknown {
        id: id.into(),
        visits: 2,
        first_seen_ms,
        last_seen_ms: first_seen_ms + 1000,
        cameras: vec!["door".into()],
        ignored: false,
        visit_times: vec![first_seen_ms],
        templates: vec![StoredFace {
            quality: 0.5,
            width_px: 24.0,
            embedding: direction.to_vec(),
            jpeg: Some(crate::image::BgrImage::new(8, 8).jpeg().unwrap()),
        }],
    }
}

/// A gallery with Ada enrolled and two strangers, Eve and Mal.
fn gallery(dir: &Path) -> PathBuf {
    let path = dir.join("g.db");
    let mut gallery = Gallery::create(&path).unwrap();
    gallery.add_template("ada", "ada.jpg", "s", &[1.0, 0.0]).unwrap();
    gallery.put_unknown(&stranger(EVE, 10, [0.0, 1.0])).unwrap();
    gallery.put_unknown(&stranger(MAL, 20, [0.6, 0.8])).unwrap();
    path
}

fn review(dir: &Path) -> Review {
    Review::new(gallery(dir), Some(TOKEN.into()))
}

fn get<'a>(url: &'a str, cookie: Option<&'a str>) -> PageRequest<'a> {
    PageRequest {
        method: "GET",
        url,
        cookie,
        host: Some(HOST),
        ..PageRequest::default()
    }
}

/// A same-origin form post as a browser sends it.
fn post<'a>(url: &'a str, cookie: Option<&'a str>, body: &'a str) -> PageRequest<'a> {
    PageRequest {
        method: "POST",
        url,
        cookie,
        host: Some(HOST),
        origin: Some("http://127.0.0.1:9100"),
        fetch_site: Some("same-origin"),
        body: body.as_bytes(),
    }
}

fn cookie_of(reply: &Reply) -> String {
    let set = reply.headers.iter().find(|(k, _)| *k == "Set-Cookie").unwrap();
    assert!(
        set.1.contains("HttpOnly") && set.1.contains("SameSite=Strict"),
        "{}",
        set.1
    );
    set.1.split(';').next().unwrap().to_string()
}

fn body(reply: &Reply) -> String {
    String::from_utf8(reply.body.clone()).unwrap()
}

fn location(reply: &Reply) -> String {
    assert_eq!(reply.status, 303, "{}", body(reply));
    reply.headers.iter().find(|(k, _)| *k == "Location").unwrap().1.clone()
}

fn signed_in(review: &Review) -> String {
    let reply = review.handle(&post("/review/login", None, &format!("token={TOKEN}")));
    assert_eq!(location(&reply), "/review");
    cookie_of(&reply)
}

#[test]
fn without_a_configured_token_nothing_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let review = Review::new(gallery(dir.path()), None);
    let reply = review.handle(&get("/review", None));
    assert_eq!(reply.status, 403);
    assert!(body(&reply).contains("[http]"), "{}", body(&reply));
    assert_eq!(review.handle(&get("/review/faces/x/0.jpg", None)).status, 403);
}

#[test]
fn signing_in_needs_the_token_from_the_page_itself() {
    let dir = tempfile::tempdir().unwrap();
    let review = review(dir.path());
    let reply = review.handle(&get("/review", None));
    assert_eq!(reply.status, 401);
    assert!(body(&reply).contains("type=password"), "a sign-in form");
    assert!(!body(&reply).contains(EVE), "no stranger before signing in");
    let wrong = review.handle(&post("/review/login", None, "token=guess"));
    assert_eq!(wrong.status, 401);
    assert!(wrong.headers.iter().all(|(k, _)| *k != "Set-Cookie"));
    let login = format!("token={TOKEN}");
    let forged = PageRequest {
        origin: Some("http://evil.example"),
        fetch_site: Some("cross-site"),
        ..post("/review/login", None, &login)
    };
    assert_eq!(review.handle(&forged).status, 403);
    let cookie = signed_in(&review);
    let page = review.handle(&get("/review", Some(&cookie)));
    assert_eq!(page.status, 200);
    let html = body(&page);
    assert!(html.contains(EVE) && html.contains(MAL), "both strangers listed");
    assert!(
        page.headers
            .iter()
            .any(|(k, v)| *k == "Content-Security-Policy" && v.contains("default-src 'none'"))
    );
    let face = review.handle(&get(&format!("/review/faces/{EVE}/0.jpg"), Some(&cookie)));
    assert_eq!((face.status, face.content_type), (200, "image/jpeg"));
    assert_eq!(
        review.handle(&get(&format!("/review/faces/{EVE}/0.jpg"), None)).status,
        401
    );
}

#[test]
fn actions_without_session_form_token_or_from_another_site_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let review = review(dir.path());
    let cookie = signed_in(&review);
    let form = format!("form_token={}&id={EVE}&name=eve", review.form_token);
    let without_form_token = format!("id={EVE}&name=eve");
    let refused = [
        (post("/review/promote", None, &form), 401),
        (post("/review/promote", Some(&cookie), &without_form_token), 403),
        (post("/review/promote", Some("squint_review=forged"), &form), 401),
        (
            PageRequest {
                origin: Some("http://evil.example"),
                ..post("/review/promote", Some(&cookie), &form)
            },
            403,
        ),
        (
            PageRequest {
                origin: None,
                fetch_site: Some("cross-site"),
                ..post("/review/promote", Some(&cookie), &form)
            },
            403,
        ),
        (
            PageRequest {
                origin: Some("null"),
                ..post("/review/promote", Some(&cookie), &form)
            },
            403,
        ),
    ];
    for (request, status) in refused {
        assert_eq!(review.handle(&request).status, status, "{request:?}");
    }
    let gallery = Gallery::open_read_only(&review.gallery).unwrap();
    assert_eq!(gallery.list().unwrap().len(), 1, "nobody was promoted");
    assert_eq!(gallery.unknowns().unwrap().len(), 2);
}

#[test]
fn promote_ignore_merge_and_wrong_person_change_the_gallery() {
    let dir = tempfile::tempdir().unwrap();
    let review = review(dir.path());
    let cookie = signed_in(&review);
    let token = review.form_token.clone();

    let done = review.handle(&post(
        "/review/promote",
        Some(&cookie),
        &format!("form_token={token}&id={EVE}&name=Eve+%3Cb%3E&watchlist=visitors"),
    ));
    assert!(location(&done).starts_with("/review?done="), "{}", location(&done));
    let gallery = Gallery::open_read_only(&review.gallery).unwrap();
    let names: Vec<String> = gallery.list().unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["Eve <b>", "ada"]);
    assert_eq!(gallery.unknowns().unwrap().len(), 1);
    let page = body(&review.handle(&get(&location(&done), Some(&cookie))));
    assert!(page.contains("Promoted to identity Eve &lt;b&gt;"), "escaped: {page}");
    assert!(!page.contains("Eve <b>"));

    let failed = review.handle(&post(
        "/review/promote",
        Some(&cookie),
        &format!("form_token={token}&id={EVE}&name=again"),
    ));
    assert!(
        location(&failed).starts_with("/review?error="),
        "a second promotion says why not"
    );

    let ignored = review.handle(&post(
        "/review/ignore",
        Some(&cookie),
        &format!("form_token={token}&id={MAL}"),
    ));
    location(&ignored);
    assert!(Gallery::open_read_only(&review.gallery).unwrap().unknowns().unwrap()[0].ignored);

    review.recent.push(RecentMatch {
        identity: "ada".into(),
        camera_id: "door".into(),
        track_id: "r-1".into(),
        at_ms: 5,
        similarity: 0.5,
        face_jpeg: None,
        template: vec![0.8, 0.6],
    });
    let html = body(&review.handle(&get("/review", Some(&cookie))));
    assert!(html.contains("Wrong person"));
    let wrong = review.handle(&post(
        "/review/wrong",
        Some(&cookie),
        &format!("form_token={token}&match=1"),
    ));
    assert!(location(&wrong).starts_with("/review?done="));
    let gallery = Gallery::open_read_only(&review.gallery).unwrap();
    let ada = gallery
        .export()
        .unwrap()
        .identities
        .into_iter()
        .find(|i| i.name == "ada")
        .unwrap();
    assert_eq!(ada.negatives.len(), 1);
    assert_eq!(ada.negatives[0].source, "review:door/r-1");
    let again = review.handle(&post(
        "/review/wrong",
        Some(&cookie),
        &format!("form_token={token}&match=1"),
    ));
    assert!(location(&again).starts_with("/review?error="), "listed once");
}

#[test]
fn merging_two_strangers_keeps_the_older_id() {
    let dir = tempfile::tempdir().unwrap();
    let review = review(dir.path());
    let cookie = signed_in(&review);
    let merged = review.handle(&post(
        "/review/merge",
        Some(&cookie),
        &format!("form_token={}&id={MAL}&other={EVE}", review.form_token),
    ));
    location(&merged);
    let unknowns = Gallery::open_read_only(&review.gallery).unwrap().unknowns().unwrap();
    assert_eq!(unknowns.len(), 1);
    assert_eq!(unknowns[0].id, EVE, "Eve was seen first");
    assert_eq!((unknowns[0].visits, unknowns[0].templates.len()), (4, 2));
}
