#!/usr/bin/env bash
# Prints what up.sh's loss rule dropped in one node namespace so far: "data <datagrams> other <datagrams>", where data
# are the channel's data packets (broadcast and unicast, originals and repairs) and other everything else (acks,
# NAKs, tails, heartbeats, membership). Prints "data 0 other 0" when the namespace has no loss rule.
# Usage: drops.sh <namespace>      Needs root, ip, iptables.
set -euo pipefail
ns=${1:?namespace}
counts=$(ip netns exec "$ns" iptables -w -L MCLOSS -v -x -n 2>/dev/null | awk '$3 == "DROP" { print $1 }' || true)
data=$(echo "$counts" | sed -n 1p)
other=$(echo "$counts" | sed -n 2p)
echo "data ${data:-0} other ${other:-0}"
