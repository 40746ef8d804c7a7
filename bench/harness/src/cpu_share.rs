//! A 128 MB function's CPU share for the spawned function: Lambda allots CPU in proportion
//! to memory (1,769 MB is one vCPU), so 128 MB is about 7.2 % of one. The bench makes a
//! cgroup with a CFS quota of that share of each 100 ms period (the kernel's default
//! period, what `docker run --cpus` sets) for each cold start, puts the function process in
//! it before it runs a single instruction of its own, and removes the cgroup after. A fresh
//! cgroup per process, as each Lambda execution environment is its own: the quota one
//! process used in a period is never charged to the next.
//!
//! Where the machine allows no cgroup (not root, a read-only cgroup file system), the
//! closest honest substitute is [`DutyCycle`]: the harness lets the process run 7.2 ms of
//! each 100 ms of wall time and stops it (`SIGSTOP`) for the rest. It is harsher than a
//! quota (a slot the process spends waiting on I/O is lost, and the quota would let it
//! use that CPU later in the period), and its periods start when the harness has spawned
//! the process, not at exec; the report says which one measured.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One vCPU's worth of memory, in MB (AWS Lambda's documentation).
pub const ONE_VCPU_MB: f64 = 1769.0;
const PERIOD_US: u64 = 100_000;

pub struct CpuLimit {
    dir: PathBuf,
    /// The share of one CPU, in percent.
    pub percent: f64,
    /// Which cgroup interface set it ("cgroup v1 cpu.cfs_quota_us" or "cgroup v2 cpu.max").
    pub how: &'static str,
}

impl CpuLimit {
    /// The share of a `memory_mb` function, or why this machine does not allow it.
    pub fn create(memory_mb: u32) -> Result<CpuLimit, String> {
        let share = f64::from(memory_mb) / ONE_VCPU_MB;
        let quota_us = (share * PERIOD_US as f64).round() as u64;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("parsec-bench-{}-{n}", std::process::id());
        let own =
            std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
        // cgroup v1: a `cpu` hierarchy; the process's place in it from /proc/self/cgroup.
        for mount in ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"] {
            if !Path::new(mount).join("cpu.cfs_quota_us").exists() {
                continue;
            }
            let place = own
                .lines()
                .filter_map(|l| {
                    let mut fields = l.splitn(3, ':').skip(1);
                    fields.next().zip(fields.next())
                })
                .find(|(controllers, _)| controllers.split(',').any(|c| c == "cpu"))
                .map_or("/", |(_, path)| path);
            let dir = Path::new(mount).join(place.trim_start_matches('/')).join(&name);
            std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            let limit = CpuLimit { dir, percent: share * 100.0, how: "cgroup v1 cpu.cfs_quota_us" };
            write(&limit.dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
            write(&limit.dir.join("cpu.cfs_quota_us"), &quota_us.to_string())?;
            return Ok(limit);
        }
        // cgroup v2: a child of the process's cgroup with `cpu` delegated to it.
        let place = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .ok_or("no cgroup v1 cpu hierarchy, no cgroup v2")?;
        let parent = Path::new("/sys/fs/cgroup").join(place.trim_start_matches('/'));
        let controllers = std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
        if !controllers.split_whitespace().any(|c| c == "cpu") {
            write(&parent.join("cgroup.subtree_control"), "+cpu")?;
        }
        let dir = parent.join(&name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let limit = CpuLimit { dir, percent: share * 100.0, how: "cgroup v2 cpu.max" };
        write(&limit.dir.join("cpu.max"), &format!("{quota_us} {PERIOD_US}"))?;
        Ok(limit)
    }

    /// How long the cgroup's processes have been held back by the quota so far
    /// (`cpu.stat`: v1's `throttled_time` in ns, v2's `throttled_usec`).
    pub fn throttled(&self) -> Duration {
        let stat = std::fs::read_to_string(self.dir.join("cpu.stat")).unwrap_or_default();
        let field = |name: &str| {
            stat.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok()).unwrap_or(0)
        };
        Duration::from_nanos(field("throttled_time ")) + Duration::from_micros(field("throttled_usec "))
    }

    /// `cgroup.procs`, open for writing: a process that writes `0` to it moves itself in.
    pub fn procs(&self) -> std::io::Result<File> {
        std::fs::OpenOptions::new().write(true).open(self.dir.join("cgroup.procs"))
    }
}

impl Drop for CpuLimit {
    /// Removes the cgroup (its processes were killed and reaped before).
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        eprintln!("could not remove the cgroup {}", self.dir.display());
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    File::options()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The substitute for a cgroup quota: `pid` runs `share` of each 100 ms period of wall time
/// and is stopped for the rest, until dropped.
pub struct DutyCycle {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DutyCycle {
    pub fn start(pid: u32, memory_mb: u32) -> DutyCycle {
        let on = Duration::from_micros((f64::from(memory_mb) / ONE_VCPU_MB * PERIOD_US as f64) as u64);
        let off = Duration::from_micros(PERIOD_US) - on;
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let pid = pid as libc::pid_t;
        let thread = std::thread::spawn(move || {
            // SAFETY: kill(2) with a pid this harness spawned and has not reaped yet.
            let signal = |sig| unsafe { libc::kill(pid, sig) } == 0;
            // Each period starts with the process running, as a quota's does.
            loop {
                std::thread::sleep(on);
                if stop.load(Ordering::SeqCst) || !signal(libc::SIGSTOP) {
                    break;
                }
                std::thread::sleep(off);
                if !signal(libc::SIGCONT) {
                    break;
                }
            }
            signal(libc::SIGCONT);
        });
        DutyCycle { done, thread: Some(thread) }
    }
}

impl Drop for DutyCycle {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
