//! Which cgroup hierarchy the host has, and where a container's cgroup is.
//!
//! Both are decided from directories under a root passed in (normally
//! `<sysfs>/fs/cgroup`), once at start for the hierarchy and once per new
//! container for its directory, so the scrape path only opens files.

use std::path::{Path, PathBuf};

use super::CgroupError;

/// The cgroup hierarchy a host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v2 only: `cgroup.controllers` at the root.
    Unified,
    /// cgroup v1 only: one directory per controller.
    Legacy,
    /// v1 controllers plus an empty v2 tree at `unified/`. The controllers,
    /// and so the numbers, are all on the v1 side.
    Hybrid,
}

/// How the container runtime names its cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupDriver {
    /// `/system.slice/docker-<id>.scope`.
    Systemd,
    /// `/docker/<id>`.
    Cgroupfs,
}

/// The controller directories of a v1 (or hybrid) host.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LegacyDirs {
    cpu: PathBuf,
    cpuacct: PathBuf,
    memory: PathBuf,
    /// Some hosts do not mount `blkio`; the container then has no IO stats.
    blkio: Option<PathBuf>,
}

/// The cgroup hierarchy found under one root, with the directories every
/// read starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLayout {
    root: PathBuf,
    hierarchy: Hierarchy,
    legacy: Option<LegacyDirs>,
}

/// A container's cgroup: the path relative to each controller's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerCgroup {
    path: String,
    driver: CgroupDriver,
}

impl ContainerCgroup {
    /// The root cgroup (`id="/"`): the whole host, the series dashboards
    /// use for host totals.
    pub fn root() -> Self {
        ContainerCgroup { path: "/".to_owned(), driver: CgroupDriver::Cgroupfs }
    }

    /// The cgroup path, as cAdvisor's `id` label writes it
    /// (`/docker/<id>` or `/system.slice/docker-<id>.scope`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The layout the cgroup was found in.
    pub fn driver(&self) -> CgroupDriver {
        self.driver
    }
}

impl CgroupLayout {
    /// Detects the hierarchy under `root` (e.g. `/sys/fs/cgroup`).
    pub fn detect(root: &Path) -> Result<Self, CgroupError> {
        if root.join("cgroup.controllers").is_file() {
            return Ok(CgroupLayout { root: root.to_path_buf(), hierarchy: Hierarchy::Unified, legacy: None });
        }
        let entries = std::fs::read_dir(root).map_err(|source| CgroupError::Io { path: root.to_path_buf(), source })?;
        // Sorted so that a host with both `cpu` and `cpu,cpuacct` resolves
        // the same way on every start.
        let mut names: Vec<String> = entries
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| root.join(name).is_dir())
            .collect();
        names.sort();
        let find = |controller: &str| find_controller(root, &names, controller);
        let (Some(cpu), Some(cpuacct), Some(memory)) = (find("cpu"), find("cpuacct"), find("memory")) else {
            return Err(CgroupError::NoHierarchy { root: root.to_path_buf() });
        };
        let hierarchy =
            if root.join("unified/cgroup.controllers").is_file() { Hierarchy::Hybrid } else { Hierarchy::Legacy };
        Ok(CgroupLayout {
            root: root.to_path_buf(),
            hierarchy,
            legacy: Some(LegacyDirs { cpu, cpuacct, memory, blkio: find("blkio") }),
        })
    }

    /// The hierarchy that was detected.
    pub fn hierarchy(&self) -> Hierarchy {
        self.hierarchy
    }

    /// The cgroup root this layout was detected under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Finds the cgroup of the Docker container `id`, trying the systemd
    /// layout first (the default driver on current distributions), then
    /// cgroupfs. Ids other than plain alphanumerics are refused, so an id can
    /// never walk out of the cgroup tree.
    pub fn find_container(&self, id: &str) -> Result<ContainerCgroup, CgroupError> {
        let candidates = [
            (format!("/system.slice/docker-{id}.scope"), CgroupDriver::Systemd),
            (format!("/docker/{id}"), CgroupDriver::Cgroupfs),
        ];
        let valid = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric());
        let mut tried = Vec::with_capacity(candidates.len());
        for (path, driver) in candidates {
            let cgroup = ContainerCgroup { path, driver };
            // The memory controller stands for all v1 controllers: Docker
            // creates the container's directory in each of them.
            let dir = join(self.probe_root(), &cgroup);
            if valid && dir.is_dir() {
                return Ok(cgroup);
            }
            tried.push(dir);
        }
        Err(CgroupError::ContainerNotFound { id: id.to_owned(), tried })
    }

    fn probe_root(&self) -> &Path {
        match &self.legacy {
            Some(dirs) => &dirs.memory,
            None => &self.root,
        }
    }

    /// The v2 directory of a cgroup; `None` on v1 and hybrid hosts.
    pub(crate) fn unified_dir(&self, cgroup: &ContainerCgroup) -> Option<PathBuf> {
        match self.legacy {
            Some(_) => None,
            None => Some(join(&self.root, cgroup)),
        }
    }

    /// The v1 directories of a cgroup; `None` on v2 hosts.
    pub(crate) fn legacy_dirs(&self, cgroup: &ContainerCgroup) -> Option<LegacyCgroupDirs> {
        let dirs = self.legacy.as_ref()?;
        Some(LegacyCgroupDirs {
            cpu: join(&dirs.cpu, cgroup),
            cpuacct: join(&dirs.cpuacct, cgroup),
            memory: join(&dirs.memory, cgroup),
            blkio: dirs.blkio.as_ref().map(|blkio| join(blkio, cgroup)),
        })
    }
}

/// One cgroup's directory in each v1 controller.
#[derive(Debug)]
pub(crate) struct LegacyCgroupDirs {
    pub(crate) cpu: PathBuf,
    pub(crate) cpuacct: PathBuf,
    pub(crate) memory: PathBuf,
    pub(crate) blkio: Option<PathBuf>,
}

/// A cgroup's directory under one controller root.
fn join(controller_root: &Path, cgroup: &ContainerCgroup) -> PathBuf {
    controller_root.join(cgroup.path.trim_start_matches('/'))
}

/// The directory of a v1 controller: its own name if mounted alone, else a
/// co-mount such as `cpu,cpuacct` (some distributions add the `cpu` and
/// `cpuacct` symlinks, some do not).
fn find_controller(root: &Path, names: &[String], controller: &str) -> Option<PathBuf> {
    if names.iter().any(|name| name == controller) {
        return Some(root.join(controller));
    }
    names.iter().find(|name| name.split(',').any(|part| part == controller)).map(|name| root.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_hierarchy() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(matches!(CgroupLayout::detect(root), Err(CgroupError::NoHierarchy { .. })));
        assert!(matches!(CgroupLayout::detect(&root.join("missing")), Err(CgroupError::Io { .. })));

        std::fs::create_dir(root.join("cpu,cpuacct")).unwrap();
        std::fs::create_dir(root.join("memory")).unwrap();
        let layout = CgroupLayout::detect(root).unwrap();
        assert_eq!(layout.hierarchy(), Hierarchy::Legacy);
        let cgroup = ContainerCgroup { path: "/docker/abc".into(), driver: CgroupDriver::Cgroupfs };
        let dirs = layout.legacy_dirs(&cgroup).unwrap();
        assert_eq!(dirs.cpu, root.join("cpu,cpuacct/docker/abc"));
        assert_eq!(dirs.cpuacct, root.join("cpu,cpuacct/docker/abc"));
        assert_eq!(dirs.memory, root.join("memory/docker/abc"));
        assert_eq!(dirs.blkio, None);
        assert_eq!(layout.unified_dir(&cgroup), None);

        std::fs::create_dir(root.join("unified")).unwrap();
        std::fs::write(root.join("unified/cgroup.controllers"), "").unwrap();
        assert_eq!(CgroupLayout::detect(root).unwrap().hierarchy(), Hierarchy::Hybrid);

        std::fs::write(root.join("cgroup.controllers"), "cpu io memory pids\n").unwrap();
        let layout = CgroupLayout::detect(root).unwrap();
        assert_eq!(layout.hierarchy(), Hierarchy::Unified);
        assert_eq!(layout.unified_dir(&cgroup), Some(root.join("docker/abc")));
    }

    #[test]
    fn refuses_ids_that_leave_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("cgroup.controllers"), "").unwrap();
        std::fs::create_dir_all(root.join("docker/abc")).unwrap();
        let layout = CgroupLayout::detect(root).unwrap();
        assert_eq!(layout.find_container("abc").unwrap().path(), "/docker/abc");
        assert!(layout.find_container("../docker/abc").is_err());
        assert!(layout.find_container("").is_err());
    }
}
