use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::alert::{AlertConfig, Band};

const DIM: usize = 128;

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    crate::recognize::l2_normalize(&mut v);
    v
}

/// A random identity direction.
fn person(rng: &mut StdRng) -> Vec<f32> {
    unit((0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect())
}

/// One visit of `who`: its direction plus noise, so that two visits of one person are
/// about 0.6–0.8 similar and two people about 0.
fn visit(who: &[f32], noise: f32, rng: &mut StdRng) -> Vec<f32> {
    unit(
        who.iter()
            .map(|v| v + noise * rng.random_range(-1.0..1.0) / (DIM as f32).sqrt() * 1.7)
            .collect(),
    )
}

fn track(embedding: Vec<f32>, key: &str, at_ms: u64, width_px: f32) -> UnknownTrack {
    UnknownTrack {
        embedding,
        width_px,
        quality: width_px,
        camera_id: if at_ms.is_multiple_of(2) { "door" } else { "gate" }.into(),
        track_key: key.into(),
        first_seen_ms: at_ms,
        last_seen_ms: at_ms,
        jpeg: None,
    }
}

fn config() -> ClusterConfig {
    ClusterConfig {
        bands: AlertConfig::default().bands,
        max_templates: 3,
        merge_similarity: 0.8,
        visit_gap_ms: 0,
    }
}

fn clusters() -> Clusters {
    Clusters::new(config()).unwrap()
}

#[test]
fn a_returning_stranger_joins_their_cluster_and_another_opens_one() {
    let mut rng = StdRng::seed_from_u64(1);
    let (a, b) = (person(&mut rng), person(&mut rng));
    let mut clusters = clusters();
    let first = clusters.assign(&track(visit(&a, 0.5, &mut rng), "door#1", 0, 32.0));
    assert!(matches!(first, Assignment::Opened(_)));
    let again = clusters.assign(&track(visit(&a, 0.5, &mut rng), "gate#7", 1, 32.0));
    assert_eq!(again, Assignment::Joined(first.id()));
    let other = clusters.assign(&track(visit(&b, 0.5, &mut rng), "door#2", 2, 32.0));
    assert!(matches!(other, Assignment::Opened(id) if id != first.id()));
    let cluster = clusters.get(first.id()).unwrap();
    assert_eq!(cluster.visits, 2);
    assert_eq!((cluster.first_seen_ms, cluster.last_seen_ms), (0, 1));
    assert_eq!(cluster.cameras.len(), 2, "{:?}", cluster.cameras);
}

#[test]
fn a_cluster_keeps_only_its_best_templates() {
    let mut rng = StdRng::seed_from_u64(2);
    let a = person(&mut rng);
    let mut clusters = clusters();
    let widths = [20.0, 40.0, 24.0, 36.0, 28.0, 32.0];
    let id = clusters
        .assign(&track(visit(&a, 0.3, &mut rng), "t0", 0, widths[0]))
        .id();
    for (i, w) in widths.iter().enumerate().skip(1) {
        assert_eq!(
            clusters
                .assign(&track(visit(&a, 0.3, &mut rng), &format!("t{i}"), i as u64, *w))
                .id(),
            id
        );
    }
    let kept: Vec<f32> = clusters.get(id).unwrap().templates.iter().map(|t| t.quality).collect();
    assert_eq!(kept, vec![40.0, 36.0, 32.0]);
    assert_eq!(clusters.get(id).unwrap().visits, 6);
}

#[test]
fn the_size_band_sets_how_similar_a_visit_must_be() {
    let mut rng = StdRng::seed_from_u64(3);
    let a = person(&mut rng);
    let bands = vec![
        Band {
            below_px: Some(20.0),
            candidate: 0.9,
            confirm: 0.95,
        },
        Band {
            below_px: None,
            candidate: 0.3,
            confirm: 0.4,
        },
    ];
    let mut clusters = Clusters::new(ClusterConfig { bands, ..config() }).unwrap();
    let first = clusters.assign(&track(visit(&a, 0.5, &mut rng), "t0", 0, 32.0));
    // The same person, about 0.7 similar: too little for a 16 px face's band…
    let small = clusters.assign(&track(visit(&a, 0.5, &mut rng), "t1", 1, 16.0));
    assert!(matches!(small, Assignment::Opened(_)), "{small:?}");
    // …enough for a 32 px one.
    let large = clusters.assign(&track(visit(&a, 0.5, &mut rng), "t2", 2, 32.0));
    assert_eq!(large.id(), first.id());
}

/// `x` along the first axis and `y` along the second, normalised.
fn planar(x: f32, y: f32) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[0] = x;
    v[1] = y;
    unit(v)
}

#[test]
fn clusters_that_grow_together_merge_under_the_older_id() {
    // Tiny faces must match closely, larger ones less so.
    let bands = vec![
        Band {
            below_px: Some(20.0),
            candidate: 0.95,
            confirm: 0.95,
        },
        Band {
            below_px: None,
            candidate: 0.5,
            confirm: 0.6,
        },
    ];
    let mut clusters = Clusters::new(ClusterConfig {
        bands,
        merge_similarity: 0.65,
        ..config()
    })
    .unwrap();
    // Two 16 px visits of one person, 0.47 similar: apart, and too far apart to merge.
    let first = clusters.assign(&track(planar(1.0, 0.6), "first", 0, 16.0));
    let second = clusters.assign(&track(planar(1.0, -0.6), "second", 1, 16.0));
    assert!(matches!(second, Assignment::Opened(id) if id != first.id()));
    assert_eq!(clusters.all().len(), 2);
    // A clear 32 px visit between them joins the first; its centroid moves to 0.69 of the
    // second's, and the two become one under the older id.
    let bridge = clusters.assign(&track(planar(1.0, 0.0), "bridge", 2, 32.0));
    assert_eq!(bridge, Assignment::Joined(first.id()));
    assert_eq!(clusters.all().len(), 1);
    let merged = clusters.get(first.id()).unwrap();
    assert_eq!((merged.visits, merged.first_seen_ms, merged.last_seen_ms), (3, 0, 2));
}

#[test]
fn merging_by_hand_keeps_the_older_id_and_refuses_nonsense() {
    let mut rng = StdRng::seed_from_u64(4);
    let (a, b) = (person(&mut rng), person(&mut rng));
    let mut clusters = clusters();
    let x = clusters.assign(&track(visit(&a, 0.4, &mut rng), "x", 10, 32.0)).id();
    let y = clusters.assign(&track(visit(&b, 0.4, &mut rng), "y", 5, 32.0)).id();
    clusters.ignore(x).unwrap();
    assert_eq!(clusters.merge(x, y).unwrap(), y, "y was seen first");
    let merged = clusters.get(y).unwrap();
    assert_eq!((merged.visits, merged.first_seen_ms, merged.last_seen_ms), (2, 5, 10));
    assert!(merged.ignored, "an ignored half makes the whole ignored");
    assert_eq!(clusters.all().len(), 1);
    assert_eq!(clusters.merge(y, y), Err(ClusterError::SameCluster(y)));
    assert_eq!(clusters.merge(y, x), Err(ClusterError::Missing(x)));
}

#[test]
fn an_ignored_stranger_is_still_recognised_but_flagged() {
    let mut rng = StdRng::seed_from_u64(5);
    let a = person(&mut rng);
    let mut clusters = clusters();
    let id = clusters.assign(&track(visit(&a, 0.5, &mut rng), "t0", 0, 32.0)).id();
    clusters.ignore(id).unwrap();
    let next = clusters.assign(&track(visit(&a, 0.5, &mut rng), "t1", 1, 32.0));
    assert_eq!(next, Assignment::Ignored(id));
    assert!(clusters.ignore(uuid::Uuid::nil()).is_err());
}

#[test]
fn purge_forgets_clusters_past_retention() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut clusters = clusters();
    for (i, at) in [100u64, 5_000, 9_000].iter().enumerate() {
        let who = person(&mut rng);
        clusters.assign(&track(visit(&who, 0.5, &mut rng), &format!("t{i}"), *at, 32.0));
    }
    assert_eq!(clusters.purge(5_000), 1);
    assert_eq!(clusters.all().len(), 2);
    assert!(clusters.all().iter().all(|c| c.last_seen_ms >= 5_000));
}

#[test]
fn the_same_events_in_the_same_order_give_the_same_ids() {
    let run = || {
        let mut rng = StdRng::seed_from_u64(7);
        let people: Vec<Vec<f32>> = (0..6).map(|_| person(&mut rng)).collect();
        let mut clusters = clusters();
        let ids: Vec<uuid::Uuid> = (0..24)
            .map(|i| {
                let who = &people[i % 6];
                clusters
                    .assign(&track(
                        visit(who, 0.5, &mut rng),
                        &format!("cam#{i}"),
                        i as u64,
                        24.0 + (i % 3) as f32 * 8.0,
                    ))
                    .id()
            })
            .collect();
        (ids, clusters.all().len())
    };
    let (first, count) = run();
    assert_eq!(run(), (first.clone(), count));
    // Six strangers, four visits each: six clusters, each visit under its person's id.
    assert_eq!(count, 6);
    for i in 6..24 {
        assert_eq!(first[i], first[i % 6], "visit {i}");
    }
}

#[test]
fn clustering_needs_bands() {
    let err = Clusters::new(ClusterConfig {
        bands: Vec::new(),
        ..config()
    })
    .unwrap_err();
    assert_eq!(err, ClusterError::NoBands);
}

#[test]
fn clusters_survive_a_restart_in_the_gallery_and_keep_their_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gallery.db");
    let mut rng = StdRng::seed_from_u64(8);
    let (a, b) = (person(&mut rng), person(&mut rng));
    let mut clusters = clusters();
    let id_a = clusters.assign(&track(visit(&a, 0.5, &mut rng), "t0", 0, 32.0)).id();
    clusters.assign(&track(visit(&a, 0.5, &mut rng), "t1", 1, 32.0));
    let id_b = clusters.assign(&track(visit(&b, 0.5, &mut rng), "t2", 2, 32.0)).id();
    clusters.ignore(id_b).unwrap();
    {
        let mut gallery = crate::gallery::Gallery::create(&path).unwrap();
        for cluster in clusters.all() {
            gallery.put_unknown(&cluster.to_stored()).unwrap();
        }
        // Written twice: the second replaces the first.
        gallery.put_unknown(&clusters.get(id_a).unwrap().to_stored()).unwrap();
    }
    let gallery = crate::gallery::Gallery::open_read_only(&path).unwrap();
    let mut restored = Clusters::restore(config(), gallery.unknowns().unwrap()).unwrap();
    assert_eq!(
        restored.all(),
        clusters.all(),
        "templates, centroids, visits, cameras, flags"
    );
    assert_eq!(
        restored.assign(&track(visit(&a, 0.5, &mut rng), "t3", 3, 32.0)),
        Assignment::Joined(id_a)
    );
    assert_eq!(
        restored.assign(&track(visit(&b, 0.5, &mut rng), "t4", 4, 32.0)),
        Assignment::Ignored(id_b)
    );
    let mut gallery = crate::gallery::Gallery::open(&path).unwrap();
    assert!(gallery.remove_unknown(&id_b.to_string()).unwrap());
    assert!(!gallery.remove_unknown(&id_b.to_string()).unwrap());
    assert_eq!(gallery.unknowns().unwrap().len(), 1);
    let mut bad = gallery.unknowns().unwrap().remove(0);
    bad.id = "not-a-uuid".into();
    assert_eq!(
        Clusters::restore(config(), vec![bad]).unwrap_err(),
        ClusterError::BadId("not-a-uuid".into())
    );
}

#[test]
fn a_track_soon_after_the_last_continues_the_visit() {
    let mut rng = StdRng::seed_from_u64(9);
    let a = person(&mut rng);
    let mut clusters = Clusters::new(ClusterConfig {
        visit_gap_ms: 60_000,
        ..config()
    })
    .unwrap();
    let id = clusters.assign(&track(visit(&a, 0.5, &mut rng), "t0", 0, 32.0)).id();
    // Broken off and picked up 10 s later: the same visit.
    clusters.assign(&track(visit(&a, 0.5, &mut rng), "t1", 10_000, 32.0));
    // Back after ten minutes: a new one.
    clusters.assign(&track(visit(&a, 0.5, &mut rng), "t2", 610_000, 32.0));
    let cluster = clusters.get(id).unwrap();
    assert_eq!(cluster.visits, 2);
    assert_eq!(cluster.visit_times, vec![0, 610_000]);
    assert_eq!(cluster.visits_since(1), 1);
    let probe = visit(&a, 0.5, &mut rng);
    assert_eq!(clusters.nearest(&probe, 32.0).map(|c| c.id), Some(id));
    assert!(
        clusters.nearest(&person(&mut rng), 32.0).is_none(),
        "a stranger to them all"
    );
}

mod in_the_gallery {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::alert::{AlertConfig, UnmatchedTrack};
    use crate::gallery::Gallery;
    use crate::image::BgrImage;
    use crate::track::TrackInfo;

    fn ended(embedding: Vec<f32>, track_id: u64, at_s: u64, width_px: f32, frames: u64) -> UnmatchedTrack {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + at_s);
        UnmatchedTrack {
            track: TrackInfo {
                camera_id: Arc::from("door"),
                track_id,
                frames_seen: frames,
                first_seq: 0,
                last_seq: frames,
                first_seen: at,
                last_seen: at + Duration::from_secs(2),
                width_min_px: width_px,
                width_max_px: width_px,
            },
            template: embedding,
            frames_embedded: frames,
            best_quality: 0.5,
            best_crop: Some(BgrImage::new(8, 8)),
        }
    }

    fn enabled() -> UnknownsConfig {
        UnknownsConfig {
            enabled: true,
            // The test's sightings are in 2027; nothing expires under way.
            retention_days: 3650.0,
            ..UnknownsConfig::default()
        }
    }

    fn gallery_with_ada(path: &Path, ada: &[f32]) {
        Gallery::create(path)
            .unwrap()
            .add_template("ada", "ada.jpg", "s", ada)
            .unwrap();
    }

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    #[test]
    fn strangers_are_filed_in_the_gallery_and_changes_made_elsewhere_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let mut rng = StdRng::seed_from_u64(10);
        let (ada, eve) = (person(&mut rng), person(&mut rng));
        gallery_with_ada(&path, &ada);
        let mut strangers = Strangers::open(&enabled(), &AlertConfig::default(), &path).unwrap();

        let first = strangers
            .track_ended(&ended(visit(&eve, 0.5, &mut rng), 1, 0, 30.0, 8))
            .unwrap();
        let Filed::Assigned(Assignment::Opened(id)) = first else {
            panic!("{first:?}")
        };
        for (too_poor, reason) in [
            (ended(visit(&eve, 0.5, &mut rng), 2, 5, 10.0, 8), "min_face_px"),
            (ended(visit(&eve, 0.5, &mut rng), 3, 5, 30.0, 1), "min_track_frames"),
        ] {
            let filed = strangers.track_ended(&too_poor).unwrap();
            assert!(matches!(filed, Filed::Skipped(r) if r.contains(reason)), "{filed:?}");
        }
        let stored = Gallery::open_read_only(&path).unwrap().unknowns().unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].id, id.to_string());
        assert!(
            stored[0].templates[0]
                .jpeg
                .as_ref()
                .is_some_and(|j| j.starts_with(&[0xff, 0xd8]))
        );

        // Eve comes back an hour later: a second visit, live.
        let sighting = strangers.sighting(&visit(&eve, 0.5, &mut rng), 30.0, at(3600)).unwrap();
        assert_eq!(
            (sighting.unknown_id.as_str(), sighting.ignored),
            (id.to_string().as_str(), false)
        );
        assert_eq!(sighting.recent_visits, 2);

        // `squint unknowns ignore` in another process; the running stage sees it.
        Gallery::open(&path).unwrap().ignore_unknown(&id.to_string()).unwrap();
        assert!(
            strangers
                .sighting(&visit(&eve, 0.5, &mut rng), 30.0, at(3600))
                .unwrap()
                .ignored
        );
        let filed = strangers
            .track_ended(&ended(visit(&eve, 0.5, &mut rng), 4, 3600, 30.0, 8))
            .unwrap();
        assert_eq!(filed, Filed::Assigned(Assignment::Ignored(id)));
        let stored = Gallery::open_read_only(&path).unwrap().unknowns().unwrap();
        assert!(stored[0].ignored, "the pipeline's own write kept the mark");
        assert_eq!(stored[0].visits, 2);
    }

    #[test]
    fn a_promoted_stranger_becomes_an_identity_and_an_ignored_one_an_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let mut rng = StdRng::seed_from_u64(11);
        let (ada, eve, mallory) = (person(&mut rng), person(&mut rng), person(&mut rng));
        gallery_with_ada(&path, &ada);
        let mut strangers = Strangers::open(&enabled(), &AlertConfig::default(), &path).unwrap();
        let revision = Gallery::open_read_only(&path).unwrap().match_revision().unwrap();
        let Filed::Assigned(eve_id) = strangers
            .track_ended(&ended(visit(&eve, 0.5, &mut rng), 1, 0, 30.0, 8))
            .unwrap()
        else {
            panic!()
        };
        // Someone who looks rather like Ada: 0.6 similar.
        let lookalike = unit(ada.iter().zip(&mallory).map(|(a, m)| 0.6 * a + 0.8 * m).collect());
        let Filed::Assigned(mallory_id) = strangers
            .track_ended(&ended(lookalike.clone(), 2, 10, 30.0, 8))
            .unwrap()
        else {
            panic!()
        };
        let mut gallery = Gallery::open(&path).unwrap();
        assert_eq!(
            gallery.match_revision().unwrap(),
            revision,
            "recording strangers leaves the matcher alone"
        );
        assert_eq!(
            gallery.matcher("s", DIM).unwrap().best(&lookalike).unwrap().identity,
            "ada"
        );

        gallery.ignore_unknown(&mallory_id.id().to_string()).unwrap();
        assert_ne!(gallery.match_revision().unwrap(), revision);
        let matcher = gallery.matcher("s", DIM).unwrap();
        assert!(
            matcher.best(&lookalike).is_none(),
            "the ignored stranger is no longer Ada"
        );
        assert_eq!(matcher.best(&visit(&ada, 0.2, &mut rng)).unwrap().identity, "ada");

        let stored = gallery
            .promote_unknown(&eve_id.id().to_string(), "eve", Some("visitors"))
            .unwrap();
        assert_eq!(stored, 1);
        let matcher = gallery.matcher("s", DIM).unwrap();
        let eve_again = matcher.best(&visit(&eve, 0.5, &mut rng)).unwrap();
        assert_eq!(eve_again.identity, "eve");
        assert_eq!(matcher.watchlist_of("eve"), "visitors");
        assert_eq!(gallery.unknowns().unwrap().len(), 1, "eve's cluster is gone");
        let refused = gallery.promote_unknown(&mallory_id.id().to_string(), "mallory", None);
        assert!(refused.unwrap_err().to_string().contains("ignored"));
        let missing = gallery.promote_unknown(&eve_id.id().to_string(), "eve", None);
        assert!(missing.unwrap_err().to_string().contains("squint unknowns list"));
        assert!(strangers.sighting(&visit(&eve, 0.5, &mut rng), 30.0, at(60)).is_none());
    }

    #[test]
    fn purge_deletes_strangers_by_last_sighting_and_all_of_them_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let mut rng = StdRng::seed_from_u64(12);
        gallery_with_ada(&path, &person(&mut rng));
        let mut strangers = Strangers::open(&enabled(), &AlertConfig::default(), &path).unwrap();
        for (i, at_s) in [0u64, 5000].into_iter().enumerate() {
            strangers
                .track_ended(&ended(person(&mut rng), i as u64, at_s, 30.0, 8))
                .unwrap();
        }
        let mut gallery = Gallery::open(&path).unwrap();
        let cutoff = gallery.unknowns().unwrap()[0].last_seen_ms + 1;
        assert_eq!(actions::purge(&mut gallery, cutoff).unwrap(), 1);
        let left = gallery.unknowns().unwrap();
        assert_eq!(left.len(), 1);
        assert!(left[0].last_seen_ms >= cutoff);
        assert_eq!(actions::purge(&mut gallery, u64::MAX).unwrap(), 1);
        assert!(gallery.unknowns().unwrap().is_empty());
        assert_eq!(gallery.list().unwrap().len(), 1, "identities untouched");
    }

    #[test]
    fn a_version_4_gallery_gains_faces_and_visit_times() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta VALUES ('schema_version', '4');
             CREATE TABLE unknowns (id TEXT PRIMARY KEY, visits INTEGER NOT NULL, first_seen_ms INTEGER NOT NULL,
                 last_seen_ms INTEGER NOT NULL, cameras TEXT NOT NULL, ignored INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE unknown_templates (id INTEGER PRIMARY KEY, unknown_id TEXT NOT NULL, quality REAL NOT NULL,
                 embedding BLOB NOT NULL);
             INSERT INTO unknowns VALUES ('5c1e7a0e-0000-4000-8000-000000000001', 3, 10, 20, '[\"door\"]', 0);
             INSERT INTO unknown_templates (unknown_id, quality, embedding) VALUES ('5c1e7a0e-0000-4000-8000-000000000001', 0.5, x'0000803f');",
        )
        .unwrap();
        drop(conn);
        let gallery = Gallery::open(&path).unwrap();
        let stored = gallery.unknowns().unwrap();
        assert_eq!(stored[0].visits, 3);
        assert!(stored[0].visit_times.is_empty());
        assert_eq!(
            (stored[0].templates[0].width_px, stored[0].templates[0].jpeg.clone()),
            (0.0, None)
        );
        assert_eq!(gallery.match_revision().unwrap(), 0);
        drop(gallery);
        assert!(Gallery::open_read_only(&path).is_ok(), "now of the current layout");
    }
}
