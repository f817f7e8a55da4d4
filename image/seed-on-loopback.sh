#!/usr/bin/env bash
# The seed's 3-member cluster (master, node1, node2) on this machine's loopback: 127.0.0.2-4
# stand in for 10.140.0.2-4. Builds the static binary, makes the seed's certificates with
# `etcd pki`, starts the three members with the seed's unit flags (mutual TLS for clients and
# peers), runs the seed's own check, and keeps the cluster up until Ctrl-C.
#
#   bash image/seed-on-loopback.sh            # data and certificates under /tmp/etcd-seed
#   DIR=/somewhere bash image/seed-on-loopback.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${DIR:-/tmp/etcd-seed}
cargo build --release --target x86_64-unknown-linux-musl
BIN=$PWD/target/x86_64-unknown-linux-musl/release/etcd
NAMES=(master node1 node2)
IPS=(127.0.0.2 127.0.0.3 127.0.0.4)
# The seed also listens on http://127.0.0.1:2379 on each host; here the three share one host.
LOCAL_PORTS=(23792 23793 23794)

rm -rf "$DIR"
mkdir -p "$DIR/etc"
"$BIN" pki init --dir "$DIR/etc" --node master=127.0.0.2 --node node1=127.0.0.3 --node node2=127.0.0.4

CLUSTER=""
for i in 0 1 2; do CLUSTER+="${NAMES[$i]}=https://${IPS[$i]}:2380,"; done
CLUSTER=${CLUSTER%,}

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait' EXIT
for i in 0 1 2; do
  "$BIN" \
    --name "${NAMES[$i]}" \
    --cert-file "$DIR/etc/kubernetes.pem" \
    --key-file "$DIR/etc/kubernetes-key.pem" \
    --peer-cert-file "$DIR/etc/kubernetes.pem" \
    --peer-key-file "$DIR/etc/kubernetes-key.pem" \
    --trusted-ca-file "$DIR/etc/ca.pem" \
    --peer-trusted-ca-file "$DIR/etc/ca.pem" \
    --peer-client-cert-auth \
    --client-cert-auth \
    --initial-advertise-peer-urls "https://${IPS[$i]}:2380" \
    --listen-peer-urls "https://${IPS[$i]}:2380" \
    --listen-client-urls "https://${IPS[$i]}:2379,http://127.0.0.1:${LOCAL_PORTS[$i]}" \
    --advertise-client-urls "https://${IPS[$i]}:2379" \
    --initial-cluster-token etcd-cluster-0 \
    --initial-cluster "$CLUSTER" \
    --initial-cluster-state new \
    --data-dir "$DIR/${NAMES[$i]}" >"$DIR/${NAMES[$i]}.log" 2>&1 &
  PIDS+=($!)
done

healthy() ( # plain HTTP GET of /health on the member's local listener, without curl
  exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  printf 'GET /health HTTP/1.0\r\n\r\n' >&3
  grep -q '"health":"true"' <&3
)
for port in "${LOCAL_PORTS[@]}"; do
  for _ in $(seq 1 100); do healthy "$port" 2>/dev/null && break; sleep 0.2; done
  healthy "$port" || { echo "member on port $port did not become healthy; see $DIR/*.log" >&2; exit 1; }
done

# Our binary is etcdctl too when invoked under that name (as the images install it).
ln -sf "$BIN" "$DIR/etcdctl"
CHECK="ETCDCTL_API=2 $DIR/etcdctl --endpoints https://127.0.0.2:2379 --ca-file=$DIR/etc/ca.pem --cert-file=$DIR/etc/kubernetes.pem --key-file=$DIR/etc/kubernetes-key.pem cluster-health"
echo "cluster up; the seed's check:"
echo "  $CHECK"
eval "$CHECK"
echo "logs in $DIR/*.log; Ctrl-C stops the cluster"
wait
