#!/usr/bin/env bash
# Prepares a host for vxcollector. Idempotent; run as root at every boot
# (vxcollector-host-setup.service does, with /etc/vxcollector/host-setup.env)
# or by hand. --dry-run prints what it would change and changes nothing.
#
#   1. the `vxcollector` system user and its output directory (0750)
#   2. 2 MiB hugepages: the count now and in /etc/sysctl.d, hugetlbfs mounted
#      at /dev/hugepages (group vxcollector) if nothing is mounted there
#   3. the mirror NIC handed to a DPDK driver:
#      vfio-pci        (ENA, any PCI NIC) with dpdk-devbind.py; without an
#                      IOMMU, vfio's no-IOMMU mode, as the ENA PMD guide says
#      igb_uio         (ENA) loaded with wc_activate=1 (dpdk-kmods, not in Debian)
#      uio_hv_generic  (Azure netvsc) through the VMBus device's driver_override,
#                      or new_id with the network class GUID on older kernels
#      and the device node given to the vxcollector group
#   4. the systemd drop-in the driver needs (noiommu.conf, netvsc.conf), so the
#      service gets CAP_SYS_ADMIN and friends only where it must
#   5. for ENA, whether write combining (needed by LLQ) can work: see --check-wc
#
# Options (environment variables of the same meaning in parentheses, as
# host-setup.env sets them):
#   --dry-run              print the plan, change nothing
#   --hugepages N          2 MiB pages to reserve (VXC_HUGEPAGES, default 1024; 0: leave alone)
#   --pci ADDR             PCI address of the mirror NIC, e.g. 0000:00:06.0 (VXC_PCI)
#   --driver NAME          vfio-pci | igb_uio | uio_hv_generic | none (VXC_DRIVER;
#                          default vfio-pci with --pci, uio_hv_generic with --iface/--vmbus)
#   --iface NAME           kernel interface of the mirror NIC (VXC_IFACE); with
#                          uio_hv_generic it names the VMBus device
#   --vmbus GUID           VMBus device id of the mirror NIC (VXC_VMBUS)
#   --noiommu auto|yes|no  vfio no-IOMMU mode (VXC_NOIOMMU, default auto: when
#                          the host has no IOMMU groups)
#   --user NAME            service user (VXC_USER, default vxcollector)
#   --output-dir DIR       (VXC_OUTPUT_DIR, default /var/lib/vxcollector)
#   --dropin-dir DIR       where noiommu.conf / netvsc.conf are read from
#                          (default: systemd/ next to this script, else
#                          /usr/local/share/vxcollector/systemd)
#   --check-wc             only report whether the NIC's LLQ BAR is mapped
#                          write-combining (run while the collector runs)
#   --sysfs DIR            read device state from DIR instead of /sys (tests)
set -euo pipefail

NET_CLASS_GUID=f8615163-df3e-46c5-913f-f2d2f965ed0e  # Hyper-V network device class

dry_run=0
check_wc=0
hugepages=${VXC_HUGEPAGES:-1024}
pci=${VXC_PCI:-}
driver=${VXC_DRIVER:-}
iface=${VXC_IFACE:-}
vmbus=${VXC_VMBUS:-}
noiommu=${VXC_NOIOMMU:-auto}
user=${VXC_USER:-vxcollector}
output_dir=${VXC_OUTPUT_DIR:-/var/lib/vxcollector}
here=$(cd "$(dirname "$0")" && pwd)
dropin_dir=""
sysfs=/sys

die() { echo "host-setup: $*" >&2; exit 1; }
need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --check-wc) check_wc=1 ;;
    --hugepages) need_arg "$@"; hugepages=$2; shift ;;
    --pci) need_arg "$@"; pci=$2; shift ;;
    --driver) need_arg "$@"; driver=$2; shift ;;
    --iface) need_arg "$@"; iface=$2; shift ;;
    --vmbus) need_arg "$@"; vmbus=$2; shift ;;
    --noiommu) need_arg "$@"; noiommu=$2; shift ;;
    --user) need_arg "$@"; user=$2; shift ;;
    --output-dir) need_arg "$@"; output_dir=$2; shift ;;
    --dropin-dir) need_arg "$@"; dropin_dir=$2; shift ;;
    --sysfs) need_arg "$@"; sysfs=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done

[[ "$hugepages" =~ ^[0-9]+$ ]] || die "--hugepages: '$hugepages' is not a number"
[ -z "$pci" ] || [[ "$pci" =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]] ||
  die "--pci: '$pci' is not DDDD:BB:SS.F"
[ -z "$vmbus" ] || [[ "$vmbus" =~ ^[0-9a-fA-F-]{36}$ ]] || die "--vmbus: '$vmbus' is not a GUID"
[[ "$user" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "--user: '$user' is not a user name"
case "$noiommu" in auto|yes|no) ;; *) die "--noiommu: '$noiommu' is not auto, yes or no" ;; esac
if [ -z "$driver" ]; then
  if [ -n "$pci" ]; then driver=vfio-pci
  elif [ -n "$vmbus$iface" ]; then driver=uio_hv_generic
  else driver=none
  fi
fi
case "$driver" in
  vfio-pci|igb_uio) [ -n "$pci" ] || die "--driver $driver needs --pci" ;;
  uio_hv_generic) [ -n "$vmbus$iface" ] || die "--driver uio_hv_generic needs --vmbus or --iface" ;;
  none) ;;
  *) die "--driver: '$driver' is not vfio-pci, igb_uio, uio_hv_generic or none" ;;
esac
if [ -z "$dropin_dir" ]; then
  if [ -f "$here/systemd/noiommu.conf" ]; then dropin_dir=$here/systemd
  else dropin_dir=/usr/local/share/vxcollector/systemd
  fi
fi
[ "$dry_run" = 1 ] || [ "$check_wc" = 1 ] || [ "$(id -u)" = 0 ] || die "run as root (or with --dry-run)"
# A fake sysfs only ever feeds a plan: the changes themselves always name /sys.
[ "$sysfs" = /sys ] || [ "$dry_run" = 1 ] || [ "$check_wc" = 1 ] || die "--sysfs needs --dry-run"

# Every change goes through one of these two, so --dry-run cannot change anything.
changes=0
run() {
  changes=$((changes + 1))
  local line="" a
  for a in "$@"; do  # quote only what needs it, so the plan reads like a command
    if [[ "$a" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then line+=" $a"; else line+=" '${a//\'/\'\\\'\'}'"; fi
  done
  if [ "$dry_run" = 1 ]; then
    echo "would run:$line"
  else
    echo "run:$line"
    "$@"
  fi
}
# write_file PATH CONTENT: writes only when the content differs.
write_file() {
  if [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; then
    echo "ok: $1 up to date"
    return 0
  fi
  changes=$((changes + 1))
  if [ "$dry_run" = 1 ]; then
    echo "would write $1:"
    printf '%s\n' "$2" | sed 's/^/    /'
  else
    echo "write: $1"
    mkdir -p "$(dirname "$1")"
    printf '%s\n' "$2" > "$1.tmp.$$"
    mv "$1.tmp.$$" "$1"
  fi
}
ok() { echo "ok: $*"; }
note() { echo "note: $*"; }

current_driver() {  # bus device -> driver name or ""
  local link="$sysfs/bus/$1/devices/$2/driver"
  if [ -L "$link" ]; then basename "$(readlink "$link")"; fi
}

# ---- --check-wc: is the ENA LLQ BAR (BAR 2) mapped write-combining? -------------
if [ "$check_wc" = 1 ]; then
  [ -n "$pci" ] || die "--check-wc needs --pci"
  res="$sysfs/bus/pci/devices/$pci/resource"
  [ -f "$res" ] || die "$pci: no $res"
  start=$(sed -n 3p "$res" | awk '{print $1}')  # line 3 = BAR 2 (ENA's memory BAR for LLQ)
  [ -n "$start" ] && [ "$((start))" != 0 ] || die "$pci: BAR 2 is empty (not an ENA with LLQ?)"
  pat=/sys/kernel/debug/x86/pat_memtype_list
  [ -r "$pat" ] || die "cannot read $pat (mount debugfs: mount -t debugfs none /sys/kernel/debug)"
  hex=$(printf '%016x' "$((start))")
  line=$(grep -i "$hex" "$pat" | head -1 || true)
  case "$line" in
    *write-combining*) echo "ok: BAR 2 of $pci ($hex) is mapped write-combining: LLQ can run at full speed" ;;
    "") die "BAR 2 of $pci ($hex) is not mapped: is the collector running on it?" ;;
    *) die "BAR 2 of $pci is mapped '$line', not write-combining: load igb_uio with wc_activate=1 or a vfio-pci with write combining (AWS ENA DPDK docs)" ;;
  esac
  exit 0
fi

[ "$dry_run" = 1 ] && echo "host-setup: dry run, nothing is changed"

# ---- 1. user and output directory --------------------------------------------
if getent passwd "$user" >/dev/null; then
  ok "user $user exists"
else
  run useradd --system --user-group --home-dir "$output_dir" --no-create-home \
    --shell /usr/sbin/nologin --comment "vxcollector mirror collector" "$user"
fi
if [ -d "$output_dir" ] && [ "$(stat -c '%U:%G %a' "$output_dir")" = "$user:$user 750" ]; then
  ok "$output_dir is $user:$user 0750"
else
  run install -d -m 0750 -o "$user" -g "$user" "$output_dir"
fi
if [ -d /etc/vxcollector ]; then ok "/etc/vxcollector exists"; else run install -d -m 0755 /etc/vxcollector; fi

# ---- 2. hugepages ------------------------------------------------------------
if [ "$hugepages" -gt 0 ]; then
  write_file /etc/sysctl.d/80-vxcollector-hugepages.conf \
    "# 2 MiB hugepages for vxcollector's DPDK dataplane (host-setup.sh)
vm.nr_hugepages = $hugepages"
  nr="$sysfs/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
  if [ ! -f "$nr" ]; then
    note "$nr missing: the kernel has no 2 MiB hugepages"
  elif [ "$(cat "$nr")" -ge "$hugepages" ]; then
    ok "$(cat "$nr") hugepages of 2 MiB reserved (>= $hugepages)"
  else
    run sysctl -q -w "vm.nr_hugepages=$hugepages"
    if [ "$dry_run" = 0 ] && [ "$(cat "$nr")" -lt "$hugepages" ]; then
      note "only $(cat "$nr") of $hugepages hugepages could be reserved (memory fragmented: reboot to get them)"
    fi
  fi
  if grep -qs '^[^ ]* /dev/hugepages hugetlbfs ' /proc/mounts; then
    ok "hugetlbfs mounted at /dev/hugepages"
  else
    [ -d /dev/hugepages ] || run mkdir -p /dev/hugepages
    gid=$(getent group "$user" | cut -d: -f3 || true)  # hugetlbfs takes a number
    run mount -t hugetlbfs -o "pagesize=2M,gid=${gid:-<gid of $user>},mode=1770" nodev /dev/hugepages
  fi
else
  ok "hugepages left alone (--hugepages 0)"
fi

# ---- 3. the mirror NIC ----------------------------------------------------------
dropin=""  # drop-in the driver needs
case "$driver" in
  vfio-pci|igb_uio)
    dev="$sysfs/bus/pci/devices/$pci"
    [ -d "$dev" ] || die "no PCI device $pci (dpdk-devbind.py --status lists them)"
    vendor=$(cat "$dev/vendor" 2>/dev/null || true)
    device=$(cat "$dev/device" 2>/dev/null || true)
    is_ena=0
    [ "$vendor" = 0x1d0f ] && case "$device" in 0xec20|0xec21) is_ena=1 ;; esac
    # Refuse to take the interface the host itself is reached through.
    for n in "$dev"/net/*; do
      [ -e "$n" ] || continue
      n=$(basename "$n")
      if ip route show default 2>/dev/null | grep -qw "dev $n"; then
        die "$pci is $n, which carries the default route: give the collector a second NIC"
      fi
    done
    if [ "$driver" = vfio-pci ]; then
      use_noiommu=$noiommu
      if [ "$use_noiommu" = auto ]; then
        if [ -n "$(ls -A "$sysfs/kernel/iommu_groups" 2>/dev/null)" ]; then use_noiommu=no; else use_noiommu=yes; fi
      fi
      if [ -d "$sysfs/module/vfio_pci" ]; then ok "vfio-pci loaded"; else run modprobe vfio-pci; fi
      if [ "$use_noiommu" = yes ]; then
        note "no IOMMU: vfio runs in no-IOMMU mode (unsafe DMA isolation, taints the kernel; the ENA PMD guide's way on instances without an IOMMU)"
        write_file /etc/modprobe.d/vxcollector-vfio.conf "options vfio enable_unsafe_noiommu_mode=1"
        param="$sysfs/module/vfio/parameters/enable_unsafe_noiommu_mode"
        if [ -f "$param" ] && [ "$(cat "$param")" = Y ]; then
          ok "vfio no-IOMMU mode on"
        else
          run sh -c "echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode"
        fi
        dropin=noiommu.conf
      fi
    else
      if [ -d "$sysfs/module/igb_uio" ]; then
        wc=$(cat "$sysfs/module/igb_uio/parameters/wc_activate" 2>/dev/null || echo "?")
        [ "$wc" = 1 ] || note "igb_uio is loaded with wc_activate=$wc: reload it with wc_activate=1 for ENA LLQ"
        ok "igb_uio loaded"
      else
        modinfo igb_uio >/dev/null 2>&1 || [ "$dry_run" = 1 ] ||
          die "igb_uio is not installed (build it from dpdk-kmods) or use --driver vfio-pci"
        run modprobe igb_uio wc_activate=1
      fi
      dropin=noiommu.conf  # igb_uio hands out physical addresses too
    fi
    if [ "$(current_driver pci "$pci")" = "$driver" ]; then
      ok "$pci bound to $driver"
    else
      # dpdk-devbind.py leaves an interface with routes alone: take it down first
      # (cloud-init may have configured the second NIC on the first boot).
      for n in "$dev"/net/*; do
        [ -e "$n" ] && run ip link set dev "$(basename "$n")" down
      done
      run dpdk-devbind.py --bind="$driver" "$pci"
    fi
    if [ "$driver" = vfio-pci ]; then
      group=""
      if [ -L "$dev/iommu_group" ]; then group=$(basename "$(readlink "$dev/iommu_group")"); fi
      if [ -n "$group" ]; then
        node=/dev/vfio/$group
        [ "$use_noiommu" = yes ] && node=/dev/vfio/noiommu-$group
        if [ -e "$node" ] && [ "$(stat -c '%G %a' "$node")" = "$user 660" ]; then
          ok "$node belongs to group $user"
        else
          run chgrp "$user" "$node"
          run chmod 0660 "$node"
        fi
      else
        run sh -c "g=\$(basename \$(readlink /sys/bus/pci/devices/$pci/iommu_group)); for n in /dev/vfio/\$g /dev/vfio/noiommu-\$g; do [ -e \$n ] && chgrp $user \$n && chmod 0660 \$n; done; true"
      fi
      if [ "$is_ena" = 1 ]; then
        note "ENA LLQ needs write combining, which mainline vfio-pci does not map: expect lower" \
          "throughput unless vfio-pci carries the WC patch (AWS amzn-drivers, get-vfio-with-wc.sh) or igb_uio" \
          "wc_activate=1 is used; check with: host-setup.sh --check-wc --pci $pci (while the collector runs)"
      fi
    fi
    ;;
  uio_hv_generic)
    if [ -z "$vmbus" ]; then
      link="$sysfs/class/net/$iface/device"
      [ -L "$link" ] || die "$iface is not a VMBus network device (no $link)"
      vmbus=$(basename "$(readlink "$link")")
      ok "$iface is VMBus device $vmbus (EAL: -a $vmbus)"
      if ip route show default 2>/dev/null | grep -qw "dev $iface"; then
        die "$iface carries the default route: give the collector a second NIC"
      fi
    fi
    dev="$sysfs/bus/vmbus/devices/$vmbus"
    [ -d "$dev" ] || die "no VMBus device $vmbus"
    class=$(cat "$dev/class_id" 2>/dev/null | tr -d '{}' || true)
    [ "$class" = "$NET_CLASS_GUID" ] || die "VMBus device $vmbus has class '$class', not the network class $NET_CLASS_GUID"
    if [ -d "$sysfs/module/uio_hv_generic" ]; then ok "uio_hv_generic loaded"; else run modprobe uio_hv_generic; fi
    cur=$(current_driver vmbus "$vmbus")
    if [ "$cur" = uio_hv_generic ]; then
      ok "$vmbus bound to uio_hv_generic"
    elif [ -f "$dev/driver_override" ]; then
      run sh -c "echo uio_hv_generic > /sys/bus/vmbus/devices/$vmbus/driver_override"
      [ -z "$cur" ] || run sh -c "echo $vmbus > /sys/bus/vmbus/drivers/$cur/unbind"
      run sh -c "echo $vmbus > /sys/bus/vmbus/drivers_probe"
    else
      # Older kernels: teach uio_hv_generic the network class, then move the device.
      run sh -c "echo $NET_CLASS_GUID > /sys/bus/vmbus/drivers/uio_hv_generic/new_id || true"
      [ -z "$cur" ] || run sh -c "echo $vmbus > /sys/bus/vmbus/drivers/$cur/unbind"
      run sh -c "echo $vmbus > /sys/bus/vmbus/drivers/uio_hv_generic/bind"
    fi
    run sh -c "for u in /sys/bus/vmbus/devices/$vmbus/uio/uio*; do [ -e \"\$u\" ] && chgrp $user /dev/\${u##*/} && chmod 0660 /dev/\${u##*/}; done; true"
    dropin=netvsc.conf
    ;;
  none)
    ok "no NIC to bind (--driver none: net_af_packet, net_pcap or a NIC bound elsewhere)"
    ;;
esac

# ---- 4. the service's extra privileges for this driver ------------------------
unitd=/etc/systemd/system/vxcollector.service.d
before=$changes
for d in noiommu.conf netvsc.conf; do
  if [ "$d" = "$dropin" ]; then
    [ -f "$dropin_dir/$d" ] || die "drop-in $dropin_dir/$d not found (--dropin-dir)"
    write_file "$unitd/$d" "$(cat "$dropin_dir/$d")"
  elif [ -f "$unitd/$d" ]; then
    run rm -f "$unitd/$d"
  fi
done
if [ -z "$dropin" ]; then ok "no drop-in needed: the service keeps its three capabilities"; fi
if [ "$changes" -gt "$before" ] && [ -d /run/systemd/system ]; then
  run systemctl daemon-reload
fi

if [ "$dry_run" = 1 ]; then
  echo "host-setup: dry run: $changes change(s) planned"
else
  echo "host-setup: done, $changes change(s)"
fi
