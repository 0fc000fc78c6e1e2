#!/usr/bin/env bash
# A REAL two-node Kubernetes v1.20.2 cluster (the bundle built from Debian's
# source package, README.md), nobody at the keyboard: `kubeseed plan` makes
# the identity and one seed per node; one control plane and one worker boot
# at once from the same kubeseed image (each on its own qcow2 overlay) on a
# QEMU socket network between the two VMs (no DHCP: the planned
# network-config). The agent runs the real kubeadm init and join.
#
# The assertions come from the cluster itself: the image's TEST PROBE
# (probe/, a systemd unit only this test image carries) runs kubectl on the
# control plane once the agent finished: both nodes Ready at v1.20.2,
# kube-proxy on both, a pod scheduled onto the worker from a preloaded image
# Running with an address of the worker's pod CIDR. Everything is read back
# after power-off (debugfs, no mount). Prints the scenario's wall time and
# every agent step's duration, and with KS_BENCH_FILE appends them there.
#
#   cluster.sh IMAGE.raw [ARCH]
#
# KUBESEED: the kubeseed program (default build/kubeseed); KS_KEEP=1 keeps
# the work directory (consoles, disks).
here=$(cd "$(dirname "$0")/.." && pwd)
# TCG, two VMs with 2 vCPUs and 3 GiB each on the host's cores: the images'
# import, kubeadm init, the join and the pod take minutes (before lib.sh,
# which sets its own default).
KS_TIMEOUT=${KS_TIMEOUT_K8S_CLUSTER:-2400}
KS_MEM=${KS_MEM:-3072}
. "$here/lib.sh"

image=${1:?usage: cluster.sh IMAGE.raw [ARCH]}
arch=${2:-$(dpkg --print-architecture)}
kubeseed=${KUBESEED:-$here/../build/kubeseed}
ks_scenario_workdir k8s-cluster
ks_arch_setup "$arch" || exit 1
ks_detect_accel "$arch"

VERSION=v1.20.2
NODES=(cp w1)
declare -A MAC=([cp]=52:54:00:89:00:10 [w1]=52:54:00:89:00:11)
cat >"$work/cluster.yaml" <<EOT
name: real
kubernetes-version: $VERSION
endpoint: 10.89.0.10:6443
pod-subnet: 10.244.0.0/16
nodes:
  - {name: cp, role: control-plane, address: 10.89.0.10/24, gateway: 10.89.0.1, mac: "${MAC[cp]}"}
  - {name: w1, role: worker, address: 10.89.0.11/24, gateway: 10.89.0.1, mac: "${MAC[w1]}"}
EOT
if ! "$kubeseed" plan "$work/cluster.yaml" -o "$work/seeds" 2>"$work/plan.log"; then
        cat "$work/plan.log" >&2
        ks_check "kubeseed plan wrote the seeds" false
        ks_summary
        exit
fi
TOKEN=$(sed -n 's/^token: *//p' "$work/seeds/cluster-secrets.yaml" | tr -d '"')
sed -n '/^ca-cert: |/,/END CERTIFICATE/p' "$work/seeds/cluster-secrets.yaml" | sed '1d; s/^  //' >"$work/ca.crt"

# One base image with the probe's configuration, a qcow2 overlay per node.
cp --sparse=always "$image" "$work/base.raw"
printf 'nodes=2\nworker=w1\nimage=k8s.gcr.io/pause:3.2\nwait=1500\n' >"$work/probe.conf"
ks_write_file "$work/base.raw" "$work/probe.conf" /etc/kubeseed-test/probe.conf
for n in "${NODES[@]}"; do
        qemu-img create -q -f qcow2 -b "$work/base.raw" -F raw "$work/$n.qcow2"
done
MCAST_PORT=$((20000 + RANDOM % 20000))
net() { # mac
        echo "-netdev socket,id=n0,mcast=230.0.89.1:$MCAST_PORT,localaddr=127.0.0.1 -device virtio-net-pci,netdev=n0,mac=$1"
}

# Both at once. The control plane runs until its probe has finished; the
# worker until the control plane is off.
start=$SECONDS
(
        KS_DISK_FORMAT=qcow2 KS_HOLD_LINE='kubeseed-test-probe: finished' \
                ks_boot "$work/cp.qcow2" "$work/seeds/cp.img" "$work" cp $(net "${MAC[cp]}")
        echo "${KS_BOOT_SECONDS:-0} ${KS_HOLD_SECONDS:-0}" >"$work/cp.seconds"
        touch "$work/cp.done"
) &
pids+=($!)
(
        KS_DISK_FORMAT=qcow2 KS_HOLD=$work/cp.done \
                ks_boot "$work/w1.qcow2" "$work/seeds/w1.img" "$work" w1 $(net "${MAC[w1]}")
        echo "${KS_BOOT_SECONDS:-0}" >"$work/w1.seconds"
) &
pids+=($!)
wait "${pids[@]}"
pids=()
wall=$((SECONDS - start))
ks_log "both nodes off after ${wall}s"

for n in "${NODES[@]}"; do
        qemu-img convert -O raw "$work/$n.qcow2" "$work/$n.raw"
done
state() { ks_read_file "$work/$1.raw" /var/lib/kubeseed/state; }
probe() { ks_read_file "$work/cp.raw" "/var/lib/kubeseed-test/$1"; }
# The state file escapes spaces as \s.
step_done() { # node, step, text in its detail
        grep -F "step name=$2 status=done" <<<"$(state "$1")" | grep -qF "$(sed 's/ /\\s/g' <<<"$3")"
}
# Is address $1 inside CIDR $2 (IPv4)?
in_cidr() {
        local ip=$1 net=${2%/*} bits=${2#*/}
        to_int() { local IFS=.; read -r a b c d <<<"$1"; echo $(((a << 24) | (b << 16) | (c << 8) | d)); }
        [ -n "$ip" ] && [ -n "$net" ] || return 1
        local mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
        [ $(($(to_int "$ip") & mask)) -eq $(($(to_int "$net") & mask)) ]
}

for n in "${NODES[@]}"; do
        ks_check "$n: the agent finished ok" grep -aq 'kubeseed-firstboot: finished: ok' "$work/$n.console.log"
        ks_check "$n: the token never reached the console" bash -c '! grep -aq "$1" "$2"' _ "$TOKEN" "$work/$n.console.log"
done
ks_check "cp: the real kubeadm init completed (Kubernetes $VERSION)" \
        step_done cp kubeadm-init "control plane cp initialised (Kubernetes $VERSION)"
ks_check "cp: kubeadm init skipped the CoreDNS phase the bundle has no image for (image.yaml)" \
        grep -aq 'Running kubeadm init --config /var/lib/kubeseed/kubeadm.yaml --skip-phases=addon/coredns' \
        "$work/cp.console.log"
ks_check "cp: kubeadm ran Debian's etcd under the bundle's tag 3.4.23" \
        grep -q 'image: k8s.gcr.io/etcd:3.4.23$' <<<"$(ks_read_file "$work/cp.raw" /etc/kubernetes/manifests/etcd.yaml)"
ks_check "cp: the cluster's CA is the one kubeseed plan made" \
        cmp -s "$work/ca.crt" <(ks_read_file "$work/cp.raw" /etc/kubernetes/pki/ca.crt)
ks_check "w1: the real kubeadm join completed (CA pinned by the plan's hash)" \
        step_done w1 kubeadm-join "w1 joined 10.89.0.10:6443"
ks_check "cp: the test probe finished ok" grep -aq 'kubeseed-test-probe: finished: ok' "$work/cp.console.log"

nodes=$(probe nodes-ready.txt)
ks_check "kubectl get nodes: cp Ready, v1.20.2" grep -qx "cp True $VERSION" <<<"$nodes"
ks_check "kubectl get nodes: w1 Ready, v1.20.2" grep -qx "w1 True $VERSION" <<<"$nodes"
proxy=$(probe kube-proxy.txt)
ks_check "kube-proxy Running on cp and w1" \
        bash -c 'grep -qx "cp Running" <<<"$1" && grep -qx "w1 Running" <<<"$1"' _ "$proxy"
system=$(probe kube-system.txt)
for pod in etcd-cp kube-apiserver-cp kube-controller-manager-cp kube-scheduler-cp; do
        ks_check "$pod ready (its probes pass)" grep -qx "$pod true" <<<"$system"
done
ks_check "the API server answers through the kubernetes Service ($(probe service-ip.txt)): kube-proxy's rules" \
        test "$(probe service-healthz.txt)" = ok
workloads=$(probe workloads.txt)
ks_check "kube-system has the kube-proxy DaemonSet and no CoreDNS (its phase was skipped)" \
        bash -c 'grep -q "daemonset.apps/kube-proxy" <<<"$1" && ! grep -qi coredns <<<"$1"' _ "$workloads"
read -r pod_node pod_phase pod_ip pod_ready <<<"$(probe pod.txt)"
ks_check "a pod scheduled onto w1 (nodeSelector) from the preloaded pause image is Running" \
        test "$pod_node $pod_phase $pod_ready" = "w1 Running true"
w1_cidr=$(probe worker-pod-cidr.txt)
ks_check "w1's pod CIDR ($w1_cidr) lies in the planned pod subnet" in_cidr "${w1_cidr%/*}" 10.244.0.0/16
ks_check "the pod's address ($pod_ip) is from w1's pod CIDR: the node-local bridge" in_cidr "$pod_ip" "$w1_cidr"
ks_check "w1: the agent wrote the bridge for its pod CIDR (no CNI add-on)" \
        grep -qF "\"subnet\": \"$w1_cidr\"" <<<"$(ks_read_file "$work/w1.raw" /etc/cni/net.d/99-kubeseed-bridge.conflist)"

# Timings: the scenario, the probe's milestones (seconds since each VM's
# kernel started) and every step of both agents.
read -r cp_agent cp_probe <"$work/cp.seconds"
w1_agent=$(cat "$work/w1.seconds")
times=$(probe times)
milestone() { sed -n "s/^$1=//p" <<<"$times"; }
report=$work/bench.txt
{
        echo "k8s_cluster_wall_seconds=$wall"
        echo "k8s_cluster_cp_agent_seconds=$cp_agent"
        echo "k8s_cluster_w1_agent_seconds=$w1_agent"
        echo "k8s_cluster_cp_probe_done_seconds=$cp_probe"
        echo "k8s_cluster_nodes_ready_uptime_seconds=$(milestone nodes_ready)"
        echo "k8s_cluster_kube_system_ready_uptime_seconds=$(milestone kube_system_ready)"
        echo "k8s_cluster_pod_running_uptime_seconds=$(milestone pod_running)"
        for n in "${NODES[@]}"; do
                state "$n" | sed -n 's/^step name=\([a-z-]*\) status=done start=\([0-9]*\) end=\([0-9]*\).*/\1 \2 \3/p' |
                        while read -r step s e; do echo "k8s_cluster_${n}_step_${step//-/_}_seconds=$((e - s))"; done
        done
} >"$report"
echo "k8s-cluster: QEMU start to both nodes off ${wall}s; cp agent ${cp_agent}s, w1 agent ${w1_agent}s," \
        "probe done ${cp_probe}s (accel ${KS_ACCEL[*]})"
sed 's/^/k8s-cluster: /' "$report"
[ -n "${KS_BENCH_FILE:-}" ] && cat "$report" >>"$KS_BENCH_FILE"
ks_summary
