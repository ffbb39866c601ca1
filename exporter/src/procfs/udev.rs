//! udev's device database (`/run/udev/data/b<major>:<minor>`).

/// The device properties (`E:KEY=value` lines), borrowed from the text.
pub fn parse_properties(text: &str) -> Vec<(&str, &str)> {
    text.lines().filter_map(|line| line.strip_prefix("E:")).filter_map(|prop| prop.split_once('=')).collect()
}

/// The value of property `key`, if present; the last one wins, as udev
/// itself reads the file.
pub fn property<'a>(props: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    props.iter().rev().find(|(k, _)| *k == key).map(|&(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_properties() {
        let text = "S:disk/by-id/ata-X\nW:1\nE:ID_MODEL=Samsung_SSD\nE:ID_SERIAL_SHORT=S1\nE:ID_PATH=pci-0000:00:1f.2-ata-1\nG:systemd\n";
        let props = parse_properties(text);
        assert_eq!(props.len(), 3);
        assert_eq!(property(&props, "ID_MODEL"), Some("Samsung_SSD"));
        assert_eq!(property(&props, "ID_PATH"), Some("pci-0000:00:1f.2-ata-1"));
        assert_eq!(property(&props, "ID_WWN"), None);
        assert_eq!(property(&parse_properties("E:A=1\nE:A=2\n"), "A"), Some("2"));
    }
}
