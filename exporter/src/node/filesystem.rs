//! `filesystem`: `node_filesystem_*{device,fstype,mountpoint}` for every
//! mount in mountinfo that the exclude patterns keep.
//!
//! `statfs` on a dead NFS server or a wedged FUSE mount blocks forever, so
//! every call runs on a worker thread and the scrape waits at most the mount
//! timeout. A mount whose call has not returned is reported with
//! `node_filesystem_device_error 1` and not asked again until that call
//! returns; the worker stuck in it is abandoned and a fresh one serves the
//! other mounts.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use regex::Regex;
use sonde_instrument::{Labels, MetricFamily};

use super::read::{io_error, not_found, parse_error, with_file};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector, compile};
use crate::procfs::mountinfo;

/// What `statfs` says about one filesystem, already in node_exporter's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsStats {
    /// Blocks × block size.
    pub size_bytes: f64,
    /// Free blocks × block size.
    pub free_bytes: f64,
    /// Blocks available to unprivileged users × block size.
    pub avail_bytes: f64,
    /// Inodes.
    pub files: f64,
    /// Free inodes.
    pub files_free: f64,
}

/// The `statfs` call, injectable so tests can fake sizes or hang.
pub type StatfsFn = Arc<dyn Fn(&Path) -> io::Result<FsStats> + Send + Sync>;

/// The real `statfs(2)`.
pub fn statfs(path: &Path) -> io::Result<FsStats> {
    let st = rustix::fs::statfs(path)?;
    let block = st.f_bsize as f64;
    Ok(FsStats {
        size_bytes: st.f_blocks as f64 * block,
        free_bytes: st.f_bfree as f64 * block,
        avail_bytes: st.f_bavail as f64 * block,
        files: st.f_files as f64,
        files_free: st.f_ffree as f64,
    })
}

type StuckSet = Arc<Mutex<HashSet<String>>>;

struct Job {
    path: PathBuf,
    mount_point: String,
    reply: mpsc::SyncSender<io::Result<FsStats>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves jobs until the collector drops its sender (after a timeout or on
/// shutdown). The reply is sent under the stuck-set lock so the collector's
/// timeout path sees either the reply or a still-running call, never neither.
fn worker_loop(jobs: mpsc::Receiver<Job>, statfs: StatfsFn, stuck: StuckSet) {
    while let Ok(job) = jobs.recv() {
        let result = statfs(&job.path);
        let mut stuck = lock(&stuck);
        // The collector may have given up waiting; nobody to tell then.
        let _ = job.reply.send(result);
        if stuck.remove(&job.mount_point) {
            tracing::info!(mountpoint = %job.mount_point, "mount point has recovered, monitoring will resume");
        }
    }
}

enum Outcome {
    Stats(FsStats),
    Failed(io::Error),
    TimedOut,
}

/// One mount that passed the filters, with its labels.
struct MountLabels {
    device: String,
    fs_type: String,
    mount_point: String,
    read_only: bool,
}

/// The collector.
pub(crate) struct Filesystem {
    mountinfo: PathBuf,
    mountinfo_fallback: PathBuf,
    rootfs: PathBuf,
    /// `--path.rootfs` as text without a trailing slash; empty for `/`.
    rootfs_prefix: String,
    mount_points_exclude: Regex,
    fs_types_exclude: Regex,
    timeout: Duration,
    statfs: StatfsFn,
    stuck: StuckSet,
    worker: Mutex<Option<mpsc::Sender<Job>>>,
}

impl fmt::Debug for Filesystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filesystem")
            .field("mountinfo", &self.mountinfo)
            .field("rootfs", &self.rootfs)
            .field("mount_points_exclude", &self.mount_points_exclude.as_str())
            .field("fs_types_exclude", &self.fs_types_exclude.as_str())
            .field("timeout", &self.timeout)
            .field("stuck", &*lock(&self.stuck))
            .finish_non_exhaustive()
    }
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Filesystem::new(config, Arc::new(statfs))?))
}

impl Filesystem {
    pub(crate) fn new(config: &NodeConfig, statfs: StatfsFn) -> Result<Self, ConfigError> {
        let prefix = config.rootfs.to_string_lossy().trim_end_matches('/').to_owned();
        Ok(Filesystem {
            mountinfo: config.proc_path("1/mountinfo"),
            mountinfo_fallback: config.proc_path("self/mountinfo"),
            rootfs: config.rootfs.clone(),
            rootfs_prefix: prefix,
            mount_points_exclude: compile("collector.filesystem.mount-points-exclude", &config.mount_points_exclude)?,
            fs_types_exclude: compile("collector.filesystem.fs-types-exclude", &config.fs_types_exclude)?,
            timeout: config.mount_timeout,
            statfs,
            stuck: Arc::new(Mutex::new(HashSet::new())),
            worker: Mutex::new(None),
        })
    }

    /// The mount point as the host sees it: without the rootfs prefix.
    fn strip_rootfs<'a>(&self, mount_point: &'a str) -> &'a str {
        if self.rootfs_prefix.is_empty() {
            return mount_point;
        }
        match mount_point.strip_prefix(self.rootfs_prefix.as_str()) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => mount_point,
        }
    }

    fn mounts(&self) -> Result<Vec<MountLabels>, CollectorError> {
        let parse = |text: &str| {
            let mounts = mountinfo::parse(text)?;
            let mut kept: Vec<MountLabels> = Vec::with_capacity(mounts.len());
            for mount in &mounts {
                let mount_point = self.strip_rootfs(&mount.mount_point);
                if self.mount_points_exclude.is_match(mount_point) {
                    tracing::debug!(mountpoint = mount_point, "ignoring mount point");
                    continue;
                }
                if self.fs_types_exclude.is_match(mount.fs_type) {
                    tracing::debug!(fstype = mount.fs_type, "ignoring fs type");
                    continue;
                }
                // A mount point mounted over is hidden by the later mount,
                // which is also what statfs sees.
                kept.retain(|m| m.mount_point != mount_point);
                kept.push(MountLabels {
                    device: mount.source.to_string(),
                    fs_type: mount.fs_type.to_owned(),
                    mount_point: mount_point.to_owned(),
                    read_only: mount.read_only(),
                });
            }
            Ok(kept)
        };
        let (path, parsed) = match with_file(&self.mountinfo, parse) {
            // Without PID 1's view (hidepid, no --pid=host), our own will do.
            Err(e) if not_found(&e) => (&self.mountinfo_fallback, with_file(&self.mountinfo_fallback, parse)),
            other => (&self.mountinfo, other),
        };
        parsed.map_err(|e| io_error(path, e))?.map_err(|e| parse_error(path, e))
    }

    fn spawn_worker(&self) -> io::Result<mpsc::Sender<Job>> {
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let statfs = self.statfs.clone();
        let stuck = self.stuck.clone();
        std::thread::Builder::new().name("sonde-statfs".into()).spawn(move || worker_loop(jobs_rx, statfs, stuck))?;
        Ok(jobs_tx)
    }

    fn stat_with_timeout(&self, path: PathBuf, mount_point: &str) -> Outcome {
        let mut worker = lock(&self.worker);
        let sender = match worker.take() {
            Some(sender) => sender,
            None => match self.spawn_worker() {
                Ok(sender) => sender,
                Err(e) => return Outcome::Failed(e),
            },
        };
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let job = Job { path, mount_point: mount_point.to_owned(), reply: reply_tx };
        if sender.send(job).is_err() {
            return Outcome::Failed(io::Error::other("statfs worker exited"));
        }
        match reply_rx.recv_timeout(self.timeout) {
            Ok(result) => {
                *worker = Some(sender);
                match result {
                    Ok(stats) => Outcome::Stats(stats),
                    Err(e) => Outcome::Failed(e),
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                let mut stuck = lock(&self.stuck);
                if let Ok(result) = reply_rx.try_recv() {
                    *worker = Some(sender);
                    return match result {
                        Ok(stats) => Outcome::Stats(stats),
                        Err(e) => Outcome::Failed(e),
                    };
                }
                stuck.insert(mount_point.to_owned());
                // `sender` drops here: the busy worker exits once its call returns.
                tracing::warn!(
                    mountpoint = mount_point,
                    timeout = ?self.timeout,
                    "mount point timed out, it is being labeled as stuck and will not be monitored"
                );
                Outcome::TimedOut
            }
            Err(RecvTimeoutError::Disconnected) => Outcome::Failed(io::Error::other("statfs worker exited")),
        }
    }
}

impl ScrapeCollector for Filesystem {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mounts = self.mounts()?;
        let mut device_error = MetricFamily::gauge(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
        );
        let mut readonly = MetricFamily::gauge("node_filesystem_readonly", "Filesystem read-only status.");
        let mut size = MetricFamily::gauge("node_filesystem_size_bytes", "Filesystem size in bytes.");
        let mut free = MetricFamily::gauge("node_filesystem_free_bytes", "Filesystem free space in bytes.");
        let mut avail = MetricFamily::gauge(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
        );
        let mut files = MetricFamily::gauge("node_filesystem_files", "Filesystem total file nodes.");
        let mut files_free = MetricFamily::gauge("node_filesystem_files_free", "Filesystem total free file nodes.");

        for mount in mounts {
            let labels = Labels::new()
                .with("device", mount.device)
                .with("fstype", mount.fs_type)
                .with("mountpoint", mount.mount_point.clone());
            let ro = if mount.read_only { 1.0 } else { 0.0 };
            let outcome = if lock(&self.stuck).contains(&mount.mount_point) {
                tracing::debug!(mountpoint = %mount.mount_point, "mount point is in an unresponsive state");
                Outcome::TimedOut
            } else {
                let path = self.rootfs.join(mount.mount_point.trim_start_matches('/'));
                self.stat_with_timeout(path, &mount.mount_point)
            };
            let stats = match outcome {
                Outcome::Stats(stats) => stats,
                Outcome::Failed(error) => {
                    tracing::debug!(mountpoint = %mount.mount_point, %error, "error on statfs() system call");
                    device_error.push(labels.clone(), 1.0);
                    readonly.push(labels, ro);
                    continue;
                }
                Outcome::TimedOut => {
                    device_error.push(labels.clone(), 1.0);
                    readonly.push(labels, ro);
                    continue;
                }
            };
            device_error.push(labels.clone(), 0.0);
            readonly.push(labels.clone(), ro);
            size.push(labels.clone(), stats.size_bytes);
            free.push(labels.clone(), stats.free_bytes);
            avail.push(labels.clone(), stats.avail_bytes);
            files.push(labels.clone(), stats.files);
            files_free.push(labels, stats.files_free);
        }
        out.extend(
            [avail, device_error, files, files_free, free, readonly, size]
                .into_iter()
                .filter(|f| !f.samples.is_empty()),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_instrument::find_value;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    const MOUNTINFO: &str = "22 27 0:21 / /host/proc rw,relatime - proc proc rw
27 1 254:0 / /host rw,relatime - ext4 /dev/vda rw,discard
42 27 254:0 /var/lib/docker /host/var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw,discard
43 27 0:50 / /host/mnt/nfs rw,relatime - nfs4 server:/export rw
44 27 0:51 / /host/srv/hang rw,relatime - nfs4 server:/hang rw
45 27 0:52 / /host/srv/ro ro,relatime - ext4 /dev/vdb ro
46 27 0:53 / /host/var/lib/docker/overlay2/abc/merged rw - overlay overlay rw
47 1 0:54 / /etc/hosts rw - ext4 /dev/vda rw
";

    fn fake_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/1")).unwrap();
        std::fs::write(dir.path().join("proc/1/mountinfo"), MOUNTINFO).unwrap();
        dir
    }

    fn config(root: &Path, timeout: Duration) -> NodeConfig {
        NodeConfig {
            procfs: root.join("proc"),
            rootfs: PathBuf::from("/host"),
            mount_timeout: timeout,
            ..NodeConfig::default()
        }
    }

    fn value(families: &[MetricFamily], name: &str, mountpoint: &str) -> Option<f64> {
        find_value(families, name, "mountpoint", mountpoint)
    }

    fn fixed(path: &Path) -> io::Result<FsStats> {
        if path.ends_with("etc/hosts") {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(FsStats { size_bytes: 1000.0, free_bytes: 500.0, avail_bytes: 400.0, files: 10.0, files_free: 5.0 })
    }

    #[test]
    fn filters_strips_rootfs_and_maps_stats() {
        let root = fake_root();
        let fs = Filesystem::new(&config(root.path(), Duration::from_secs(5)), Arc::new(fixed)).unwrap();
        let mut out = Vec::new();
        fs.update(&mut out).unwrap();
        let errors = out.iter().find(|f| f.name == "node_filesystem_device_error").unwrap();
        let mut mounts: Vec<_> = errors.samples.iter().map(|s| s.labels.get("mountpoint").unwrap()).collect();
        mounts.sort_unstable();
        // /proc, /mnt and docker's overlay are excluded; /etc/hosts lies
        // outside the rootfs and keeps its path.
        assert_eq!(mounts, ["/", "/etc/hosts", "/srv/hang", "/srv/ro", "/var/lib/docker"]);
        assert_eq!(value(&out, "node_filesystem_size_bytes", "/"), Some(1000.0));
        assert_eq!(value(&out, "node_filesystem_avail_bytes", "/var/lib/docker"), Some(400.0));
        assert_eq!(value(&out, "node_filesystem_readonly", "/srv/ro"), Some(1.0));
        assert_eq!(value(&out, "node_filesystem_device_error", "/etc/hosts"), Some(1.0));
        assert_eq!(value(&out, "node_filesystem_size_bytes", "/etc/hosts"), None);
        let sample = &errors.samples[0];
        assert_eq!(
            sample.labels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["device", "fstype", "mountpoint"]
        );
    }

    /// What the fixture end-to-end test cannot check (there, statfs reads
    /// the real disk): every value through an injected statfs, exactly,
    /// and a mount that fails like a dead NFS server.
    #[test]
    fn exact_values_and_a_dead_server() {
        let root = fake_root();
        let mib = 1024.0 * 1024.0;
        let statfs: StatfsFn = Arc::new(move |path: &Path| {
            if path.ends_with("mnt/nfs") || path.ends_with("srv/hang") {
                // ETIMEDOUT, what statfs returns for a dead soft-mounted server.
                return Err(io::Error::from_raw_os_error(110));
            }
            Ok(FsStats {
                size_bytes: 256_000.0 * mib,
                free_bytes: 204_800.0 * mib,
                avail_bytes: 191_488.0 * mib,
                files: 16_777_216.0,
                files_free: 16_376_129.0,
            })
        });
        let mut config = config(root.path(), Duration::from_secs(5));
        // Keep /mnt, which the default excludes, to see the NFS mount.
        config.mount_points_exclude = "^/(proc|var/lib/docker/.+)($|/)".into();
        let fs = Filesystem::new(&config, statfs).unwrap();
        let mut out = Vec::new();
        fs.update(&mut out).unwrap();

        for (family, expected) in [
            ("node_filesystem_size_bytes", 268_435_456_000.0),
            ("node_filesystem_free_bytes", 214_748_364_800.0),
            ("node_filesystem_avail_bytes", 200_789_721_088.0),
            ("node_filesystem_files", 16_777_216.0),
            ("node_filesystem_files_free", 16_376_129.0),
            ("node_filesystem_device_error", 0.0),
            ("node_filesystem_readonly", 0.0),
        ] {
            assert_eq!(value(&out, family, "/"), Some(expected), "{family}");
        }
        let root_labels = &out
            .iter()
            .find(|f| f.name == "node_filesystem_size_bytes")
            .unwrap()
            .samples
            .iter()
            .find(|s| s.labels.get("mountpoint") == Some("/"))
            .unwrap()
            .labels;
        assert_eq!(root_labels.get("device"), Some("/dev/vda"));
        assert_eq!(root_labels.get("fstype"), Some("ext4"));

        // The dead server: an error, its read-only state, and no sizes.
        assert_eq!(value(&out, "node_filesystem_device_error", "/mnt/nfs"), Some(1.0));
        assert_eq!(value(&out, "node_filesystem_readonly", "/mnt/nfs"), Some(0.0));
        for family in [
            "node_filesystem_size_bytes",
            "node_filesystem_free_bytes",
            "node_filesystem_avail_bytes",
            "node_filesystem_files",
            "node_filesystem_files_free",
        ] {
            assert_eq!(value(&out, family, "/mnt/nfs"), None, "{family}");
        }
        // A failed call is not a stuck one: it is asked again next scrape.
        assert!(lock(&fs.stuck).is_empty());
    }

    #[test]
    fn a_hanging_statfs_is_timed_out_skipped_and_resumed() {
        let root = fake_root();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let hang_calls = Arc::new(AtomicUsize::new(0));
        let calls = hang_calls.clone();
        let statfs: StatfsFn = Arc::new(move |path: &Path| {
            if path.ends_with("srv/hang") && calls.fetch_add(1, Ordering::SeqCst) == 0 {
                // The first call hangs until the test releases it (bounded,
                // so a broken test cannot hang the suite).
                let _ = lock(&release_rx).recv_timeout(Duration::from_secs(30));
            }
            fixed(path)
        });
        let fs = Filesystem::new(&config(root.path(), Duration::from_millis(500)), statfs).unwrap();

        let mut out = Vec::new();
        fs.update(&mut out).unwrap();
        assert_eq!(value(&out, "node_filesystem_device_error", "/srv/hang"), Some(1.0));
        assert_eq!(value(&out, "node_filesystem_size_bytes", "/srv/hang"), None);
        // Mounts after the stuck one are still served, by a fresh worker.
        assert_eq!(value(&out, "node_filesystem_size_bytes", "/srv/ro"), Some(1000.0));
        assert_eq!(value(&out, "node_filesystem_device_error", "/var/lib/docker"), Some(0.0));

        let mut out = Vec::new();
        fs.update(&mut out).unwrap();
        assert_eq!(value(&out, "node_filesystem_device_error", "/srv/hang"), Some(1.0));
        assert_eq!(hang_calls.load(Ordering::SeqCst), 1, "a stuck mount must not be asked again");

        release_tx.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !lock(&fs.stuck).is_empty() {
            assert!(Instant::now() < deadline, "stuck call never reported back");
            std::thread::sleep(Duration::from_millis(5));
        }

        let mut out = Vec::new();
        fs.update(&mut out).unwrap();
        assert_eq!(value(&out, "node_filesystem_device_error", "/srv/hang"), Some(0.0));
        assert_eq!(value(&out, "node_filesystem_size_bytes", "/srv/hang"), Some(1000.0));
        assert_eq!(hang_calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn falls_back_to_self_mountinfo() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        std::fs::write(dir.path().join("proc/self/mountinfo"), "27 1 254:0 / / rw - ext4 /dev/vda rw\n").unwrap();
        let config = NodeConfig { procfs: dir.path().join("proc"), ..NodeConfig::default() };
        let fs = Filesystem::new(&config, Arc::new(fixed)).unwrap();
        let mut out = Vec::new();
        fs.update(&mut out).unwrap();
        assert_eq!(value(&out, "node_filesystem_size_bytes", "/"), Some(1000.0));
    }

    #[test]
    fn real_statfs_answers_for_the_root() {
        let stats = statfs(Path::new("/")).unwrap();
        assert!(stats.size_bytes > 0.0);
    }
}
