#!/usr/bin/env bash
# Local cluster launcher: N node hosts on 127.0.0.1, one process each.
#   bash tools/cluster.sh start N [--transport Udp|ZeroMq] [--store Replicated|Ring] [--base-port 5000] [--acks 1] [-- extra host args]
#   bash tools/cluster.sh status | stop | kill I | restart I | urls
# Node I is "nodeI" on http://127.0.0.1:$((base+I)). UDP: a random 239.x.y.z group and port per cluster;
# ZeroMQ: PUB on base+100+I, every node given the same peer list. State (pid files, logs, the launch script
# of each node) lives in $MULTICAST_CLUSTER_DIR (default ${TMPDIR:-/tmp}/multicast-cluster).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${MULTICAST_CLUSTER_DIR:-${TMPDIR:-/tmp}/multicast-cluster}"
dll="$root/Host/bin/Release/net10.0/Multicast.Host.dll"

die() { echo "cluster: $*" >&2; exit 1; }
alive() { [ -f "$dir/node$1.pid" ] && kill -0 "$(cat "$dir/node$1.pid")" 2>/dev/null; }
nodes() { ls "$dir"/node*.sh 2>/dev/null | sed -E 's/.*node([0-9]+)\.sh/\1/' | sort -n; }
url() { sed -n "s/^node$1=//p" "$dir/urls"; }
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(url "$1")/health" || true)" = 200 ]; }

wait_healthy() { # wait_healthy seconds I...
  local deadline=$((SECONDS + $1)); shift
  for i in "$@"; do
    until healthy "$i"; do
      alive "$i" || { echo "node$i exited; last log lines:" >&2; tail -n 20 "$dir/node$i.log" >&2; return 1; }
      [ $SECONDS -lt $deadline ] || { echo "node$i not healthy in time; last log lines:" >&2; tail -n 20 "$dir/node$i.log" >&2; return 1; }
      sleep 0.2
    done
  done
}

start_node() { alive "$1" && die "node$1 is already running"; bash "$dir/node$1.sh"; }

stop_node() { # stop_node I signal
  alive "$1" || { rm -f "$dir/node$1.pid"; return 0; }
  local pid; pid=$(cat "$dir/node$1.pid")
  kill "-$2" "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { echo "node$1 did not stop in 15 s; killing it" >&2; kill -KILL "$pid" 2>/dev/null || true; }
  rm -f "$dir/node$1.pid"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  start)
    n="${1:-}"; shift || true
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "usage: cluster.sh start N [--transport Udp|ZeroMq] [--store Replicated|Ring] [--base-port P] [--acks K] [-- host args]"
    transport=Udp; store=Replicated; base=5000; acks=1; extra=()
    while [ $# -gt 0 ]; do
      case "$1" in
        --transport) transport="$2"; shift 2 ;;
        --store) store="$2"; shift 2 ;;
        --base-port) base="$2"; shift 2 ;;
        --acks) acks="$2"; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) die "unknown option $1" ;;
      esac
    done
    case "$transport" in Udp|udp) transport=Udp ;; ZeroMq|zeromq|zmq) transport=ZeroMq ;; *) die "--transport must be Udp or ZeroMq" ;; esac
    for i in $(nodes); do alive "$i" && die "a cluster is already running in $dir (bash tools/cluster.sh stop)"; done
    rm -rf "$dir"; mkdir -p "$dir"
    echo "building the host..."
    dotnet build "$root/Host/Multicast.Host.csproj" -c Release -nologo -v q >"$dir/build.log" 2>&1 || { tail -n 30 "$dir/build.log" >&2; die "build failed"; }
    group="239.$((RANDOM % 256)).$((RANDOM % 256)).$((RANDOM % 254 + 1))"; udp_port=$((20000 + RANDOM % 40000))
    peers=(); for i in $(seq 1 "$n"); do peers+=("--Cluster:ZeroMq:Peers:$((i - 1))=tcp://127.0.0.1:$((base + 100 + i))"); done
    : >"$dir/urls"
    for i in $(seq 1 "$n"); do
      http="http://127.0.0.1:$((base + i))"
      echo "node$i=$http" >>"$dir/urls"
      args=(--Urls="$http" --Cluster:NodeId="node$i" --Cluster:Transport="$transport" --Cluster:Store="$store" --Cluster:ReplicationAcks="$acks")
      if [ "$transport" = Udp ]; then
        args+=(--Cluster:Udp:Group="$group" --Cluster:Udp:Port="$udp_port")
      else
        args+=(--Cluster:ZeroMq:PublishEndpoint="tcp://127.0.0.1:$((base + 100 + i))" --Cluster:ZeroMq:BeaconEnabled=false "${peers[@]}")
      fi
      args+=("${extra[@]}")
      # The launch script is what 'restart' (and LoadCheck --kill-node) runs again.
      {
        echo "#!/usr/bin/env bash"
        printf 'cd %q\n' "$dir"
        printf 'setsid dotnet %q' "$dll"; printf ' %q' "${args[@]}"; printf ' >>%q 2>&1 </dev/null &\n' "$dir/node$i.log"
        printf 'echo $! >%q\n' "$dir/node$i.pid"
      } >"$dir/node$i.sh"
      start_node "$i"
    done
    echo "transport=$transport store=$store udp=$group:$udp_port" >"$dir/cluster.env"
    echo "waiting for $n nodes to report healthy..."
    if ! wait_healthy 90 $(seq 1 "$n"); then
      for i in $(nodes); do stop_node "$i" KILL; done
      die "the cluster did not start (logs in $dir)"
    fi
    cat "$dir/urls" | sed 's/=/  /'
    echo "logs: $dir/node*.log   stop: bash tools/cluster.sh stop"
    ;;
  stop)
    [ -d "$dir" ] || { echo "no cluster in $dir"; exit 0; }
    for i in $(nodes); do stop_node "$i" TERM; done
    echo "stopped"
    ;;
  kill)
    [[ "${1:-}" =~ ^[0-9]+$ ]] || die "usage: cluster.sh kill I"
    stop_node "$1" KILL; echo "node$1 killed"
    ;;
  restart)
    [[ "${1:-}" =~ ^[0-9]+$ ]] || die "usage: cluster.sh restart I"
    [ -f "$dir/node$1.sh" ] || die "no node$1 in $dir"
    stop_node "$1" TERM; start_node "$1"; wait_healthy 90 "$1" || die "node$1 did not become healthy"
    echo "node$1 healthy at $(url "$1")"
    ;;
  status)
    [ -f "$dir/urls" ] || { echo "no cluster in $dir"; exit 1; }
    rc=0
    for i in $(nodes); do
      if ! alive "$i"; then echo "node$i  $(url "$i")  down"; rc=1; continue; fi
      h=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(url "$i")/health" || true)
      c=$(curl -s --max-time 2 "$(url "$i")/cluster" || true)
      summary=$(printf '%s' "$c" | python3 -c 'import json,sys
try:
    d=json.load(sys.stdin); print("view %s members=%d sessions=%d" % (d["viewId"], len(d["members"]), d["sessions"]))
except Exception: print("")' 2>/dev/null || true)
      echo "node$i  $(url "$i")  pid $(cat "$dir/node$i.pid")  health $h  $summary"
      [ "$h" = 200 ] || rc=1
    done
    exit $rc
    ;;
  urls)
    [ -f "$dir/urls" ] || die "no cluster in $dir"
    sed 's/^node[0-9]*=//' "$dir/urls" | paste -sd, -
    ;;
  *)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
