#!/usr/bin/env bash
# Installs a built vxcollector as a systemd service. Run as root from a
# checkout after deploy/build.sh (or give --binary). Idempotent: files are
# replaced, except the two files an operator edits (vxcollector.conf and
# host-setup.env), which are written only when absent; the shipped versions
# always land beside them as *.example.
#
#   /usr/local/bin/vxcollector                       the binary
#   /usr/local/sbin/vxcollector-host-setup           deploy/host-setup.sh
#   /etc/systemd/system/vxcollector.service          hardened unit
#   /etc/systemd/system/vxcollector-host-setup.service  host set-up at boot
#   /etc/vxcollector/vxcollector.conf                example config (INI)
#   /etc/vxcollector/host-setup.env                  host-setup.sh settings
#   /usr/local/share/vxcollector/systemd/            driver drop-ins for host-setup.sh
#   /usr/local/share/vxcollector/{prometheus,grafana}/  scrape config, alerts, dashboard
#   /usr/local/share/doc/vxcollector/README.md       deploy/README.md
#
# Options:
#   --root DIR       install below DIR instead of / (like DESTDIR; nothing is
#                    started and systemd is not asked to reload)
#   --binary PATH    the vxcollector binary (default: build/collector/vxcollector)
#   --enable         enable both units (systemctl --root works without a running systemd)
#   --start          with --root /: restart vxcollector after installing
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
root=/
binary=$src/build/collector/vxcollector
enable=0
start=0
die() { echo "install: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; root=$2; shift ;;
    --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary=$2; shift ;;
    --enable) enable=1 ;;
    --start) start=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done

[ -x "$binary" ] || die "$binary is not an executable (run deploy/build.sh or give --binary)"
"$binary" --version >/dev/null || die "$binary --version failed"
mkdir -p "$root"
root=$(cd "$root" && pwd)
r=${root%/}  # "" for /
[ "$root" != / ] || [ "$(id -u)" = 0 ] || die "run as root (or with --root DIR)"

put() {  # put MODE SOURCE DEST
  install -D -m "$1" "$2" "$r$3"
  echo "installed $3"
}
put_once() {  # put_once MODE SOURCE DEST: keeps an existing DEST, always writes DEST.example
  install -D -m "$1" "$2" "$r$3.example"
  if [ -e "$r$3" ]; then
    echo "kept $3 (shipped version: $3.example)"
  else
    install -D -m "$1" "$2" "$r$3"
    echo "installed $3"
  fi
}

put 0755 "$binary" /usr/local/bin/vxcollector
put 0755 "$src/deploy/host-setup.sh" /usr/local/sbin/vxcollector-host-setup
put 0644 "$src/deploy/systemd/vxcollector.service" /etc/systemd/system/vxcollector.service
put 0644 "$src/deploy/systemd/vxcollector-host-setup.service" /etc/systemd/system/vxcollector-host-setup.service
for f in noiommu.conf netvsc.conf; do
  put 0644 "$src/deploy/systemd/$f" "/usr/local/share/vxcollector/systemd/$f"
done
put_once 0644 "$src/deploy/systemd/vxcollector.conf" /etc/vxcollector/vxcollector.conf

env_file=$(mktemp)
trap 'rm -f "$env_file"' EXIT
cat > "$env_file" <<'EOF'
# Settings of vxcollector-host-setup (deploy/host-setup.sh), read at every boot
# by vxcollector-host-setup.service. `vxcollector-host-setup --help` explains them.
# The mirror NIC: its PCI address (ENA and other PCI NICs) ...
#VXC_PCI=0000:00:06.0
# ... or, on Azure, its kernel interface (bound to uio_hv_generic).
#VXC_IFACE=eth1
# vfio-pci (default with VXC_PCI), igb_uio, uio_hv_generic (default with VXC_IFACE) or none.
#VXC_DRIVER=vfio-pci
# vfio no-IOMMU mode: auto (when the host has no IOMMU), yes or no.
#VXC_NOIOMMU=auto
# 2 MiB hugepages to reserve (0: leave alone).
VXC_HUGEPAGES=1024
EOF
put_once 0644 "$env_file" /etc/vxcollector/host-setup.env

for f in prometheus/prometheus.yml prometheus/alerts.yml prometheus/alerts_test.yml grafana/vxcollector-dashboard.json; do
  put 0644 "$src/deploy/$f" "/usr/local/share/vxcollector/$f"
done
put 0644 "$src/deploy/README.md" /usr/local/share/doc/vxcollector/README.md

if [ "$enable" = 1 ]; then
  systemctl --root="$root" enable vxcollector-host-setup.service vxcollector.service
fi
if [ "$root" = / ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if [ "$start" = 1 ]; then systemctl restart vxcollector.service; fi
elif [ "$start" = 1 ]; then
  die "--start needs --root / and a running systemd"
fi
echo "install: done (root $root)"
