# Sourced by the qemu-tests/k8s/ scripts: versions and a private apt
# configuration that reads Debian's archive without touching the machine's
# own /etc/apt.

K8S_SRC_VERSION=1.20.5+really1.20.2-1.1+deb12u1
K8S_WHAT="cmd/kubeadm cmd/kubelet cmd/kubectl cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kube-proxy"
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY=${DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}

die() {
        echo "${0##*/}: $*" >&2
        exit 1
}

# apt_private DIR: sources (deb and deb-src), lists and package cache under
# DIR; sets APT_OPTS for apt-get. Updated at most once an hour.
apt_private() {
        local dir=$1
        mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/etc/preferences.d"
        cat >"$dir/etc/sources.list.new" <<SOURCES
deb $DEBIAN_MIRROR $DEBIAN_SUITE main
deb-src $DEBIAN_MIRROR $DEBIAN_SUITE main
deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb-src $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb $DEBIAN_SECURITY $DEBIAN_SUITE-security main
deb-src $DEBIAN_SECURITY $DEBIAN_SUITE-security main
SOURCES
        APT_OPTS=(-o "Dir::Etc::SourceList=$dir/etc/sources.list"
                -o "Dir::Etc::SourceParts=$dir/etc/sources.list.d"
                -o "Dir::Etc::Preferences=$dir/etc/preferences"
                -o "Dir::Etc::PreferencesParts=$dir/etc/preferences.d"
                -o "Dir::State::Lists=$dir/lists"
                -o "Dir::Cache=$dir/cache"
                -o "Dir::State::status=$dir/status"
                -o "APT::Architecture=$(dpkg --print-architecture)"
                -o "APT::Sandbox::User=root")
        touch "$dir/status"
        mkdir -p "$dir/etc/sources.list.d"
        if ! cmp -s "$dir/etc/sources.list.new" "$dir/etc/sources.list" ||
                [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Sources*' -mmin -60)" ]; then
                mv "$dir/etc/sources.list.new" "$dir/etc/sources.list"
                (
                        flock 8
                        apt-get "${APT_OPTS[@]}" update -qq >&2
                ) 8>"$dir/update.lock"
        fi
        rm -f "$dir/etc/sources.list.new"
}

# prune_stale DIR: removes the other results beside DIR (DIR's name up to
# its last '-', then any key): what an older recipe or source version left in
# the cache. A result whose lock another build holds is left alone.
prune_stale() {
        local keep=$1 d
        for d in "${keep%-*}"-*; do
                case "$d" in "$keep" | "$keep".* | *.lock | *.tmp) continue ;; esac
                [ -d "$d" ] || continue
                (
                        flock -n 8 || exit 0
                        rm -rf "$d" "$d.tmp"
                        echo "${0##*/}: removed the stale $d" >&2
                ) 8>"$d.lock"
                rm -f "$d.lock"
        done
}

# What the bundle and its image archive hold (README.md).
K8S_VERSION=v1.20.2
K8S_ETCD_VERSION=3.4.23
K8S_COREDNS_KUBEADM_TAG=1.7.0
K8S_PAUSE_VERSION=3.2
K8S_CNI_VERSION=v1.1.1 # Debian bookworm's containernetworking-plugins
K8S_CRICTL_VERSION=v0.0.0 # a stand-in, not cri-tools (README.md)
