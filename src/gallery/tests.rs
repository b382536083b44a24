use super::*;
use crate::recognize::l2_normalize;

fn unit(values: &[f32]) -> Vec<f32> {
    let mut v = values.to_vec();
    l2_normalize(&mut v);
    v
}

#[test]
fn store_round_trips_templates_into_the_matcher() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut gallery = Gallery::create(&path).unwrap();
    gallery
        .add_template("ada", "a.jpg", "space-a", &unit(&[1.0, 0.0, 0.0]))
        .unwrap();
    gallery
        .add_template("ada", "a2.jpg", "space-a", &unit(&[0.9, 0.1, 0.0]))
        .unwrap();
    gallery
        .add_template("bob", "b.jpg", "space-a", &unit(&[0.0, 1.0, 0.0]))
        .unwrap();
    drop(gallery);

    let gallery = Gallery::open(&path).unwrap();
    assert_eq!(
        gallery.list().unwrap(),
        vec![
            IdentitySummary {
                name: "ada".into(),
                templates: 2,
                watchlist: DEFAULT_WATCHLIST.into()
            },
            IdentitySummary {
                name: "bob".into(),
                templates: 1,
                watchlist: DEFAULT_WATCHLIST.into()
            }
        ]
    );
    let matcher = gallery.matcher("space-a", 3).unwrap();
    let best = matcher.best(&unit(&[0.1, 1.0, 0.0])).unwrap();
    assert_eq!(best.identity, "bob");
    assert!(best.similarity > 0.99);
}

#[test]
fn refuses_probes_from_another_embedding_space() {
    let dir = tempfile::tempdir().unwrap();
    let mut gallery = Gallery::create(&dir.path().join("g.db")).unwrap();
    gallery
        .add_template("ada", "a.jpg", "teacher", &unit(&[1.0, 0.0]))
        .unwrap();
    let err = gallery.matcher("other-student", 2).unwrap_err().to_string();
    assert!(err.contains("teacher") && err.contains("other-student"), "{err}");
    assert!(
        gallery
            .add_template("bob", "b.jpg", "other-student", &unit(&[0.0, 1.0]))
            .is_err()
    );
}

#[test]
fn remove_deletes_identity_and_templates() {
    let dir = tempfile::tempdir().unwrap();
    let mut gallery = Gallery::create(&dir.path().join("g.db")).unwrap();
    gallery.add_template("ada", "a.jpg", "s", &unit(&[1.0, 0.0])).unwrap();
    assert!(gallery.remove("ada").unwrap());
    assert!(!gallery.remove("ada").unwrap());
    assert!(gallery.list().unwrap().is_empty());
    assert_eq!(gallery.matcher("s", 2).unwrap().best(&unit(&[1.0, 0.0])), None);
}

#[test]
fn ranked_lists_each_identity_once_by_its_best_template() {
    let mut matcher = Matcher::new(3);
    matcher.add("ada", &unit(&[1.0, 0.0, 0.0]));
    matcher.add("ada", &unit(&[0.0, 0.0, 1.0]));
    matcher.add("bob", &unit(&[0.7, 0.7, 0.0]));
    matcher.add("cy", &unit(&[0.0, 1.0, 0.0]));
    let ranked = matcher.ranked(&unit(&[0.1, 0.2, 1.0]), 2);
    let names: Vec<_> = ranked.iter().map(|m| m.identity.as_str()).collect();
    assert_eq!(names, ["ada", "bob"]);
    assert!(ranked[0].similarity > 0.97 && ranked[0].similarity <= 1.0);
    assert_eq!(matcher.ranked(&unit(&[1.0, 0.0, 0.0]), 10).len(), 3);
    assert!(
        matcher.ranked(&[1.0, 0.0], 2).is_empty(),
        "wrong dimension matches nothing"
    );
}

#[test]
fn negatives_suppress_a_match_and_survive_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut gallery = Gallery::create(&path).unwrap();
    gallery
        .add_template("ada", "a.jpg", "s", &unit(&[1.0, 0.2, 0.0]))
        .unwrap();
    gallery
        .add_template("bob", "b.jpg", "s", &unit(&[0.0, 1.0, 0.0]))
        .unwrap();
    // Ada's look-alike: close to Ada's template, and even closer to this negative.
    let lookalike = unit(&[1.0, 0.0, 0.3]);
    assert_eq!(
        gallery.matcher("s", 3).unwrap().best(&lookalike).unwrap().identity,
        "ada"
    );
    gallery
        .add_negative("ada", "lookalike.jpg", "s", &unit(&[1.0, 0.0, 0.35]))
        .unwrap();
    drop(gallery);
    let matcher = Gallery::open(&path).unwrap().matcher("s", 3).unwrap();
    let ranked = matcher.ranked(&lookalike, 2);
    assert!(ranked.iter().all(|m| m.identity != "ada"), "{ranked:?}");
    assert_eq!(matcher.similarity(&lookalike, "ada"), None, "ruled out by the negative");
    assert!(matcher.similarity(&lookalike, "bob").is_some());
    assert_eq!(matcher.similarity(&lookalike, "nobody"), None);
    // Ada herself still matches: her own template is closer than the negative.
    assert_eq!(matcher.best(&unit(&[1.0, 0.2, 0.0])).unwrap().identity, "ada");
    let mut gallery = Gallery::create(&path).unwrap();
    let error = gallery
        .add_negative("cy", "c.jpg", "s", &unit(&[0.0, 0.0, 1.0]))
        .unwrap_err();
    assert!(error.to_string().contains("no identity `cy`"), "{error}");
}

#[test]
fn a_gallery_from_a_newer_squint_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    drop(Gallery::create(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'", [])
        .unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let error = Gallery::open(&path).err().expect("refused").to_string();
    assert!(error.contains("schema version 99") && error.contains("g.db"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing written");
}

#[test]
fn a_corrupt_gallery_file_is_named_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    std::fs::write(
        &path,
        b"this is not a database, it is a text file of some length..........",
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    let error = Gallery::open(&path).err().expect("refused").to_string();
    assert!(error.contains("g.db") && error.contains("not a database"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn an_older_gallery_is_upgraded_in_place_and_watchlists_reach_the_matcher() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // The version-1 layout: no negatives, no watchlist column.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE identities (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE templates (id INTEGER PRIMARY KEY, identity_id INTEGER NOT NULL, source TEXT NOT NULL, embedding BLOB NOT NULL, created_at INTEGER NOT NULL DEFAULT 0);
         INSERT INTO meta VALUES ('embedding_space', 's'), ('embedding_size', '2');
         INSERT INTO identities (id, name) VALUES (1, 'ada');",
    )
    .unwrap();
    let blob: Vec<u8> = [1.0f32, 0.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    conn.execute(
        "INSERT INTO templates (identity_id, source, embedding) VALUES (1, 'a.jpg', ?1)",
        [blob],
    )
    .unwrap();
    drop(conn);

    let mut gallery = Gallery::create(&path).unwrap();
    assert_eq!(gallery.list().unwrap()[0].watchlist, DEFAULT_WATCHLIST);
    gallery.set_watchlist("ada", "vip").unwrap();
    assert!(gallery.set_watchlist("nobody", "vip").is_err());
    let matcher = gallery.matcher("s", 2).unwrap();
    assert_eq!(matcher.best(&[1.0, 0.0]).unwrap().identity, "ada", "templates kept");
    assert_eq!(matcher.watchlist_of("ada"), "vip");
}

#[test]
fn a_gallery_locked_by_another_writer_is_a_clear_error_after_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut gallery = Gallery::create(&path).unwrap();
    gallery.add_template("ada", "a.jpg", "s", &unit(&[1.0, 0.0])).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE;").unwrap();
    let error = gallery
        .add_template("bob", "b.jpg", "s", &unit(&[0.0, 1.0]))
        .unwrap_err()
        .to_string();
    assert!(error.contains("g.db") && error.contains("locked"), "{error}");
    other.execute_batch("ROLLBACK;").unwrap();
    gallery.add_template("bob", "b.jpg", "s", &unit(&[0.0, 1.0])).unwrap();
    assert_eq!(gallery.list().unwrap().len(), 2, "nothing lost once the lock is gone");
}

#[test]
fn a_probe_equal_to_a_template_scores_at_most_one() {
    // Normalised vectors whose dot product with themselves rounds above 1 are common.
    let mut seed = 7u32;
    let over = (0..1000)
        .map(|_| {
            let values: Vec<f32> = (0..128)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
                })
                .collect();
            unit(&values)
        })
        .find(|v| dot(v, v) > 1.0)
        .expect("some unit vector rounds above 1 against itself");
    let mut matcher = Matcher::new(128);
    matcher.add("ada", &over);
    let best = matcher.best(&over).expect("a match");
    assert!(best.similarity <= 1.0, "{}", best.similarity);
    assert!(best.similarity > 0.999, "{}", best.similarity);
}
