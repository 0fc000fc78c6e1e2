#!/usr/bin/env bash
# make bench: measures the builder and the boot, and writes the figures to
# $OUT/bench-results.txt (key=value, one per line):
#   cold_build_seconds    build with an empty cache (mmdebstrap included)
#   warm_rebuild_seconds  the same build again with the cache filled
#   raw_apparent_bytes, raw_allocated_bytes, qcow2_bytes
#   boot_to_agent_seconds QEMU start to the agent's final console line
#   cp_boot_to_agent_seconds, agent_cpu_ms, agent_max_rss_kib: a control-plane
#                         first boot with the kubeadm test double; the agent's
#                         own CPU time and peak RSS (children excluded), read
#                         from the VM's disk (targets: <= 100 ms, <= 8 MB; under
#                         TCG the CPU time is emulated and inflated)
#   pull_*, kubeseed_pull_seconds, skopeo_pull_seconds: the same image set
#                         pulled from a local registry by kubeseed and by
#                         skopeo (bench/pull.sh; target: pull_ratio >= 1.0)
#   k8s_cluster_*         the real two-node Kubernetes v1.20.2 cluster
#                         (qemu-tests/k8s/cluster.sh, from make k8s-image):
#                         the scenario's wall time (QEMU start to both nodes
#                         off), each agent's time, the probe's milestones
#                         (seconds since the control plane's kernel started:
#                         nodes Ready, pod Running) and every agent step's
#                         duration on each node. KS_BENCH_K8S=0 leaves it out.
# Targets on a 2-core machine: warm <= 60 s, cold <= 5 min (amd64).
# B (build directory, default build) and OUT (default out) as for make;
# KS_PULL_ROUNDS: rounds of the pull benchmark (default 3).
set -euo pipefail
profile=${1:-debian-bookworm}
arch=${2:-$(dpkg --print-architecture)}
cache=${3:-}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
B=${B:-build}
OUT=${OUT:-out}
results=$OUT/bench-results.txt
mkdir -p "$OUT"
work=$(mktemp -d "${TMPDIR:-/tmp}/kubeseed-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

: >"$results.partial"
note() { echo "$1=$2" | tee -a "$results.partial"; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
note profile "$profile"
note arch "$arch"
note date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
note host_cores "$(nproc)"

bench/pull.sh "$B/kubeseed" "images/$profile.yaml" "$arch" "${KS_PULL_ROUNDS:-3}" >"$work/pull.txt" 2>"$work/pull.log" ||
        { cat "$work/pull.log" >&2; exit 1; }
while IFS='=' read -r k v; do note "$k" "$v"; done <"$work/pull.txt"

start=$(date +%s.%N)
"$B/kubeseed" build -p "images/$profile.yaml" --arch "$arch" -o "$work/out" --cache "$work/cache" >"$work/cold.log" 2>&1 ||
        { cat "$work/cold.log" >&2; exit 1; }
note cold_build_seconds "$(since "$start")"

start=$(date +%s.%N)
"$B/kubeseed" build -p "images/$profile.yaml" --arch "$arch" -o "$work/out" --cache "$work/cache" >"$work/warm.log" 2>&1 ||
        { cat "$work/warm.log" >&2; exit 1; }
note warm_rebuild_seconds "$(since "$start")"

raw="$work/out/kubeseed-$profile-$arch.raw"
note raw_apparent_bytes "$(stat -c %s "$raw")"
note raw_allocated_bytes "$(($(stat -c %b "$raw") * $(stat -c %B "$raw")))"
note qcow2_bytes "$(stat -c %s "${raw%.raw}.qcow2")"

KS_BENCH_FILE="$work/boot.txt" qemu-tests/boot-basic.sh "$raw" "$arch" >"$work/boot.log" 2>&1 ||
        { cat "$work/boot.log" >&2; exit 1; }
note boot_to_agent_seconds "$(sed -n 's/^boot_to_agent_seconds=//p' "$work/boot.txt")"

make -s test-image-doubles B="$B" TEST_PROFILE="$profile" ARCH="$arch" OUT="$work/out" CACHE="$work/cache" \
        >"$work/doubles.log" 2>&1 || { cat "$work/doubles.log" >&2; exit 1; }
KS_ONLY=cp KS_BENCH_FILE="$work/boot.txt" qemu-tests/firstboot-roles.sh "$work/out/test-doubles/kubeseed-$profile-$arch.raw" \
        "$arch" >"$work/cp.log" 2>&1 || { cat "$work/cp.log" >&2; exit 1; }
for k in cp_boot_to_agent_seconds agent_cpu_ms agent_max_rss_kib; do
        note "$k" "$(sed -n "s/^$k=//p" "$work/boot.txt")"
done
if [ "${KS_BENCH_K8S:-1}" != 0 ]; then
        # The bundle from the user's cache (the Go build is not what is measured).
        make -s k8s-image B="$B" TEST_PROFILE="$profile" ARCH="$arch" OUT="$work/out" ${cache:+CACHE="$cache"} \
                >"$work/k8s-image.log" 2>&1 ||
                { cat "$work/k8s-image.log" >&2; exit 1; }
        : >"$work/k8s.txt"
        KS_BENCH_FILE="$work/k8s.txt" KUBESEED="$here/$B/kubeseed" qemu-tests/k8s/cluster.sh \
                "$work/out/k8s-1.20.2/kubeseed-$profile-$arch.raw" "$arch" >"$work/k8s.log" 2>&1 ||
                { cat "$work/k8s.log" >&2; exit 1; }
        while IFS='=' read -r k v; do note "$k" "$v"; done <"$work/k8s.txt"
fi
mv "$results.partial" "$results"
echo "bench: figures written to $results"
