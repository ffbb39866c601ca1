//! Bonding in `/sys/class/net/`: `bonding_masters` and
//! `<master>/bonding/slaves` list interface names, and each slave's
//! `bonding_slave/mii_status` says whether its link is `up`.

/// The interface names of `bonding_masters` or a master's `slaves`.
pub fn parse_names(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// A slave's `mii_status` says its link is up.
pub fn is_up(mii_status: &str) -> bool {
    mii_status.trim() == "up"
}

/// Where a slave's state lives under its master, newest kernels first
/// (`lower_<slave>`; older ones name the link `slave_<slave>`).
pub fn slave_state_paths(slave: &str) -> [String; 2] {
    [format!("lower_{slave}/bonding_slave/mii_status"), format!("slave_{slave}/bonding_slave/mii_status")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_states() {
        assert_eq!(parse_names("bond0 dmz int\n"), ["bond0", "dmz", "int"]);
        assert!(parse_names("\n").is_empty());
        assert!(is_up("up\n"));
        assert!(!is_up("down\n"));
        assert!(!is_up("going back\n"));
        assert_eq!(slave_state_paths("eth0")[0], "lower_eth0/bonding_slave/mii_status");
    }
}
