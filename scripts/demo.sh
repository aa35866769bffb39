#!/bin/bash
# berth's main job, end to end on this machine: install, make a busybox root file
# system from Debian's busybox-static, run containers from it with berth-runtime, build the
# seed's image, walk through its isolation demo, and serve a port on a network.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh
RT=.venv/bin/berth-runtime
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap '$RT delete --force berth-demo-2 >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
.venv/bin/python -c "from berth.image.bootstrap import make_busybox_rootfs as m; m('$work/rootfs')"
$RT spec --bundle "$work"
.venv/bin/python - "$work/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo pid $$; hostname; ps; true"]
json.dump(c, open(path, "w"), indent=1)
PY
echo "== berth-runtime run (foreground): PID 1, its own hostname, only its own processes"
$RT run --bundle "$work" berth-demo-1
echo "== create, start, state, kill, delete"
.venv/bin/python - "$work/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["args"] = ["sleep", "1000"]
json.dump(c, open(path, "w"), indent=1)
PY
$RT create --bundle "$work" berth-demo-2
$RT state berth-demo-2 | grep '"status"'
$RT start berth-demo-2
$RT list
$RT exec berth-demo-2 ps
$RT kill berth-demo-2 KILL
sleep 0.2
$RT state berth-demo-2 | grep '"status"'
$RT delete berth-demo-2
echo "== images with no network: bootstrap bash, then build the seed's 'simple' from its ch5Dockerfile"
B=".venv/bin/berth --root $work/store"
$B image bootstrap bash >/dev/null
mkdir "$work/seed" && printf 'FROM bash\nCMD ["ping", "killer.sh"]\n' > "$work/seed/ch5Dockerfile"
(cd "$work/seed" && "$OLDPWD"/.venv/bin/berth --root "$work/store" build -t simple -f ch5Dockerfile .)
$B image ls | grep simple
$B images
echo "== the seed's isolation walkthrough"
trap '$RT delete --force berth-demo-2 >/dev/null 2>&1 || true; for c in $($B ps -aq 2>/dev/null); do $B rm -f $c >/dev/null; done; rm -rf "$work"' EXIT
$B run --name c1 -d bash sh -c 'sleep 1d' >/dev/null
$B exec c1 ps aux
$B run --name c2 -d bash sh -c 'sleep 2d' >/dev/null
$B exec c2 ps aux
$B rm c2 --force
$B run --name c2 --pid=container:c1 -d bash sh -c 'sleep 2d' >/dev/null
$B exec c2 ps aux
$B exec c1 ps aux
$B ps
echo "== networks: a user network resolving names, a port published on the host's loopback"
trap '$RT delete --force berth-demo-2 >/dev/null 2>&1 || true; for c in $($B ps -aq 2>/dev/null); do $B rm -f $c >/dev/null; done; $B network rm demo-net >/dev/null 2>&1; rm -rf "$work"' EXIT
$B network create demo-net >/dev/null
$B run -d --name web --network demo-net --network-alias www -p 127.0.0.1::80 bash \
  sh -c 'while :; do echo hello from web | nc -l -p 80; done' >/dev/null
$B run --rm --network demo-net bash sh -c 'nslookup www | grep -A1 "^Name"; sleep 0.3; nc web 80 </dev/null'
$B port web
hostport=$($B port web 80 | cut -d: -f2)
busybox nc 127.0.0.1 "$hostport" </dev/null
$B network inspect -f '{{.Name}} {{.Driver}} {{.Internal}}' demo-net
echo "== done"
