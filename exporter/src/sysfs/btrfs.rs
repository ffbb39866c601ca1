//! `/sys/fs/btrfs/<uuid>/`: a mounted btrfs filesystem (`label`,
//! `metadata_uuid`), its devices (`devices/<name>/size`, in 512-byte
//! sectors) and its allocation per block group type
//! (`allocation/<type>/bytes_reserved`, and per layout
//! `allocation/<type>/<layout>/{total_bytes,used_bytes}`).

/// Linux counts a device's `size` in 512-byte sectors whatever the
/// device's own block size.
pub const SECTOR_SIZE: u64 = 512;

/// The block group types, as directories under `allocation/` and as the
/// `block_group_type` label.
pub const BLOCK_GROUP_TYPES: [&str; 3] = ["data", "metadata", "system"];

/// A filesystem's entry: node_exporter globs `fs/btrfs/*-*`, which leaves
/// out `features` (the driver's own list).
pub fn is_filesystem(entry: &str) -> bool {
    entry.contains('-')
}

/// A number attribute as node_exporter reads it: one that does not parse
/// counts as 0.
pub fn parse_value(text: &str) -> u64 {
    text.trim().parse().unwrap_or(0)
}

/// How many bytes of disk a byte of a layout takes, given the number of
/// devices (`raid5` and `raid6` spread parity over them); 0 for a layout
/// node_exporter does not know.
pub fn allocation_ratio(layout: &str, devices: usize) -> f64 {
    let devices = devices as f64;
    match layout {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => devices / (devices - 1.0),
        "raid6" => devices / (devices - 2.0),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_values_and_ratios_of_upstreams_filesystems() {
        assert!(is_filesystem("7f07c59f-6136-449c-ab87-e1cf2328731b"));
        assert!(!is_filesystem("features"));
        assert_eq!(parse_value("20971520\n") * SECTOR_SIZE, 10_737_418_240);
        assert_eq!(parse_value("garbage"), 0);
        assert_eq!(allocation_ratio("raid0", 2), 1.0);
        assert_eq!(allocation_ratio("raid1", 2), 2.0);
        assert_eq!(allocation_ratio("raid5", 4), 4.0 / 3.0);
        assert_eq!(allocation_ratio("raid6", 4), 2.0);
        assert_eq!(allocation_ratio("raid1c3", 3), 0.0);
    }
}
