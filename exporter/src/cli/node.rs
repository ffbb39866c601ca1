//! `--collector.*` and `--path.*`: node_exporter's flags, mapped onto the
//! exporter's [`NodeConfig`].
//!
//! The per-collector flags are generated from the exporter's
//! [`COLLECTORS`] registry, so adding a collector there adds its
//! `--collector.<name>` / `--no-collector.<name>` here. Defaults come from
//! [`NodeConfig::default`] (node_exporter 1.5.0's). Patterns and durations
//! are checked while parsing, so a bad value is a usage error naming its
//! flag.

use std::path::PathBuf;
use std::time::Duration;

use crate::node::{COLLECTORS, DeviceFilter, NodeConfig};
use clap::builder::TypedValueParser as _;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use sonde_instrument::duration::{format_go_duration, parse_go_duration};

/// The node collectors' flags, parsed into the configuration they ask for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeArgs {
    /// What the flags ask for.
    pub config: NodeConfig,
    /// `--collector.disable-defaults` was given: collectors outside the
    /// node registry (the container collector) follow it too.
    pub defaults_disabled: bool,
}

const DISABLE_DEFAULTS: &str = "collector.disable-defaults";
const PROCFS: &str = "path.procfs";
const SYSFS: &str = "path.sysfs";
const ROOTFS: &str = "path.rootfs";
const UDEV_DATA: &str = "path.udev.data";
const MOUNT_POINTS_EXCLUDE: &str = "collector.filesystem.mount-points-exclude";
const FS_TYPES_EXCLUDE: &str = "collector.filesystem.fs-types-exclude";
const MOUNT_TIMEOUT: &str = "collector.filesystem.mount-timeout";
const NETDEV_INCLUDE: &str = "collector.netdev.device-include";
const NETDEV_EXCLUDE: &str = "collector.netdev.device-exclude";
const DISKSTATS_INCLUDE: &str = "collector.diskstats.device-include";
const DISKSTATS_EXCLUDE: &str = "collector.diskstats.device-exclude";
const ARP_INCLUDE: &str = "collector.arp.device-include";
const ARP_EXCLUDE: &str = "collector.arp.device-exclude";
const IPVS_BACKEND_LABELS: &str = "collector.ipvs.backend-labels";
const NETSTAT_FIELDS: &str = "collector.netstat.fields";
const VMSTAT_FIELDS: &str = "collector.vmstat.fields";
const CPU_GUEST: &str = "collector.cpu.guest";
const NO_CPU_GUEST: &str = "no-collector.cpu.guest";
const CPU_INFO: &str = "collector.cpu.info";
const NO_CPU_INFO: &str = "no-collector.cpu.info";
const CPU_INFO_FLAGS: &str = "collector.cpu.info.flags-include";
const CPU_INFO_BUGS: &str = "collector.cpu.info.bugs-include";
const STAT_SOFTIRQ: &str = "collector.stat.softirq";
const NO_STAT_SOFTIRQ: &str = "no-collector.stat.softirq";
const BCACHE_PRIORITY_STATS: &str = "collector.bcache.priorityStats";
const NO_BCACHE_PRIORITY_STATS: &str = "no-collector.bcache.priorityStats";
const NETCLASS_IGNORED: &str = "collector.netclass.ignored-devices";
const NETCLASS_INVALID_SPEED: &str = "collector.netclass.ignore-invalid-speed";
const NO_NETCLASS_INVALID_SPEED: &str = "no-collector.netclass.ignore-invalid-speed";
const POWERSUPPLY_IGNORED: &str = "collector.powersupply.ignored-supplies";
const RAPL_ZONE_LABEL: &str = "collector.rapl.enable-zone-label";
const NO_RAPL_ZONE_LABEL: &str = "no-collector.rapl.enable-zone-label";
const TAPESTATS_IGNORED: &str = "collector.tapestats.ignored-devices";
const TEXTFILE_DIRECTORY: &str = "collector.textfile.directory";
const TEXTFILE_MAX_SIZE: &str = "collector.textfile.max-size";

const HEADING: &str = "Node collectors";

/// `--collector.<name>`: the flag of a boolean setting that is on.
fn on_flag(name: &str) -> String {
    format!("collector.{name}")
}

/// `--no-collector.<name>`: the flag that turns it off.
fn off_flag(name: &str) -> String {
    format!("no-collector.{name}")
}

/// A `--x` / `--no-x` pair where the last one given wins, as with
/// node_exporter's (kingpin's) boolean flags. The `--no-` form is left out
/// of `--help`, which names it.
fn bool_pair(on: &str, off: &str, help: &str, default: bool) -> [Arg; 2] {
    let state = if default { "enabled" } else { "disabled" };
    [
        Arg::new(on.to_owned())
            .long(on.to_owned())
            .action(ArgAction::SetTrue)
            .overrides_with(off.to_owned())
            .help(format!("{help} (default: {state}; --{off} turns it off)"))
            .help_heading(HEADING),
        Arg::new(off.to_owned())
            .long(off.to_owned())
            .action(ArgAction::SetTrue)
            .overrides_with(on.to_owned())
            .hide(true),
    ]
}

/// What a pair of boolean flags says: `Some(true)` for `--x`, `Some(false)`
/// for `--no-x`, `None` when neither was given.
fn bool_pair_value(matches: &ArgMatches, on: &str, off: &str) -> Option<bool> {
    if matches.get_flag(on) {
        Some(true)
    } else if matches.get_flag(off) {
        Some(false)
    } else {
        None
    }
}

/// Checks that a flag's value compiles as a regular expression (the
/// exporter compiles it again; this makes a bad one a usage error).
fn pattern_parser() -> impl clap::builder::TypedValueParser<Value = String> {
    clap::builder::NonEmptyStringValueParser::new()
        .try_map(|pattern: String| regex::Regex::new(&pattern).map(|_| pattern))
}

/// Checks `--collector.ipvs.backend-labels` while parsing, so an unknown
/// label is a usage error naming the flag (the collector checks again).
fn ipvs_labels_parser() -> impl clap::builder::TypedValueParser<Value = String> {
    clap::builder::StringValueParser::new()
        .try_map(|labels: String| crate::node::ipvs_backend_labels(&labels).map(|_| labels).map_err(|e| e.to_string()))
}

fn pattern(id: &'static str, default: Option<&str>, help: &'static str) -> Arg {
    let arg = Arg::new(id).long(id).value_name("REGEX").value_parser(pattern_parser()).help(help).help_heading(HEADING);
    match default {
        Some(default) => arg.default_value(default.to_owned()),
        None => arg,
    }
}

fn path(id: &'static str, default: &std::path::Path, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .value_name("PATH")
        .value_parser(clap::value_parser!(PathBuf))
        .default_value(default.display().to_string())
        .help(help)
        .help_heading(HEADING)
}

impl clap::Args for NodeArgs {
    fn augment_args(cmd: Command) -> Command {
        let defaults = NodeConfig::default();
        let mut cmd = cmd
            .arg(path(PROCFS, &defaults.procfs, "procfs mountpoint"))
            .arg(path(SYSFS, &defaults.sysfs, "sysfs mountpoint"))
            .arg(path(ROOTFS, &defaults.rootfs, "rootfs mountpoint; mount points are reported without it"))
            .arg(path(UDEV_DATA, &defaults.udev_data, "udev data path (disk model, serial and path)"))
            .arg(
                Arg::new(DISABLE_DEFAULTS)
                    .long(DISABLE_DEFAULTS)
                    .action(ArgAction::SetTrue)
                    .help("Start from no collector; only those enabled by --collector.<name> run")
                    .help_heading(HEADING),
            );
        for info in COLLECTORS {
            let help = format!("Enable the {} collector", info.name);
            cmd = cmd.args(bool_pair(&on_flag(info.name), &off_flag(info.name), &help, info.default_enabled));
        }
        let exclude_default = |filter: &DeviceFilter| filter.exclude.clone().unwrap_or_default();
        cmd.arg(pattern(
            MOUNT_POINTS_EXCLUDE,
            Some(&defaults.mount_points_exclude),
            "Regexp of mount points to ignore for the filesystem collector",
        ))
        .arg(pattern(
            FS_TYPES_EXCLUDE,
            Some(&defaults.fs_types_exclude),
            "Regexp of filesystem types to ignore for the filesystem collector",
        ))
        .arg(
            Arg::new(MOUNT_TIMEOUT)
                .long(MOUNT_TIMEOUT)
                .value_name("DURATION")
                .value_parser(parse_go_duration)
                .default_value(format_go_duration(defaults.mount_timeout))
                .help(
                    "How long to wait for a mount to answer statfs before marking it \
                     node_filesystem_device_error=1 and skipping it until it answers (Go syntax: 5s, 500ms)",
                )
                .help_heading(HEADING),
        )
        .arg(
            pattern(NETDEV_INCLUDE, None, "Regexp of net devices to include (replaces the default exclude)")
                .conflicts_with(NETDEV_EXCLUDE),
        )
        .arg(pattern(
            NETDEV_EXCLUDE,
            Some(&exclude_default(&defaults.netdev_devices)),
            "Regexp of net devices to exclude",
        ))
        .arg(
            pattern(DISKSTATS_INCLUDE, None, "Regexp of diskstats devices to include (replaces the default exclude)")
                .conflicts_with(DISKSTATS_EXCLUDE),
        )
        .arg(pattern(
            DISKSTATS_EXCLUDE,
            Some(&exclude_default(&defaults.diskstats_devices)),
            "Regexp of diskstats devices to exclude",
        ))
        .arg(
            pattern(ARP_INCLUDE, None, "Regexp of arp devices to include (mutually exclusive to device-exclude)")
                .conflicts_with(ARP_EXCLUDE),
        )
        .arg(pattern(ARP_EXCLUDE, None, "Regexp of arp devices to exclude (mutually exclusive to device-include)"))
        .arg(
            Arg::new(IPVS_BACKEND_LABELS)
                .long(IPVS_BACKEND_LABELS)
                .value_name("LABELS")
                .value_parser(ipvs_labels_parser())
                .default_value(defaults.ipvs_backend_labels.clone())
                .help("Comma separated list for IPVS backend stats labels")
                .help_heading(HEADING),
        )
        .arg(pattern(
            NETSTAT_FIELDS,
            Some(&defaults.netstat_fields),
            "Regexp of fields to return for the netstat collector",
        ))
        .arg(pattern(
            VMSTAT_FIELDS,
            Some(&defaults.vmstat_fields),
            "Regexp of fields to return for the vmstat collector",
        ))
        .arg(
            Arg::new(TEXTFILE_DIRECTORY)
                .long(TEXTFILE_DIRECTORY)
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Directory to read text files with metrics from (*.prom)")
                .help_heading(HEADING),
        )
        .arg(
            Arg::new(TEXTFILE_MAX_SIZE)
                .long(TEXTFILE_MAX_SIZE)
                .value_name("SIZE")
                .value_parser(super::parse_size)
                .default_value("16MiB")
                .help("Largest text file read; a larger one is skipped and reported (B, KiB, MiB, GiB)")
                .help_heading(HEADING),
        )
        .args(bool_pair(CPU_GUEST, NO_CPU_GUEST, "Export node_cpu_guest_seconds_total", defaults.cpu_guest))
        .args(bool_pair(CPU_INFO, NO_CPU_INFO, "Export node_cpu_info from /proc/cpuinfo", defaults.cpu_info))
        .arg(pattern(
            CPU_INFO_FLAGS,
            None,
            "Regexp of the first CPU's flags to export as node_cpu_flag_info (implies --collector.cpu.info)",
        ))
        .arg(pattern(
            CPU_INFO_BUGS,
            None,
            "Regexp of the first CPU's bugs to export as node_cpu_bug_info (implies --collector.cpu.info)",
        ))
        .args(bool_pair(STAT_SOFTIRQ, NO_STAT_SOFTIRQ, "Export softirq calls per vector", defaults.stat_softirq))
        .args(bool_pair(
            BCACHE_PRIORITY_STATS,
            NO_BCACHE_PRIORITY_STATS,
            "Expose expensive priority stats",
            defaults.bcache_priority_stats,
        ))
        .arg(pattern(
            NETCLASS_IGNORED,
            Some(&defaults.netclass_ignored_devices),
            "Regexp of net devices to ignore for the netclass collector",
        ))
        .args(bool_pair(
            NETCLASS_INVALID_SPEED,
            NO_NETCLASS_INVALID_SPEED,
            "Ignore devices where the speed is invalid",
            defaults.netclass_ignore_invalid_speed,
        ))
        .arg(pattern(
            POWERSUPPLY_IGNORED,
            Some(&defaults.powersupply_ignored_supplies),
            "Regexp of power supplies to ignore for powersupplyclass collector",
        ))
        .args(bool_pair(
            RAPL_ZONE_LABEL,
            NO_RAPL_ZONE_LABEL,
            "Report RAPL energy as node_rapl_joules_total with the zone as label rapl_zone",
            defaults.rapl_zone_label,
        ))
        .arg(pattern(
            TAPESTATS_IGNORED,
            Some(&defaults.tapestats_ignored_devices),
            "Regexp of devices to ignore for tapestats",
        ))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// The value of a flag that has a default or is optional.
fn value<T: Clone + Send + Sync + 'static>(matches: &ArgMatches, id: &str) -> Option<T> {
    matches.get_one::<T>(id).cloned()
}

/// Whether the user gave the flag (rather than clap filling its default).
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// An include given by the user clears the default exclude: node_exporter
/// refuses both at once, and clap already refused an explicit pair.
fn device_filter(matches: &ArgMatches, include: &str, exclude: &str) -> DeviceFilter {
    let include: Option<String> = value(matches, include);
    let exclude = if include.is_some() && !given(matches, exclude) { None } else { value(matches, exclude) };
    DeviceFilter { include, exclude }
}

impl clap::FromArgMatches for NodeArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let defaults = NodeConfig::default();
        let mut config = NodeConfig {
            procfs: value(matches, PROCFS).unwrap_or(defaults.procfs),
            sysfs: value(matches, SYSFS).unwrap_or(defaults.sysfs),
            rootfs: value(matches, ROOTFS).unwrap_or(defaults.rootfs),
            udev_data: value(matches, UDEV_DATA).unwrap_or(defaults.udev_data),
            enabled: defaults.enabled,
            mount_points_exclude: value(matches, MOUNT_POINTS_EXCLUDE).unwrap_or(defaults.mount_points_exclude),
            fs_types_exclude: value(matches, FS_TYPES_EXCLUDE).unwrap_or(defaults.fs_types_exclude),
            mount_timeout: value::<Duration>(matches, MOUNT_TIMEOUT).unwrap_or(defaults.mount_timeout),
            netdev_devices: device_filter(matches, NETDEV_INCLUDE, NETDEV_EXCLUDE),
            diskstats_devices: device_filter(matches, DISKSTATS_INCLUDE, DISKSTATS_EXCLUDE),
            arp_devices: device_filter(matches, ARP_INCLUDE, ARP_EXCLUDE),
            ipvs_backend_labels: value(matches, IPVS_BACKEND_LABELS).unwrap_or(defaults.ipvs_backend_labels),
            netstat_fields: value(matches, NETSTAT_FIELDS).unwrap_or(defaults.netstat_fields),
            vmstat_fields: value(matches, VMSTAT_FIELDS).unwrap_or(defaults.vmstat_fields),
            cpu_guest: bool_pair_value(matches, CPU_GUEST, NO_CPU_GUEST).unwrap_or(defaults.cpu_guest),
            cpu_info: false,
            cpu_info_flags_include: value(matches, CPU_INFO_FLAGS),
            cpu_info_bugs_include: value(matches, CPU_INFO_BUGS),
            stat_softirq: bool_pair_value(matches, STAT_SOFTIRQ, NO_STAT_SOFTIRQ).unwrap_or(defaults.stat_softirq),
            bcache_priority_stats: bool_pair_value(matches, BCACHE_PRIORITY_STATS, NO_BCACHE_PRIORITY_STATS)
                .unwrap_or(defaults.bcache_priority_stats),
            netclass_ignored_devices: value(matches, NETCLASS_IGNORED).unwrap_or(defaults.netclass_ignored_devices),
            netclass_ignore_invalid_speed: bool_pair_value(matches, NETCLASS_INVALID_SPEED, NO_NETCLASS_INVALID_SPEED)
                .unwrap_or(defaults.netclass_ignore_invalid_speed),
            powersupply_ignored_supplies: value(matches, POWERSUPPLY_IGNORED)
                .unwrap_or(defaults.powersupply_ignored_supplies),
            rapl_zone_label: bool_pair_value(matches, RAPL_ZONE_LABEL, NO_RAPL_ZONE_LABEL)
                .unwrap_or(defaults.rapl_zone_label),
            tapestats_ignored_devices: value(matches, TAPESTATS_IGNORED).unwrap_or(defaults.tapestats_ignored_devices),
            textfile_directory: value(matches, TEXTFILE_DIRECTORY),
            textfile_max_size: value::<usize>(matches, TEXTFILE_MAX_SIZE)
                .map_or(defaults.textfile_max_size, |size| size as u64),
        };
        // An include pattern turns the info on, as node_exporter does.
        config.cpu_info = bool_pair_value(matches, CPU_INFO, NO_CPU_INFO).unwrap_or(defaults.cpu_info)
            || config.cpu_info_flags_include.is_some()
            || config.cpu_info_bugs_include.is_some();
        let defaults_disabled = matches.get_flag(DISABLE_DEFAULTS);
        if defaults_disabled {
            config.disable_defaults();
        }
        for info in COLLECTORS {
            // Names come from the registry, so enable/disable cannot fail.
            let _ = match bool_pair_value(matches, &on_flag(info.name), &off_flag(info.name)) {
                Some(true) => config.enable(info.name),
                Some(false) => config.disable(info.name),
                None => Ok(()),
            };
        }
        Ok(NodeArgs { config, defaults_disabled })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::node::{DEFAULT_DISKSTATS_DEVICE_EXCLUDE, DEFAULT_NETDEV_DEVICE_EXCLUDE};
    use clap::{CommandFactory as _, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        node: NodeArgs,
    }

    fn parse(args: &[&str]) -> Result<NodeConfig, clap::Error> {
        Flags::try_parse_from(std::iter::once("sonde").chain(args.iter().copied())).map(|f| f.node.config)
    }

    fn enabled(config: &NodeConfig) -> Vec<&str> {
        config.enabled.iter().map(String::as_str).collect()
    }

    #[test]
    fn no_flags_means_node_exporters_defaults() {
        assert_eq!(parse(&[]).unwrap(), NodeConfig::default());
        Flags::command().debug_assert();
    }

    #[test]
    fn every_registered_collector_has_its_pair_of_flags() {
        let longs: Vec<String> =
            Flags::command().get_arguments().filter_map(|a| a.get_long().map(str::to_owned)).collect();
        for info in COLLECTORS {
            assert!(longs.contains(&format!("collector.{}", info.name)), "{}", info.name);
            assert!(longs.contains(&format!("no-collector.{}", info.name)), "{}", info.name);
            let config = parse(&[&format!("--no-collector.{}", info.name)]).unwrap();
            assert!(!config.enabled.contains(info.name), "{}", info.name);
        }
    }

    #[test]
    fn collectors_toggle_and_the_last_flag_wins() {
        let config = parse(&["--collector.disable-defaults", "--collector.cpu", "--collector.meminfo"]).unwrap();
        assert_eq!(enabled(&config), ["cpu", "meminfo"]);
        let config = parse(&["--no-collector.cpu", "--collector.cpu", "--no-collector.time"]).unwrap();
        assert!(config.enabled.contains("cpu"));
        assert!(!config.enabled.contains("time"));
        let config = parse(&["--collector.cpu", "--no-collector.cpu"]).unwrap();
        assert!(!config.enabled.contains("cpu"));
        // disable-defaults applies first wherever it is written.
        let config = parse(&["--collector.loadavg", "--collector.disable-defaults"]).unwrap();
        assert_eq!(enabled(&config), ["loadavg"]);
        assert!(parse(&["--collector.nope"]).is_err());
    }

    #[test]
    fn paths_and_values_reach_the_config() {
        let config = parse(&[
            "--path.procfs=/host/proc",
            "--path.sysfs",
            "/host/sys",
            "--path.rootfs",
            "/host",
            "--path.udev.data",
            "/host/run/udev/data",
            "--collector.filesystem.mount-timeout",
            "500ms",
            "--collector.filesystem.mount-points-exclude",
            "^/boot$",
            "--collector.filesystem.fs-types-exclude",
            "^tmpfs$",
            "--collector.netstat.fields",
            "^Tcp_.*",
            "--collector.vmstat.fields",
            "^pgfault$",
            "--no-collector.cpu.guest",
            "--collector.stat.softirq",
            "--collector.cpu.info.flags-include",
            "^avx",
            "--collector.netclass.ignored-devices",
            "^veth",
            "--collector.arp.device-exclude",
            "^docker",
            "--collector.netclass.ignore-invalid-speed",
            "--collector.textfile.directory",
            "/var/lib/node_exporter",
            "--collector.ipvs.backend-labels",
            "local_address,proto",
            "--collector.powersupply.ignored-supplies",
            "^AC$",
            "--collector.rapl.enable-zone-label",
            "--collector.tapestats.ignored-devices",
            "^nst",
            "--collector.bcache.priorityStats",
        ])
        .unwrap();
        assert_eq!(config.procfs, Path::new("/host/proc"));
        assert_eq!(config.sysfs, Path::new("/host/sys"));
        assert_eq!(config.rootfs, Path::new("/host"));
        assert_eq!(config.udev_data, Path::new("/host/run/udev/data"));
        assert_eq!(config.mount_timeout, Duration::from_millis(500));
        assert_eq!(config.mount_points_exclude, "^/boot$");
        assert_eq!(config.fs_types_exclude, "^tmpfs$");
        assert_eq!(config.netstat_fields, "^Tcp_.*");
        assert_eq!(config.vmstat_fields, "^pgfault$");
        assert!(!config.cpu_guest);
        assert!(config.stat_softirq);
        assert!(config.cpu_info, "an include pattern implies --collector.cpu.info");
        assert_eq!(config.cpu_info_flags_include.as_deref(), Some("^avx"));
        assert_eq!(config.cpu_info_bugs_include, None);
        assert!(parse(&["--collector.cpu.info"]).unwrap().cpu_info);
        assert!(!parse(&[]).unwrap().cpu_info);
        assert_eq!(config.netclass_ignored_devices, "^veth");
        assert_eq!(config.arp_devices, DeviceFilter { include: None, exclude: Some("^docker".into()) });
        assert!(config.netclass_ignore_invalid_speed);
        assert_eq!(config.textfile_directory.as_deref(), Some(Path::new("/var/lib/node_exporter")));
        assert_eq!(config.ipvs_backend_labels, "local_address,proto");
        assert_eq!(config.powersupply_ignored_supplies, "^AC$");
        assert!(config.rapl_zone_label);
        assert_eq!(config.tapestats_ignored_devices, "^nst");
        assert!(config.bcache_priority_stats);
        assert!(!parse(&[]).unwrap().bcache_priority_stats);
        assert!(!parse(&[]).unwrap().rapl_zone_label);
    }

    #[test]
    fn an_include_clears_the_default_exclude() {
        let config = parse(&["--collector.netdev.device-include", "^eth"]).unwrap();
        assert_eq!(config.netdev_devices, DeviceFilter { include: Some("^eth".into()), exclude: None });
        assert_eq!(config.diskstats_devices.exclude.as_deref(), Some(DEFAULT_DISKSTATS_DEVICE_EXCLUDE));
        let config = parse(&["--collector.diskstats.device-include", "^sd"]).unwrap();
        assert_eq!(config.diskstats_devices, DeviceFilter { include: Some("^sd".into()), exclude: None });
        assert_eq!(config.netdev_devices.exclude.as_deref(), Some(DEFAULT_NETDEV_DEVICE_EXCLUDE));
        // The executor accepts what the flags produce.
        assert!(crate::node::executor(&config).is_ok());
        let config = parse(&["--collector.netdev.device-exclude", "^veth"]).unwrap();
        assert_eq!(config.netdev_devices, DeviceFilter { include: None, exclude: Some("^veth".into()) });
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, flag) in [
            (&["--collector.netdev.device-exclude", "("][..], "--collector.netdev.device-exclude"),
            (&["--collector.netdev.device-include", "[a-"], "--collector.netdev.device-include"),
            (&["--collector.diskstats.device-include", "("], "--collector.diskstats.device-include"),
            (&["--collector.filesystem.mount-points-exclude", "("], "--collector.filesystem.mount-points-exclude"),
            (&["--collector.filesystem.fs-types-exclude", "("], "--collector.filesystem.fs-types-exclude"),
            (&["--collector.netstat.fields", "("], "--collector.netstat.fields"),
            (&["--collector.vmstat.fields", "("], "--collector.vmstat.fields"),
            (&["--collector.netclass.ignored-devices", "("], "--collector.netclass.ignored-devices"),
            (&["--collector.arp.device-include", "("], "--collector.arp.device-include"),
            (&["--collector.cpu.info.bugs-include", "("], "--collector.cpu.info.bugs-include"),
            (&["--collector.ipvs.backend-labels", "proto,vip"], "--collector.ipvs.backend-labels"),
            (&["--collector.powersupply.ignored-supplies", "("], "--collector.powersupply.ignored-supplies"),
            (&["--collector.tapestats.ignored-devices", "("], "--collector.tapestats.ignored-devices"),
            (
                &["--collector.arp.device-include", "^eth", "--collector.arp.device-exclude", "^lo$"],
                "--collector.arp.device-exclude",
            ),
            (&["--collector.filesystem.mount-timeout", "5"], "--collector.filesystem.mount-timeout"),
            (&["--collector.filesystem.mount-timeout", "five"], "--collector.filesystem.mount-timeout"),
            (&["--collector.filesystem.mount-timeout=-1s"], "--collector.filesystem.mount-timeout"),
            (
                &["--collector.netdev.device-include", "^eth", "--collector.netdev.device-exclude", "^lo$"],
                "--collector.netdev.device-exclude",
            ),
            (
                &["--collector.diskstats.device-exclude", "^x", "--collector.diskstats.device-include", "^sd"],
                "--collector.diskstats.device-include",
            ),
        ] {
            let err = parse(args).expect_err(&format!("{args:?} was accepted")).to_string();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }
}
