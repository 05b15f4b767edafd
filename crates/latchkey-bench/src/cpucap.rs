//! `--node-cpu-quota`: each node a machine of a fraction of one core, through a cgroup of its
//! own (v2 `cpu.max`, or v1 `cpu.cfs_quota_us`).
//!
//! Why: on the project's 2-core machine the nodes, PostgreSQL and the load generator share
//! the same cores, so a second node adds a process competing for them, not capacity, and
//! "two nodes serve more than one" cannot show whatever the design (docs/benchmarks.md).
//! With every node capped at, say, a quarter of a core, a node is the bottleneck the way a
//! small machine would be, and the scale-out ratio says whether the nodes get in each other's
//! way (through the database, the audit head, locks) when one is added.
//!
//! The cgroup is created under the root of the controller's hierarchy (root only), named
//! after the harness's pid and the node, and removed when the node has stopped.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Scheduler period the quota is a share of, in microseconds.
const PERIOD_US: u64 = 100_000;

/// A node's cgroup; removed on drop (the node must have exited).
#[derive(Debug)]
pub struct CpuCap {
    dir: PathBuf,
}

impl CpuCap {
    /// Moves process `pid` (node `node`) into a new cgroup allowed `fraction` of one CPU.
    pub fn apply(pid: u32, node: usize, fraction: f64) -> Result<CpuCap> {
        if !(0.01..=64.0).contains(&fraction) {
            bail!("--node-cpu-quota must be between 0.01 and 64 (CPUs per node)");
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )] // checked range above; a quota in whole microseconds
        let quota = (fraction * PERIOD_US as f64).round() as u64;
        let name = format!("latchkey-bench-{}-node{node}", std::process::id());
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers");
        let (dir, limit, value) = if std::fs::read_to_string(v2).is_ok_and(|c| c.contains("cpu")) {
            (
                Path::new("/sys/fs/cgroup").join(&name),
                "cpu.max",
                format!("{quota} {PERIOD_US}"),
            )
        } else if Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists() {
            (
                Path::new("/sys/fs/cgroup/cpu").join(&name),
                "cpu.cfs_quota_us",
                quota.to_string(),
            )
        } else {
            bail!(
                "--node-cpu-quota needs the cgroup cpu controller (v2 cpu.max or v1 \
                 cpu.cfs_quota_us under /sys/fs/cgroup); none found"
            );
        };
        std::fs::create_dir(&dir).with_context(|| {
            format!(
                "creating the cgroup {} (--node-cpu-quota needs root)",
                dir.display()
            )
        })?;
        let cap = CpuCap { dir };
        if limit == "cpu.cfs_quota_us" {
            cap.write("cpu.cfs_period_us", &PERIOD_US.to_string())?;
        }
        cap.write(limit, &value)?;
        cap.write("cgroup.procs", &pid.to_string())?;
        Ok(cap)
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let path = self.dir.join(file);
        std::fs::write(&path, value).with_context(|| format!("writing {}", path.display()))
    }
}

impl Drop for CpuCap {
    fn drop(&mut self) {
        // An empty cgroup is removed with rmdir (its control files go with it).
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            eprintln!(
                "latchkey-bench: could not remove the cgroup {}: {e}",
                self.dir.display()
            );
        }
    }
}
