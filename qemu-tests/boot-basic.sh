#!/usr/bin/env bash
# Scenario: the product image (no test doubles) boots with UEFI, the
# first-boot agent runs, finds the NoCloud seed, validates it and records its
# state; the VM powers off cleanly and the results are read back from the
# disk. Until the image carries Kubernetes (issue 4) the agent must stop at
# the kubeadm step with a clear reason, which this checks too.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

image=${1:?usage: boot-basic.sh IMAGE.raw [ARCH]}
arch=${2:-$(dpkg --print-architecture)}
work=$(mktemp -d "${TMPDIR:-/tmp}/kubeseed-qemu.XXXXXX")
trap 'rm -rf "$work"' EXIT

ks_arch_setup "$arch" || exit 1
ks_detect_accel "$arch"

mkdir -p "$work/seed"
cat >"$work/seed/meta-data" <<'EOT'
instance-id: basic-0001
local-hostname: kseed-basic
EOT
cat >"$work/seed/user-data" <<'EOT'
#cloud-config
kubeseed:
  role: control-plane
  cluster:
    token: abcdef.0123456789abcdef
    pod-subnet: 10.244.0.0/16
EOT
ks_make_seed "$work/seed" "$work/seed.img" || { ks_log "cannot make the seed"; exit 1; }
cp --sparse=always "$image" "$work/disk.raw"

ks_boot "$work/disk.raw" "$work/seed.img" "$work" basic -nic user,model=virtio-net-pci
log="$work/basic.console.log"
echo "boot-basic: agent reached after ${KS_BOOT_SECONDS}s" >&2
[ -n "${KS_BENCH_FILE:-}" ] && echo "boot_to_agent_seconds=$KS_BOOT_SECONDS" >>"$KS_BENCH_FILE"

state=$(ks_read_file "$work/disk.raw" /var/lib/kubeseed/state)
facts=$(ks_read_file "$work/disk.raw" /var/lib/kubeseed/facts)

ks_check "UEFI firmware booted the unified kernel image" grep -aq 'Linux version' "$log"
ks_check "the agent printed its final line on the console" grep -aq 'kubeseed-firstboot: finished: ' "$log"
ks_check "the agent found and validated the NoCloud seed (metadata step done)" \
        grep -Eq '^step name=metadata status=done .*nocloud.*role\\scontrol-plane' <<<"$state"
ks_check "the agent set the hostname from meta-data" grep -Eq '^step name=hostname status=done .*kseed-basic' <<<"$state"
ks_check "without Kubernetes in the image the agent stops at kubeadm, saying why" \
        grep -aq 'finished: failed: kubeadm-config: kubeadm version: kubeadm is not installed in the image' "$log"
ks_check "the facts file records the instance-id from meta-data" grep -q '^instance_id=basic-0001$' <<<"$facts"
# The guest's uname -m as the agent recorded it: the image's own architecture,
# whatever the host's.
machine=$(case "$arch" in arm64 | aarch64) echo aarch64 ;; *) echo x86_64 ;; esac)
ks_check "the facts file records the machine (uname -m $machine for $arch)" \
        grep -qx "machine=$machine" <<<"$facts"
ks_check "the VM powered off cleanly (QEMU exit 0)" test "${KS_QEMU_STATUS:-1}" -eq 0

if [ "$KS_FAILED" -ne 0 ]; then
        ks_log "console log tail:"
        tail -n 40 "$log" | sed 's/^/    /' >&2
        ks_log "state file:"
        printf '%s\n' "$state" | sed 's/^/    /' >&2
fi
ks_summary
