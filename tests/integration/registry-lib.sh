# Sourced (bash) by tests/integration/*.sh and bench/pull.sh: a real local
# registry (Debian's docker-registry, the CNCF distribution registry) on
# loopback, over TLS with a test CA, and images written as an OCI layout and
# pushed into it with skopeo. Nothing here reaches the network.
#
#   reg_tls DIR                  test CA DIR/ca.pem and a server certificate for
#                                127.0.0.1; DIR/certs/ca.crt for skopeo's --*-cert-dir
#   reg_start DIR                docker-registry serving DIR/storage over TLS:
#                                sets REG_PID, REG_PORT, REG_URL (https://127.0.0.1:PORT);
#                                with REG_ACCESSLOG=1 every request is logged in
#                                DIR/registry.log ("GET /v2/... HTTP/1.1" 200 ...)
#   reg_stop                     stops it (the storage stays)
#   oci_init LAYOUT
#   oci_layer LAYOUT BYTES SEED  a tar.gz layer of one file of BYTES random bytes
#                                (SEED names the file): sets LAYER ("digest size diff_id")
#   oci_image LAYOUT ARCH LAYER... config + manifest: sets IMAGE ("digest size")
#   oci_index LAYOUT ARCH=IMAGE... an index over IMAGEs: sets INDEX ("digest size")
#   oci_push LAYOUT "digest size" MEDIA-TYPE REPO:TAG   into the registry (skopeo)
#
# A digest is "sha256:<hex>". Every function fails (returns non-zero) with a
# message on stderr; callers run with set -e.

MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_INDEX=application/vnd.oci.image.index.v1+json
MT_CONFIG=application/vnd.oci.image.config.v1+json
MT_LAYER=application/vnd.oci.image.layer.v1.tar+gzip
REG_PID=
REG_PORT=
REG_URL=
REG_DIR=

reg_tls() {
        local d=$1
        mkdir -p "$d/certs"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/ca.key" \
                -out "$d/ca.pem" -days 30 -subj "/CN=kubeseed test registry CA" \
                -addext basicConstraints=critical,CA:TRUE \
                -addext keyUsage=critical,digitalSignature,keyCertSign 2>/dev/null
        printf '%s\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature,keyEncipherment \
                extendedKeyUsage=serverAuth subjectAltName=IP:127.0.0.1,DNS:localhost >"$d/leaf.ext"
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/leaf.key" \
                -out "$d/leaf.csr" -subj /CN=127.0.0.1 2>/dev/null
        openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -set_serial 7 -days 30 \
                -extfile "$d/leaf.ext" -out "$d/leaf.pem" 2>/dev/null
        cp "$d/ca.pem" "$d/certs/ca.crt"
}

# A free port is not reserved between the choice and the registry's bind: a
# few tries with random ports.
reg_start() {
        REG_DIR=$1
        local try port i
        for try in 1 2 3 4 5; do
                port=$((20000 + RANDOM % 40000))
                cat >"$REG_DIR/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: $([ -n "${REG_ACCESSLOG:-}" ] && echo false || echo true)
storage:
  filesystem:
    rootdirectory: $REG_DIR/storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $REG_DIR/leaf.pem
    key: $REG_DIR/leaf.key
EOF
                setsid docker-registry serve "$REG_DIR/registry.yml" >"$REG_DIR/registry.log" 2>&1 </dev/null &
                REG_PID=$!
                for i in $(seq 100); do
                        # Connected, and still ours (not another program's port).
                        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && sleep 0.2 &&
                                kill -0 "$REG_PID" 2>/dev/null; then
                                REG_PORT=$port
                                REG_URL=https://127.0.0.1:$port
                                return 0
                        fi
                        kill -0 "$REG_PID" 2>/dev/null || break
                        sleep 0.1
                done
                reg_stop
        done
        echo "registry-lib: docker-registry did not start: $(cat "$REG_DIR/registry.log")" >&2
        return 1
}

reg_stop() {
        if [ -n "$REG_PID" ]; then
                kill -TERM -- "-$REG_PID" 2>/dev/null || kill -TERM "$REG_PID" 2>/dev/null || true
                wait "$REG_PID" 2>/dev/null || true
        fi
        REG_PID=
}

oci_init() {
        mkdir -p "$1/blobs/sha256"
        printf '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"
}

# Moves FILE into LAYOUT's blobs: echoes "sha256:<hex> <size>".
oci_put() {
        local hex size
        hex=$(sha256sum "$2" | cut -d' ' -f1)
        size=$(stat -c %s "$2")
        mv "$2" "$1/blobs/sha256/$hex"
        echo "sha256:$hex $size"
}

oci_layer() {
        local layout=$1 bytes=$2 seed=$3 tmp diff
        tmp=$(mktemp -d "$layout/.layer.XXXXXX")
        mkdir "$tmp/root"
        head -c "$bytes" /dev/urandom >"$tmp/root/$seed"
        tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$tmp/root" -cf "$tmp/layer.tar" .
        diff=sha256:$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
        gzip -1 -n -c "$tmp/layer.tar" >"$tmp/layer.tgz"
        LAYER="$(oci_put "$layout" "$tmp/layer.tgz") $diff"
        rm -rf "$tmp"
}

oci_image() {
        local layout=$1 arch=$2 l diffs="" descs="" d s i
        shift 2
        for l in "$@"; do
                read -r d s i <<<"$l"
                diffs+="${diffs:+,}\"$i\""
                descs+="${descs:+,}{\"mediaType\":\"$MT_LAYER\",\"digest\":\"$d\",\"size\":$s}"
        done
        printf '{"architecture":"%s","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
                "$arch" "$diffs" >"$layout/.config"
        read -r d s <<<"$(oci_put "$layout" "$layout/.config")"
        printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%s},"layers":[%s]}' \
                "$MT_MANIFEST" "$MT_CONFIG" "$d" "$s" "$descs" >"$layout/.manifest"
        IMAGE=$(oci_put "$layout" "$layout/.manifest")
}

oci_index() {
        local layout=$1 e platform d s variant entries=""
        shift
        for e in "$@"; do
                platform=${e%%=*}
                variant=
                [ "${platform#*/}" = "$platform" ] || variant=",\"variant\":\"${platform#*/}\""
                read -r d s <<<"${e#*=}"
                entries+="${entries:+,}{\"mediaType\":\"$MT_MANIFEST\",\"digest\":\"$d\",\"size\":$s,\"platform\":{\"architecture\":\"${platform%/*}\",\"os\":\"linux\"$variant}}"
        done
        printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' "$MT_INDEX" "$entries" >"$layout/.index"
        INDEX=$(oci_put "$layout" "$layout/.index")
}

# skopeo reads the layout's index.json: it is rewritten to name only the
# image being pushed (tag "push").
oci_push() {
        local layout=$1 d s mt=$3 dest=$4 all=()
        read -r d s <<<"$2"
        printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"push"}}]}' \
                "$mt" "$d" "$s" >"$layout/index.json"
        [ "$mt" = "$MT_INDEX" ] && all=(--all)
        skopeo --insecure-policy copy --quiet "${all[@]}" --preserve-digests --dest-cert-dir "$REG_DIR/certs" \
                "oci:$layout:push" "docker://127.0.0.1:$REG_PORT/$dest"
}
