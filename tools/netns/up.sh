#!/usr/bin/env bash
# Builds a private multicast LAN out of network namespaces; touches nothing in the root namespace.
#   <prefix>sw          a "switch" namespace holding bridge br0 (IGMP snooping off: multicast floods to every port)
#   <prefix>n0..nN-1    one namespace per node: lo + eth0 = 10.250.0.(i+1)/24, veth to the switch,
#                       multicast route 224.0.0.0/4 via eth0
# With a loss probability, each node namespace drops that share of incoming UDP datagrams at random
# (iptables -m statistic), so every receiver loses independently. The drops go through chain MCLOSS, whose first rule
# counts the channel's data datagrams (kind 1 or 2 in the 4th byte of the UDP payload) and second rule the rest:
#   ip netns exec <ns> iptables -L MCLOSS -v -x -n
# Every eth0 sends at most one datagram per packet (gso_max_segs 1): a segmented UDP send (UDP_SEGMENT) is cut into
# datagrams where it leaves the node, as a NIC does, so the loss applies to datagrams, not to whole segmented sends.
# Usage: up.sh <prefix> <nodes> [loss-probability, e.g. 0.1]      Needs root, ip (iproute2), iptables.
# Prints one line per node: "<namespace> <address>". Undo with down.sh <prefix>.
set -euo pipefail
prefix=${1:?prefix}
nodes=${2:?node count}
loss=${3:-0}
[ "${#prefix}" -le 10 ] || { echo "prefix too long (max 10 characters)" >&2; exit 2; }

sw="${prefix}sw"
ip netns add "$sw"
ip -n "$sw" link set lo up
ip -n "$sw" link add br0 type bridge mcast_snooping 0
ip -n "$sw" link set br0 up

for ((i = 0; i < nodes; i++)); do
  ns="${prefix}n$i"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # Created inside the switch namespace, so the names never collide with anything on the host.
  ip -n "$sw" link add "p$i" type veth peer name eth0 netns "$ns"
  ip -n "$sw" link set "p$i" master br0 up
  ip -n "$ns" addr add "10.250.0.$((i + 1))/24" dev eth0
  ip -n "$ns" link set eth0 gso_max_segs 1
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add 224.0.0.0/4 dev eth0
  if [ "$loss" != "0" ]; then
    ip netns exec "$ns" iptables -w -N MCLOSS
    ip netns exec "$ns" iptables -w -A MCLOSS -m u32 --u32 "0>>22&0x3C@8&0xFF=1:2" -j DROP
    ip netns exec "$ns" iptables -w -A MCLOSS -j DROP
    ip netns exec "$ns" iptables -w -A INPUT -p udp -m statistic --mode random --probability "$loss" -j MCLOSS
  fi
  echo "$ns 10.250.0.$((i + 1))"
done
