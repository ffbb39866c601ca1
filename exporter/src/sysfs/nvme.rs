//! `/sys/class/nvme/<controller>/`: an NVMe controller's identity and
//! state, one attribute per file.

/// The attributes node_exporter reports, with their label names, in the
/// order it writes them (after `device`).
pub const ATTRIBUTES: [(&str, &str); 4] =
    [("firmware_rev", "firmware_revision"), ("model", "model"), ("serial", "serial"), ("state", "state")];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_device_in_name_order() {
        let mut labels = vec!["device"];
        labels.extend(ATTRIBUTES.iter().map(|(_, label)| *label));
        let mut sorted = labels.clone();
        sorted.sort_unstable();
        assert_eq!(labels, sorted);
    }
}
