//! `/sys/class/power_supply/<supply>/`: batteries, mains adapters and USB
//! chargers, one attribute per file.

use super::parse_go_int;
use crate::procfs::ParseError;

/// How an attribute becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A plain number (a percentage, a count, 0/1, seconds).
    Number,
    /// Micro-units (µA, µV, µW, µWh, µAh): divided by 10⁶.
    Micro,
    /// Tenths of a degree Celsius: divided by 10.
    Tenths,
    /// Text, reported as a label of `node_power_supply_info`.
    Label,
}

/// Every attribute node_exporter reports: the file, the metric (or label)
/// name it becomes, and how its value is read. Files not listed here
/// (`alarm`, `uevent`, …) are not read.
pub const ATTRIBUTES: [(&str, &str, Kind); 59] = [
    ("authentic", "authentic", Kind::Number),
    ("calibrate", "calibrate", Kind::Number),
    ("capacity", "capacity", Kind::Number),
    ("capacity_alert_max", "capacity_alert_max", Kind::Number),
    ("capacity_alert_min", "capacity_alert_min", Kind::Number),
    ("capacity_level", "capacity_level", Kind::Label),
    ("charge_control_limit", "charge_control_limit", Kind::Micro),
    ("charge_control_limit_max", "charge_control_limit_max", Kind::Micro),
    ("charge_counter", "charge_counter", Kind::Micro),
    ("charge_empty", "charge_empty", Kind::Micro),
    ("charge_empty_design", "charge_empty_design", Kind::Micro),
    ("charge_full", "charge_full", Kind::Micro),
    ("charge_full_design", "charge_full_design", Kind::Micro),
    ("charge_now", "charge_ampere", Kind::Micro),
    ("charge_term_current", "charge_term_current", Kind::Micro),
    ("charge_type", "charge_type", Kind::Label),
    ("constant_charge_current", "constant_charge_current", Kind::Micro),
    ("constant_charge_current_max", "constant_charge_current_max", Kind::Micro),
    ("constant_charge_voltage", "constant_charge_voltage", Kind::Micro),
    ("constant_charge_voltage_max", "constant_charge_voltage_max", Kind::Micro),
    ("current_boot", "current_boot", Kind::Micro),
    ("current_max", "current_max", Kind::Micro),
    ("current_now", "current_ampere", Kind::Micro),
    ("cycle_count", "cyclecount", Kind::Number),
    ("energy_empty", "energy_empty", Kind::Micro),
    ("energy_empty_design", "energy_empty_design", Kind::Micro),
    ("energy_full", "energy_full", Kind::Micro),
    ("energy_full_design", "energy_full_design", Kind::Micro),
    ("energy_now", "energy_watthour", Kind::Micro),
    ("health", "health", Kind::Label),
    ("input_current_limit", "input_current_limit", Kind::Micro),
    ("manufacturer", "manufacturer", Kind::Label),
    ("model_name", "model_name", Kind::Label),
    ("online", "online", Kind::Number),
    ("power_now", "power_watt", Kind::Micro),
    ("precharge_current", "precharge_current", Kind::Micro),
    ("present", "present", Kind::Number),
    ("scope", "scope", Kind::Label),
    ("serial_number", "serial_number", Kind::Label),
    ("status", "status", Kind::Label),
    ("technology", "technology", Kind::Label),
    ("temp", "temp_celsius", Kind::Tenths),
    ("temp_alert_max", "temp_alert_max_celsius", Kind::Tenths),
    ("temp_alert_min", "temp_alert_min_celsius", Kind::Tenths),
    ("temp_ambient", "temp_ambient_celsius", Kind::Tenths),
    ("temp_ambient_max", "temp_ambient_max_celsius", Kind::Tenths),
    ("temp_ambient_min", "temp_ambient_min_celsius", Kind::Tenths),
    ("temp_max", "temp_max_celsius", Kind::Tenths),
    ("temp_min", "temp_min_celsius", Kind::Tenths),
    ("time_to_empty_now", "time_to_empty_seconds", Kind::Number),
    ("time_to_full_now", "time_to_full_seconds", Kind::Number),
    ("type", "type", Kind::Label),
    ("usb_type", "usb_type", Kind::Label),
    ("voltage_boot", "voltage_boot", Kind::Micro),
    ("voltage_max", "voltage_max", Kind::Micro),
    ("voltage_max_design", "voltage_max_design", Kind::Micro),
    ("voltage_min", "voltage_min", Kind::Micro),
    ("voltage_min_design", "voltage_min_design", Kind::Micro),
    ("voltage_now", "voltage_volt", Kind::Micro),
];

/// The attribute `file` names, if node_exporter reports it.
pub fn attribute(file: &str) -> Option<(&'static str, Kind)> {
    ATTRIBUTES.iter().find(|(f, _, _)| *f == file).map(|(_, name, kind)| (*name, *kind))
}

/// A numeric attribute's value in the unit node_exporter reports.
/// Numbers are read as Go's `ParseInt(s, 0, 64)` reads them.
pub fn parse_value(kind: Kind, text: &str) -> Result<f64, ParseError> {
    let raw = parse_go_int(text.trim()).ok_or_else(|| ParseError::new(format!("invalid number {text:?}")))?;
    Ok(match kind {
        Kind::Micro => raw as f64 / 1e6,
        Kind::Tenths => raw as f64 / 10.0,
        Kind::Number | Kind::Label => raw as f64,
    })
}

/// The help text of metric `name`.
pub fn help(name: &str) -> String {
    format!("{name} value of /sys/class/power_supply/<power_supply>.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_values_of_upstreams_battery() {
        assert_eq!(attribute("energy_now"), Some(("energy_watthour", Kind::Micro)));
        assert_eq!(attribute("cycle_count"), Some(("cyclecount", Kind::Number)));
        assert_eq!(attribute("model_name"), Some(("model_name", Kind::Label)));
        assert_eq!(attribute("alarm"), None);
        assert_eq!(parse_value(Kind::Micro, "36580000\n").unwrap(), 36.58);
        assert_eq!(parse_value(Kind::Micro, "5002000").unwrap(), 5.002);
        assert_eq!(parse_value(Kind::Number, "81").unwrap(), 81.0);
        assert_eq!(parse_value(Kind::Tenths, "-25").unwrap(), -2.5);
        assert!(parse_value(Kind::Number, "Unknown").is_err());
        assert_eq!(help("online"), "online value of /sys/class/power_supply/<power_supply>.");
    }

    #[test]
    fn the_table_is_sorted_by_file_and_labels_in_label_order() {
        let files: Vec<&str> = ATTRIBUTES.iter().map(|(f, _, _)| *f).collect();
        let mut sorted = files.clone();
        sorted.sort_unstable();
        assert_eq!(files, sorted);
        // Labels are written in name order, `power_supply` among them.
        let mut labels: Vec<&str> =
            ATTRIBUTES.iter().filter(|(_, _, k)| *k == Kind::Label).map(|(_, n, _)| *n).collect();
        labels.push("power_supply");
        labels.sort_unstable();
        assert_eq!(labels.first(), Some(&"capacity_level"));
    }
}
