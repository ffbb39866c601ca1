//! `/proc/mdstat`: the state of Linux software RAID (md) devices.
//!
//! Each device is a line `md0 : active raid1 sdb1[1] sda1[0](F)` followed
//! by a status line (`… blocks … [2/1] [U_]`), an optional `bitmap:` line
//! and an optional sync line (`[=>…]  recovery =  8.5% (16775552/195310144) …`
//! or `resync=DELAYED`). The numbers are read as node_exporter 1.5.0's
//! procfs library reads them, so the same file gives the same metrics.

use super::ParseError;

/// What a device is doing, from its device line and its sync line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdActivity {
    /// `active` and not syncing.
    Active,
    /// `inactive`.
    Inactive,
    /// Rebuilding onto a replaced disk (`recovery`).
    Recovering,
    /// Resynchronising its copies (`resync`, also when `PENDING`/`DELAYED`).
    Resyncing,
    /// Checking its copies (`check`).
    Checking,
    /// Any other word in the state column.
    Other,
}

/// One md device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdDevice<'a> {
    /// `md0`.
    pub name: &'a str,
    /// Its activity.
    pub activity: MdActivity,
    /// Disks in use: the `M` of `[N/M]`, or every disk of a raid0/linear device.
    pub disks_active: u64,
    /// Disks the device is made of: the `N` of `[N/M]`.
    pub disks_total: u64,
    /// Disks marked `(F)`.
    pub disks_failed: u64,
    /// Disks marked `(S)`.
    pub disks_spare: u64,
    /// Size in blocks (1 KiB each).
    pub blocks_total: u64,
    /// Blocks in sync: the size unless a sync is running (its progress) or
    /// waiting (0).
    pub blocks_synced: u64,
}

/// Parses `/proc/mdstat`.
pub fn parse(text: &str) -> Result<Vec<MdDevice<'_>>, ParseError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut devices = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty()
            || line.starts_with([' ', '\t'])
            || line.starts_with("Personalities")
            || line.starts_with("unused")
        {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [name, _, state, ..] = fields[..] else {
            return Err(ParseError::new(format!("too few fields in device line {line:?}")));
        };
        let status =
            lines.get(i + 1).ok_or_else(|| ParseError::new(format!("{name}: no status line after {line:?}")))?;
        let (disks_active, disks_total, blocks_total) = status_line(line, status)?;
        let mut sync_line = lines.get(i + 2).copied().unwrap_or_default();
        if sync_line.contains("bitmap") {
            sync_line = lines.get(i + 3).copied().unwrap_or_default();
        }
        let mut activity = match state {
            "active" => MdActivity::Active,
            "inactive" => MdActivity::Inactive,
            _ => MdActivity::Other,
        };
        let mut blocks_synced = blocks_total;
        // The order is upstream's: a line naming both counts as the first.
        let syncing = if sync_line.contains("recovery") {
            Some(MdActivity::Recovering)
        } else if sync_line.contains("check") {
            Some(MdActivity::Checking)
        } else if sync_line.contains("resync") {
            Some(MdActivity::Resyncing)
        } else {
            None
        };
        if let Some(syncing) = syncing {
            activity = syncing;
            blocks_synced = if sync_line.contains("PENDING") || sync_line.contains("DELAYED") {
                0
            } else {
                synced_blocks(sync_line)
                    .ok_or_else(|| ParseError::new(format!("{name}: no (done/total) in sync line {sync_line:?}")))?
            };
        }
        devices.push(MdDevice {
            name,
            activity,
            disks_active,
            disks_total,
            disks_failed: line.matches("(F)").count() as u64,
            disks_spare: line.matches("(S)").count() as u64,
            blocks_total,
            blocks_synced,
        });
    }
    Ok(devices)
}

/// `(active, total, blocks)` from the device line and the status line.
fn status_line(device_line: &str, status: &str) -> Result<(u64, u64, u64), ParseError> {
    let blocks = status
        .split_ascii_whitespace()
        .next()
        .and_then(|f| f.parse::<u64>().ok())
        .ok_or_else(|| ParseError::new(format!("no block count in status line {status:?}")))?;
    // raid0 and linear have no `[N/M]`: every disk listed (each has a
    // `[slot]`) is in use.
    if device_line.contains("raid0") || device_line.contains("linear") {
        let disks = device_line.matches('[').count() as u64;
        return Ok((disks, disks, blocks));
    }
    if device_line.contains("inactive") {
        return Ok((0, 0, blocks));
    }
    let (total, active) = disk_counts(status)
        .ok_or_else(|| ParseError::new(format!("no [total/active] [U_] in status line {status:?}")))?;
    Ok((active, total, blocks))
}

/// `(N, M)` from the first `[N/M]` followed by a `[UU_]` map.
fn disk_counts(status: &str) -> Option<(u64, u64)> {
    let fields: Vec<&str> = status.split_ascii_whitespace().collect();
    fields.windows(2).find_map(|pair| {
        let (total, active) = pair[0].strip_prefix('[')?.strip_suffix(']')?.split_once('/')?;
        let map = pair[1].strip_prefix('[')?.strip_suffix(']')?;
        if map.is_empty() || !map.bytes().all(|b| b == b'U' || b == b'_') {
            return None;
        }
        Some((total.parse().ok()?, active.parse().ok()?))
    })
}

/// The `done` of the first `(done/total)` in a sync line.
fn synced_blocks(line: &str) -> Option<u64> {
    line.split('(').skip(1).find_map(|rest| {
        let (inner, _) = rest.split_once(')')?;
        let (done, total) = inner.split_once('/')?;
        total.parse::<u64>().ok()?;
        done.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// node_exporter 1.5.0's own fixture: every shape of device it knows.
    const FIXTURE: &str = include_str!("../../../tests/conformance/node_exporter-1.5.0/collector/fixtures/proc/mdstat");

    fn device<'a>(devices: &'a [MdDevice<'a>], name: &str) -> &'a MdDevice<'a> {
        devices.iter().find(|d| d.name == name).unwrap()
    }

    #[test]
    fn parses_upstreams_fixture() {
        let devices = parse(FIXTURE).unwrap();
        assert_eq!(devices.len(), 17);
        assert_eq!(
            *device(&devices, "md3"),
            MdDevice {
                name: "md3",
                activity: MdActivity::Active,
                disks_active: 8,
                disks_total: 8,
                disks_failed: 0,
                disks_spare: 2,
                blocks_total: 5_853_468_288,
                blocks_synced: 5_853_468_288,
            }
        );
        // Recovering onto a spare, with a failed disk.
        let md6 = device(&devices, "md6");
        assert_eq!(md6.activity, MdActivity::Recovering);
        assert_eq!((md6.disks_active, md6.disks_total, md6.disks_failed, md6.disks_spare), (1, 2, 1, 1));
        assert_eq!((md6.blocks_total, md6.blocks_synced), (195_310_144, 16_775_552));
        // A bitmap line before no sync line.
        let md7 = device(&devices, "md7");
        assert_eq!((md7.activity, md7.disks_active, md7.disks_total), (MdActivity::Active, 3, 4));
        // A check in progress.
        let md201 = device(&devices, "md201");
        assert_eq!((md201.activity, md201.blocks_synced), (MdActivity::Checking, 114_176));
        // A resync waiting: nothing synced yet.
        for name in ["md9", "md11"] {
            let md = device(&devices, name);
            assert_eq!((md.activity, md.blocks_synced), (MdActivity::Resyncing, 0), "{name}");
        }
        // raid0 and linear: every listed disk is active.
        for (name, disks) in [("md10", 2), ("md00", 1), ("md120", 2), ("md101", 3)] {
            let md = device(&devices, name);
            assert_eq!((md.disks_active, md.disks_total), (disks, disks), "{name}");
        }
        // Inactive: no disk counts from the status line.
        let md219 = device(&devices, "md219");
        assert_eq!(md219.activity, MdActivity::Inactive);
        assert_eq!((md219.disks_active, md219.disks_total, md219.disks_spare, md219.blocks_total), (0, 0, 3, 7932));
    }

    #[test]
    fn no_arrays_is_no_devices() {
        let text = "Personalities : [raid1]\nunused devices: <none>\n";
        assert_eq!(parse(text).unwrap(), vec![]);
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn rejects_broken_devices() {
        // No status line.
        assert!(parse("md0 : active raid1 sda1[0]").is_err());
        // A status line without a block count.
        assert!(parse("md0 : active raid1 sda1[0]\n      blocks [2/2] [UU]\n").is_err());
        // A raid1 status line without [N/M] [U_].
        assert!(parse("md0 : active raid1 sda1[0]\n      100 blocks\n").is_err());
        // A recovery line without its (done/total).
        assert!(parse("md0 : active raid1 sda1[0]\n      100 blocks [2/2] [UU]\n      recovery = 5%\n").is_err());
        // Too few fields.
        assert!(parse("md0 :\n      100 blocks\n").is_err());
    }
}
