#!/usr/bin/env bash
# Prints what one node namespace lost so far: "data <n> other <n> rcvbuf <n>". data and other: datagrams up.sh's loss
# rule (chain MCLOSS) dropped: the channel's data packets (broadcast and unicast, originals and repairs) and everything
# else (acks, NAKs, tails, heartbeats, membership); 0 without a loss rule. rcvbuf: datagrams the kernel dropped because
# a socket's receive buffer was full (Udp RcvbufErrors of /proc/net/snmp in the namespace: a receiver that falls behind).
# Usage: drops.sh <namespace>      Needs root, ip, iptables.
set -euo pipefail
ns=${1:?namespace}
counts=$(ip netns exec "$ns" iptables -w -L MCLOSS -v -x -n 2>/dev/null | awk '$3 == "DROP" { print $1 }' || true)
data=$(echo "$counts" | sed -n 1p)
other=$(echo "$counts" | sed -n 2p)
rcvbuf=$(ip netns exec "$ns" awk '$1 == "Udp:" { if (!n) { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") f = i; n = 1 } else print $f }' /proc/net/snmp)
echo "data ${data:-0} other ${other:-0} rcvbuf ${rcvbuf:-0}"
