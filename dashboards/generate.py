#!/usr/bin/env python3
"""Writes Sonde's Grafana dashboards (dashboards/*.json) from the panel
lists below. Python 3.8+ and its standard library only:

    python3 dashboards/generate.py          # rewrites the JSON files
    python3 dashboards/generate.py --check  # exit 1 if a file differs

The JSON is committed; `tests/tests/dashboards.rs` checks it is what this
script writes, and runs every query of every panel against a real
Prometheus scraping a real agent.

Every panel and query names its data source as the dashboard variable
`${datasource}` (a `datasource` variable over Prometheus data sources),
not `${DS_PROMETHEUS}`: Grafana fills `__inputs` such as `DS_PROMETHEUS`
only when a person imports a dashboard in the UI, while a provisioned
dashboard is loaded as it is, so `${DS_PROMETHEUS}` would stay unresolved
there. A datasource variable works both ways; it starts on the default
Prometheus data source (the provisioning file here makes its own the
default).
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Grafana 10.3 to 11.x write schema version 39; newer versions migrate it
# on load.
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana's "All" is this regex, not the list of every value: the query
# stays short on a cluster of many nodes.
ALL = ".*"


# --- template variables -------------------------------------------------


def datasource_variable():
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
    }


def query_variable(name, label, query, multi=True):
    """A variable whose values come from `label_values(...)` (or any
    Prometheus variable query), refreshed when the time range changes."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": query,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if multi else {},
        "hide": 0,
        "includeAll": multi,
        "allValue": ALL if multi else None,
        "multi": multi,
        "options": [],
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
    }


# --- panels ---------------------------------------------------------------


def target(expr, legend="", instant=False, table=False):
    t = {
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
        "editorMode": "code",
    }
    if table:
        t["format"] = "table"
    return t


def timeseries(title, description, targets, unit="short", min_value=0, stack=False, max_value=None):
    defaults = {
        "unit": unit,
        "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10 if not stack else 30,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        },
    }
    if min_value is not None:
        defaults["min"] = min_value
    if max_value is not None:
        defaults["max"] = max_value
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
    }


def stat(title, description, targets, unit="short", decimals=None, thresholds=None):
    defaults = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": {
            "mode": "absolute",
            "steps": thresholds or [{"color": "green", "value": None}],
        },
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        },
        "targets": targets,
    }


def table(title, description, targets, hidden=("Time",), unit="short"):
    return {
        "type": "table",
        "title": title,
        "description": description,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {name: True for name in hidden}}},
        ],
        "targets": targets,
    }


def bargauge(title, description, targets, unit="percentunit", max_value=1):
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "max": max_value,
                "color": {"mode": "thresholds"},
                "thresholds": {
                    "mode": "absolute",
                    "steps": [
                        {"color": "green", "value": None},
                        {"color": "orange", "value": 0.8 * max_value},
                        {"color": "red", "value": 0.9 * max_value},
                    ],
                },
            },
            "overrides": [],
        },
        "options": {
            "displayMode": "gradient",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
        },
        "targets": targets,
    }


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(items):
    """Numbers the panels and places them: a row spans the width; other
    panels fill lines of 24 columns, each taking its `w` (default 12)."""
    panels = []
    x, y, line_height = 0, 0, 0
    for number, item in enumerate(items, start=1):
        panel = dict(item)
        w = panel.pop("w", 24 if panel["type"] == "row" else 12)
        h = 1 if panel["type"] == "row" else panel.pop("h", 8)
        if panel["type"] == "row" or x + w > 24:
            x, y, line_height = 0, y + line_height, 0
        panel["id"] = number
        panel["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        panel["datasource"] = DATASOURCE
        if panel["type"] != "row":
            for ref, t in zip("ABCDEFGHIJ", panel["targets"]):
                t["refId"] = ref
        panels.append(panel)
        x += w
        line_height = max(line_height, h)
        if panel["type"] == "row":
            x, y, line_height = 0, y + h, 0
    return panels


def sized(panel, w, h=8):
    panel["w"] = w
    panel["h"] = h
    return panel


def dashboard(uid, title, description, variables, items, annotations=()):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["sonde"],
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "liveNow": False,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "version": 1,
        "weekStart": "",
        "links": [
            {
                "title": "Sonde dashboards",
                "type": "dashboards",
                "tags": ["sonde"],
                "asDropdown": True,
                "includeVars": False,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
            + list(annotations)
        },
        "templating": {"list": [datasource_variable()] + variables},
        "panels": layout(items),
    }


# --- (a) the node -----------------------------------------------------------

NODE = 'job=~"$job", instance=~"$instance"'
CORES = f'count by (instance) (node_cpu_seconds_total{{{NODE}, mode="idle"}})'


def node_dashboard():
    variables = [
        query_variable("job", "Job", "label_values(node_uname_info, job)"),
        query_variable("instance", "Node", 'label_values(node_uname_info{job=~"$job"}, instance)'),
    ]
    rate = "[$__rate_interval]"
    items = [
        row("Overview"),
        sized(stat("Uptime", "Time since the node booted.", [target(f"time() - node_boot_time_seconds{{{NODE}}}", "{{instance}}", instant=True)], unit="s"), 6, 4),
        sized(stat("CPU cores", "Logical CPUs (node_cpu_seconds_total's idle mode, one series per CPU).", [target(CORES, "{{instance}}", instant=True)]), 6, 4),
        sized(stat("Memory", "Total memory (MemTotal).", [target(f"node_memory_MemTotal_bytes{{{NODE}}}", "{{instance}}", instant=True)], unit="bytes"), 6, 4),
        sized(stat("Load per core", "The 1-minute load average divided by the number of CPUs; above 1, work waits for a CPU.", [target(f"node_load1{{{NODE}}} / on (instance) {CORES}", "{{instance}}", instant=True)], unit="percentunit", decimals=0, thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 0.8}, {"color": "red", "value": 1.5}]), 6, 4),
        row("CPU"),
        timeseries(
            "CPU busy by mode",
            "Share of the node's CPU time spent in each mode but idle, over all CPUs (1 = every CPU busy).",
            [target(f'sum by (instance, mode) (rate(node_cpu_seconds_total{{{NODE}, mode!="idle"}}{rate})) / on (instance) group_left {CORES}', "{{instance}} {{mode}}")],
            unit="percentunit", stack=True,
        ),
        timeseries(
            "Load average",
            "Runnable and uninterruptible tasks, averaged over 1, 5 and 15 minutes.",
            [
                target(f"node_load1{{{NODE}}}", "{{instance}} 1m"),
                target(f"node_load5{{{NODE}}}", "{{instance}} 5m"),
                target(f"node_load15{{{NODE}}}", "{{instance}} 15m"),
            ],
        ),
        timeseries(
            "Context switches and processes",
            "Context switches per second; processes running and blocked on I/O.",
            [
                target(f"rate(node_context_switches_total{{{NODE}}}{rate})", "{{instance}} context switches/s"),
                target(f"node_procs_running{{{NODE}}}", "{{instance}} running"),
                target(f"node_procs_blocked{{{NODE}}}", "{{instance}} blocked"),
            ],
        ),
        timeseries(
            "File descriptors",
            "Open file handles against the kernel's limit (fs.file-max).",
            [target(f"node_filefd_allocated{{{NODE}}} / node_filefd_maximum{{{NODE}}}", "{{instance}}")],
            unit="percentunit",
        ),
        row("Memory"),
        timeseries(
            "Memory",
            "Memory in use (MemTotal − MemAvailable, what the kernel cannot free without swapping) against the total, the page cache and buffers it can free, and swap in use.",
            [
                target(f"node_memory_MemTotal_bytes{{{NODE}}} - node_memory_MemAvailable_bytes{{{NODE}}}", "{{instance}} used"),
                target(f"node_memory_Cached_bytes{{{NODE}}} + node_memory_Buffers_bytes{{{NODE}}}", "{{instance}} cache and buffers"),
                target(f"node_memory_MemTotal_bytes{{{NODE}}}", "{{instance}} total"),
                target(f"node_memory_SwapTotal_bytes{{{NODE}}} - node_memory_SwapFree_bytes{{{NODE}}}", "{{instance}} swap used"),
            ],
            unit="bytes",
        ),
        timeseries(
            "Major page faults",
            "Major page faults per second: pages read back from disk, where memory pressure shows first.",
            [target(f"rate(node_vmstat_pgmajfault{{{NODE}}}{rate})", "{{instance}}")],
            unit="ops",
        ),
        row("Disks"),
        timeseries(
            "Disk throughput",
            "Bytes read and written per second, per block device.",
            [
                target(f"rate(node_disk_read_bytes_total{{{NODE}}}{rate})", "{{instance}} {{device}} read"),
                target(f"rate(node_disk_written_bytes_total{{{NODE}}}{rate})", "{{instance}} {{device}} written"),
            ],
            unit="Bps",
        ),
        timeseries(
            "Disk operations",
            "Reads and writes completed per second, per block device.",
            [
                target(f"rate(node_disk_reads_completed_total{{{NODE}}}{rate})", "{{instance}} {{device}} reads"),
                target(f"rate(node_disk_writes_completed_total{{{NODE}}}{rate})", "{{instance}} {{device}} writes"),
            ],
            unit="iops",
        ),
        timeseries(
            "Disk busy",
            "Share of time each device had I/O in flight (iostat's %util).",
            [target(f"rate(node_disk_io_time_seconds_total{{{NODE}}}{rate})", "{{instance}} {{device}}")],
            unit="percentunit",
        ),
        timeseries(
            "Disk latency",
            "Average time a read or a write took, per block device.",
            [
                target(f"rate(node_disk_read_time_seconds_total{{{NODE}}}{rate}) / rate(node_disk_reads_completed_total{{{NODE}}}{rate})", "{{instance}} {{device}} read"),
                target(f"rate(node_disk_write_time_seconds_total{{{NODE}}}{rate}) / rate(node_disk_writes_completed_total{{{NODE}}}{rate})", "{{instance}} {{device}} write"),
            ],
            unit="s",
        ),
        row("Filesystems"),
        bargauge(
            "Filesystem space used",
            "Share of each filesystem's size not available to unprivileged users (1 − avail / size), as `df` reports it.",
            [target(f"1 - node_filesystem_avail_bytes{{{NODE}}} / node_filesystem_size_bytes{{{NODE}}}", "{{instance}} {{mountpoint}}", instant=True)],
        ),
        bargauge(
            "Filesystem inodes used",
            "Share of each filesystem's inodes in use (filesystems without a fixed inode count show none).",
            [target(f"1 - node_filesystem_files_free{{{NODE}}} / (node_filesystem_files{{{NODE}}} > 0)", "{{instance}} {{mountpoint}}", instant=True)],
        ),
        timeseries(
            "Filesystem space available",
            "Bytes available to unprivileged users, per mount point.",
            [target(f"node_filesystem_avail_bytes{{{NODE}}}", "{{instance}} {{mountpoint}}")],
            unit="bytes",
        ),
        timeseries(
            "Filesystems read-only or failing",
            "1 when a filesystem is mounted read-only, or its statfs failed or did not answer within --collector.filesystem.mount-timeout (device_error).",
            [
                target(f"max by (instance, mountpoint) (node_filesystem_readonly{{{NODE}}})", "{{instance}} {{mountpoint}} read-only"),
                target(f"max by (instance, mountpoint) (node_filesystem_device_error{{{NODE}}})", "{{instance}} {{mountpoint}} error"),
            ],
            max_value=1,
        ),
        row("Network"),
        timeseries(
            "Network traffic",
            "Bytes received and sent per second, per interface (loopback left out).",
            [
                target(f'rate(node_network_receive_bytes_total{{{NODE}, device!="lo"}}{rate})', "{{instance}} {{device}} received"),
                target(f'rate(node_network_transmit_bytes_total{{{NODE}, device!="lo"}}{rate})', "{{instance}} {{device}} sent"),
            ],
            unit="Bps",
        ),
        timeseries(
            "Network errors and drops",
            "Packets per second that an interface received or sent in error, or dropped.",
            [
                target(f'rate(node_network_receive_errs_total{{{NODE}, device!="lo"}}{rate}) + rate(node_network_receive_drop_total{{{NODE}, device!="lo"}}{rate})', "{{instance}} {{device}} receive"),
                target(f'rate(node_network_transmit_errs_total{{{NODE}, device!="lo"}}{rate}) + rate(node_network_transmit_drop_total{{{NODE}, device!="lo"}}{rate})', "{{instance}} {{device}} transmit"),
            ],
            unit="pps",
        ),
        timeseries(
            "TCP connections",
            "Established TCP connections, and sockets in use (netstat and sockstat collectors; in a container they are its network namespace's).",
            [
                target(f"node_netstat_Tcp_CurrEstab{{{NODE}}}", "{{instance}} established"),
                target(f"node_sockstat_TCP_inuse{{{NODE}}}", "{{instance}} TCP sockets in use"),
            ],
        ),
        row("Pressure"),
        timeseries(
            "Pressure: some tasks waiting",
            "Share of time at least one task waited for CPU, memory or I/O (Linux PSI, `some`).",
            [
                target(f"rate(node_pressure_cpu_waiting_seconds_total{{{NODE}}}{rate})", "{{instance}} CPU"),
                target(f"rate(node_pressure_memory_waiting_seconds_total{{{NODE}}}{rate})", "{{instance}} memory"),
                target(f"rate(node_pressure_io_waiting_seconds_total{{{NODE}}}{rate})", "{{instance}} I/O"),
            ],
            unit="percentunit",
        ),
        timeseries(
            "Pressure: all tasks stalled",
            "Share of time every non-idle task stalled on memory or I/O at once (Linux PSI, `full`): lost work.",
            [
                target(f"rate(node_pressure_memory_stalled_seconds_total{{{NODE}}}{rate})", "{{instance}} memory"),
                target(f"rate(node_pressure_io_stalled_seconds_total{{{NODE}}}{rate})", "{{instance}} I/O"),
            ],
            unit="percentunit",
        ),
        row("Time"),
        timeseries(
            "Clock offset from Prometheus",
            "The node's clock (node_time_seconds) minus the time Prometheus stamped the scrape with, so it includes the scrape's own latency. Sonde has no timex collector (no node_timex_offset_seconds or sync status: adjtimex is not read), so this is the offset as Prometheus sees it; keep it well under a second.",
            [target(f"node_time_seconds{{{NODE}}} - timestamp(node_time_seconds{{{NODE}}})", "{{instance}}")],
            unit="s", min_value=None,
        ),
        table(
            "Clock source",
            "The kernel's current clock source per node (tsc is the usual one on x86; a fallback such as hpet or acpi_pm hints at an unstable TSC).",
            [target(f"node_time_clocksource_current_info{{{NODE}}}", "", instant=True, table=True)],
            hidden=("Time", "Value", "__name__", "job"),
        ),
    ]
    return dashboard(
        "sonde-node",
        "Sonde / Node",
        "A node as Sonde's node collectors see it (node_exporter's names): CPU, memory, disks, filesystems, network, pressure and time.",
        variables,
        items,
    )


# --- (b) Swarm services and their containers --------------------------------

SERVICE_LABEL = "container_label_com_docker_swarm_service_name"
TASKS = f'{SERVICE_LABEL}!="", {SERVICE_LABEL}=~"$service", instance=~"$node"'


def as_service(expr):
    """`expr` with the container's Swarm service as a `service` label."""
    return f'label_replace({expr}, "service", "$1", "{SERVICE_LABEL}", "(.+)")'


def swarm_dashboard():
    variables = [
        query_variable("node", "Node", f'label_values(container_start_time_seconds{{{SERVICE_LABEL}!=""}}, instance)'),
        query_variable("service", "Service", f'label_values(container_start_time_seconds{{{SERVICE_LABEL}!=""}}, {SERVICE_LABEL})'),
    ]
    rate = "[$__rate_interval]"
    running = f"count by (service) ({as_service(f'container_start_time_seconds{{{TASKS}}}')})"
    desired = 'max by (service) (sonde_swarm_service_desired_replicas{service=~"$service"})'
    everywhere = f'{SERVICE_LABEL}!="", {SERVICE_LABEL}=~"$service"'
    running_everywhere = f"count by (service) ({as_service(f'container_start_time_seconds{{{everywhere}}}')})"
    items = [
        row("Replicas"),
        timeseries(
            "Replicas: desired and running",
            "Per service, the replicas its spec asks for (sonde_swarm_service_desired_replicas, from the agent on the Swarm leader; replicated services only) and the task containers running on the selected nodes.",
            [target(desired, "{{service}} desired"), target(running, "{{service}} running")],
        ),
        table(
            "Running tasks per node and service",
            "Task containers each node runs, per service.",
            [target(f"count by (instance, {SERVICE_LABEL}) (container_start_time_seconds{{{TASKS}}})", "", instant=True, table=True)],
        ),
        stat(
            "Replicas missing",
            "Desired replicas minus running task containers, per service (on all nodes); above 0 the Swarm has not placed or started them all, below 0 old tasks are still stopping.",
            [target(f"{desired} - on (service) {running_everywhere}", "{{service}}", instant=True)],
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
        ),
        stat(
            "Task containers replaced in the time range",
            "Task containers seen during the time range that no longer run, per service: Swarm replaces a failed or killed task with a new container rather than restarting it. Also counts tasks replaced by an update or a scale-down.",
            [target(f"count by (service) ({as_service(f'max_over_time(container_start_time_seconds{{{TASKS}}}[$__range])')}) - {running}", "{{service}}", instant=True)],
            thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
        ),
        row("CPU"),
        timeseries(
            "CPU per service",
            "CPU seconds per second used by the service's task containers on the selected nodes (1 = one CPU).",
            [target(f"sum by (service) ({as_service(f'rate(container_cpu_usage_seconds_total{{{TASKS}}}{rate})')})", "{{service}}")],
        ),
        timeseries(
            "CPU per container against its limit",
            "CPU used by each task container as a share of its CPU limit (--limit-cpu: the CFS quota over the period); containers without a limit show none.",
            [target(f"sum by (instance, name) (rate(container_cpu_usage_seconds_total{{{TASKS}}}{rate})) / on (instance, name) (max by (instance, name) (container_spec_cpu_quota{{{TASKS}}}) / max by (instance, name) (container_spec_cpu_period{{{TASKS}}}))", "{{name}}")],
            unit="percentunit",
        ),
        timeseries(
            "CPU throttled",
            "Share of CFS periods in which a task container was throttled for reaching its CPU limit.",
            [target(f"sum by (instance, name) (rate(container_cpu_cfs_throttled_periods_total{{{TASKS}}}{rate})) / sum by (instance, name) (rate(container_cpu_cfs_periods_total{{{TASKS}}}{rate}))", "{{name}}")],
            unit="percentunit",
        ),
        row("Memory"),
        timeseries(
            "Memory per container against its limit",
            "Working set (usage − inactive file cache, what the OOM killer looks at) of each task container as a share of its memory limit; containers without a limit show none (Sonde writes no limit series for them).",
            [target(f"max by (instance, name) (container_memory_working_set_bytes{{{TASKS}}}) / max by (instance, name) (container_spec_memory_limit_bytes{{{TASKS}}})", "{{name}}")],
            unit="percentunit",
        ),
        timeseries(
            "Memory per service",
            "Working set of the service's task containers on the selected nodes, and the sum of their limits.",
            [
                target(f"sum by (service) ({as_service(f'container_memory_working_set_bytes{{{TASKS}}}')})", "{{service}} working set"),
                target(f"sum by (service) ({as_service(f'container_spec_memory_limit_bytes{{{TASKS}}}')})", "{{service}} limit"),
            ],
            unit="bytes",
        ),
        timeseries(
            "Memory usage, RSS and cache per container",
            "Memory usage of each task container, and the RSS and page cache it includes.",
            [
                target(f"max by (instance, name) (container_memory_usage_bytes{{{TASKS}}})", "{{name}} usage"),
                target(f"max by (instance, name) (container_memory_rss{{{TASKS}}})", "{{name}} RSS"),
                target(f"max by (instance, name) (container_memory_cache{{{TASKS}}})", "{{name}} cache"),
            ],
            unit="bytes",
        ),
        timeseries(
            "Out-of-memory kills",
            "OOM kills inside the service's task containers during the time range.",
            [target(f"sum by (service) ({as_service(f'increase(container_oom_events_total{{{TASKS}}}[$__range])')})", "{{service}}")],
        ),
        row("Network"),
        timeseries(
            "Network traffic per service",
            "Bytes per second the service's task containers received and sent (their own network namespaces, loopback left out).",
            [
                target(f"sum by (service) ({as_service(f'rate(container_network_receive_bytes_total{{{TASKS}}}{rate})')})", "{{service}} received"),
                target(f"sum by (service) ({as_service(f'rate(container_network_transmit_bytes_total{{{TASKS}}}{rate})')})", "{{service}} sent"),
            ],
            unit="Bps",
        ),
        timeseries(
            "Network errors and drops per service",
            "Packets per second the service's task containers received or sent in error, or dropped.",
            [
                target(f"sum by (service) ({as_service(f'rate(container_network_receive_errors_total{{{TASKS}}}{rate}) + rate(container_network_receive_packets_dropped_total{{{TASKS}}}{rate})')})", "{{service}} receive"),
                target(f"sum by (service) ({as_service(f'rate(container_network_transmit_errors_total{{{TASKS}}}{rate}) + rate(container_network_transmit_packets_dropped_total{{{TASKS}}}{rate})')})", "{{service}} transmit"),
            ],
            unit="pps",
        ),
    ]
    return dashboard(
        "sonde-swarm",
        "Sonde / Swarm services",
        "Swarm services and their task containers, from Sonde's container collector (cAdvisor's names) on every node and the desired replicas from the agent on the leader.",
        variables,
        items,
    )


# --- (c) services' response times and errors ------------------------------

SCALING_ANNOTATION = {
    "name": "Scaling decisions",
    "datasource": DATASOURCE,
    "enable": True,
    "hide": False,
    "iconColor": "orange",
    # One point a minute; the expression looks back one minute, so every
    # decision is seen once: a counter that went up, or a series that did
    # not exist a minute earlier (the first decision of its kind, since a
    # counter is born at 1).
    "step": "60s",
    "expr": 'sum by (service, direction, outcome) ((increase(sonde_scale_decisions_total{service=~"$job"}[1m]) > 0) or (sonde_scale_decisions_total{service=~"$job"} unless sonde_scale_decisions_total{service=~"$job"} offset 1m))',
    "titleFormat": "Scaling {{direction}}: {{outcome}}",
    "textFormat": "{{service}}",
    "tagKeys": "service,direction,outcome",
    "useValueForTime": False,
}


def services_dashboard():
    variables = [
        query_variable("job", "Service", "label_values(http_server_resp_time_count, job)"),
        query_variable("path", "Path", 'label_values(http_server_resp_time_count{job=~"$job"}, path)'),
    ]
    sel = 'job=~"$job", path=~"$path"'
    rate = "[$__rate_interval]"
    items = [
        row("Traffic and errors"),
        timeseries(
            "Requests per second by status code",
            "Requests answered per second, per service and HTTP status code (http_server_resp_time_count).",
            [target(f"sum by (job, code) (rate(http_server_resp_time_count{{{sel}}}{rate}))", "{{job}} {{code}}")],
            unit="reqps", stack=True,
        ),
        timeseries(
            "Server errors",
            "Share of requests answered with a 5xx status: what `@resp_time_server_error` compares with its threshold. 0, not nothing, for a service without a 5xx yet.",
            [target(f'(sum by (job) (rate(http_server_resp_time_count{{{sel}, code=~"^5..$"}}{rate})) or sum by (job) (rate(http_server_resp_time_count{{{sel}}}{rate})) * 0) / sum by (job) (rate(http_server_resp_time_count{{{sel}}}{rate}))', "{{job}}")],
            unit="percentunit",
        ),
        timeseries(
            "Requests per second by path",
            "Requests per second, per service, method and route (any other path is counted as `unmatched`).",
            [target(f"sum by (job, method, path) (rate(http_server_resp_time_count{{{sel}}}{rate}))", "{{job}} {{method}} {{path}}")],
            unit="reqps",
        ),
        row("Response time"),
        timeseries(
            "Response time quantiles",
            "The 50th, 90th and 99th percentile of response times per service, estimated from the histogram's buckets.",
            [
                target(f"histogram_quantile(0.5, sum by (job, le) (rate(http_server_resp_time_bucket{{{sel}}}{rate})))", "{{job}} p50"),
                target(f"histogram_quantile(0.9, sum by (job, le) (rate(http_server_resp_time_bucket{{{sel}}}{rate})))", "{{job}} p90"),
                target(f"histogram_quantile(0.99, sum by (job, le) (rate(http_server_resp_time_bucket{{{sel}}}{rate})))", "{{job}} p99"),
            ],
            unit="s",
        ),
        timeseries(
            "Mean response time",
            "Time spent answering divided by requests answered, per service.",
            [target(f"sum by (job) (rate(http_server_resp_time_sum{{{sel}}}{rate})) / sum by (job) (rate(http_server_resp_time_count{{{sel}}}{rate}))", "{{job}}")],
            unit="s",
        ),
        timeseries(
            "Requests answered within 0.1 s and 0.025 s",
            "Share of requests answered within 0.1 s (`@resp_time_above:0.1,5m,0.99` scales up when it drops below 0.99) and within 0.025 s (`@resp_time_below:0.025,5m,0.75` scales down when it rises above 0.75); the shortcuts look at 5 minutes, this panel at the graph's resolution.",
            [
                target(f'sum by (job) (rate(http_server_resp_time_bucket{{{sel}, le="0.1"}}{rate})) / sum by (job) (rate(http_server_resp_time_count{{{sel}}}{rate}))', "{{job}} ≤ 0.1 s"),
                target(f'sum by (job) (rate(http_server_resp_time_bucket{{{sel}, le="0.025"}}{rate})) / sum by (job) (rate(http_server_resp_time_count{{{sel}}}{rate}))', "{{job}} ≤ 0.025 s"),
            ],
            unit="percentunit", max_value=1,
        ),
        row("Replicas"),
        timeseries(
            "Replicas of the service",
            "Desired replicas of each service (from the agent on the Swarm leader) and the targets Prometheus scrapes for it; the orange marks are Sonde's scaling decisions.",
            [
                target('max by (service) (sonde_swarm_service_desired_replicas{service=~"$job"})', "{{service}} desired"),
                target('count by (job) (up{job=~"$job"} == 1)', "{{job}} scraped"),
            ],
        ),
        table(
            "Scaling decisions",
            "Scale alerts each agent's scaler decided since it started, by service, direction and outcome (scaled, dry_run, at a bound, in cooldown, …).",
            [target('sum by (service, direction, outcome) (sonde_scale_decisions_total{service=~"$job"})', "", instant=True, table=True)],
        ),
    ]
    return dashboard(
        "sonde-services",
        "Sonde / Service response times",
        "Response times and errors of services instrumented like go-demo (http_server_resp_time), with Sonde's scaling decisions as annotations.",
        variables,
        items,
        annotations=[SCALING_ANNOTATION],
    )


# --- (d) Sonde itself -------------------------------------------------------

AGENT = 'job=~"$job", instance=~"$instance"'


def sonde_dashboard():
    variables = [
        query_variable("job", "Job", "label_values(sonde_build_info, job)"),
        query_variable("instance", "Agent", 'label_values(sonde_build_info{job=~"$job"}, instance)'),
    ]
    rate = "[$__rate_interval]"
    items = [
        row("Agents"),
        sized(table(
            "Agents",
            "Every agent Prometheus scrapes: its version and revision, and its Swarm role (the leader evaluates the cluster rules and reads the services).",
            [
                target(f"sonde_build_info{{{AGENT}}}", "", instant=True, table=True),
                target(f"sonde_swarm_role{{{AGENT}}} == 1", "", instant=True, table=True),
            ],
            hidden=("Time", "__name__", "Value #A", "Value #B"),
        ), 16),
        sized(stat(
            "Agents up",
            "Agents whose last scrape by Prometheus succeeded, out of those it knows.",
            [target(f"sum(up{{{AGENT}}})", "up", instant=True), target(f"count(up{{{AGENT}}})", "known", instant=True)],
        ), 8),
        timeseries(
            "Agent CPU and memory",
            "CPU seconds per second and resident memory of each agent process.",
            [
                target(f"rate(process_cpu_seconds_total{{{AGENT}}}{rate})", "{{instance}} CPU"),
                target(f"process_resident_memory_bytes{{{AGENT}}} / 2^20", "{{instance}} RSS (MiB)"),
            ],
        ),
        timeseries(
            "Scrape of the agent",
            "How long Prometheus' scrape of each agent took, and the samples it brought.",
            [
                target(f"scrape_duration_seconds{{{AGENT}}}", "{{instance}} duration (s)"),
                target(f"scrape_samples_scraped{{{AGENT}}} / 1000", "{{instance}} samples (thousands)"),
            ],
        ),
        row("Collectors"),
        timeseries(
            "Collectors failing",
            "Collectors whose last run failed (success 0), per agent: node collectors (node_scrape_collector_success, node_exporter's name) and Sonde's own (sonde_scrape_collector_success). 0 when all succeed.",
            [
                target(f"count by (instance) (node_scrape_collector_success{{{AGENT}}} == 0) or count by (instance) (node_scrape_collector_success{{{AGENT}}}) * 0", "{{instance}} node"),
                target(f"count by (instance) (sonde_scrape_collector_success{{{AGENT}}} == 0) or count by (instance) (sonde_scrape_collector_success{{{AGENT}}}) * 0", "{{instance}} sonde"),
            ],
        ),
        table(
            "Collector success",
            "The last run of each collector on each agent: 1 succeeded, 0 failed (its log line says why).",
            [
                target(f"min by (collector) (node_scrape_collector_success{{{AGENT}}})", "", instant=True, table=True),
                target(f"min by (collector) (sonde_scrape_collector_success{{{AGENT}}})", "", instant=True, table=True),
            ],
        ),
        timeseries(
            "Collector duration",
            "How long each collector took in the last scrape, slowest agent per collector.",
            [
                target(f"max by (collector) (node_scrape_collector_duration_seconds{{{AGENT}}})", "{{collector}}"),
                target(f"max by (collector) (sonde_scrape_collector_duration_seconds{{{AGENT}}})", "{{collector}}"),
            ],
            unit="s",
        ),
        row("Scrape targets"),
        timeseries(
            "Targets the agents scrape",
            "Targets of com.df.scrapePort labels (containers on each node; on the leader, every task of the labelled services) and their last scrape: 1 up, 0 down. `exported_job` and `exported_instance` are the target's; `instance` is the agent's.",
            [target(f"sonde_scrape_target_up{{{AGENT}}}", "{{instance}} → {{exported_job}} {{exported_instance}}")],
            max_value=1,
        ),
        stat(
            "Targets down",
            "Targets of com.df.scrapePort labels whose last scrape failed, across the selected agents.",
            [target(f"count(sonde_scrape_target_up{{{AGENT}}} == 0) or vector(0)", "down", instant=True)],
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
        ),
        row("Rules"),
        timeseries(
            "Rule evaluations and failures",
            "Rule group evaluations per second, and failed ones (a query error or a timeout), per rule group.",
            [
                target(f"sum by (rule_group) (rate(sonde_rule_evaluations_total{{{AGENT}}}{rate}))", "{{rule_group}}"),
                target(f"sum by (rule_group) (rate(sonde_rule_evaluation_failures_total{{{AGENT}}}{rate}))", "{{rule_group}} failed"),
            ],
            unit="ops",
        ),
        timeseries(
            "Rule group evaluation time",
            "How long the last evaluation of each rule group took, against its interval: a group that takes longer than its interval misses evaluations.",
            [
                target(f"max by (rule_group) (sonde_rule_group_last_duration_seconds{{{AGENT}}})", "{{rule_group}}"),
                target(f"max by (rule_group) (sonde_rule_group_interval_seconds{{{AGENT}}})", "{{rule_group}} interval"),
            ],
            unit="s",
        ),
        timeseries(
            "Window series",
            "Series each agent keeps in its in-memory windows (node, and on the leader cluster), against --window.max-series.",
            [
                target(f"sum by (instance, window) (sonde_window_series{{{AGENT}}})", "{{instance}} {{window}}"),
                target(f"max by (instance) (sonde_window_max_series{{{AGENT}}})", "{{instance}} limit"),
            ],
        ),
        row("Alerts"),
        timeseries(
            "Alerts firing in the agents",
            "Alerts each agent's evaluator has firing (sonde_alerts_firing), node and cluster rules together.",
            [target(f"sonde_alerts_firing{{{AGENT}}}", "{{instance}}")],
        ),
        table(
            "Alerts in Prometheus",
            "Pending and firing alerts of Prometheus' own rules (ALERTS; dashboards/rules.yml has Sonde's), by name and state.",
            [target("count by (alertname, alertstate) (ALERTS)", "", instant=True, table=True)],
        ),
        row("Notifications and scaling"),
        timeseries(
            "Notifications sent and failed",
            "Alerts each receiver took per second, and batches it failed or timed out on.",
            [
                target(f"sum by (receiver) (rate(sonde_notifications_sent_total{{{AGENT}}}{rate}))", "{{receiver}} sent"),
                target(f"sum by (receiver) (rate(sonde_notifications_errors_total{{{AGENT}}}{rate}))", "{{receiver}} errors"),
            ],
        ),
        timeseries(
            "Notification queues",
            "Batches waiting in each queue (the intake and one per receiver) against its capacity, and alerts dropped because a queue was full.",
            [
                target(f"max by (queue) (sonde_notifications_queue_length{{{AGENT}}} / sonde_notifications_queue_capacity{{{AGENT}}})", "{{queue}} fill"),
                target(f"sum by (queue) (increase(sonde_notifications_dropped_total{{{AGENT}}}{rate}))", "{{queue}} dropped"),
            ],
        ),
        table(
            "Scaling decisions",
            "Scale alerts the scalers on the managers decided since each started, by service, direction and outcome.",
            [target(f"sum by (service, direction, outcome) (sonde_scale_decisions_total{{{AGENT}}})", "", instant=True, table=True)],
        ),
        timeseries(
            "Scaling decisions over time",
            "Decisions per service, direction and outcome within each point of the graph.",
            [target(f"sum by (service, direction, outcome) (increase(sonde_scale_decisions_total{{{AGENT}}}{rate}))", "{{service}} {{direction}} {{outcome}}")],
        ),
    ]
    return dashboard(
        "sonde-agent",
        "Sonde / Agents",
        "Sonde itself: agents, collectors, the targets they scrape, rule evaluation, alerts, notifications and scaling decisions.",
        variables,
        items,
        annotations=[dict(SCALING_ANNOTATION, expr=SCALING_ANNOTATION["expr"].replace('{service=~"$job"}', ""))],
    )


DASHBOARDS = {
    "node.json": node_dashboard,
    "swarm.json": swarm_dashboard,
    "services.json": services_dashboard,
    "sonde.json": sonde_dashboard,
}


def render(build):
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        print(__doc__, file=sys.stderr)
        return 2
    stale = []
    for name, build in DASHBOARDS.items():
        path = HERE / name
        text = render(build)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date, run python3 dashboards/generate.py: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
