//! The disk's durable-write latency where the servers keep their data, measured before the
//! load starts so the latency figures can be read against it: a durable commit (SQLite with
//! `synchronous=FULL`, a PostgreSQL commit) waits for at least one flush to the disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// p50 and p99 of `n` appends of 4 KiB, each followed by `fdatasync`, to a scratch file in
/// `dir` (removed afterwards).
pub fn fsync_latency(dir: &Path, n: usize) -> std::io::Result<(Duration, Duration)> {
    let path = dir.join("fsync-probe.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let measured = appends(&mut file, n);
    drop(file);
    let removed = std::fs::remove_file(&path);
    let mut lat = measured?;
    removed?;
    lat.sort_unstable();
    let q = |pct: usize| {
        lat.get(lat.len().saturating_sub(1) * pct / 100)
            .copied()
            .unwrap_or_default()
    };
    Ok((q(50), q(99)))
}

fn appends(file: &mut File, n: usize) -> std::io::Result<Vec<Duration>> {
    let block = [0x5a_u8; 4096];
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        file.write_all(&block)?;
        let t = Instant::now();
        file.sync_data()?;
        lat.push(t.elapsed());
    }
    Ok(lat)
}

#[cfg(test)]
mod tests {
    #[test]
    fn measures_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let (p50, p99) = super::fsync_latency(dir.path(), 20).unwrap_or_else(|e| panic!("{e}"));
        assert!(p50 <= p99);
        let left = std::fs::read_dir(dir.path()).map_or(1, Iterator::count);
        assert_eq!(left, 0, "the probe file is removed");
    }
}
