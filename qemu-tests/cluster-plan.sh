#!/usr/bin/env bash
# A whole cluster from one file, nobody at the keyboard: `kubeseed plan`
# makes the identity and one seed per node; one control plane and two
# workers boot at once from the same image (each on its own qcow2 overlay
# with its own firmware variables) on a QEMU socket network between the VMs
# (multicast on the host's loopback, no DHCP: every address comes from the
# planned network-config, applied by the agent's network step).
#
# The image carries the kubeadm TEST DOUBLE (qemu-tests/doubles/): on the
# control plane its init leaves a stand-in API server on :6443 whose
# certificate is signed by the planned CA, as kubeadm's would be; on the
# workers the agent's CA-pinned wait and the double's join discovery reach it
# over the virtual network, and the join records the token and CA hash it
# was given. The scenario checks those against the plan's, computed again
# here with the openssl command.
#   cluster-plan.sh IMAGE-WITH-TEST-DOUBLES.raw [ARCH]
# KUBESEED: the kubeseed program (default: build/kubeseed beside this folder);
# KS_KEEP=1 keeps the work directory (consoles, disks) for a look afterwards.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

image=${1:?usage: cluster-plan.sh IMAGE-WITH-TEST-DOUBLES.raw [ARCH]}
arch=${2:-$(dpkg --print-architecture)}
kubeseed=${KUBESEED:-$here/../build/kubeseed}
ks_scenario_workdir cluster

ks_arch_setup "$arch" || exit 1
ks_detect_accel "$arch"
# Three VMs on two cores under TCG: a generous limit, 1.5 GiB each.
KS_TIMEOUT=${KS_TIMEOUT_CLUSTER:-1500}
KS_MEM=${KS_MEM:-1536}
VERSION=v1.31.1
NODES=(cp w1 w2)

cat >"$work/cluster.yaml" <<EOF
name: three
kubernetes-version: $VERSION
endpoint: 10.88.0.10:6443
pod-subnet: 10.244.0.0/16
service-subnet: 10.96.0.0/12
nodes:
  - {name: cp, role: control-plane, address: 10.88.0.10/24, mac: "52:54:00:88:00:10"}
  - {name: w1, role: worker, address: 10.88.0.11/24, mac: "52:54:00:88:00:11", labels: {disk: ssd}}
  - {name: w2, role: worker, address: 10.88.0.12/24, mac: "52:54:00:88:00:12"}
EOF
if ! "$kubeseed" plan "$work/cluster.yaml" -o "$work/seeds" 2>"$work/plan.log"; then
        cat "$work/plan.log" >&2
        ks_check "kubeseed plan wrote the seeds" false
        ks_check "w1: its planned label reached kubelet's flags" \
        grep -q 'value: disk=ssd' <<<"$(ks_read_file "$work/w1.raw" /var/lib/kubeseed/kubeadm.yaml)"
ks_summary
        exit
fi
ks_check "kubeseed plan wrote a seed volume per node" \
        test -s "$work/seeds/cp.img" -a -s "$work/seeds/w1.img" -a -s "$work/seeds/w2.img"
ks_check "the seed volumes are ISO 9660 labelled cidata (blkid)" \
        bash -c 'for f in "$@"; do blkid -p -o export "$f" | grep -qx LABEL=cidata &&
                 blkid -p -o export "$f" | grep -qx TYPE=iso9660 || exit 1; done' _ "$work"/seeds/*.img
ks_check "nothing secret was printed by kubeseed plan" \
        bash -c '! grep -Eq "[a-z0-9]{6}\.[a-z0-9]{16}|PRIVATE KEY" "$1"' _ "$work/plan.log"

# The planned identity, read with standard tools (not kubeseed's parser).
# (YAML quotes a token that starts with a digit)
TOKEN=$(sed -n 's/^token: *//p' "$work/seeds/cluster-secrets.yaml" | tr -d '"')
ks_check "the planned token has kubeadm's format" grep -Eqx '[a-z0-9]{6}\.[a-z0-9]{16}' <<<"$TOKEN"
sed -n '/^ca-cert: |/,/END CERTIFICATE/p' "$work/seeds/cluster-secrets.yaml" | sed '1d; s/^  //' >"$work/ca.crt"
CA_HASH=sha256:$(openssl x509 -in "$work/ca.crt" -pubkey -noout |
        openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
ks_check "the planned CA parses and its hash is in the workers' seeds" \
        grep -q "ca-cert-hash: $CA_HASH" "$work/seeds/w1/user-data"

# One base image with the double's configuration, a qcow2 overlay per node.
cp --sparse=always "$image" "$work/base.raw"
printf 'version=%s\nserve-api=1\ndiscover=1\n' "$VERSION" >"$work/double.conf"
ks_write_file "$work/base.raw" "$work/double.conf" /etc/kubeseed-test/double.conf
for n in "${NODES[@]}"; do
        qemu-img create -q -f qcow2 -b "$work/base.raw" -F raw "$work/$n.qcow2"
done

net() { # node, mac
        echo "-netdev socket,id=n0,mcast=230.0.88.1:$MCAST_PORT,localaddr=127.0.0.1 -device virtio-net-pci,netdev=n0,mac=$2"
}
MCAST_PORT=$((20000 + RANDOM % 20000))
declare -A MAC=([cp]=52:54:00:88:00:10 [w1]=52:54:00:88:00:11 [w2]=52:54:00:88:00:12)

# All three at once; the control plane stays up until both workers finished.
start=$SECONDS
for n in "${NODES[@]}"; do
        (
                [ "$n" = cp ] && KS_HOLD=$work/workers.done
                KS_DISK_FORMAT=qcow2 KS_HOLD=${KS_HOLD:-} \
                        ks_boot "$work/$n.qcow2" "$work/seeds/$n.img" "$work" "$n" $(net "$n" "${MAC[$n]}")
        ) &
        pids+=($!)
done
wait "${pids[1]}" "${pids[2]}"
touch "$work/workers.done"
wait "${pids[0]}"
pids=()
ks_log "three nodes done after $((SECONDS - start))s"

for n in "${NODES[@]}"; do
        qemu-img convert -O raw "$work/$n.qcow2" "$work/$n.raw"
done
calls() { ks_read_file "$work/$1.raw" /var/log/kubeseed-test/calls.log; }
state() { ks_read_file "$work/$1.raw" /var/lib/kubeseed/state; }

for n in "${NODES[@]}"; do
        ks_check "$n: the agent finished ok" grep -aq 'kubeseed-firstboot: finished: ok' "$work/$n.console.log"
        ks_check "$n: network-config was written before systemd-networkd started" \
                grep -aq 'network: 1 systemd-networkd file from nocloud .*network-config' "$work/$n.console.log"
        # (the state file escapes spaces as \s)
        ks_check "$n: the network step applied the planned network-config" \
                grep -qF 'name=network status=done' <<<"$(state "$n" | grep -F '1\ssystemd-networkd\sfile\sin\s/etc/systemd/network,\sapplied,\snetwork\sonline')"
        ks_check "$n: the token never reached the console" bash -c '! grep -aq "$1" "$2"' _ "$TOKEN" "$work/$n.console.log"
done
cp_calls=$(calls cp)
ks_check "cp: kubeadm init with the planned token and endpoint" \
        grep -q "^kubeadm init --config .* | api=kubeadm.k8s.io/v1beta4 node=cp token=$TOKEN endpoint=10.88.0.10:6443 pod-subnet=10.244.0.0/16" <<<"$cp_calls"
ks_check "cp: the planned CA was used" grep -aq 'Using existing ca certificate authority' "$work/cp.console.log"
ks_check "cp: the control-plane taint was kept (the cluster has workers)" \
        bash -c '! grep -q "^kubectl .* taint " <<<"$1"' _ "$cp_calls"
api_log=$(ks_read_file "$work/cp.raw" /var/log/kubeseed-test/apiserver.log)
for w in w1 w2; do
        w_calls=$(calls "$w")
        ip=10.88.0.1${w#w}
        ks_check "$w: the CA-pinned wait reached the control plane over the VM network" \
                grep -qF "CA\\spinned:\\s$CA_HASH" <<<"$(state "$w" | grep -F 'name=wait-api status=done' |
                        grep -F 'https://10.88.0.10:6443/healthz\sanswered')"
        ks_check "$w: kubeadm join with the planned token and CA hash, discovery pinned" \
                grep -q "^kubeadm join --config .* | api=kubeadm.k8s.io/v1beta4 node=$w token=$TOKEN endpoint=10.88.0.10:6443 ca-cert-hash=$CA_HASH control-plane=no discovery=pinned" <<<"$w_calls"
        ks_check "$w: the control plane's API server saw it connect from $ip" \
                grep -q "[: ]$ip: GET /healthz" <<<"$api_log"
done
ks_check "w1: its planned label reached kubelet's flags" \
        grep -q 'value: disk=ssd' <<<"$(ks_read_file "$work/w1.raw" /var/lib/kubeseed/kubeadm.yaml)"
ks_summary
