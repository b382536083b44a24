//! One `squint run` per state folder: two would share one spool and one embedded-broker
//! address file, and replay or acknowledge each other's events.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{dir} is in use by another `squint run` (it holds {lock}); give each instance its own pipeline.state_dir (and kafka.spool.dir), or stop the other one"
    )]
    Busy { dir: PathBuf, lock: PathBuf },
    #[error(
        "cannot lock {lock}: {source}; check that pipeline.state_dir / kafka.spool.dir is a folder this user may write"
    )]
    Io { lock: PathBuf, source: std::io::Error },
}

/// Held while the pipeline runs; the operating system releases it when the process ends,
/// however it ends, so a crash never leaves a stale lock.
#[derive(Debug)]
pub struct StateLock {
    _files: Vec<File>,
}

impl StateLock {
    /// Locks each folder (created if missing), or says which one another process holds.
    pub fn take(dirs: &[&Path]) -> Result<StateLock, LockError> {
        let mut files = Vec::new();
        for dir in dirs {
            let lock = dir.join("squint.lock");
            let io = |source| LockError::Io {
                lock: lock.clone(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(io)?;
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => files.push(file),
                Err(TryLockError::WouldBlock) => {
                    return Err(LockError::Busy {
                        dir: dir.to_path_buf(),
                        lock,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        Ok(StateLock { _files: files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::take(&[dir.path()]).unwrap();
        let error = StateLock::take(&[dir.path()]).unwrap_err().to_string();
        assert!(
            error.contains("in use by another `squint run`") && error.contains("pipeline.state_dir"),
            "{error}"
        );
        drop(first);
        assert!(StateLock::take(&[dir.path()]).is_ok());
    }
}
