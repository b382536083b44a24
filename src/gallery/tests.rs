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
    let mut gallery = Gallery::open(&path).unwrap();
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
                templates: 2
            },
            IdentitySummary {
                name: "bob".into(),
                templates: 1
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
    let mut gallery = Gallery::open(&dir.path().join("g.db")).unwrap();
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
    let mut gallery = Gallery::open(&dir.path().join("g.db")).unwrap();
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
