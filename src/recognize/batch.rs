use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

/// What waiting for a batch produced.
#[derive(Debug, PartialEq)]
pub enum Batch<T> {
    Items(Vec<T>),
    /// Nothing arrived within the idle timeout; check for shutdown and ask again.
    Idle,
    /// Every sender is gone and the queue is empty.
    Closed,
}

/// Waits up to `idle` for a first item, then gathers more until `max_batch` items or until
/// `max_wait` has passed since the first one arrived.
pub fn next_batch<T>(rx: &Receiver<T>, max_batch: usize, max_wait: Duration, idle: Duration) -> Batch<T> {
    let first = match rx.recv_timeout(idle) {
        Ok(item) => item,
        Err(RecvTimeoutError::Timeout) => return Batch::Idle,
        Err(RecvTimeoutError::Disconnected) => return Batch::Closed,
    };
    let deadline = Instant::now() + max_wait;
    let mut items = Vec::with_capacity(max_batch);
    items.push(first);
    while items.len() < max_batch {
        match rx.recv_deadline(deadline) {
            Ok(item) => items.push(item),
            Err(_) => break,
        }
    }
    Batch::Items(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_millis(50);

    #[test]
    fn full_batch_returns_without_waiting_for_the_deadline() {
        let (tx, rx) = crossbeam_channel::bounded(16);
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        let started = Instant::now();
        assert_eq!(
            next_batch(&rx, 4, Duration::from_secs(30), IDLE),
            Batch::Items(vec![0, 1, 2, 3])
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            next_batch(&rx, 4, Duration::from_secs(30), IDLE),
            Batch::Items(vec![4, 5, 6, 7])
        );
    }

    #[test]
    fn partial_batch_is_released_at_the_deadline() {
        let (tx, rx) = crossbeam_channel::bounded(16);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(
            next_batch(&rx, 8, Duration::from_millis(20), IDLE),
            Batch::Items(vec![1, 2])
        );
    }

    #[test]
    fn reports_idle_and_closed() {
        let (tx, rx) = crossbeam_channel::bounded::<u8>(1);
        assert_eq!(next_batch(&rx, 8, Duration::ZERO, IDLE), Batch::Idle);
        drop(tx);
        assert_eq!(next_batch(&rx, 8, Duration::ZERO, IDLE), Batch::Closed);
    }
}
