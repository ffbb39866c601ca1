//! `xfs`: each XFS filesystem's counters (`node_xfs_*_total{device}`) from
//! `/sys/fs/xfs/<device>/stats/stats`, as node_exporter 1.5.0 names them.
//!
//! Without XFS there is no `/sys/fs/xfs`: one failed directory open and no
//! families, which node_exporter reports as success (it globs, and an
//! empty glob is no error). A device directory without `stats/stats` is
//! skipped, as the glob skips it.

use std::io;
use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily};

use super::read::{io_error, list_dir, parse_error, with_file};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::sysfs::xfs;

#[derive(Debug)]
struct Xfs {
    dir: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Xfs { dir: config.sys_path("fs/xfs") }))
}

/// Each family: its name after `node_xfs_` and before `_total`, its help,
/// and where its counter is (section, index), as the XFS wiki's "Runtime
/// Stats" lays the sections out.
const COUNTERS: &[(&str, &str, &str, usize)] = &[
    ("extent_allocation_extents_allocated", "Number of extents allocated for a filesystem.", "extent_alloc", 0),
    ("extent_allocation_blocks_allocated", "Number of blocks allocated for a filesystem.", "extent_alloc", 1),
    ("extent_allocation_extents_freed", "Number of extents freed for a filesystem.", "extent_alloc", 2),
    ("extent_allocation_blocks_freed", "Number of blocks freed for a filesystem.", "extent_alloc", 3),
    ("allocation_btree_lookups", "Number of allocation B-tree lookups for a filesystem.", "abt", 0),
    ("allocation_btree_compares", "Number of allocation B-tree compares for a filesystem.", "abt", 1),
    ("allocation_btree_records_inserted", "Number of allocation B-tree records inserted for a filesystem.", "abt", 2),
    ("allocation_btree_records_deleted", "Number of allocation B-tree records deleted for a filesystem.", "abt", 3),
    ("block_mapping_reads", "Number of block map for read operations for a filesystem.", "blk_map", 0),
    ("block_mapping_writes", "Number of block map for write operations for a filesystem.", "blk_map", 1),
    ("block_mapping_unmaps", "Number of block unmaps (deletes) for a filesystem.", "blk_map", 2),
    ("block_mapping_extent_list_insertions", "Number of extent list insertions for a filesystem.", "blk_map", 3),
    ("block_mapping_extent_list_deletions", "Number of extent list deletions for a filesystem.", "blk_map", 4),
    ("block_mapping_extent_list_lookups", "Number of extent list lookups for a filesystem.", "blk_map", 5),
    ("block_mapping_extent_list_compares", "Number of extent list compares for a filesystem.", "blk_map", 6),
    ("block_map_btree_lookups", "Number of block map B-tree lookups for a filesystem.", "bmbt", 0),
    ("block_map_btree_compares", "Number of block map B-tree compares for a filesystem.", "bmbt", 1),
    ("block_map_btree_records_inserted", "Number of block map B-tree records inserted for a filesystem.", "bmbt", 2),
    ("block_map_btree_records_deleted", "Number of block map B-tree records deleted for a filesystem.", "bmbt", 3),
    (
        "directory_operation_lookup",
        "Number of file name directory lookups which miss the operating systems directory name lookup cache.",
        "dir",
        0,
    ),
    ("directory_operation_create", "Number of times a new directory entry was created for a filesystem.", "dir", 1),
    (
        "directory_operation_remove",
        "Number of times an existing directory entry was created for a filesystem.",
        "dir",
        2,
    ),
    (
        "directory_operation_getdents",
        "Number of times the directory getdents operation was performed for a filesystem.",
        "dir",
        3,
    ),
    ("inode_operation_attempts", "Number of times the OS looked for an XFS inode in the inode cache.", "ig", 0),
    ("inode_operation_found", "Number of times the OS looked for and found an XFS inode in the inode cache.", "ig", 1),
    (
        "inode_operation_recycled",
        "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled.",
        "ig",
        2,
    ),
    (
        "inode_operation_missed",
        "Number of times the OS looked for an XFS inode in the cache, but did not find it.",
        "ig",
        3,
    ),
    (
        "inode_operation_duplicates",
        "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process.",
        "ig",
        4,
    ),
    (
        "inode_operation_reclaims",
        "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose.",
        "ig",
        5,
    ),
    (
        "inode_operation_attribute_changes",
        "Number of times the OS explicitly changed the attributes of an XFS inode.",
        "ig",
        6,
    ),
    // `rw` counts write(2) calls first.
    ("read_calls", "Number of read(2) system calls made to files in a filesystem.", "rw", 1),
    ("write_calls", "Number of write(2) system calls made to files in a filesystem.", "rw", 0),
    ("vnode_active", "Number of vnodes not on free lists for a filesystem.", "vnodes", 0),
    ("vnode_allocate", "Number of times vn_alloc called for a filesystem.", "vnodes", 1),
    ("vnode_get", "Number of times vn_get called for a filesystem.", "vnodes", 2),
    ("vnode_hold", "Number of times vn_hold called for a filesystem.", "vnodes", 3),
    ("vnode_release", "Number of times vn_rele called for a filesystem.", "vnodes", 4),
    ("vnode_reclaim", "Number of times vn_reclaim called for a filesystem.", "vnodes", 5),
    ("vnode_remove", "Number of times vn_remove called for a filesystem.", "vnodes", 6),
];

impl ScrapeCollector for Xfs {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut families: Vec<MetricFamily> =
            COUNTERS.iter().map(|(name, help, ..)| MetricFamily::counter(format!("node_xfs_{name}"), *help)).collect();
        // `/sys/fs/xfs` also holds `stats/` (the totals of all of them),
        // which is no device: with XFS loaded and none mounted, a scrape
        // is one directory read.
        for (device, dir) in list_dir(&self.dir, |name| name != "stats")? {
            let path = dir.join("stats/stats");
            let read = with_file(&path, |text| {
                let stats = xfs::parse(text)?;
                for (family, (_, _, section, index)) in families.iter_mut().zip(COUNTERS) {
                    if let Some(value) = stats.get(section, *index) {
                        family.push(Labels::new().with("device", device.as_str()), value as f64);
                    }
                }
                Ok(())
            });
            match read {
                Ok(parsed) => parsed.map_err(|e| parse_error(&path, e))?,
                Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {}
                Err(e) => return Err(io_error(&path, e)),
            }
        }
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}
