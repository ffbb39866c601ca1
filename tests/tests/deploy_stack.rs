//! `deploy/stack.yml`, as users deploy it, on the REAL engine: `docker
//! stack deploy` of the file as it is, with `sonde-agent` itself (in a
//! `FROM scratch` image) as `SONDE_IMAGE`, a free host port as
//! `SONDE_PORT` and a fresh attachable overlay network as `SONDE_NETWORK`.
//! The one agent task (global mode, one node) must:
//!
//! * see the node as the Swarm leader (the Docker socket mount);
//! * run with the stack's restrictions in force: as user 65534 with the
//!   socket's group, every capability dropped (none in its bounding,
//!   permitted or effective set, read from the host's
//!   `/proc/<pid>/status`) and a read-only root filesystem;
//! * and still have every collector succeed
//!   (`node_scrape_collector_success 1` for each node collector of the
//!   registry and for `container`), the container collector included for
//!   a neighbour container (its memory and its `eth0` counters, read from
//!   the host's `/proc/<its pid>/net/dev`, another user's process);
//! * report the host's node metrics through the read-only mounts: the
//!   filesystem mounted at the host's `/` with the host's device, type and
//!   size, under `mountpoint="/"` (the `/rootfs` prefix stripped; a
//!   container without the mount would report its own overlay root), and
//!   the host's boot time;
//! * label its own series `job=<stack>_sonde` and `instance=<host name>`
//!   (the `{{.Service.Name}}` and `{{.Node.Hostname}}` templates in its
//!   environment; without them they would be `sonde` and the container's
//!   id);
//! * evaluate the rule of the stack's `com.df.alertIf.1` label,
//!   `<stack without '-'>_sonde_node_fs_limit`, without an error;
//! * save the alert state in the `sonde-data` volume. The stack's own rule
//!   does not fire on a disk with room, and the state is only written once
//!   there is an alert, so a second service (no replicas: only its labels
//!   matter) carries an alert that fires at once. The volume is fresh, so
//!   this also checks that user 65534 may write it (the image's `/data`
//!   belongs to 65534 and Docker copies that into the volume).
//!
//! The stack cannot shorten the evaluation interval (its command is the
//! users'), so it stays at 15 s; the agent evaluates once as it starts, so
//! the rule stages need not wait for a second round. A failure says what
//! the last answer was and shows the tasks and the agent's logs.
//!
//! Needs `/var/run/docker.sock` like `swarm_cluster.rs` and an engine that
//! is a Swarm manager or in no Swarm (it initialises one on 127.0.0.1 and
//! leaves it afterwards); `SONDE_SKIP_DOCKER_TESTS=1` skips it.
//!
//! Run with `cargo test -p sonde-tests --test deploy_stack`.
// Test helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sonde_tests::engine::{
    Container, Containers, DATA_OWNER, DOCKER_SOCKET, Network, Service, Stack, Swarm, binary_image, docker_available,
    docker_raw, service_task_logs, service_tasks, workload_image,
};
use sonde_tests::{HttpAnswer, http_get};

/// The service of `deploy/stack.yml`.
const SERVICE: &str = "sonde";

/// Its named volume, the `--storage.path`.
const VOLUME: &str = "sonde-data";

/// Where the stack mounts that volume.
const STORAGE_PATH: &str = "/data";

/// Bound on each stage: the task starting, the first evaluations (15 s
/// apart), the state being saved. Not a performance threshold.
const LIMIT: Duration = Duration::from_secs(120);

/// Bound on one request to the agent.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How many of each agent task's log lines a failure shows, at most.
const LOG_LINES: usize = 80;

/// What the agent logs when it cannot write `alerts.json`.
const SAVE_FAILED: &str = "saving the alert state failed";

#[test]
fn the_stack_file_deploys_an_agent_that_watches_the_host() {
    if !docker_available("the_stack_file_deploys_an_agent_that_watches_the_host") {
        return;
    }
    let agent_image = binary_image(Path::new(env!("CARGO_BIN_EXE_sonde-agent-test")), "sonde-agent");
    let compose = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/stack.yml");
    let docker_gid = std::fs::metadata(DOCKER_SOCKET).expect("stat of the Docker socket").gid().to_string();

    // Dropped in reverse: the alert's service, the stack, the network, the
    // swarm.
    let _swarm = Swarm::ensure();
    let network = Network::overlay();
    let port = free_port();
    let stack = Stack::deploy(
        Stack::unique_name(),
        &compose,
        &[
            ("SONDE_IMAGE", agent_image),
            ("SONDE_PORT", &port.to_string()),
            ("SONDE_NETWORK", &network.name),
            ("SONDE_DOCKER_GID", &docker_gid),
        ],
    );
    let service = stack.service(SERVICE);
    let always = Service::create(
        &[
            "--replicas",
            "0",
            "--label",
            "com.df.alertName.1=always",
            "--label",
            &format!("com.df.alertIf.1=count(node_boot_time_seconds{{job=\"{service}\"}}) >= 1"),
        ],
        agent_image,
        &[],
    );
    // A plain container beside the agent: its counters come from another
    // process's /proc entries than the agent's own.
    let containers = Containers::new();
    let neighbour = containers.run(&[], workload_image(Path::new(env!("CARGO_BIN_EXE_sonde-workload"))), &["sleep"]);
    eprintln!(
        "stack {}, service {service}, port {port}, network {}, alert service {}, neighbour {}",
        stack.name, network.name, always.name, neighbour.name
    );

    sonde_tests::with_context_on_failure(
        || scenario(&stack, &always, &neighbour, port, &docker_gid),
        || {
            format!(
                "--- tasks of {service}:\n{}\n\
                 --- the agent's logs (the last {LOG_LINES} lines of each task):\n{}",
                service_tasks(&service),
                logs(&service),
            )
        },
    );

    // Cleaning up removes the stack's volume too.
    let volume = stack.volume(VOLUME);
    drop(containers);
    drop(always);
    drop(stack);
    let inspected = docker_raw(&["volume", "inspect", &volume]);
    assert!(!inspected.success, "the volume {volume} is still there after the stack was removed: {}", inspected.stdout);
}

/// Everything the test checks, with the stack running; a panic here gets
/// the tasks and the logs added by the caller.
fn scenario(stack: &Stack, always: &Service, neighbour: &Container, port: u16, docker_gid: &str) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let service = stack.service(SERVICE);
    let root = host_root();
    let boot_time = host_boot_time();

    // The restrictions, as the engine applied them and as the kernel sees
    // the process.
    let container = until("one running task container", || {
        let [container] = stack
            .running_containers(SERVICE)
            .try_into()
            .map_err(|running: Vec<String>| format!("not one running task container: {running:?}"))?;
        Ok(container)
    });
    let applied = docker_raw(&[
        "inspect",
        "--format",
        "{{json .HostConfig.CapDrop}} {{json .HostConfig.CapAdd}} {{.HostConfig.ReadonlyRootfs}} {{.Config.User}} \
         {{.State.Pid}}",
        &container,
    ])
    .stdout;
    let (applied, pid) = applied.rsplit_once(' ').unwrap_or_else(|| panic!("docker inspect printed {applied:?}"));
    let user = format!("{DATA_OWNER}:{docker_gid}");
    assert_eq!(applied, format!(r#"["ALL"] null true {user}"#), "CapDrop, CapAdd, ReadonlyRootfs and User");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status of the agent: {e}"));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status:\n{status}"))
    };
    let uid = DATA_OWNER.to_string();
    assert_eq!(field("Uid"), [uid.as_str(); 4].join(" "), "real, effective, saved and file-system uid");
    assert_eq!(field("Gid"), [docker_gid; 4].join(" "), "real, effective, saved and file-system gid");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(set), "0000000000000000", "{set} of the agent");
    }

    // Every collector, under those restrictions.
    // A collector whose source this host lacks reports no data as
    // node_exporter does (success 0, logged at debug): it is left out only
    // when the host itself has no such file.
    let absent_here = [
        ("bonding", "/sys/class/net/bonding_masters"),
        ("dmi", "/sys/class/dmi/id"),
        ("fibrechannel", "/sys/class/fc_host"),
        ("hwmon", "/sys/class/hwmon"),
        ("infiniband", "/sys/class/infiniband"),
        ("ipvs", "/proc/net/ip_vs_stats"),
        ("mdadm", "/proc/mdstat"),
        ("nfs", "/proc/net/rpc/nfs"),
        ("nfsd", "/proc/net/rpc/nfsd"),
        ("nvme", "/sys/class/nvme"),
        ("powersupplyclass", "/sys/class/power_supply"),
        ("schedstat", "/proc/schedstat"),
        ("tapestats", "/sys/class/scsi_tape"),
        ("zfs", "/proc/spl/kstat/zfs"),
    ];
    // Since Linux 5.10 only root may read RAPL's energy counters, so the
    // unprivileged agent reports no data there, as node_exporter does.
    let root_only = ["rapl"];
    // The stack runs the defaults: `interrupts` and `processes` are off.
    let mut expected: Vec<&str> = sonde_exporter::node::COLLECTORS
        .iter()
        .filter(|c| c.default_enabled)
        .map(|c| c.name)
        .filter(|name| !absent_here.iter().any(|(n, path)| n == name && !Path::new(path).exists()))
        .filter(|name| !root_only.contains(name))
        .collect();
    expected.push("container");
    let neighbour_name = format!("name=\"{}\"", neighbour.name);
    until("every collector to succeed, the neighbour container's included", || {
        let metrics = get(addr, "/metrics")?.body;
        let outcomes: Vec<(&str, &str)> = metrics
            .lines()
            // node_exporter's name for the node collectors, Sonde's own for
            // the container collector.
            .filter_map(|l| {
                l.strip_prefix("node_scrape_collector_success{collector=\"")
                    .or_else(|| l.strip_prefix("sonde_scrape_collector_success{collector=\""))
            })
            .filter_map(|l| l.split_once("\"} "))
            .collect();
        let failed: Vec<String> = expected
            .iter()
            .filter(|name| !outcomes.contains(&(**name, "1")))
            .map(|name| format!("{name}: {:?}", outcomes.iter().find(|(n, _)| n == name).map(|(_, v)| v)))
            .collect();
        if !failed.is_empty() {
            return Err(format!("collectors without success 1: {failed:?}"));
        }
        for family in ["container_memory_usage_bytes{", "container_network_receive_bytes_total{"] {
            let found = metrics.lines().any(|l| {
                l.starts_with(family)
                    && l.contains(&neighbour_name)
                    && (family.starts_with("container_memory") || l.contains("interface=\"eth0\""))
            });
            if !found {
                return Err(format!("no {family}…{neighbour_name}…}} in /metrics"));
            }
        }
        Ok(())
    });

    // The leader, seeing the host through the mounts.
    until("/metrics to show the leader and the host's / and boot time", || {
        let metrics = get(addr, "/metrics")?.body;
        sonde_tests::expect_leader(&metrics)?;
        let sizes: Vec<&str> = metrics.lines().filter(|l| l.starts_with("node_filesystem_size_bytes{")).collect();
        let want = format!(
            "node_filesystem_size_bytes{{device=\"{}\",fstype=\"{}\",mountpoint=\"/\"}} {}",
            root.device, root.fstype, root.size_bytes
        );
        if !sizes.contains(&want.as_str()) {
            return Err(format!("no `{want}` in /metrics: {sizes:?}"));
        }
        if let Some(prefixed) =
            sizes.iter().find(|l| l.contains("mountpoint=\"/rootfs") || l.contains("mountpoint=\"/host/"))
        {
            return Err(format!("a mount point as the container sees it: {prefixed}"));
        }
        let boot = format!("node_boot_time_seconds {boot_time}");
        if !metrics.lines().any(|l| l == boot) {
            let lines: Vec<&str> = metrics.lines().filter(|l| l.starts_with("node_boot_time_seconds")).collect();
            return Err(format!("no `{boot}` in /metrics: {lines:?}"));
        }
        Ok(())
    });

    // `job` and `instance` from the Swarm templates in the environment.
    let host_name = host_name();
    let expr = format!("node_filesystem_size_bytes{{mountpoint=\"/\",job=\"{service}\"}}");
    until(&format!("{expr} in the window with instance=\"{host_name}\""), || {
        let json = get(addr, &sonde_tests::query_path(&expr))?.json()?;
        let result = json["data"]["result"].as_array().cloned().unwrap_or_default();
        match result.as_slice() {
            [series] if series["metric"]["instance"] == host_name.as_str() => Ok(()),
            _ => Err(format!("not one series of instance {host_name}: {json}")),
        }
    });

    // The rule from the stack's service label, evaluated without an error.
    let rule_name = format!("{}_node_fs_limit", service.replace('-', ""));
    until(&format!("the rule {rule_name} to be evaluated with health ok"), || {
        let rules = get(addr, "/api/v1/rules")?.json()?;
        let rule = find_rule(&rules, &service, &rule_name)?;
        if rule["health"] != "ok" || rule["lastEvaluation"] == "0001-01-01T00:00:00Z" {
            return Err(format!("{rule_name} is not evaluated and ok: {rule}"));
        }
        let query = rule["query"].as_str().unwrap_or_default();
        let selector = format!("node_filesystem_size_bytes{{mountpoint=\"/\", job=\"{service}\"}}");
        if !query.contains(&selector) || !query.trim_end().ends_with("> 0.8") {
            return Err(format!("the query of {rule_name} is not the @node_fs_limit:0.8 of {service}: {query:?}"));
        }
        Ok(())
    });

    // The alert state, saved in the stack's volume.
    let alert_name = format!("{}_always", always.name.replace('-', ""));
    let volume = stack.volume(VOLUME);
    let container = until(&format!("the firing {alert_name} to be saved in {STORAGE_PATH}/alerts.json"), || {
        let [container] = stack
            .running_containers(SERVICE)
            .try_into()
            .map_err(|running: Vec<String>| format!("not one running task container: {running:?}"))?;
        let log = docker_raw(&["logs", &container]);
        if log.stdout.contains(SAVE_FAILED) || log.stderr.contains(SAVE_FAILED) {
            panic!("the agent logged {SAVE_FAILED:?}");
        }
        let mounts = docker_raw(&[
            "inspect",
            "--format",
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}};{{end}}",
            &container,
        ]);
        let mount = format!("volume {volume} {STORAGE_PATH} true");
        if !mounts.stdout.split(';').any(|m| m == mount) {
            return Err(format!("no `{mount}` in the mounts: {}", mounts.stdout));
        }
        // A tar archive of the one file on stdout: a scratch image has
        // no `cat`.
        let copied = docker_raw(&["cp", &format!("{container}:{STORAGE_PATH}/alerts.json"), "-"]);
        if !copied.success {
            return Err(format!("no alerts.json yet: {}", copied.stderr));
        }
        if !copied.stdout.contains(&format!("\"rule\":\"{alert_name}\"")) {
            return Err(format!("alerts.json lacks {alert_name}: {}", copied.stdout));
        }
        Ok(container)
    });

    // Nothing failed to save afterwards, and the counter agrees.
    let metrics = get(addr, "/metrics").unwrap_or_else(|e| panic!("{e}")).body;
    let failures: Vec<&str> = metrics.lines().filter(|l| l.starts_with("sonde_rule_state_save_failures")).collect();
    assert!(
        !failures.is_empty() && failures.iter().all(|l| l.ends_with(" 0")),
        "the state save failures are not 0: {failures:?}"
    );
    let log = docker_raw(&["logs", &container]);
    assert!(!log.stdout.contains(SAVE_FAILED) && !log.stderr.contains(SAVE_FAILED), "the agent logged {SAVE_FAILED:?}");
}

/// Polls `check` every 250 ms until it returns `Ok`; fails with `what` and
/// the last complaint after [`LIMIT`].
fn until<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        let complaint = match check() {
            Ok(value) => {
                eprintln!("{what}: after {:?}", started.elapsed());
                return value;
            }
            Err(complaint) => complaint,
        };
        if started.elapsed() >= LIMIT {
            panic!("timed out after {LIMIT:?} waiting for {what}; last: {complaint}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A TCP port nothing listens on now: bound on 127.0.0.1, read, let go.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// The host's root filesystem as `statfs` and the mount table say.
struct Root {
    device: String,
    fstype: String,
    /// Blocks × block size, as the agent computes it.
    size_bytes: u64,
}

/// This process's `/`: the last mount on `/` in `/proc/self/mounts`, and
/// `stat -f /`.
fn host_root() -> Root {
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("reading /proc/self/mounts");
    let (device, fstype) = mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [device, "/", fstype, ..] => Some(((*device).to_owned(), (*fstype).to_owned())),
                _ => None,
            }
        })
        .next_back()
        .expect("a mount on / in /proc/self/mounts");
    let stat = command("stat", &["-f", "-c", "%b %s", "/"]);
    let size_bytes = match stat.split_whitespace().map(str::parse::<u64>).collect::<Result<Vec<_>, _>>().as_deref() {
        Ok([blocks, block_size]) => blocks * block_size,
        _ => panic!("`stat -f -c '%b %s' /` printed {stat:?}"),
    };
    Root { device, fstype, size_bytes }
}

/// `btime` of the host's `/proc/stat`. Not namespaced, so a container
/// sees it too: this only checks the value is passed on faithfully.
fn host_boot_time() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").expect("reading /proc/stat");
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a btime line in /proc/stat")
}

/// `uname -n`: the node's host name, which `{{.Node.Hostname}}` gives.
fn host_name() -> String {
    command("uname", &["-n"])
}

/// Runs `program args…` and returns its trimmed stdout.
fn command(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A 200 answer to `GET path` from an agent, or why there is none.
fn get(addr: SocketAddr, path: &str) -> Result<HttpAnswer, String> {
    http_get(addr, path, &[], REQUEST_TIMEOUT)?.ok()
}

/// The rule `name` in the group `group` of an `/api/v1/rules` answer.
fn find_rule<'a>(rules: &'a Json, group: &str, name: &str) -> Result<&'a Json, String> {
    rules["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["name"] == group)
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .find(|r| r["name"] == name)
        .ok_or_else(|| format!("no rule {name} in a group {group} of /api/v1/rules: {rules}"))
}

/// The last [`LOG_LINES`] lines of each task container of `service`.
fn logs(service: &str) -> String {
    let mut out = String::new();
    for (container, log) in service_task_logs(service) {
        let lines: Vec<&str> = log.lines().collect();
        out.push_str(&format!("-- {container}:\n"));
        for line in &lines[lines.len().saturating_sub(LOG_LINES)..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
