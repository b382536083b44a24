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

/// `count` random unit vectors of `dim` values.
fn random_units(count: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| unit(&(0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<_>>()))
        .collect()
}

/// A probe near `template`: the template plus noise, normalised.
fn near(template: &[f32], seed: u64) -> Vec<f32> {
    let noise = random_units(1, template.len(), seed).remove(0);
    unit(
        &template
            .iter()
            .zip(&noise)
            .map(|(t, n)| t + 0.4 * n)
            .collect::<Vec<_>>(),
    )
}

fn indexed(matcher: &Matcher) -> Matcher {
    let rows: Vec<(u64, &[f32])> = matcher.keyed_templates().collect();
    let index = TemplateIndex::build(matcher.dim(), 16, &rows, 2, &|_| {}).unwrap();
    index.set_expansion(64);
    let mut indexed = matcher.clone();
    indexed.use_index(std::sync::Arc::new(index), 16);
    indexed
}

#[test]
fn the_index_finds_what_comparing_every_template_finds() {
    let dim = 32;
    let templates = random_units(3000, dim, 1);
    let mut matcher = Matcher::new(dim);
    for (i, t) in templates.iter().enumerate() {
        // Two templates each for the first identities: identities, not rows, are ranked.
        matcher.add(&format!("p{}", i % 2500), t);
    }
    let fast = indexed(&matcher);
    let mut agree = 0;
    for i in 0..200 {
        let probe = near(&templates[i * 13], 100 + i as u64);
        let exact = matcher.ranked(&probe, 1);
        let found = fast.ranked(&probe, 1);
        assert_eq!(exact[0].identity, format!("p{}", (i * 13) % 2500));
        if found == exact {
            agree += 1;
        }
    }
    assert!(
        agree >= 198,
        "index agreed with the exact ranking on {agree} of 200 probes"
    );
}

#[test]
fn negatives_anchors_and_watchlists_keep_their_meaning_through_the_index() {
    let dim = 16;
    let templates = random_units(500, dim, 2);
    let mut matcher = Matcher::new(dim);
    for (i, t) in templates.iter().enumerate() {
        matcher.add(&format!("p{i}"), t);
    }
    matcher.set_watchlist("p7", "vip");
    let probe = near(&templates[7], 9);
    let fast = indexed(&matcher);
    assert_eq!(fast.best(&probe).unwrap().identity, "p7");
    assert_eq!(fast.watchlist_of("p7"), "vip");
    assert_eq!(fast.watchlist_of("p8"), DEFAULT_WATCHLIST);

    // A negative of p7 closer to the probe than p7's template rules p7 out.
    let mut negated = matcher.clone();
    negated.add_negative("p7", &probe);
    let negated = indexed(&negated);
    assert_ne!(negated.best(&probe).map(|m| m.identity), Some("p7".into()));
    assert_eq!(negated.similarity(&probe, "p7"), None);

    // An anchor equal to the probe rules out every identity.
    let mut anchored = matcher.clone();
    anchored.add_anchor(&probe);
    assert!(indexed(&anchored).ranked(&probe, 3).is_empty());
}

#[test]
fn a_template_key_changes_with_its_embedding_not_only_its_row() {
    let a = unit(&[1.0, 0.0]);
    let b = unit(&[0.0, 1.0]);
    assert_eq!(template_key(5, &a), template_key(5, &a));
    assert_ne!(template_key(5, &a), template_key(5, &b));
    assert_ne!(template_key(5, &a), template_key(6, &a));
}

fn spec(path: &std::path::Path, dim: usize) -> WatchSpec {
    WatchSpec {
        path: path.to_path_buf(),
        space: "s".into(),
        size: dim,
        every: std::time::Duration::from_millis(100),
        index: IndexConfig {
            mode: IndexMode::On,
            ..IndexConfig::default()
        },
    }
}

#[test]
fn the_watch_builds_persists_and_patches_the_index_as_the_gallery_changes() {
    let dim = 16;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let templates = random_units(400, dim, 3);
    let mut gallery = Gallery::create(&path).unwrap();
    for (i, t) in templates.iter().take(300).enumerate() {
        gallery.add_template(&format!("p{i}"), "x", "s", t).unwrap();
    }
    let wait = |watch: &mut GalleryWatch| {
        watch
            .wait(std::time::Duration::from_secs(20))
            .expect("a matcher within 20 s")
            .unwrap()
    };

    // First start: no index file; matching starts exact and the indexed matcher follows.
    let (mut watch, first) = GalleryWatch::open(spec(&path, dim)).unwrap();
    assert!(first.index().is_none());
    let built = wait(&mut watch);
    assert_eq!(built.index().map(|i| i.len()), Some(300));
    let file = IndexConfig::default().file(&path);
    let saved = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        file.exists()
    });
    assert!(saved, "index saved beside the gallery (after the matcher was sent)");

    // An enrolment and a removal while running: patched into the same index, not rebuilt.
    gallery.add_template("newcomer", "x", "s", &templates[350]).unwrap();
    gallery.remove("p3").unwrap();
    let patched = wait(&mut watch);
    let probe = near(&templates[350], 4);
    assert_eq!(patched.best(&probe).unwrap().identity, "newcomer");
    assert_ne!(patched.best(&near(&templates[3], 5)).unwrap().identity, "p3");
    let index = patched.index().unwrap();
    assert_eq!(index.len(), 300, "one added, one removed");
    drop(watch);

    // Next start: the saved index fits and is used at once.
    let (_watch, restarted) = GalleryWatch::open(spec(&path, dim)).unwrap();
    assert_eq!(restarted.index().map(|i| i.len()), Some(300));
    assert_eq!(restarted.best(&probe).unwrap().identity, "newcomer");
}

#[test]
fn a_corrupt_index_file_is_rebuilt_not_trusted() {
    let dim = 8;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut gallery = Gallery::create(&path).unwrap();
    for (i, t) in random_units(50, dim, 6).iter().enumerate() {
        gallery.add_template(&format!("p{i}"), "x", "s", t).unwrap();
    }
    std::fs::write(IndexConfig::default().file(&path), b"not an index").unwrap();
    let (mut watch, first) = GalleryWatch::open(spec(&path, dim)).unwrap();
    assert!(first.index().is_none(), "the corrupt file was not used");
    let rebuilt = watch.wait(std::time::Duration::from_secs(20)).unwrap().unwrap();
    assert_eq!(rebuilt.index().map(|i| i.len()), Some(50));
}
