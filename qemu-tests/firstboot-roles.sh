#!/usr/bin/env bash
# Scenarios of the first-boot agent in an image built the air-gapped way
# from TEST DOUBLES (qemu-tests/doubles/): the Kubernetes bundle from a
# directory (the kubeadm/kubectl double, a kubelet double, real CNI plugins)
# and the images kubeadm needs from OCI archives (a static pause binary under
# every name). The kubeadm double checks, like kubeadm's preflight, that
# containerd holds every image (the agent imported the preloaded archive)
# and starts a container from the pause image.
#   cp        control plane from a NoCloud seed with a pre-provisioned CA
#   worker    worker whose endpoint is a TLS server on the host's loopback
#             (QEMU user networking: 10.0.2.2), certificate signed by the CA
#   wrong-ca  the same with a server certificate from another CA: no join
#   bad-token metadata with a malformed token: failed state naming the field
#   power-cut QEMU killed during kubeadm init, booted again: it finishes
#   addons    (in cp) the test catalogue's add-ons applied in dependency order
#             with the kubectl double, each waited for, recorded with its digest
#   addon-fail a readiness check that never passes: reported by name with the
#             last status; the add-on that depends on it is not started
#   addon-cut QEMU killed during an add-on's apply: the next boot applies it
#             again and never re-applies the finished ones
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

image=${1:?usage: firstboot-roles.sh IMAGE-WITH-TEST-DOUBLES.raw [ARCH]}
arch=${2:-$(dpkg --print-architecture)}
work=$(mktemp -d "${TMPDIR:-/tmp}/kubeseed-roles.XXXXXX")
server_pid=
cleanup() {
        [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
        rm -rf "$work"
}
trap cleanup EXIT

ks_arch_setup "$arch" || exit 1
ks_detect_accel "$arch"

TOKEN=abcdef.0123456789abcdef
VERSION=v1.31.1

# ---- PKI made on the host, as `kubeseed plan` will (issue 7) ----------------
pki=$work/pki
mkdir -p "$pki"
mkca() { # name
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$1" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
                -keyout "$pki/$1.key" -out "$pki/$1.crt" 2>/dev/null
}
mkserver() { # ca name, output name
        openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$pki/$2.key" \
                -out "$pki/$2.csr" 2>/dev/null
        printf 'subjectAltName=IP:10.0.2.2,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$pki/$2.ext"
        openssl x509 -req -in "$pki/$2.csr" -CA "$pki/$1.crt" -CAkey "$pki/$1.key" -CAcreateserial \
                -days 365 -extfile "$pki/$2.ext" -out "$pki/$2.crt" 2>/dev/null
}
mkca kubernetes
mkca impostor
mkserver kubernetes apiserver
mkserver impostor impostor-apiserver
# kubeadm's CA hash, computed independently of kubeseed.
CA_HASH=sha256:$(openssl x509 -in "$pki/kubernetes.crt" -pubkey -noout |
        openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)

indent() { sed 's/^/      /' "$1"; }

seed() { # name, role, user-data body after "role:"; writes $work/<name>.seed.img
        local name=$1
        mkdir -p "$work/$name"
        printf 'instance-id: %s-0001\nlocal-hostname: kseed-%s\n' "$name" "$name" >"$work/$name/meta-data"
        cat >"$work/$name/user-data"
        ks_make_seed "$work/$name" "$work/$name.seed.img"
}

disk() { # name: a fresh copy of the image with the double's configuration
        cp --sparse=always "$image" "$work/$1.raw"
        printf 'version=%s\n%s' "$VERSION" "${2:-}" >"$work/$1.double.conf"
        ks_write_file "$work/$1.raw" "$work/$1.double.conf" /etc/kubeseed-test/double.conf
}

calls() { ks_read_file "$work/$1.raw" /var/log/kubeseed-test/calls.log; }
state() { ks_read_file "$work/$1.raw" /var/lib/kubeseed/state; }
console() { cat "$work/$1.console.log"; }

# ---- control plane ------------------------------------------------------------
seed cp <<EOT
#cloud-config
kubeseed:
  role: control-plane
  cluster:
    endpoint: 10.0.2.15:6443
    token: $TOKEN
    ca-cert-hash: $CA_HASH
    ca-cert: |
$(indent "$pki/kubernetes.crt")
    ca-key: |
$(indent "$pki/kubernetes.key")
    pod-subnet: 10.244.0.0/16
    kubernetes-version: $VERSION
EOT
disk cp
ks_boot "$work/cp.raw" "$work/cp.seed.img" "$work" cp -nic user,model=virtio-net-pci
[ -n "${KS_BENCH_FILE:-}" ] && echo "cp_boot_to_agent_seconds=$KS_BOOT_SECONDS" >>"$KS_BENCH_FILE"
cp_calls=$(calls cp)
cp_state=$(state cp)
ks_check "cp: the agent finished ok" grep -aq 'kubeseed-firstboot: finished: ok' "$work/cp.console.log"
ks_check "cp: kubeadm init ran with the rendered v1beta4 config and the given token" \
        grep -q "^kubeadm init --config /var/lib/kubeseed/kubeadm.yaml.* | api=kubeadm.k8s.io/v1beta4 node=kseed-cp token=$TOKEN endpoint=10.0.2.15:6443 pod-subnet=10.244.0.0/16" <<<"$cp_calls"
ks_check "cp: the agent imported the preloaded OCI archive into containerd" \
        grep -q '^step name=images status=done .*1\\sarchive\\simported' <<<"$cp_state"
ks_check "cp: containerd holds every image kubeadm $VERSION needs, and a container from the preloaded pause image ran" \
        grep -q "| preflight: 7 images present, a container from registry.k8s.io/pause:3.10 ran" <<<"$cp_calls"
ks_check "cp: the pre-provisioned CA was used by kubeadm" grep -aq 'Using existing ca certificate authority' "$work/cp.console.log"
ks_check "cp: the control-plane taint was removed (no workers)" \
        grep -q '^kubectl --kubeconfig /etc/kubernetes/admin.conf taint nodes kseed-cp node-role.kubernetes.io/control-plane-' <<<"$cp_calls"
ks_check "cp: CA key is 0600" test "$(ks_file_mode "$work/cp.raw" /etc/kubernetes/pki/ca.key)" = 0600
ks_check "cp: kubeadm config (holds the token) is 0600" test "$(ks_file_mode "$work/cp.raw" /var/lib/kubeseed/kubeadm.yaml)" = 0600
ks_check "cp: /root/.kube/config written" test -n "$(ks_read_file "$work/cp.raw" /root/.kube/config)"
ks_check "cp: every step recorded done" bash -c '! grep "^step" <<<"$1" | grep -vq "status=done"' _ "$cp_state"
apply_order() { grep -o '^kubectl .* apply --filename /var/lib/kubeseed/addons/[a-z-]*/' <<<"$1" | sed 's|.*/addons/||; s|/$||' | tr '\n' ' '; }
ks_check "cp: the add-ons were applied in dependency order (flannel, local-path, dashboard), each once" \
        test "$(apply_order "$cp_calls")" = "flannel local-path dashboard "
ks_check "cp: every image the add-on manifests name was already in containerd when applied" \
        bash -c 'test "$(grep -c "^kubectl .* apply .*| sha256=.* present" <<<"$1")" -eq 3' _ "$cp_calls"
ks_check "cp: the agent waited for each add-on's workloads (the double answers not-ready first)" \
        bash -c 'grep -q "get daemonset kube-flannel-ds .* | query 2: ready" <<<"$1" &&
                 grep -q "get deployment dashboard-metrics-scraper .* | query 2: ready" <<<"$1"' _ "$cp_calls"
ks_check "cp: each add-on is recorded done with the digest of its manifests" \
        bash -c 'test "$(grep -c "^step name=addon-[a-z-]* status=done .*digest=sha256:[0-9a-f]\{64\}$" <<<"$1")" -eq 3' _ "$cp_state"
ks_check "cp: the token never reached the console" bash -c '! grep -aq "$1" "$2"' _ "$TOKEN" "$work/cp.console.log"
ks_check "cp: the token is not in the state file" bash -c '! grep -q "$1" <<<"$2"' _ "$TOKEN" "$cp_state"
if [ -n "${KS_BENCH_FILE:-}" ]; then
        usage=$(ks_read_file "$work/cp.raw" /var/lib/kubeseed/usage)
        echo "agent_cpu_ms=$(sed -n 's/^cpu_ms=//p' <<<"$usage")" >>"$KS_BENCH_FILE"
        echo "agent_max_rss_kib=$(sed -n 's/^max_rss_kib=//p' <<<"$usage")" >>"$KS_BENCH_FILE"
fi
# KS_ONLY=cp: the control-plane scenario alone (make bench).
if [ "${KS_ONLY:-}" = cp ]; then
        ks_summary
        exit
fi

# ---- worker against a TLS endpoint signed by the CA --------------------------
start_server() { # server certificate name, CA sent in its chain
        [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
        local i
        for i in 1 2 3 4 5; do
                PORT=$((20000 + RANDOM % 20000))
                openssl s_server -quiet -accept "127.0.0.1:$PORT" -cert "$pki/$1.crt" -key "$pki/$1.key" \
                        -cert_chain "$pki/$2.crt" -www >"$work/server.log" 2>&1 &
                server_pid=$!
                sleep 1
                kill -0 "$server_pid" 2>/dev/null && return 0
        done
        return 1
}
worker_seed() { # name
        seed "$1" <<EOT
#cloud-config
kubeseed:
  role: worker
  cluster:
    endpoint: 10.0.2.2:$PORT
    token: $TOKEN
    ca-cert-hash: $CA_HASH
    kubernetes-version: $VERSION
EOT
}
start_server apiserver kubernetes || ks_log "cannot start the TLS server"
worker_seed worker
disk worker
ks_boot "$work/worker.raw" "$work/worker.seed.img" "$work" worker -nic user,model=virtio-net-pci
w_calls=$(calls worker)
ks_check "worker: the agent finished ok" grep -aq 'kubeseed-firstboot: finished: ok' "$work/worker.console.log"
ks_check "worker: the CA-pinned wait reached the endpoint" grep -q '^step name=wait-api status=done' <<<"$(state worker)"
ks_check "worker: kubeadm join used the given token and CA hash" \
        grep -q "^kubeadm join --config /var/lib/kubeseed/kubeadm.yaml | api=kubeadm.k8s.io/v1beta4 node=kseed-worker token=$TOKEN endpoint=10.0.2.2:$PORT ca-cert-hash=$CA_HASH control-plane=no" <<<"$w_calls"

# ---- worker against an impostor ----------------------------------------------
# The impostor's chain carries its own CA, whose hash is not the pinned one.
start_server impostor-apiserver impostor || ks_log "cannot start the TLS server"
worker_seed wrong-ca
disk wrong-ca
ks_boot "$work/wrong-ca.raw" "$work/wrong-ca.seed.img" "$work" wrong-ca -nic user,model=virtio-net-pci
ks_check "wrong-ca: the agent refused and said why" \
        grep -aq 'kubeseed-firstboot: finished: failed: wait-api: .*not signed by the pinned CA' "$work/wrong-ca.console.log"
ks_check "wrong-ca: kubeadm join never ran" bash -c '! grep -q "^kubeadm join" <<<"$1"' _ "$(calls wrong-ca)"
kill "$server_pid" 2>/dev/null
server_pid=

# ---- bad metadata -------------------------------------------------------------
seed bad-token <<EOT
#cloud-config
kubeseed:
  role: worker
  cluster:
    endpoint: 10.0.2.2:6443
    token: NOT-A-TOKEN
    ca-cert-hash: $CA_HASH
EOT
disk bad-token
ks_boot "$work/bad-token.raw" "$work/bad-token.seed.img" "$work" bad-token -nic user,model=virtio-net-pci
ks_check "bad-token: failed, naming the field" \
        grep -aq 'kubeseed-firstboot: finished: failed: metadata: .*kubeseed.cluster.token: expected' "$work/bad-token.console.log"
ks_check "bad-token: the state file records the failure" \
        grep -q '^step name=metadata status=failed .*kubeseed.cluster.token' <<<"$(state bad-token)"
ks_check "bad-token: kubeadm never ran" test -z "$(calls bad-token)"

# ---- power cut during kubeadm init ----------------------------------------------
cp "$work/cp.seed.img" "$work/power.seed.img"
disk power 'init-delay=600
'
# (The state file cannot be read back right after the cut: the filesystem
# needs its journal replayed, which the next boot does.)
ks_check "power-cut: the power was cut while kubeadm init was running" \
        ks_boot_until_then_cut "$work/power.raw" "$work/power.seed.img" "$work" power-1 'init-delay: sleeping' \
        -nic user,model=virtio-net-pci
printf 'version=%s\n' "$VERSION" >"$work/power.double.conf"
ks_write_file "$work/power.raw" "$work/power.double.conf" /etc/kubeseed-test/double.conf
ks_boot "$work/power.raw" "$work/power.seed.img" "$work" power-2 -nic user,model=virtio-net-pci
p_calls=$(calls power)
ks_check "power-cut: the second boot finished ok" grep -aq 'kubeseed-firstboot: finished: ok' "$work/power-2.console.log"
ks_check "power-cut: the second boot resumed kubeadm-init" \
        grep -aq 'Step kubeadm-init: resuming' "$work/power-2.console.log"
# calls.log: each init records "| started" when it begins its work and
# "| api=..." when it completes; the cut one only started.
ks_check "power-cut: the half-done init was reset, then init ran again and completed once" \
        bash -c 'test "$(grep -E "^kubeadm (init .*\| started|reset)" <<<"$1" | cut -d" " -f2 | tr "\n" " ")" = "init reset init " &&
                 test "$(grep -c "^kubeadm init .*| api=" <<<"$1")" -eq 1' _ "$p_calls"
ks_check "power-cut: steps done before the cut were not run again" \
        test "$(grep -c 'Step images: running' "$work/power-2.console.log")" -eq 0

# ---- add-ons: a readiness check that never passes ---------------------------------
# local-path never becomes ready; dashboard depends on storage (in the test
# catalogue) and must not start; flannel gets the metadata's pod subnet.
sed 's|pod-subnet: 10.244.0.0/16|pod-subnet: 10.200.0.0/16|' "$work/cp/user-data" >"$work/cp/user-data.fail"
mkdir -p "$work/addon-fail"
sed 's/^instance-id: cp-0001/instance-id: addon-fail-0001/' "$work/cp/meta-data" >"$work/addon-fail/meta-data"
cp "$work/cp/user-data.fail" "$work/addon-fail/user-data"
ks_make_seed "$work/addon-fail" "$work/addon-fail.seed.img"
disk addon-fail 'never-ready=deployment.local-path-storage.local-path-provisioner
'
# The test catalogue gives local-path 45 s: the VM's clock runs them out.
ks_boot "$work/addon-fail.raw" "$work/addon-fail.seed.img" "$work" addon-fail -nic user,model=virtio-net-pci
f_state=$(state addon-fail)
ks_check "addon-fail: the agent failed, naming the add-on, the check and the last status" \
        grep -aq 'kubeseed-firstboot: finished: failed: addon-local-path: add-on local-path: deployment local-path-storage/local-path-provisioner not ready after [0-9]* s (last status: 0 of 1 replicas available, 0 updated)' "$work/addon-fail.console.log"
# (The state file writes a space in a reason as \s: "." stands for it below.)
ks_check "addon-fail: flannel (before it) is done, dashboard (depends on it) was not started" \
        bash -c 'grep -q "^step name=addon-flannel status=done" <<<"$1" &&
                 grep -q "^step name=addon-dashboard status=failed .*reason=not.sstarted:.sit.sdepends.son.slocal-path" <<<"$1"' _ "$f_state"
ks_check "addon-fail: dashboard was never applied" bash -c '! grep -q "apply .*/addons/dashboard/" <<<"$1"' _ "$(calls addon-fail)"
ks_check "addon-fail: flannel's manifest got the metadata's pod subnet" \
        grep -q '"Network": "10.200.0.0/16"' <<<"$(ks_read_file "$work/addon-fail.raw" /var/lib/kubeseed/addons/flannel/01-kube-flannel.yml)"
ks_check "addon-fail: status lists each add-on and its state" \
        bash -c 'grep -q "^step name=addon-local-path status=failed" <<<"$1"' _ "$f_state"

# ---- add-ons: power cut in the middle of one -------------------------------------
mkdir -p "$work/addon-cut"
sed 's/^instance-id: cp-0001/instance-id: addon-cut-0001/' "$work/cp/meta-data" >"$work/addon-cut/meta-data"
cp "$work/cp/user-data" "$work/addon-cut/user-data"
ks_make_seed "$work/addon-cut" "$work/addon-cut.seed.img"
disk addon-cut 'apply-delay=/dashboard/:600
'
ks_check "addon-cut: the power was cut while dashboard was being applied" \
        ks_boot_until_then_cut "$work/addon-cut.raw" "$work/addon-cut.seed.img" "$work" addon-cut-1 'apply-delay: sleeping' \
        -nic user,model=virtio-net-pci
printf 'version=%s\n' "$VERSION" >"$work/addon-cut.double.conf"
ks_write_file "$work/addon-cut.raw" "$work/addon-cut.double.conf" /etc/kubeseed-test/double.conf
ks_boot "$work/addon-cut.raw" "$work/addon-cut.seed.img" "$work" addon-cut-2 -nic user,model=virtio-net-pci
c_calls=$(calls addon-cut)
ks_check "addon-cut: the second boot finished ok, resuming the dashboard step" \
        bash -c 'grep -aq "kubeseed-firstboot: finished: ok" "$1" && grep -aq "Step addon-dashboard: resuming" "$1"' _ "$work/addon-cut-2.console.log"
ks_check "addon-cut: flannel and local-path were applied once, dashboard again after the cut" \
        test "$(apply_order "$c_calls")" = "flannel local-path dashboard "
ks_check "addon-cut: kubeadm init was not run again" \
        test "$(grep -c '^kubeadm init .*| api=' <<<"$c_calls")" -eq 1

if [ "$KS_FAILED" -ne 0 ]; then
        for n in cp worker wrong-ca bad-token power-2 addon-fail addon-cut-2; do
                ks_log "$n: console tail"
                grep -a 'kubeseed' "$work/$n.console.log" | tail -n 15 | sed 's/^/    /' >&2
        done
        ks_log "calls: $cp_calls / $w_calls / $p_calls"
fi
ks_summary
