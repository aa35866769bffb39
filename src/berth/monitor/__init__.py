"""berth's monitor: one small process per container (berth's conmon)."""

# The network namespace path in the spec of a container on a bridge network: the monitor, which
# the engine started in the namespace it made, puts its own /proc/PID/ns/net there. Left as it
# is, the path does not exist and the runtime refuses: never the host's namespace by mistake.
MONITOR_NETNS = "/proc/berth-monitor/ns/net"
