#!/usr/bin/env bash
# One control plane from the image built from the real Kubernetes v1.20.2
# bundle (make k8s-image, README.md): the agent runs the REAL kubeadm init
# from a NoCloud seed with a pre-provisioned CA. Read back after power-off:
# the agent's state, kubeadm's and the kubelet's files, the control-plane
# containers' logs. Prints "N passed, N failed".
#
#   boot-cp.sh IMAGE.raw [ARCH]
#
# Not in make test: the two-node scenario (cluster.sh) covers the same and
# more; this one is quicker to run by hand while changing the control plane.
here=$(cd "$(dirname "$0")/.." && pwd)
# TCG: importing the images, then kubeadm init, take minutes (before lib.sh,
# which sets its own default).
KS_TIMEOUT=${KS_TIMEOUT:-1800}
KS_MEM=${KS_MEM:-3072}
. "$here/lib.sh"

image=${1:?usage: boot-cp.sh IMAGE.raw [ARCH]}
arch=${2:-$(dpkg --print-architecture)}
work=$(mktemp -d "${TMPDIR:-/tmp}/kubeseed-k8s-cp.XXXXXX")
trap '[ -n "${KS_TEST_KEEP:-}" ] || rm -rf "$work"' EXIT
ks_arch_setup "$arch" || exit 1
ks_detect_accel "$arch"

TOKEN=abcdef.0123456789abcdef
pki=$work/pki
mkdir -p "$pki" "$work/cp"
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kubernetes" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
        -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
CA_HASH=sha256:$(openssl x509 -in "$pki/ca.crt" -pubkey -noout |
        openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
indent() { sed 's/^/      /' "$1"; }
printf 'instance-id: k8s-cp-0001\nlocal-hostname: kseed-cp\n' >"$work/cp/meta-data"
cat >"$work/cp/user-data" <<EOT
#cloud-config
kubeseed:
  role: control-plane
  cluster:
    endpoint: 10.0.2.15:6443
    token: $TOKEN
    ca-cert-hash: $CA_HASH
    ca-cert: |
$(indent "$pki/ca.crt")
    ca-key: |
$(indent "$pki/ca.key")
    pod-subnet: 10.244.0.0/16
    kubernetes-version: v1.20.2
EOT
ks_make_seed "$work/cp" "$work/cp.seed.img"
cp --sparse=always "$image" "$work/cp.raw"
ks_boot "$work/cp.raw" "$work/cp.seed.img" "$work" cp -nic user,model=virtio-net-pci

disk=$work/cp.raw
state=$(ks_read_file "$disk" /var/lib/kubeseed/state)
step_seconds() { # step name
        sed -n "s/^step name=$1 status=done start=\([0-9]*\) end=\([0-9]*\).*/\2 \1/p" <<<"$state" |
                awk '{ print $1 - $2 }'
}
# /var/log/pods/<namespace>_<pod>_<uid>/<container>/0.log
pod_log() { # pod name prefix, container
        local off dir
        off=$(ks_part_offset "$disk" 2)
        dir=$(debugfs -R "ls -p /var/log/pods" "$disk?offset=$off" 2>/dev/null |
                awk -F/ -v p="kube-system_$1_" 'index($6, p) == 1 { print $6; exit }')
        [ -n "$dir" ] && ks_read_file "$disk" "/var/log/pods/$dir/$2/0.log"
}

ks_check "the agent finished ok" grep -aq 'kubeseed-firstboot: finished: ok' "$work/cp.console.log"
# The state file escapes spaces as \s.
ks_check "kubeadm init (the real v1.20.2) completed" \
        grep -qF 'step name=kubeadm-init status=done' <<<"$(grep -F 'initialised\s(Kubernetes\sv1.20.2)' <<<"$state")"
ks_check "kubeadm was given the kubelet's cgroup driver, systemd (containerd's)" \
        grep -q '^cgroupDriver: systemd$' <<<"$(ks_read_file "$disk" /var/lib/kubelet/config.yaml)"
ks_check "kubeadm kept the pre-provisioned CA" \
        cmp -s "$pki/ca.crt" <(ks_read_file "$disk" /etc/kubernetes/pki/ca.crt)
ks_read_file "$disk" /etc/kubernetes/pki/apiserver.crt >"$work/apiserver.crt"
signed_by() { openssl verify -CAfile "$1" "$2" >/dev/null; }
ks_check "the API server's certificate is signed by it" signed_by "$pki/ca.crt" "$work/apiserver.crt"
ks_check "etcd's static pod names the preloaded k8s.gcr.io/etcd:3.4.23 (the image's kubeadm setting)" \
        grep -q 'image: k8s.gcr.io/etcd:3.4.23$' <<<"$(ks_read_file "$disk" /etc/kubernetes/manifests/etcd.yaml)"
ks_check "etcd ran: Debian's 3.4.23 from the preloaded image" \
        grep -q 'etcd Version: 3.4.23' <<<"$(pod_log etcd-kseed-cp etcd)"
for c in kube-apiserver kube-controller-manager kube-scheduler; do
        ks_check "$c ran from the preloaded image (its container log)" test -n "$(pod_log "$c-kseed-cp" "$c")"
done
ks_check "the API server is the built v1.20.2" \
        grep -q 'Version: v1.20.2$' <<<"$(pod_log kube-apiserver-kseed-cp kube-apiserver)"
ks_check "the agent untainted the single control plane" \
        grep -q '^step name=untaint status=done .*node-role.kubernetes.io/master' <<<"$state"

echo "k8s-boot-cp: QEMU start to agent finished ${KS_BOOT_SECONDS}s; images $(step_seconds images)s," \
        "kubeadm init $(step_seconds kubeadm-init)s (accel ${KS_ACCEL[*]})"
if [ -n "${KS_BENCH_FILE:-}" ]; then
        echo "k8s_cp_boot_to_agent_seconds=$KS_BOOT_SECONDS" >>"$KS_BENCH_FILE"
        echo "k8s_cp_kubeadm_init_seconds=$(step_seconds kubeadm-init)" >>"$KS_BENCH_FILE"
fi
ks_summary
