#!/usr/bin/env bash
# Checks the real bundle on the host (README.md): each binary says it is
# v1.20.2; kubeadm passes the reflect2 reproducer (with the vendored reflect2
# v1.0.1 and Go 1.19 it panics in reflect2.(*frozenConfig).Type2); a private
# containerd (its own root, state and socket under a temporary directory)
# imports the image archive, runs each image's program by name and answers
# the crictl stand-in. Prints "k8s-check: N passed, N failed".
#
#   check.sh BUNDLE_DIR IMAGES_DIR
set -euo pipefail

dir=${1:?usage: check.sh BUNDLE_DIR IMAGES_DIR}
images=${2:?usage: check.sh BUNDLE_DIR IMAGES_DIR}
passed=0
failed=0
check() {
        local name=$1
        shift
        if "$@"; then
                echo "ok: $name"
                passed=$((passed + 1))
        else
                echo "FAILED: $name"
                failed=$((failed + 1))
        fi
}

out=$(mktemp -d)
ctd_pid=
cleanup() {
        if [ -n "$ctd_pid" ]; then
                kill "$ctd_pid" 2>/dev/null || true
                wait "$ctd_pid" 2>/dev/null || true
        fi
        rm -rf "$out"
}
trap cleanup EXIT

check "kubeadm version -o short is v1.20.2" \
        test "$("$dir/kubeadm" version -o short)" = v1.20.2
check "kubelet --version is Kubernetes v1.20.2" \
        test "$("$dir/kubelet" --version)" = "Kubernetes v1.20.2"
check "kubectl version --client --short is v1.20.2" \
        test "$("$dir/kubectl" version --client --short)" = "Client Version: v1.20.2"
# The reproducer: kubeadm marshals the KubeletConfiguration through
# json-iterator, which reaches reflect2.
reproducer() {
        "$dir/kubeadm" config print init-defaults --component-configs KubeletConfiguration \
                >"$out/defaults" 2>"$out/err" || {
                sed -n 1,20p "$out/err"
                return 1
        }
        grep -q '^kind: KubeletConfiguration$' "$out/defaults" && ! grep -q panic "$out/err"
}
check "kubeadm config print init-defaults --component-configs KubeletConfiguration" reproducer

# ---- the images, in a private containerd
sock=$out/containerd.sock
containerd --root "$out/root" --state "$out/state" --address "$sock" --config /dev/null \
        >"$out/containerd.log" 2>&1 &
ctd_pid=$!
for _ in $(seq 50); do
        [ -S "$sock" ] && break
        sleep 0.2
done
ctr=(ctr --address "$sock" --namespace k8s.io)
quiet() { "$@" >/dev/null; }
check "containerd imports the image archive" quiet "${ctr[@]}" images import "$images/kubernetes-v1.20.2.tar"
runs() { # image, expected first line, command...
        local image=$1 want=$2 got
        shift 2
        got=$("${ctr[@]}" run --rm "$image" "check-$RANDOM" "$@" 2>&1 | head -n1)
        [ "$got" = "$want" ] || {
                echo "  $image: '$*' printed '$got', expected '$want'"
                return 1
        }
}
for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
        check "$c image runs $c (by name)" runs "k8s.gcr.io/$c:v1.20.2" "Kubernetes v1.20.2" "$c" --version
done
check "etcd:3.4.23 runs Debian's etcd 3.4.23" runs k8s.gcr.io/etcd:3.4.23 "etcd Version: 3.4.23" etcd --version
check "kube-proxy image has iptables (nft)" runs k8s.gcr.io/kube-proxy:v1.20.2 "iptables v1.8.9 (nf_tables)" iptables -V
check "kube-proxy image has conntrack" runs k8s.gcr.io/kube-proxy:v1.20.2 "conntrack v1.4.7 (conntrack-tools)" \
        conntrack --version
check "pause image runs /pause" runs k8s.gcr.io/pause:3.2 "pause.c v3.2-debian" /pause -v

# ---- the crictl stand-in, against that containerd
tar -xzf "$dir"/crictl-*-linux-*.tar.gz -C "$out" crictl
check "crictl stand-in: info reaches containerd" quiet "$out/crictl" -r "unix://$sock" info
check "crictl stand-in: inspecti finds a preloaded image" \
        quiet "$out/crictl" -r "unix://$sock" inspecti k8s.gcr.io/kube-apiserver:v1.20.2
check "crictl stand-in: inspecti refuses an absent image" \
        bash -c '! "$1" -r "$2" inspecti k8s.gcr.io/pause:3.1 2>/dev/null' _ "$out/crictl" "unix://$sock"
echo "k8s-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
