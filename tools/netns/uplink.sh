#!/usr/bin/env bash
# Connects the root namespace to the LAN that up.sh <prefix> built, so a test or tool in the root namespace can reach
# the nodes' addresses (HTTP to hosts bound inside the namespaces). Adds one veth pair: "<prefix>up" in the root
# namespace with 10.250.0.254/24, its peer "uplink" on the switch's bridge. Nothing else in the root namespace changes; the
# pair goes away with the switch namespace (down.sh <prefix>).
# Usage: uplink.sh <prefix>      Needs root and ip (iproute2); run after up.sh <prefix>.
set -euo pipefail
prefix=${1:?prefix}
[ "${#prefix}" -le 10 ] || { echo "prefix too long (max 10 characters)" >&2; exit 2; }
sw="${prefix}sw"
root="${prefix}up"
ip link add "$root" type veth peer name uplink netns "$sw"
ip -n "$sw" link set dev uplink master br0 up
ip addr add 10.250.0.254/24 dev "$root"
ip link set "$root" up
echo "$root 10.250.0.254"
