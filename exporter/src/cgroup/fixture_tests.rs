//! The reader against the fixture trees in `tests/fixtures/cgroup/`: every
//! hierarchy, both drivers, exact [`ContainerStats`].

use std::path::{Path, PathBuf};

use super::*;

const SYSTEMD_ID: &str = "3f9a6b1c0d2e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c";
const CGROUPFS_ID: &str = "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc";

fn tree(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/cgroup").join(name)
}

fn read(tree_name: &str, id: &str) -> (ContainerCgroup, ContainerStats) {
    let layout = CgroupLayout::detect(&tree(tree_name)).unwrap();
    let cgroup = layout.find_container(id).unwrap();
    let stats = read_container_stats(&layout, &cgroup).unwrap();
    (cgroup, stats)
}

/// The systemd container of the v1 and hybrid trees (same files).
fn v1_systemd_stats() -> ContainerStats {
    ContainerStats {
        cpu: CpuUsage {
            usage_seconds: 4.068693157,
            user_seconds: 3.5,
            system_seconds: 0.55,
            cfs_periods: 2318,
            cfs_throttled_periods: 117,
            cfs_throttled_seconds: 9.012345678,
        },
        cpu_spec: CpuSpec { quota_us: Some(50000), period_us: 100000, shares: 512 },
        memory: MemoryUsage {
            usage_bytes: 154607616,
            working_set_bytes: 154607616 - 89079808,
            rss_bytes: 40660992,
            cache_bytes: 114069504,
            mapped_file_bytes: 92729344,
            swap_bytes: Some(4096),
            max_usage_bytes: Some(201326592),
            failcnt: Some(3),
            oom_kills: Some(1),
        },
        memory_spec: MemorySpec { limit_bytes: Some(268435456), reservation_bytes: None },
        io: vec![
            DeviceIo { major: 8, minor: 0, read_bytes: 1212416, write_bytes: 40960, reads: 74, writes: 10 },
            DeviceIo { major: 253, minor: 1, read_bytes: 4096, write_bytes: 0, reads: 1, writes: 0 },
        ],
    }
}

/// The cgroupfs container of the v1 and hybrid trees: unlimited, idle, a
/// pre-4.13 kernel without `oom_kill`.
fn v1_cgroupfs_stats() -> ContainerStats {
    ContainerStats {
        cpu: CpuUsage {
            usage_seconds: 0.120034,
            user_seconds: 0.08,
            system_seconds: 0.04,
            cfs_periods: 0,
            cfs_throttled_periods: 0,
            cfs_throttled_seconds: 0.0,
        },
        cpu_spec: CpuSpec { quota_us: None, period_us: 100000, shares: 1024 },
        memory: MemoryUsage {
            usage_bytes: 2097152,
            // inactive_file (2359296) is above usage: floored.
            working_set_bytes: 0,
            rss_bytes: 524288,
            cache_bytes: 2621440,
            mapped_file_bytes: 1048576,
            swap_bytes: Some(0),
            max_usage_bytes: None,
            failcnt: Some(0),
            oom_kills: None,
        },
        memory_spec: MemorySpec { limit_bytes: None, reservation_bytes: None },
        io: vec![],
    }
}

#[test]
fn v2_systemd() {
    let layout = CgroupLayout::detect(&tree("v2")).unwrap();
    assert_eq!(layout.hierarchy(), Hierarchy::Unified);
    let (cgroup, stats) = read("v2", SYSTEMD_ID);
    assert_eq!(cgroup.driver(), CgroupDriver::Systemd);
    assert_eq!(cgroup.path(), format!("/system.slice/docker-{SYSTEMD_ID}.scope"));
    assert_eq!(
        stats,
        ContainerStats {
            cpu: CpuUsage {
                usage_seconds: 8.47012,
                user_seconds: 6.012345,
                system_seconds: 2.457775,
                cfs_periods: 1200,
                cfs_throttled_periods: 31,
                cfs_throttled_seconds: 2.514009,
            },
            cpu_spec: CpuSpec { quota_us: Some(50000), period_us: 100000, shares: 2597 },
            memory: MemoryUsage {
                usage_bytes: 16543744,
                working_set_bytes: 16543744 - 8384512,
                rss_bytes: 4386816,
                cache_bytes: 10903552,
                mapped_file_bytes: 5267456,
                swap_bytes: Some(0),
                max_usage_bytes: Some(33554432),
                failcnt: None,
                oom_kills: Some(1),
            },
            memory_spec: MemorySpec { limit_bytes: Some(268435456), reservation_bytes: Some(0) },
            io: vec![
                DeviceIo { major: 259, minor: 0, read_bytes: 1459200, write_bytes: 314773504, reads: 192, writes: 353 },
                DeviceIo { major: 253, minor: 0, read_bytes: 4096, write_bytes: 0, reads: 1, writes: 0 },
            ],
        }
    );
}

#[test]
fn v2_cgroupfs() {
    let (cgroup, stats) = read("v2", CGROUPFS_ID);
    assert_eq!(cgroup.driver(), CgroupDriver::Cgroupfs);
    assert_eq!(cgroup.path(), format!("/docker/{CGROUPFS_ID}"));
    assert_eq!(
        stats,
        ContainerStats {
            cpu: CpuUsage {
                usage_seconds: 0.120034,
                user_seconds: 0.080011,
                system_seconds: 0.040023,
                cfs_periods: 0,
                cfs_throttled_periods: 0,
                cfs_throttled_seconds: 0.0,
            },
            cpu_spec: CpuSpec {
                quota_us: None,
                period_us: 100000,
                // cpu.weight 50.
                shares: 1286,
            },
            memory: MemoryUsage {
                usage_bytes: 2097152,
                working_set_bytes: 0,
                rss_bytes: 524288,
                cache_bytes: 2621440,
                mapped_file_bytes: 1048576,
                // No memory.swap.current: no swap accounting.
                swap_bytes: None,
                max_usage_bytes: None,
                failcnt: None,
                oom_kills: Some(0),
            },
            memory_spec: MemorySpec { limit_bytes: None, reservation_bytes: Some(0) },
            io: vec![],
        }
    );
}

/// A v1-controller tree (plain v1 or hybrid) holds the same two containers
/// in both layouts; only the detected hierarchy differs.
fn assert_v1_tree(tree_name: &str, hierarchy: Hierarchy) {
    let layout = CgroupLayout::detect(&tree(tree_name)).unwrap();
    assert_eq!(layout.hierarchy(), hierarchy);
    let (cgroup, stats) = read(tree_name, SYSTEMD_ID);
    assert_eq!(cgroup.driver(), CgroupDriver::Systemd);
    assert_eq!(stats, v1_systemd_stats());
    let (cgroup, stats) = read(tree_name, CGROUPFS_ID);
    assert_eq!(cgroup.driver(), CgroupDriver::Cgroupfs);
    assert_eq!(stats, v1_cgroupfs_stats());
}

#[test]
fn v1_both_drivers() {
    assert_v1_tree("v1", Hierarchy::Legacy);
}

#[test]
fn hybrid_both_drivers() {
    // `cpu,cpuacct` is co-mounted without the `cpu` / `cpuacct` symlinks.
    assert_v1_tree("hybrid", Hierarchy::Hybrid);
}

#[test]
fn unknown_container_names_the_paths_tried() {
    let root = tree("v1");
    let layout = CgroupLayout::detect(&root).unwrap();
    let err = layout.find_container("0123abcd").unwrap_err();
    let CgroupError::ContainerNotFound { id, tried } = &err else {
        panic!("unexpected error {err}");
    };
    assert_eq!(id, "0123abcd");
    assert_eq!(tried, &[root.join("memory/system.slice/docker-0123abcd.scope"), root.join("memory/docker/0123abcd"),]);
}

#[test]
fn read_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("cgroup.controllers"), "cpu memory\n").unwrap();
    let cgroup_dir = root.join("docker/abc");
    std::fs::create_dir_all(&cgroup_dir).unwrap();
    let source = tree("v2").join(format!("docker/{CGROUPFS_ID}"));
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), cgroup_dir.join(entry.file_name())).unwrap();
    }
    let layout = CgroupLayout::detect(root).unwrap();
    let cgroup = layout.find_container("abc").unwrap();
    assert!(read_container_stats(&layout, &cgroup).is_ok());

    std::fs::write(cgroup_dir.join("memory.max"), "lots\n").unwrap();
    let err = read_container_stats(&layout, &cgroup).unwrap_err();
    assert!(matches!(err, CgroupError::Parse { .. }));
    assert_eq!(err.to_string(), format!("parsing {}: invalid limit \"lots\"", cgroup_dir.join("memory.max").display()));

    std::fs::remove_file(cgroup_dir.join("memory.current")).unwrap();
    let err = read_container_stats(&layout, &cgroup).unwrap_err();
    let CgroupError::Io { path, .. } = &err else {
        panic!("unexpected error {err}");
    };
    assert_eq!(path, &cgroup_dir.join("memory.current"));
}
