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
        seen_at_ms: at_ms,
    }
}

fn config() -> ClusterConfig {
    ClusterConfig {
        bands: AlertConfig::default().bands,
        max_templates: 3,
        merge_similarity: 0.8,
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
