//! `/sys/class/dmi/id/`: the firmware's description of the machine (BIOS,
//! board, chassis, product), one attribute per file.

/// The attributes node_exporter reports, each with its label name, in
/// label-name order (the order node_exporter writes labels in). Only
/// `sys_vendor` is renamed.
pub const ATTRIBUTES: [(&str, &str); 20] = [
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_in_the_order_node_exporter_writes_them() {
        let labels: Vec<&str> = ATTRIBUTES.iter().map(|(_, label)| *label).collect();
        let mut sorted = labels.clone();
        sorted.sort_unstable();
        assert_eq!(labels, sorted);
        assert!(ATTRIBUTES.contains(&("sys_vendor", "system_vendor")));
    }
}
