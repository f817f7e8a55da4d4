#!/usr/bin/env bash
# Builds one rootfs overlay tarball per node of a cluster description (default: the seed's,
# image/seed-cluster.toml), to unpack over a minimal Debian root (or bake into a VM image):
#
#   /usr/bin/etcd (static), /usr/bin/etcdctl and /usr/bin/etcdutl -> etcd (multicall)
#   /etc/systemd/system/etcd.service   Type=notify, dedicated user, hardening
#   /usr/lib/sysusers.d/etcd.conf      the etcd user and group (uid/gid 2379)
#   /etc/etcd/ca.pem, kubernetes.pem, kubernetes-key.pem (0600, owned by etcd)
#   /etc/etcd/etcd.toml                the seed's flags for this node, as --config-file keys
#   /var/lib/etcd                      (0700, owned by etcd)
#
#   bash image/build.sh [--cluster FILE] [--pki DIR] [--out DIR]
#
# --pki: a directory made by `etcd pki init` (made in OUT/pki for the cluster's nodes if absent).
# The same binary, description and certificates give byte-identical tarballs. Needs root (or
# fakeroot) for the file owners.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=image/seed-cluster.toml
OUT=image/out
PKI=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cluster) CLUSTER=$2; shift 2 ;;
    --pki) PKI=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 1 ;;
  esac
done
BIN=${BIN:-target/x86_64-unknown-linux-musl/release/etcd}
[ -x "$BIN" ] || cargo build --release --target x86_64-unknown-linux-musl
ETCD_UID=2379

# The description: `token = "..."`, then [[node]] tables with `name` and `ip`.
value() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\\(.*\\)\"[[:space:]]*$/\\1/p"; }
TOKEN=$(value token <"$CLUSTER" | head -1)
mapfile -t NAMES < <(value name <"$CLUSTER")
mapfile -t IPS < <(value ip <"$CLUSTER")
[ -n "$TOKEN" ] || { echo "build.sh: $CLUSTER has no token" >&2; exit 1; }
[ "${#NAMES[@]}" -gt 0 ] && [ "${#NAMES[@]}" = "${#IPS[@]}" ] ||
  { echo "build.sh: $CLUSTER needs [[node]] tables with name and ip" >&2; exit 1; }

mkdir -p "$OUT"
if [ -z "$PKI" ]; then
  PKI=$OUT/pki
  if [ ! -e "$PKI/ca.pem" ]; then
    args=()
    for i in "${!NAMES[@]}"; do args+=(--node "${NAMES[$i]}=${IPS[$i]}"); done
    "$BIN" pki init --dir "$PKI" "${args[@]}" >/dev/null
  fi
fi

INITIAL=""
for i in "${!NAMES[@]}"; do INITIAL+="${NAMES[$i]}=https://${IPS[$i]}:2380,"; done
INITIAL=${INITIAL%,}

for i in "${!NAMES[@]}"; do
  name=${NAMES[$i]} ip=${IPS[$i]}
  root=$(mktemp -d)
  chmod 0755 "$root"
  install -d -m 0755 "$root/usr/bin" "$root/etc/systemd/system" "$root/usr/lib/sysusers.d" "$root/etc/etcd" "$root/var/lib"
  install -m 0755 "$BIN" "$root/usr/bin/etcd"
  ln -s etcd "$root/usr/bin/etcdctl"
  ln -s etcd "$root/usr/bin/etcdutl"
  install -m 0644 image/etcd.service "$root/etc/systemd/system/etcd.service"
  printf 'u etcd %s "etcd" /var/lib/etcd\n' "$ETCD_UID" >"$root/usr/lib/sysusers.d/etcd.conf"
  chmod 0644 "$root/usr/lib/sysusers.d/etcd.conf"
  install -m 0644 "$PKI/ca.pem" "$root/etc/etcd/ca.pem"
  install -m 0644 "$PKI/kubernetes.pem" "$root/etc/etcd/kubernetes.pem"
  install -m 0600 "$PKI/kubernetes-key.pem" "$root/etc/etcd/kubernetes-key.pem"
  cat >"$root/etc/etcd/etcd.toml" <<TOML
# The seed's unit flags for $name; keys are etcd's flag names (etcd --config-file).
name = "$name"
data-dir = "/var/lib/etcd"
cert-file = "/etc/etcd/kubernetes.pem"
key-file = "/etc/etcd/kubernetes-key.pem"
peer-cert-file = "/etc/etcd/kubernetes.pem"
peer-key-file = "/etc/etcd/kubernetes-key.pem"
trusted-ca-file = "/etc/etcd/ca.pem"
peer-trusted-ca-file = "/etc/etcd/ca.pem"
peer-client-cert-auth = true
client-cert-auth = true
initial-advertise-peer-urls = "https://$ip:2380"
listen-peer-urls = "https://$ip:2380"
listen-client-urls = ["https://$ip:2379", "http://127.0.0.1:2379"]
advertise-client-urls = "https://$ip:2379"
initial-cluster-token = "$TOKEN"
initial-cluster = "$INITIAL"
initial-cluster-state = "new"
TOML
  chmod 0644 "$root/etc/etcd/etcd.toml"
  install -d -m 0700 "$root/var/lib/etcd"
  chown "$ETCD_UID:$ETCD_UID" "$root/etc/etcd/kubernetes-key.pem" "$root/var/lib/etcd"
  tar --sort=name --mtime=@0 --numeric-owner --format=gnu -C "$root" -cf - . | gzip -n -9 >"$OUT/$name.tar.gz"
  rm -rf "$root"
  echo "$OUT/$name.tar.gz"
done
