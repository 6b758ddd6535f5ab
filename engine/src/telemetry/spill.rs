//! The spill directory: batches that could not reach ClickHouse, kept on
//! local disk in order until they can, each file checked on the way back.
//!
//! A file is `<sequence>.batch`: one header line
//! `throng-spill v1 <payload bytes> <FNV-1a 64 of the payload, hex>` and the
//! payload. Files are written under a temporary name, synced, then renamed,
//! so a crash leaves either a whole file or none. A file whose checksum does
//! not match is moved to `corrupt/` and reported, and the others go on.
//! Batches ClickHouse refuses (a bad value, a schema that drifted) are kept in
//! `quarantine/` with the reason, rather than retried forever.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &str = "throng-spill v1";

/// Why a spilled file could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpillError {
    #[error("spill file {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("spill directory {path}: {reason}")]
    Io { path: String, reason: String },
}

fn io_error(path: &Path, error: std::io::Error) -> SpillError {
    SpillError::Io {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}

fn checksum(payload: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in payload {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// An ordered, append-only directory of spilled batches.
#[derive(Debug)]
pub struct SpillDir {
    dir: PathBuf,
    next_sequence: u64,
}

impl SpillDir {
    /// Opens (creating) the directory; new files follow the ones already there.
    pub fn open(dir: &Path) -> Result<SpillDir, SpillError> {
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let mut spill = SpillDir {
            dir: dir.to_path_buf(),
            next_sequence: 0,
        };
        spill.next_sequence = spill
            .pending()?
            .iter()
            .filter_map(|p| sequence_of(p))
            .max()
            .map_or(0, |s| s + 1);
        Ok(spill)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes a batch durably; a full disk or any other failure is an error
    /// (the caller holds the batch and stops taking more: backpressure).
    pub fn append(&mut self, payload: &[u8]) -> Result<PathBuf, SpillError> {
        let name = format!("{:020}.batch", self.next_sequence);
        let temporary = self.dir.join(format!(".{name}.partial"));
        let path = self.dir.join(&name);
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create(&temporary)?;
            writeln!(file, "{MAGIC} {} {:016x}", payload.len(), checksum(payload))?;
            file.write_all(payload)?;
            file.sync_all()?;
            fs::rename(&temporary, &path)
        };
        if let Err(error) = write() {
            let _ = fs::remove_file(&temporary);
            return Err(io_error(&self.dir, error));
        }
        self.next_sequence += 1;
        Ok(path)
    }

    /// Spilled batches waiting for ClickHouse, oldest first.
    pub fn pending(&self) -> Result<Vec<PathBuf>, SpillError> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map_err(|e| io_error(&self.dir, e))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| sequence_of(p).is_some())
            .collect();
        files.sort_by_key(|p| sequence_of(p));
        Ok(files)
    }

    /// Reads a spilled batch back, checking it is whole and unchanged.
    pub fn read(path: &Path) -> Result<Vec<u8>, SpillError> {
        let corrupt = |reason: &str| SpillError::Corrupt {
            path: path.display().to_string(),
            reason: reason.to_string(),
        };
        let bytes = fs::read(path).map_err(|e| io_error(path, e))?;
        let Some(end) = bytes.iter().position(|b| *b == b'\n') else {
            return Err(corrupt("no header line"));
        };
        let header = std::str::from_utf8(&bytes[..end]).map_err(|_| corrupt("header is not text"))?;
        let fields: Vec<&str> = header.rsplitn(3, ' ').collect();
        let [sum, length, magic] = fields.as_slice() else {
            return Err(corrupt("malformed header"));
        };
        if *magic != MAGIC {
            return Err(corrupt("not a spill file"));
        }
        let payload = &bytes[end + 1..];
        if length.parse::<usize>().ok() != Some(payload.len()) {
            return Err(corrupt("truncated: the length does not match"));
        }
        if u64::from_str_radix(sum, 16).ok() != Some(checksum(payload)) {
            return Err(corrupt("checksum mismatch"));
        }
        Ok(payload.to_vec())
    }

    /// Removes a batch that reached ClickHouse.
    pub fn remove(&self, path: &Path) -> Result<(), SpillError> {
        fs::remove_file(path).map_err(|e| io_error(path, e))
    }

    /// Moves a corrupt file aside (kept for inspection, never replayed).
    pub fn set_aside_corrupt(&self, path: &Path) -> Result<PathBuf, SpillError> {
        self.move_into("corrupt", path)
    }

    /// Keeps a batch ClickHouse refused, with the reason beside it.
    pub fn quarantine(&self, payload: &[u8], reason: &str) -> Result<PathBuf, SpillError> {
        let dir = self.dir.join("quarantine");
        fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let stamp = crate::clock::epoch_ms();
        let path = dir.join(format!("{stamp}-{:016x}.batch", checksum(payload)));
        fs::write(&path, payload).map_err(|e| io_error(&path, e))?;
        fs::write(path.with_extension("reason"), reason).map_err(|e| io_error(&path, e))?;
        Ok(path)
    }

    /// Batches in quarantine.
    pub fn quarantined(&self) -> Vec<PathBuf> {
        let dir = self.dir.join("quarantine");
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "batch"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    fn move_into(&self, sub: &str, path: &Path) -> Result<PathBuf, SpillError> {
        let dir = self.dir.join(sub);
        fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let target = dir.join(path.file_name().unwrap_or_default());
        fs::rename(path, &target).map_err(|e| io_error(path, e))?;
        Ok(target)
    }
}

/// The sequence number of a spill file, `None` for anything else.
fn sequence_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".batch")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_back_in_order_and_whole() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spill = SpillDir::open(dir.path()).expect("open");
        for n in 0..12 {
            spill.append(format!("batch {n}").as_bytes()).expect("append");
        }
        // Reopening continues the sequence after the files already there.
        let mut reopened = SpillDir::open(dir.path()).expect("reopen");
        reopened.append(b"batch 12").expect("append");
        let read: Vec<String> = reopened
            .pending()
            .expect("pending")
            .iter()
            .map(|p| String::from_utf8(SpillDir::read(p).expect("read")).expect("text"))
            .collect();
        let expected: Vec<String> = (0..13).map(|n| format!("batch {n}")).collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn a_corrupt_or_truncated_file_is_detected_and_set_aside() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spill = SpillDir::open(dir.path()).expect("open");
        let flipped = spill.append(b"hello world").expect("append");
        let truncated = spill.append(b"a longer payload").expect("append");
        let good = spill.append(b"fine").expect("append");
        let mut bytes = fs::read(&flipped).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0x20;
        fs::write(&flipped, bytes).expect("write");
        let bytes = fs::read(&truncated).expect("read");
        fs::write(&truncated, &bytes[..bytes.len() - 3]).expect("write");
        assert!(
            matches!(SpillDir::read(&flipped), Err(SpillError::Corrupt { reason, .. }) if reason.contains("checksum"))
        );
        assert!(
            matches!(SpillDir::read(&truncated), Err(SpillError::Corrupt { reason, .. }) if reason.contains("truncated"))
        );
        assert_eq!(SpillDir::read(&good).expect("good"), b"fine");
        spill.set_aside_corrupt(&flipped).expect("aside");
        assert_eq!(spill.pending().expect("pending"), vec![truncated, good]);
        assert!(
            dir.path()
                .join("corrupt")
                .join(flipped.file_name().expect("name"))
                .exists()
        );
    }

    #[test]
    fn refused_batches_are_quarantined_with_their_reason() {
        let dir = tempfile::tempdir().expect("dir");
        let spill = SpillDir::open(dir.path()).expect("open");
        let path = spill
            .quarantine(b"rows", "table sessions: no column persona")
            .expect("quarantine");
        assert_eq!(spill.quarantined(), vec![path.clone()]);
        let reason = fs::read_to_string(path.with_extension("reason")).expect("reason");
        assert!(reason.contains("no column persona"));
        assert!(spill.pending().expect("pending").is_empty(), "never replayed");
    }

    #[test]
    fn a_directory_that_cannot_be_written_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("dir");
        let blocked = dir.path().join("file");
        fs::write(&blocked, b"not a directory").expect("write");
        let error = SpillDir::open(&blocked.join("spill")).expect_err("cannot create");
        assert!(error.to_string().contains("spill directory"), "{error}");
    }
}
