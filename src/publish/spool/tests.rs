use super::*;

fn config(max_bytes: u64, when_full: WhenFull) -> SpoolConfig {
    SpoolConfig {
        dir: None,
        max_bytes,
        segment_bytes: 4096,
        alarm_percent: 80,
        when_full,
        max_in_flight: 100,
    }
}

fn payload(i: u64) -> Vec<u8> {
    format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(100)).into_bytes()
}

fn drain(spool: &mut Spool) -> Vec<SpoolRecord> {
    let mut out = Vec::new();
    while let Some(record) = spool.next_unsent().unwrap() {
        out.push(record);
    }
    out
}

#[test]
fn records_come_back_in_order_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), &config(1 << 20, WhenFull::Block)).unwrap();
    for i in 0..100 {
        let kind = if i % 3 == 0 {
            TopicKind::Alert
        } else {
            TopicKind::Identity
        };
        assert_eq!(spool.append(kind, &format!("cam{}", i % 2), &payload(i)).unwrap(), i);
    }
    spool.sync().unwrap();
    assert!(spool.segments.len() > 2, "rolled over segments");
    let records = drain(&mut spool);
    assert_eq!(records.len(), 100);
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.seq, i as u64);
        assert_eq!(record.payload, payload(i as u64));
        assert_eq!(record.key, format!("cam{}", i % 2));
        assert_eq!(record.kind == TopicKind::Alert, i % 3 == 0);
    }
    assert_eq!(spool.pending(), 100);
    assert_eq!(
        spool.read(57).unwrap().as_ref(),
        Some(&records[57]),
        "random access for resends"
    );
    assert_eq!(spool.read(100).unwrap(), None);
}

#[test]
fn unacknowledged_records_are_replayed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), &config(1 << 20, WhenFull::Block)).unwrap();
    for i in 0..60 {
        spool.append(TopicKind::Identity, "cam", &payload(i)).unwrap();
    }
    spool.sync().unwrap();
    let sent = drain(&mut spool);
    // Out-of-order acknowledgements: the cursor only passes a contiguous prefix.
    for record in sent.iter().take(40).rev() {
        spool.ack(record.seq).unwrap();
    }
    spool.ack(50).unwrap();
    spool.save_cursor().unwrap();
    assert_eq!(spool.pending(), 20);
    drop(spool);

    let mut reopened = Spool::open(dir.path(), &config(1 << 20, WhenFull::Block)).unwrap();
    assert_eq!(reopened.stats.recovered.load(Ordering::Relaxed), 20);
    let replayed: Vec<u64> = drain(&mut reopened).iter().map(|r| r.seq).collect();
    assert_eq!(replayed, (40..60).collect::<Vec<_>>(), "at-least-once: 50 comes again");
    assert_eq!(reopened.append(TopicKind::Identity, "cam", b"{}").unwrap(), 60);
}

#[test]
fn a_torn_record_at_the_end_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), &config(1 << 20, WhenFull::Block)).unwrap();
    for i in 0..5 {
        spool.append(TopicKind::Identity, "cam", &payload(i)).unwrap();
    }
    spool.sync().unwrap();
    let path = spool.segments.back().unwrap().path.clone();
    drop(spool);
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&encode(TopicKind::Identity, "cam", &payload(5))[..50])
        .unwrap();
    drop(file);

    let mut reopened = Spool::open(dir.path(), &config(1 << 20, WhenFull::Block)).unwrap();
    assert_eq!(drain(&mut reopened).len(), 5);
    assert_eq!(reopened.append(TopicKind::Identity, "cam", &payload(5)).unwrap(), 5);
}

#[test]
fn full_spool_blocks_with_an_alarm_when_configured_to() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), &config(3 * 4096, WhenFull::Block)).unwrap();
    let mut appended = 0;
    let error = loop {
        match spool.append(TopicKind::Identity, "cam", &payload(appended)) {
            Ok(_) => appended += 1,
            Err(e) => break e,
        }
        assert!(appended < 1000, "never filled");
    };
    assert!(matches!(error, SpoolError::Full { .. }), "{error}");
    assert!(error.to_string().contains("when_full"), "{error}");
    assert!(spool.stats.alarm.load(Ordering::Relaxed));
    assert_eq!(spool.stats.dropped.load(Ordering::Relaxed), 0, "nothing dropped");
    // Acknowledging frees whole segments, and the spool takes events again.
    for record in drain(&mut spool) {
        spool.ack(record.seq).unwrap();
    }
    spool.append(TopicKind::Identity, "cam", &payload(0)).unwrap();
    assert!(!spool.stats.alarm.load(Ordering::Relaxed), "alarm cleared");
}

#[test]
fn drop_oldest_counts_what_it_drops_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), &config(3 * 4096, WhenFull::DropOldest)).unwrap();
    for i in 0..300 {
        spool.append(TopicKind::Identity, "cam", &payload(i)).unwrap();
    }
    let dropped = spool.stats.dropped.load(Ordering::Relaxed);
    let remaining: Vec<u64> = drain(&mut spool).iter().map(|r| r.seq).collect();
    assert!(dropped > 0);
    assert_eq!(
        dropped + remaining.len() as u64,
        300,
        "every event is delivered or counted"
    );
    assert_eq!(remaining, (dropped..300).collect::<Vec<_>>());
}
