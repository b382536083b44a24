//! The on-disk spool every event passes through before Kafka: an append-only log of
//! segment files, fsync'd in groups, with a cursor of what Kafka acknowledged. Events wait
//! here while the broker is away and are replayed in order when it returns, also after a
//! restart of Squint. Bounded: near full it raises an alarm; when full it either blocks the
//! pipeline or drops the oldest segment, as configured, and says so.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Deserialize;

use super::TopicKind;
use crate::check::{KeyError, check_range};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Stop taking events: the pipeline backs up and live cameras drop crops (counted).
    Block,
    /// Delete the oldest segment (its events are lost, counted and logged).
    DropOldest,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Default: `<pipeline.state_dir>/spool`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// Raise the alarm (log, /metrics) at this fill level.
    #[serde(default = "default_alarm_percent")]
    pub alarm_percent: u64,
    #[serde(default = "default_when_full")]
    pub when_full: WhenFull,
    /// Events handed to librdkafka and not yet acknowledged; the rest wait on disk.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: None,
            max_bytes: default_max_bytes(),
            segment_bytes: default_segment_bytes(),
            alarm_percent: default_alarm_percent(),
            when_full: default_when_full(),
            max_in_flight: default_in_flight(),
        }
    }
}

/// About a million identity events (~1 KiB each): hours of outage for a few cameras.
fn default_max_bytes() -> u64 {
    1 << 30
}
fn default_segment_bytes() -> u64 {
    16 << 20
}
fn default_alarm_percent() -> u64 {
    80
}
fn default_when_full() -> WhenFull {
    WhenFull::Block
}
fn default_in_flight() -> usize {
    1000
}

impl SpoolConfig {
    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        check_range("spool.segment_bytes", self.segment_bytes, 4096, 1 << 34)?;
        check_range("spool.max_bytes", self.max_bytes, 2 * self.segment_bytes, u64::MAX)
            .map_err(|(k, m)| (k, format!("{m} (at least two segments)")))?;
        check_range("spool.alarm_percent", self.alarm_percent, 1, 100)?;
        check_range("spool.max_in_flight", self.max_in_flight, 1, 1_000_000)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("event spool {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("event spool {path} is full ({bytes} of {max} bytes, kafka.spool.when_full = \"block\")")]
    Full { path: PathBuf, bytes: u64, max: u64 },
}

/// Counters for /metrics and the final summary.
#[derive(Debug, Default)]
pub struct SpoolStats {
    pub bytes: AtomicU64,
    /// Appended and not yet acknowledged by Kafka.
    pub pending: AtomicU64,
    pub appended: AtomicU64,
    /// Lost to `when_full = "drop_oldest"`.
    pub dropped: AtomicU64,
    /// Found unacknowledged at start-up and replayed.
    pub recovered: AtomicU64,
    pub alarm: AtomicBool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpoolRecord {
    pub seq: u64,
    pub kind: TopicKind,
    pub key: String,
    pub payload: Vec<u8>,
}

#[derive(Debug)]
struct Segment {
    first_seq: u64,
    records: u64,
    bytes: u64,
    path: PathBuf,
}

struct ReadPosition {
    segment_first_seq: u64,
    file: BufReader<File>,
}

/// Record framing: body length and CRC-32 (little-endian u32 each), then the body:
/// topic byte, key length (u16), key, payload.
const HEADER: usize = 8;
const CURSOR_FILE: &str = "cursor";

pub struct Spool {
    dir: PathBuf,
    config: SpoolConfig,
    segments: VecDeque<Segment>,
    writer: Option<File>,
    unsynced: bool,
    next_seq: u64,
    /// Next record to hand to Kafka.
    read_seq: u64,
    reader: Option<ReadPosition>,
    /// Every record below this was acknowledged.
    cursor: u64,
    saved_cursor: u64,
    in_flight: BTreeSet<u64>,
    pub stats: Arc<SpoolStats>,
}

impl Spool {
    /// Opens (or creates) the spool, dropping a torn record a crash may have left at the end,
    /// and positions the reader at the first unacknowledged record.
    pub fn open(dir: &Path, config: &SpoolConfig) -> Result<Spool, SpoolError> {
        let io = |source| SpoolError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let segments = recover_segments(dir)?;
        let cursor_text = std::fs::read_to_string(dir.join(CURSOR_FILE)).unwrap_or_default();
        let first = segments.front().map_or(0, |s| s.first_seq);
        let next_seq = segments.back().map_or(0, |s| s.first_seq + s.records);
        let cursor = cursor_text.trim().parse::<u64>().unwrap_or(0).clamp(first, next_seq);
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            config: config.clone(),
            segments,
            writer: None,
            unsynced: false,
            next_seq,
            read_seq: cursor,
            reader: None,
            cursor,
            saved_cursor: cursor,
            in_flight: BTreeSet::new(),
            stats: Arc::new(SpoolStats::default()),
        };
        spool.remove_acknowledged_segments()?;
        let pending = spool.pending();
        spool.stats.recovered.store(pending, Ordering::Relaxed);
        spool.publish_stats();
        if pending > 0 {
            tracing::warn!(events = pending, spool = %dir.display(), "replaying events Kafka had not acknowledged before the last stop");
        }
        Ok(spool)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appended and not yet acknowledged.
    pub fn pending(&self) -> u64 {
        self.next_seq - self.cursor
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Appends one record (not yet durable: call [`Spool::sync`] after a group).
    pub fn append(&mut self, kind: TopicKind, key: &str, payload: &[u8]) -> Result<u64, SpoolError> {
        let record = encode(kind, key, payload);
        self.make_room(record.len() as u64)?;
        if self.writer.is_none()
            || self
                .segments
                .back()
                .is_none_or(|s| s.bytes >= self.config.segment_bytes)
        {
            self.start_segment()?;
        }
        let path = self.segments.back().map(|s| s.path.clone()).unwrap_or_default();
        let writer = self.writer.as_mut().ok_or_else(|| SpoolError::Io {
            path: path.clone(),
            source: std::io::Error::other("no open segment"),
        })?;
        writer
            .write_all(&record)
            .map_err(|source| SpoolError::Io { path, source })?;
        if let Some(segment) = self.segments.back_mut() {
            segment.records += 1;
            segment.bytes += record.len() as u64;
        }
        self.unsynced = true;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.appended.fetch_add(1, Ordering::Relaxed);
        self.publish_stats();
        Ok(seq)
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if let (true, Some(writer)) = (self.unsynced, &self.writer) {
            writer.sync_data().map_err(|source| SpoolError::Io {
                path: self.dir.clone(),
                source,
            })?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// The next record not yet handed to Kafka, in append order.
    pub fn next_unsent(&mut self) -> Result<Option<SpoolRecord>, SpoolError> {
        if self.read_seq >= self.next_seq {
            return Ok(None);
        }
        let segment = self
            .segments
            .iter()
            .find(|s| self.read_seq < s.first_seq + s.records)
            .map(|s| (s.first_seq, s.path.clone()));
        let Some((first_seq, path)) = segment else {
            return Ok(None);
        };
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        if self.reader.as_ref().is_none_or(|r| r.segment_first_seq != first_seq) {
            let mut file = BufReader::new(File::open(&path).map_err(io)?);
            // A segment entered part-way (after a restart or a dropped segment): skip to read_seq.
            let skip = self.read_seq.max(first_seq) - first_seq;
            for _ in 0..skip {
                read_record(&mut file).map_err(io)?;
            }
            self.read_seq = self.read_seq.max(first_seq);
            self.reader = Some(ReadPosition {
                segment_first_seq: first_seq,
                file,
            });
        }
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        let body = read_record(&mut reader.file).map_err(io)?;
        let (kind, key, payload) = decode(&body).map_err(io)?;
        let seq = self.read_seq;
        self.read_seq += 1;
        self.in_flight.insert(seq);
        Ok(Some(SpoolRecord {
            seq,
            kind,
            key,
            payload,
        }))
    }

    /// Reads record `seq` again (to resend it); `None` when it is no longer spooled.
    pub fn read(&self, seq: u64) -> Result<Option<SpoolRecord>, SpoolError> {
        let Some(segment) = self
            .segments
            .iter()
            .find(|s| s.first_seq <= seq && seq < s.first_seq + s.records)
        else {
            return Ok(None);
        };
        let io = |source| SpoolError::Io {
            path: segment.path.clone(),
            source,
        };
        let mut file = BufReader::new(File::open(&segment.path).map_err(io)?);
        for _ in segment.first_seq..seq {
            read_record(&mut file).map_err(io)?;
        }
        let (kind, key, payload) = decode(&read_record(&mut file).map_err(io)?).map_err(io)?;
        Ok(Some(SpoolRecord {
            seq,
            kind,
            key,
            payload,
        }))
    }

    /// Kafka acknowledged `seq` (or it failed for good and was set aside).
    pub fn ack(&mut self, seq: u64) -> Result<(), SpoolError> {
        self.in_flight.remove(&seq);
        self.cursor = self
            .in_flight
            .first()
            .copied()
            .unwrap_or(self.read_seq)
            .max(self.cursor);
        self.remove_acknowledged_segments()?;
        self.publish_stats();
        Ok(())
    }

    /// Records the cursor on disk (atomically), so a restart replays only what is pending.
    pub fn save_cursor(&mut self) -> Result<(), SpoolError> {
        if self.saved_cursor == self.cursor {
            return Ok(());
        }
        let path = self.dir.join(CURSOR_FILE);
        let temporary = self.dir.join("cursor.tmp");
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        std::fs::write(&temporary, self.cursor.to_string()).map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)?;
        self.saved_cursor = self.cursor;
        Ok(())
    }

    fn start_segment(&mut self) -> Result<(), SpoolError> {
        self.sync()?;
        let path = self.dir.join(format!("{:020}.spool", self.next_seq));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| SpoolError::Io {
                path: path.clone(),
                source,
            })?;
        self.writer = Some(file);
        self.segments.push_back(Segment {
            first_seq: self.next_seq,
            records: 0,
            bytes: 0,
            path,
        });
        Ok(())
    }

    fn make_room(&mut self, needed: u64) -> Result<(), SpoolError> {
        while self.bytes() + needed > self.config.max_bytes {
            if self.config.when_full == WhenFull::Block || self.segments.len() < 2 {
                return Err(SpoolError::Full {
                    path: self.dir.clone(),
                    bytes: self.bytes(),
                    max: self.config.max_bytes,
                });
            }
            self.drop_oldest_segment()?;
        }
        Ok(())
    }

    fn drop_oldest_segment(&mut self) -> Result<(), SpoolError> {
        let Some(oldest) = self.segments.pop_front() else {
            return Ok(());
        };
        let end = oldest.first_seq + oldest.records;
        let lost = end.saturating_sub(self.cursor.max(oldest.first_seq));
        self.stats.dropped.fetch_add(lost, Ordering::Relaxed);
        tracing::error!(
            events = lost,
            spool = %self.dir.display(),
            "event spool full: dropped the oldest events (kafka.spool.when_full = \"drop_oldest\"); raise kafka.spool.max_bytes or bring Kafka back"
        );
        self.cursor = self.cursor.max(end);
        if self.read_seq < end {
            self.read_seq = end;
            self.reader = None;
        }
        remove_file(&oldest.path)
    }

    fn remove_acknowledged_segments(&mut self) -> Result<(), SpoolError> {
        // The segment being written stays even when fully acknowledged.
        while self.segments.len() > 1
            && self
                .segments
                .front()
                .is_some_and(|s| s.first_seq + s.records <= self.cursor)
        {
            if let Some(segment) = self.segments.pop_front() {
                remove_file(&segment.path)?;
            }
        }
        Ok(())
    }

    fn publish_stats(&self) {
        let bytes = self.bytes();
        self.stats.bytes.store(bytes, Ordering::Relaxed);
        self.stats.pending.store(self.pending(), Ordering::Relaxed);
        let percent = bytes * 100 / self.config.max_bytes.max(1);
        let alarm = self.stats.alarm.load(Ordering::Relaxed);
        if !alarm && percent >= self.config.alarm_percent {
            self.stats.alarm.store(true, Ordering::Relaxed);
            tracing::error!(percent, bytes, spool = %self.dir.display(), "event spool nearly full: is Kafka reachable?");
        } else if alarm && percent + 10 < self.config.alarm_percent {
            self.stats.alarm.store(false, Ordering::Relaxed);
            tracing::info!(percent, "event spool draining; alarm cleared");
        }
    }
}

fn remove_file(path: &Path) -> Result<(), SpoolError> {
    std::fs::remove_file(path).map_err(|source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn encode(kind: TopicKind, key: &str, payload: &[u8]) -> Vec<u8> {
    let key = &key.as_bytes()[..key.len().min(u16::MAX as usize)];
    let mut body = Vec::with_capacity(3 + key.len() + payload.len());
    body.push(kind.to_byte());
    body.extend_from_slice(&(key.len() as u16).to_le_bytes());
    body.extend_from_slice(key);
    body.extend_from_slice(payload);
    let mut record = Vec::with_capacity(HEADER + body.len());
    record.extend_from_slice(&(body.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    record.extend_from_slice(&body);
    record
}

fn decode(body: &[u8]) -> std::io::Result<(TopicKind, String, Vec<u8>)> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let kind = body
        .first()
        .and_then(|&b| TopicKind::from_byte(b))
        .ok_or_else(|| invalid("unknown topic"))?;
    let key_len = body
        .get(1..3)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
        .ok_or_else(|| invalid("short record"))?;
    let key = body.get(3..3 + key_len).ok_or_else(|| invalid("short record"))?;
    let key = String::from_utf8(key.to_vec()).map_err(|_| invalid("key is not UTF-8"))?;
    Ok((kind, key, body[3 + key_len..].to_vec()))
}

/// Reads one record's body, checking its CRC.
fn read_record(file: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; HEADER];
    file.read_exact(&mut header)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut body = vec![0u8; len];
    file.read_exact(&mut body)?;
    if crc32fast::hash(&body) != crc {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "checksum mismatch",
        ));
    }
    Ok(body)
}

/// Lists the segments, counting their valid records; a torn or corrupt tail (a crash
/// during a write) is cut off, with a warning.
fn recover_segments(dir: &Path) -> Result<VecDeque<Segment>, SpoolError> {
    let io = |path: &Path, source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let path = entry.map_err(|e| io(dir, e))?.path();
        let first_seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".spool"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first_seq) = first_seq {
            found.push((first_seq, path));
        }
    }
    found.sort();
    let mut segments = VecDeque::new();
    for (first_seq, path) in found {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        let size = file.metadata().map_err(|e| io(&path, e))?.len();
        let (mut records, mut good) = (0u64, 0u64);
        {
            let mut reader = BufReader::new(&mut file);
            while let Ok(body) = read_record(&mut reader) {
                records += 1;
                good += (HEADER + body.len()) as u64;
            }
        }
        if good < size {
            tracing::warn!(segment = %path.display(), bytes = size - good, "event spool: cut off a torn or corrupt record at the end of a segment");
            file.set_len(good).map_err(|e| io(&path, e))?;
            file.seek(SeekFrom::End(0)).map_err(|e| io(&path, e))?;
        }
        segments.push_back(Segment {
            first_seq,
            records,
            bytes: good,
            path,
        });
    }
    Ok(segments)
}

#[cfg(test)]
mod tests;
