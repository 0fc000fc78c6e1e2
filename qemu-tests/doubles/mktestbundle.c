/* SPDX-License-Identifier: MIT */
/* Builds the TEST Kubernetes bundle and the TEST container images the QEMU
 * scenarios give the builder (`kubernetes.source: dir:` and `images.source:
 * dir:`), because neither the Kubernetes release downloads nor the public
 * registries can be reached from our machines. Never used for a user's
 * image. See qemu-tests/doubles/README.md.
 *
 *   mktestbundle bundle --version v1.31.1 --arch amd64 \
 *           --crictl-version v1.31.1 --cni-version v1.31.1 \
 *           --kubeadm build/kubeadm-double --kubelet build/kubelet-double \
 *           --crictl build/crictl-double --cni-dir /usr/lib/cni --out DIR
 *
 * writes DIR/{kubeadm,kubectl,kubelet} (kubectl: --kubectl FILE, else a copy
 * of --kubeadm, the double that dispatches on argv[0]), DIR/crictl-<v>-linux-<arch>.tar.gz
 * (one member, crictl), DIR/cni-plugins-linux-<arch>-<v>.tgz (every regular
 * file of --cni-dir, by name) and DIR/SHA256SUMS (last), in the layout of
 * docs/kubernetes-bundle.md. Then it checks the result with the builder's
 * own code: k8s_bundle_plan/fetch/install from DIR into a scratch root.
 *
 *   mktestbundle images --version v1.31.1 --arch amd64 --pause build/pause --out DIR
 *
 * writes DIR/kubeadm-<version>.tar: one OCI image-layout archive
 * (ociarchive_write) holding every image kubeadm_images_for() names for the
 * version, each a test image: a single gzip'd layer holding the static
 * `pause` program as /pause, entrypoint ["/pause"], its own config (labels
 * naming it a test image) and OCI manifest. The layer is shared, so it is
 * stored once. Then it reads the archive back (ociarchive_read).
 *
 *   mktestbundle oci --arch amd64 --out FILE \
 *           --image k8s.gcr.io/kube-proxy:v1.20.2 --layer base.tar --layer proxy.tar \
 *           --entrypoint /usr/local/bin/kube-proxy --env PATH=... --source TEXT ...
 *
 * writes FILE: one OCI image-layout archive of images made of root file
 * system tarballs (uncompressed, each gzip'd here, diff_id its SHA-256; a
 * tar named by several images is one layer), each with the entrypoint,
 * environment and org.kubeseed.source label that follow its --image. Used
 * by qemu-tests/k8s/ for the images of the real Kubernetes bundle.
 *
 * Everything is deterministic: tar members sorted, uid/gid 0, no owner
 * names, mtime and the configs' `created` = SOURCE_DATE_EPOCH (0 when
 * unset), gzip headers without a timestamp. */
#include <arpa/inet.h>
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "arch.h"
#include "digest.h"
#include "fsutil.h"
#include "json.h"
#include "k8sbundle.h"
#include "kubeadmimages.h"
#include "log.h"
#include "macro.h"
#include "ociarchive.h"
#include "proc.h"
#include "strv.h"
#include "../../tests/unit/loophttp.h"

#define FILE_MAX (256u << 20) /* any one input file */
#define CNI_FILES_MAX 256u    /* plugins in --cni-dir */
#define LAYER_MAX (1u << 30)  /* one --layer tar (oci) */
#define BLOB_MEDIA_CONFIG "application/vnd.oci.image.config.v1+json"
#define BLOB_MEDIA_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"

struct oci_image {
        const char *name;
        char **layers; /* uncompressed tars, bottom first */
        const char *entrypoint;
        char **env;
        const char *source;
};

struct options {
        const char *version, *arch, *crictl_version, *cni_version;
        const char *kubeadm, *kubelet, *kubectl, *crictl, *cni_dir, *pause, *out;
        char **extra_images; /* --extra-image, repeated: more names for the pause image */
        const char *dir;     /* serve */
        unsigned port;       /* serve */
        int64_t epoch;
        struct oci_image *oci_images; /* oci: --image, each with what follows it */
        size_t n_oci_images;
};

struct member {
        char *name;
        char *data;
        size_t size;
};

static void members_free(struct member *m, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(m[i].name);
                free(m[i].data);
        }
        free(m);
}

static void archive_write_freep(struct archive **a) {
        if (*a)
                archive_write_free(*a);
}

/* ---- checks on inputs ------------------------------------------------------- */

/* Refuses an ELF file built for another machine than `a` (a test bundle for
 * arm64 holding amd64 binaries would fail only inside the guest). Non-ELF
 * files pass. */
static int check_elf_machine(const char *path, const char *data, size_t size, const struct arch_info *a) {
        if (size < 20 || memcmp(data, "\177ELF", 4) != 0)
                return 0;
        const unsigned char *d = (const unsigned char *) data;
        unsigned machine = d[5] == 2 ? (unsigned) d[18] << 8 | d[19] : (unsigned) d[19] << 8 | d[18];
        if (machine != a->elf_machine)
                return log_error_errno(-EINVAL, "'%s' is built for ELF machine %u, not for %s (%u)", path,
                                       machine, a->debian, a->elf_machine);
        return 0;
}

static int read_input(const char *path, const struct arch_info *a, char **ret, size_t *ret_size) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = read_file_full(path, FILE_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", path);
        r = check_elf_machine(path, data, size, a);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(data);
        *ret_size = size;
        return 0;
}

/* ---- deterministic tarballs in memory --------------------------------------- */

static la_ssize_t memstream_write(struct archive *a, void *userdata, const void *buf, size_t n) {
        if (fwrite(buf, 1, n, userdata) != n) {
                archive_set_error(a, ENOMEM, "writing to memory failed");
                return -1;
        }
        return (la_ssize_t) n;
}

/* A tar (gzip'd when `gzip`) of the members, at the top level, mode 0755,
 * owned by 0:0 without names, mtime `epoch`. */
static int make_tar(const struct member *m, size_t n, bool gzip, int64_t epoch, char **ret,
                    size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t buf_size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&buf, &buf_size);
        if (!f)
                return log_oom();
        _cleanup_(archive_write_freep) struct archive *a = archive_write_new();
        if (!a)
                return log_oom();
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            (gzip && (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
                      archive_write_set_filter_option(a, "gzip", "timestamp", NULL) != ARCHIVE_OK ||
                      archive_write_set_filter_option(a, "gzip", "compression-level", "9") != ARCHIVE_OK)) ||
            archive_write_open(a, f, NULL, memstream_write, NULL) != ARCHIVE_OK)
                return log_error_errno(-EIO, "libarchive: %s", archive_error_string(a));
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                if (!e)
                        return log_oom();
                archive_entry_set_pathname(e, m[i].name);
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0755);
                archive_entry_set_uid(e, 0);
                archive_entry_set_gid(e, 0);
                archive_entry_set_size(e, (la_int64_t) m[i].size);
                archive_entry_set_mtime(e, (time_t) epoch, 0);
                int ar = archive_write_header(a, e);
                archive_entry_free(e);
                if (ar != ARCHIVE_OK ||
                    archive_write_data(a, m[i].data, m[i].size) != (la_ssize_t) m[i].size)
                        return log_error_errno(-EIO, "Failed to add '%s' to a tarball: %s", m[i].name,
                                               archive_error_string(a));
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                return log_error_errno(-EIO, "libarchive: %s", archive_error_string(a));
        int r = memstream_finish(&f, &buf, &buf_size, ret, ret_size);
        if (r < 0)
                return log_oom();
        return 0;
}

/* gzip with zlib: a header with no name and mtime 0, so the same input gives
 * the same bytes. */
static int gzip_buffer(const char *data, size_t size, char **ret, size_t *ret_size) {
        z_stream z = {0};
        if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return log_oom();
        size_t cap = deflateBound(&z, size) + 64;
        _cleanup_free_ char *out = malloc(cap);
        if (!out || size > UINT_MAX || cap > UINT_MAX) {
                deflateEnd(&z);
                return log_error_errno(out ? -EFBIG : -ENOMEM, "Cannot compress %zu bytes: %m", size);
        }
        z.next_in = (Bytef *) data;
        z.avail_in = (uInt) size;
        z.next_out = (Bytef *) out;
        z.avail_out = (uInt) cap;
        int zr = deflate(&z, Z_FINISH);
        *ret_size = cap - z.avail_out;
        deflateEnd(&z);
        if (zr != Z_STREAM_END)
                return log_error_errno(-EIO, "zlib deflate failed: %d", zr);
        *ret = TAKE_PTR(out);
        return 0;
}

static int write_out(const char *dir, const char *name, const void *data, size_t size, mode_t mode) {
        _cleanup_free_ char *path = strdupf("%s/%s", dir, name);
        if (!path)
                return log_oom();
        int r = write_file_atomic(path, data, size, mode);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %m", path);
        return 0;
}

/* ---- bundle ----------------------------------------------------------------- */

static int cmp_member(const void *x, const void *y) {
        return strcmp(((const struct member *) x)->name, ((const struct member *) y)->name);
}

/* Every regular file (symlinks followed) of `dir`, sorted by name. */
static int read_cni_dir(const char *dir, const struct arch_info *a, struct member **ret, size_t *ret_n) {
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d)
                return log_error_errno(negative_errno(),
                                       "Failed to open the CNI plugin directory '%s': %m "
                                       "(install Debian's containernetworking-plugins)",
                                       dir);
        struct member *m = calloc(CNI_FILES_MAX, sizeof *m);
        if (!m)
                return log_oom();
        size_t n = 0;
        int r = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *path = strdupf("%s/%s", dir, de->d_name);
                struct stat st;
                if (!path) {
                        r = log_oom();
                        goto fail;
                }
                if (stat(path, &st) < 0) {
                        r = log_error_errno(negative_errno(), "Failed to stat '%s': %m", path);
                        goto fail;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                if (n == CNI_FILES_MAX) {
                        r = log_error_errno(-E2BIG, "More than %u files in '%s'", CNI_FILES_MAX, dir);
                        goto fail;
                }
                m[n].name = strdup(de->d_name);
                if (!m[n].name) {
                        r = log_oom();
                        goto fail;
                }
                r = read_input(path, a, &m[n].data, &m[n].size);
                n++;
                if (r < 0)
                        goto fail;
        }
        if (errno != 0) {
                r = log_error_errno(negative_errno(), "Failed to read the directory '%s': %m", dir);
                goto fail;
        }
        if (n == 0) {
                r = log_error_errno(-ENOENT, "No CNI plugins in '%s'", dir);
                goto fail;
        }
        qsort(m, n, sizeof *m, cmp_member);
        *ret = m;
        *ret_n = n;
        return 0;
fail:
        members_free(m, n);
        return r;
}

/* Plans, fetches and installs the bundle just written with the builder's own
 * code, into a scratch store and root beside it, then removes them. */
static int check_bundle(const struct options *o, const char *out_abs, size_t n_cni) {
        _cleanup_free_ char *source = strdupf("dir:%s", out_abs);
        _cleanup_free_ char *scratch = strdupf("%s.check-XXXXXX", out_abs);
        if (!source || !scratch)
                return log_oom();
        if (!mkdtemp(scratch))
                return log_error_errno(negative_errno(), "Failed to create '%s': %m", scratch);
        _cleanup_free_ char *store = strdupf("%s/store", scratch), *root = strdupf("%s/root", scratch);
        _cleanup_free_ char *err = NULL;
        _cleanup_k8s_bundle_ struct k8s_bundle *b = NULL;
        _cleanup_(closedirp_) DIR *d = NULL;
        _cleanup_free_ char *cni = strdupf("%s/opt/cni/bin", root ? root : "");
        size_t n = 0;
        struct profile_kubernetes k = {
                .version = (char *) o->version,
                .source = source,
                .crictl_version = (char *) o->crictl_version,
                .cni_version = (char *) o->cni_version,
        };
        int r;
        if (!store || !root || !cni) {
                r = log_oom();
                goto done;
        }
        r = k8s_bundle_plan(&k, o->arch, &b, &err);
        if (r >= 0)
                r = k8s_bundle_fetch(b, store, NULL, &err);
        if (r >= 0)
                r = k8s_bundle_install(b, root, &err);
        if (r < 0) {
                r = log_error_errno(r, "The bundle in '%s' does not pass the builder's checks: %s", out_abs,
                                    err ? err : "(no detail)");
                goto done;
        }
        static const char *const bins[] = {"kubeadm", "kubelet", "kubectl", "crictl"};
        for (size_t i = 0; i < ELEMENTSOF(bins); i++) {
                _cleanup_free_ char *p = strdupf("%s/usr/bin/%s", root, bins[i]);
                if (!p || access(p, X_OK) < 0) {
                        r = log_error_errno(p ? negative_errno() : -ENOMEM,
                                            "Installed bundle lacks /usr/bin/%s: %m", bins[i]);
                        goto done;
                }
        }
        d = opendir(cni);
        if (!d) {
                r = log_error_errno(negative_errno(), "Installed bundle lacks /opt/cni/bin: %m");
                goto done;
        }
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        if (n != n_cni) {
                r = log_error_errno(-EBADMSG, "Installed bundle has %zu CNI plugins, expected %zu", n,
                                    n_cni);
                goto done;
        }
        log_info("Checked: the builder plans, verifies and installs the bundle (%zu CNI plugins)", n);
        r = 0;
done:;
        int q = rm_rf(scratch);
        if (q < 0)
                log_warning("Failed to remove '%s': %s", scratch, strerror(-q));
        return r;
}

static int cmd_bundle(const struct options *o) {
        if (!o->version || !o->arch || !o->crictl_version || !o->cni_version || !o->kubeadm || !o->kubelet ||
            !o->crictl || !o->cni_dir || !o->out)
                return log_error_errno(-EINVAL,
                                       "bundle needs --version, --arch, --crictl-version, "
                                       "--cni-version, --kubeadm, --kubelet, --crictl, --cni-dir, --out");
        const struct arch_info *a = arch_lookup(o->arch);
        if (!a)
                return log_error_errno(-EOPNOTSUPP, "Unknown architecture '%s'", o->arch);
        int r = mkdir_p(o->out, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", o->out);

        /* The files in SHA256SUMS's (and docs/kubernetes-bundle.md's) order. */
        _cleanup_free_ char *crictl_name =
                strdupf("crictl-%s-linux-%s.tar.gz", o->crictl_version, a->oci_arch);
        _cleanup_free_ char *cni_name = strdupf("cni-plugins-linux-%s-%s.tgz", a->oci_arch, o->cni_version);
        if (!crictl_name || !cni_name)
                return log_oom();
        struct {
                const char *name;
                char *data;
                size_t size;
        } files[5] = {{.name = "kubeadm"},
                      {.name = "kubelet"},
                      {.name = "kubectl"},
                      {.name = crictl_name},
                      {.name = cni_name}};
        struct member *cni = NULL;
        size_t n_cni = 0;
        _cleanup_free_ char *sums = NULL, *out_abs = NULL, *buf = NULL;
        size_t sums_size = 0, buf_size = 0;
        _cleanup_fclose_ FILE *f = NULL;

        r = read_input(o->kubeadm, a, &files[0].data, &files[0].size);
        if (r < 0)
                goto done;
        r = read_input(o->kubelet, a, &files[1].data, &files[1].size);
        if (r < 0)
                goto done;
        if (o->kubectl) { /* a real kubectl (qemu-tests/k8s/) */
                r = read_input(o->kubectl, a, &files[2].data, &files[2].size);
                if (r < 0)
                        goto done;
        } else { /* a copy of the kubeadm double, which dispatches on argv[0] */
                files[2].data = malloc(files[0].size + 1);
                if (!files[2].data) {
                        r = log_oom();
                        goto done;
                }
                memcpy(files[2].data, files[0].data, files[0].size);
                files[2].size = files[0].size;
        }

        struct member crictl = {.name = (char *) "crictl"};
        r = read_input(o->crictl, a, &crictl.data, &crictl.size);
        if (r < 0)
                goto done;
        r = make_tar(&crictl, 1, true, o->epoch, &files[3].data, &files[3].size);
        free(crictl.data);
        if (r < 0)
                goto done;

        r = read_cni_dir(o->cni_dir, a, &cni, &n_cni);
        if (r < 0)
                goto done;
        r = make_tar(cni, n_cni, true, o->epoch, &files[4].data, &files[4].size);
        if (r < 0)
                goto done;

        f = open_memstream(&buf, &buf_size);
        if (!f) {
                r = log_oom();
                goto done;
        }
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char hex[SHA256_HEX_LEN + 1];
                r = sha256_buffer(files[i].data, files[i].size, hex);
                if (r < 0) {
                        r = log_error_errno(r, "SHA-256 of %s: %m", files[i].name);
                        goto done;
                }
                fprintf(f, "%s  %s\n", hex, files[i].name);
                r = write_out(o->out, files[i].name, files[i].data, files[i].size, i < 3 ? 0755 : 0644);
                if (r < 0)
                        goto done;
        }
        r = memstream_finish(&f, &buf, &buf_size, &sums, &sums_size);
        if (r < 0) {
                r = log_oom();
                goto done;
        }
        /* Last: its presence means the bundle is complete. */
        r = write_out(o->out, K8S_SUMS_FILE, sums, sums_size, 0644);
        if (r < 0)
                goto done;

        out_abs = realpath(o->out, NULL);
        if (!out_abs) {
                r = log_error_errno(negative_errno(), "Failed to resolve '%s': %m", o->out);
                goto done;
        }
        r = check_bundle(o, out_abs, n_cni);
        if (r < 0)
                goto done;
        printf("test bundle %s %s in %s: kubeadm kubelet kubectl %s %s (%zu plugins) %s\n", o->version,
               a->oci_arch, o->out, crictl_name, cni_name, n_cni, K8S_SUMS_FILE);
        r = 0;
done:
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                free(files[i].data);
        members_free(cni, n_cni);
        return r;
}

/* ---- images ----------------------------------------------------------------- */

struct blob {
        char digest[7 + SHA256_HEX_LEN + 1]; /* "sha256:<hex>" */
        size_t size;
};

static int store_put(const char *store, const void *data, size_t size, struct blob *ret) {
        char hex[SHA256_HEX_LEN + 1];
        int r = sha256_buffer(data, size, hex);
        if (r < 0)
                return log_error_errno(r, "SHA-256 failed: %m");
        _cleanup_free_ char *path = strdupf("%s/sha256/%s", store, hex);
        if (!path)
                return log_oom();
        r = write_file_atomic(path, data, size, 0644);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %m", path);
        snprintf(ret->digest, sizeof ret->digest, "sha256:%s", hex);
        ret->size = size;
        return 0;
}

static void json_descriptor(struct json *j, const char *media_type, const struct blob *b) {
        json_begin_object(j);
        json_kv_string(j, "mediaType", media_type);
        json_kv_string(j, "digest", b->digest);
        json_kv_uint(j, "size", b->size);
        json_end_object(j);
}

/* What an image's config says beyond its layers. */
struct image_config {
        const char *entrypoint; /* NULL: none */
        char *const *env;       /* NULL-terminated; may be NULL */
        bool double_label;      /* org.kubeseed.test-double=true */
        const char *source;     /* org.kubeseed.source; may be NULL */
        const char *created_by; /* history */
};

struct layer {
        char *path; /* the uncompressed tar it was made from; NULL for the pause layer */
        struct blob blob;
        char diff_id[7 + SHA256_HEX_LEN + 1];
};

/* One image: a config naming `name` and its layers (bottom first), its
 * manifest. `manifest` gets the manifest's descriptor. */
static int make_image(const char *store, const char *name, const struct arch_info *a, const char *created,
                      const struct image_config *ic, const struct layer *const *layers, size_t n_layers,
                      struct blob *manifest) {
        struct json j = {0};
        json_begin_object(&j);
        json_kv_string(&j, "created", created);
        json_kv_string(&j, "architecture", a->oci_arch);
        if (a->oci_variant)
                json_kv_string(&j, "variant", a->oci_variant);
        json_kv_string(&j, "os", "linux");
        json_key(&j, "config");
        json_begin_object(&j);
        if (ic->env && ic->env[0]) {
                json_key(&j, "Env");
                json_begin_array(&j);
                for (char *const *e = ic->env; *e; e++)
                        json_string(&j, *e);
                json_end_array(&j);
        }
        if (ic->entrypoint) {
                json_key(&j, "Entrypoint");
                json_begin_array(&j);
                json_string(&j, ic->entrypoint);
                json_end_array(&j);
        }
        json_kv_string(&j, "WorkingDir", "/");
        json_key(&j, "Labels");
        json_begin_object(&j);
        if (ic->double_label)
                json_kv_string(&j, "org.kubeseed.test-double", "true");
        json_kv_string(&j, "org.kubeseed.test-image", name);
        if (ic->source)
                json_kv_string(&j, "org.kubeseed.source", ic->source);
        json_end_object(&j);
        json_end_object(&j);
        json_key(&j, "rootfs");
        json_begin_object(&j);
        json_kv_string(&j, "type", "layers");
        json_key(&j, "diff_ids");
        json_begin_array(&j);
        for (size_t i = 0; i < n_layers; i++)
                json_string(&j, layers[i]->diff_id);
        json_end_array(&j);
        json_end_object(&j);
        json_key(&j, "history");
        json_begin_array(&j);
        json_begin_object(&j);
        json_kv_string(&j, "created", created);
        json_kv_string(&j, "created_by", ic->created_by);
        json_end_object(&j);
        json_end_array(&j);
        json_end_object(&j);
        _cleanup_free_ char *config = NULL;
        size_t config_size = 0;
        int r = json_finish(&j, &config, &config_size);
        if (r < 0)
                return log_error_errno(r, "Failed to write the config of %s: %m", name);
        struct blob config_blob;
        r = store_put(store, config, config_size, &config_blob);
        if (r < 0)
                return r;

        json_begin_object(&j);
        json_key(&j, "schemaVersion");
        json_uint(&j, 2);
        json_kv_string(&j, "mediaType", OCI_MEDIA_TYPE_MANIFEST);
        json_key(&j, "config");
        json_descriptor(&j, BLOB_MEDIA_CONFIG, &config_blob);
        json_key(&j, "layers");
        json_begin_array(&j);
        for (size_t i = 0; i < n_layers; i++)
                json_descriptor(&j, BLOB_MEDIA_LAYER_GZIP, &layers[i]->blob);
        json_end_array(&j);
        json_end_object(&j);
        _cleanup_free_ char *text = NULL;
        size_t text_size = 0;
        r = json_finish(&j, &text, &text_size);
        if (r < 0)
                return log_error_errno(r, "Failed to write the manifest of %s: %m", name);
        return store_put(store, text, text_size, manifest);
}

/* A layer from an uncompressed tar: diff_id its SHA-256, stored gzip'd. */
static int make_layer(const char *store, const char *tar, size_t tar_size, struct layer *ret) {
        char hex[SHA256_HEX_LEN + 1];
        int r = sha256_buffer(tar, tar_size, hex);
        if (r < 0)
                return log_error_errno(r, "SHA-256 failed: %m");
        snprintf(ret->diff_id, sizeof ret->diff_id, "sha256:%s", hex);
        _cleanup_free_ char *gz = NULL;
        size_t gz_size = 0;
        r = gzip_buffer(tar, tar_size, &gz, &gz_size);
        if (r < 0)
                return r;
        return store_put(store, gz, gz_size, &ret->blob);
}

/* Writes the archive of the images (names[i] -> manifests[i]) and reads it
 * back, as the builder's images.source: dir: does. */
static int write_archive(const char *archive, const char *store, char *const *names,
                         const struct blob *manifests, size_t n_images, int64_t epoch, const char *what,
                         const char *version, const struct arch_info *a) {
        _cleanup_free_ struct ociarchive_image *images = calloc(n_images, sizeof *images);
        _cleanup_free_ char *err = NULL;
        _cleanup_ociarchive_listing_ struct ociarchive_listing *l = NULL;
        struct ociarchive_stats stats = {0};
        if (!images)
                return log_oom();
        for (size_t i = 0; i < n_images; i++)
                images[i] = (struct ociarchive_image){
                        .name = names[i],
                        .manifest_digest = manifests[i].digest,
                        .media_type = OCI_MEDIA_TYPE_MANIFEST,
                        .size = manifests[i].size,
                };
        int r = ociarchive_write(archive, store, images, n_images, epoch, &stats, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %s", archive, err ? err : "(no detail)");
        r = ociarchive_read(archive, NULL, &l, &err);
        if (r < 0)
                return log_error_errno(r, "'%s' does not read back: %s", archive, err ? err : "(no detail)");
        size_t found = 0;
        for (size_t i = 0; i < n_images; i++)
                for (size_t k = 0; k < l->n_images; k++)
                        if (l->images[k].name && streq(l->images[k].name, names[i]) &&
                            streq(l->images[k].manifest_digest, manifests[i].digest)) {
                                found++;
                                break;
                        }
        if (found != n_images || l->n_images != n_images)
                return log_error_errno(-EBADMSG, "'%s' reads back with %zu images, %zu of the %zu written",
                                       archive, l->n_images, found, n_images);
        printf("%s %s %s in %s: %zu blobs, %" PRIu64 " bytes (%" PRIu64 " deduplicated)\n", what, version,
               a->oci_arch, archive, stats.n_blobs, stats.blob_bytes, stats.dedup_bytes);
        for (size_t i = 0; i < n_images; i++)
                printf("  %s %s\n", names[i], manifests[i].digest);
        return 0;
}

static int format_created(int64_t epoch, char created[static 32]) {
        time_t t = (time_t) epoch;
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(created, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return log_error_errno(-EINVAL, "SOURCE_DATE_EPOCH %" PRId64 " cannot be formatted", epoch);
        return 0;
}

static int build_images(const struct options *o, const struct arch_info *a, const char *store,
                        const char *archive) {
        struct kubeadm_images ki;
        _cleanup_free_ char *err = NULL;
        int r = kubeadm_images_for(o->version, NULL, &ki, &err);
        if (r < 0)
                return log_error_errno(r, "No kubeadm image list for %s: %s", o->version, err ? err : "");
        if (ki.beyond_table)
                log_warning("%s is newer than kubeseed's kubeadm image table; using its latest row",
                            o->version);

        /* The layer: /pause alone. */
        struct member pause_member = {.name = (char *) "pause"};
        r = read_input(o->pause, a, &pause_member.data, &pause_member.size);
        if (r < 0)
                return r;
        _cleanup_free_ char *pause_data = pause_member.data;
        _cleanup_free_ char *tar = NULL;
        size_t tar_size = 0;
        r = make_tar(&pause_member, 1, false, o->epoch, &tar, &tar_size);
        if (r < 0)
                return r;
        struct layer layer = {0};
        r = make_layer(store, tar, tar_size, &layer);
        if (r < 0)
                return r;
        const struct layer *layers[] = {&layer};

        char created[32];
        r = format_created(o->epoch, created);
        if (r < 0)
                return r;
        static const struct image_config test_config = {
                .entrypoint = "/pause",
                .double_label = true,
                .created_by = "kubeseed mktestbundle: TEST image, /pause only",
        };

        /* kubeadm's images, then the extra names (add-on images). */
        size_t n_images = KUBEADM_IMAGE_MAX + strv_length(o->extra_images);
        char **names = calloc(n_images, sizeof *names);
        struct blob *manifests = calloc(n_images, sizeof *manifests);
        if (!names || !manifests) {
                r = log_oom();
                goto done;
        }
        for (size_t i = 0; i < n_images; i++) {
                if (i < KUBEADM_IMAGE_MAX)
                        names[i] = imageref_format(&ki.refs[i]);
                else {
                        struct imageref ref;
                        const char *why = NULL;
                        if (imageref_parse(o->extra_images[i - KUBEADM_IMAGE_MAX], &ref, &why) < 0) {
                                r = log_error_errno(-EINVAL, "--extra-image '%s': %s",
                                                    o->extra_images[i - KUBEADM_IMAGE_MAX], why ? why : "invalid");
                                goto done;
                        }
                        names[i] = imageref_format(&ref);
                }
                if (!names[i]) {
                        r = log_oom();
                        goto done;
                }
                r = make_image(store, names[i], a, created, &test_config, layers, 1, &manifests[i]);
                if (r < 0)
                        goto done;
        }
        r = write_archive(archive, store, names, manifests, n_images, o->epoch, "test images", o->version,
                          a);
done:
        for (size_t i = 0; names && i < n_images; i++)
                free(names[i]);
        free(names);
        free(manifests);
        return r;
}

static int cmd_images(const struct options *o) {
        if (!o->version || !o->arch || !o->pause || !o->out)
                return log_error_errno(-EINVAL, "images needs --version, --arch, --pause, --out");
        const struct arch_info *a = arch_lookup(o->arch);
        if (!a)
                return log_error_errno(-EOPNOTSUPP, "Unknown architecture '%s'", o->arch);
        int r = mkdir_p(o->out, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", o->out);
        _cleanup_free_ char *archive = strdupf("%s/kubeadm-%s.tar", o->out, o->version);
        _cleanup_free_ char *tmp = strdupf("%s/.store-XXXXXX", o->out);
        if (!archive || !tmp)
                return log_oom();
        if (!mkdtemp(tmp))
                return log_error_errno(negative_errno(), "Failed to create '%s': %m", tmp);
        _cleanup_free_ char *store = strdupf("%s/cas", tmp), *blobs = strdupf("%s/cas/sha256", tmp);
        if (!store || !blobs)
                r = log_oom();
        else if ((r = mkdir_p(blobs, 0755)) < 0)
                r = log_error_errno(r, "Failed to create '%s': %m", blobs);
        else
                r = build_images(o, a, store, archive);
        int q = rm_rf(tmp);
        if (q < 0)
                log_warning("Failed to remove '%s': %s", tmp, strerror(-q));
        return r;
}

/* ---- oci: images from root file system tarballs ----------------------------- */

/* mktestbundle oci: each --image NAME is made of the --layer tars that
 * follow it (uncompressed, bottom first; the same file given twice is one
 * layer), with the --entrypoint and --env that follow it. */
static int cmd_oci(const struct options *o) {
        if (!o->arch || !o->out || o->n_oci_images == 0)
                return log_error_errno(-EINVAL, "oci needs --arch, --out and at least one --image");
        const struct arch_info *a = arch_lookup(o->arch);
        if (!a)
                return log_error_errno(-EOPNOTSUPP, "Unknown architecture '%s'", o->arch);
        size_t n_layers_max = 0;
        for (size_t i = 0; i < o->n_oci_images; i++) {
                if (strv_length(o->oci_images[i].layers) == 0)
                        return log_error_errno(-EINVAL, "--image '%s' has no --layer",
                                               o->oci_images[i].name);
                n_layers_max += strv_length(o->oci_images[i].layers);
        }
        char created[32];
        int r = format_created(o->epoch, created);
        if (r < 0)
                return r;
        _cleanup_free_ char *tmp = strdupf("%s.store-XXXXXX", o->out);
        if (!tmp)
                return log_oom();
        if (!mkdtemp(tmp))
                return log_error_errno(negative_errno(), "Failed to create '%s': %m", tmp);
        _cleanup_free_ char *store = strdupf("%s/cas", tmp), *blobs = strdupf("%s/cas/sha256", tmp);
        struct layer *layers = calloc(n_layers_max, sizeof *layers);
        const struct layer **stack = calloc(n_layers_max, sizeof *stack);
        char **names = calloc(o->n_oci_images, sizeof *names);
        struct blob *manifests = calloc(o->n_oci_images, sizeof *manifests);
        size_t n_layers = 0;
        if (!store || !blobs || !layers || !stack || !names || !manifests) {
                r = log_oom();
                goto done;
        }
        r = mkdir_p(blobs, 0755);
        if (r < 0) {
                r = log_error_errno(r, "Failed to create '%s': %m", blobs);
                goto done;
        }
        for (size_t i = 0; i < o->n_oci_images; i++) {
                const struct oci_image *im = &o->oci_images[i];
                struct imageref ref;
                const char *why = NULL;
                if (imageref_parse(im->name, &ref, &why) < 0) {
                        r = log_error_errno(-EINVAL, "--image '%s': %s", im->name, why ? why : "invalid");
                        goto done;
                }
                names[i] = imageref_format(&ref);
                if (!names[i]) {
                        r = log_oom();
                        goto done;
                }
                size_t n_stack = 0;
                for (char **l = im->layers; *l; l++) {
                        struct layer *found = NULL;
                        for (size_t k = 0; k < n_layers && !found; k++)
                                if (streq(layers[k].path, *l))
                                        found = &layers[k];
                        if (!found) {
                                _cleanup_free_ char *tar = NULL;
                                size_t tar_size = 0;
                                r = read_file_full(*l, LAYER_MAX, &tar, &tar_size);
                                if (r < 0) {
                                        r = log_error_errno(r, "Failed to read the layer '%s': %m", *l);
                                        goto done;
                                }
                                found = &layers[n_layers];
                                found->path = *l;
                                r = make_layer(store, tar, tar_size, found);
                                if (r < 0)
                                        goto done;
                                n_layers++;
                        }
                        stack[n_stack++] = found;
                }
                _cleanup_free_ char *created_by =
                        strdupf("kubeseed mktestbundle oci: %s", im->source ?: names[i]);
                if (!created_by) {
                        r = log_oom();
                        goto done;
                }
                const struct image_config ic = {
                        .entrypoint = im->entrypoint,
                        .env = im->env,
                        .source = im->source,
                        .created_by = created_by,
                };
                r = make_image(store, names[i], a, created, &ic, stack, n_stack, &manifests[i]);
                if (r < 0)
                        goto done;
        }
        r = write_archive(o->out, store, names, manifests, o->n_oci_images, o->epoch, "images", "(oci)", a);
done:
        for (size_t i = 0; names && i < o->n_oci_images; i++)
                free(names[i]);
        free(names);
        free(manifests);
        free(stack);
        free(layers);
        int q = rm_rf(tmp);
        if (q < 0)
                log_warning("Failed to remove '%s': %s", tmp, strerror(-q));
        return r;
}

/* ---- serve ------------------------------------------------------------------ */

/* A loopback HTTP server for the files of one directory (the test add-on
 * manifests), alive while `command` runs: GET /<name> -> 200 with the file,
 * anything else -> 404. The port is fixed (the test catalogue's URLs name
 * it); a port still held by an earlier run is waited for. */
static int listen_on(unsigned port) {
        for (int attempt = 0; attempt < 60; attempt++) {
                _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return negative_errno();
                int one = 1;
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                struct sockaddr_in a = {.sin_family = AF_INET,
                                        .sin_port = htons((uint16_t) port),
                                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                if (bind(fd, (struct sockaddr *) &a, sizeof a) == 0 && listen(fd, 16) == 0)
                        return TAKE_FD(fd);
                if (errno != EADDRINUSE)
                        return negative_errno();
                log_info("127.0.0.1:%u is in use; waiting", port);
                sleep(1);
        }
        return -EADDRINUSE;
}

static void serve_files(int lfd, const char *dir) {
        for (;;) {
                _cleanup_close_ int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        continue;
                char req[4096], method[8], path[256];
                _cleanup_free_ char *data = NULL;
                size_t size = 0;
                bool ok = lh_read_request(fd, req, sizeof req, method, path) && streq(method, "GET") &&
                          path[0] == '/' && path[1] && !strchr(path + 1, '/') && !strstr(path, "..");
                if (ok) {
                        _cleanup_free_ char *file = strdupf("%s%s", dir, path);
                        ok = file && read_regular_file(file, 64u << 20, &data, &size) >= 0;
                }
                lh_reply(fd, ok ? data : NULL, size);
        }
}

static int cmd_serve(const struct options *o, char **command) {
        if (!o->dir || !o->port || !command || !command[0])
                return log_error_errno(-EINVAL, "serve needs --dir, --port and a command after --");
        int lfd = listen_on(o->port);
        if (lfd < 0)
                return log_error_errno(lfd, "Cannot listen on 127.0.0.1:%u: %m", o->port);
        pid_t pid = fork();
        if (pid < 0) {
                close(lfd);
                return log_error_errno(negative_errno(), "fork: %m");
        }
        if (pid == 0) {
                serve_files(lfd, o->dir);
                _exit(0);
        }
        close(lfd);
        log_info("serving %s on http://127.0.0.1:%u/ while the command runs", o->dir, o->port);
        struct proc_opts opts = {.stdout_to_stderr = true, .passthrough_stderr = true, .stdout_fd = -1};
        struct proc_result res = {0};
        int r = proc_run(command, &opts, &res);
        if (r < 0) /* its standard error went through already */
                log_error("serve: %s failed (exit status %d)", command[0], res.exit_status);
        proc_result_done(&res);
        kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        return r;
}

/* ---- main ------------------------------------------------------------------- */

static void usage(FILE *f) {
        fputs("Usage: mktestbundle bundle --version V --arch A --crictl-version V --cni-version V\n"
              "                           --kubeadm FILE --kubelet FILE [--kubectl FILE] --crictl FILE\n"
              "                           --cni-dir DIR --out DIR\n"
              "       mktestbundle images --version V --arch A --pause FILE [--extra-image NAME]... --out DIR\n"
              "       mktestbundle serve --dir DIR --port N -- COMMAND [ARG]...\n"
              "       mktestbundle oci --arch A --out FILE\n"
              "                        {--image NAME --layer TAR... [--entrypoint PATH] [--env K=V]...\n"
              "                         [--source TEXT]}...\n"
              "TEST doubles for kubeseed's QEMU scenarios (qemu-tests/doubles/README.md).\n"
              "Timestamps: SOURCE_DATE_EPOCH (default 0).\n",
              f);
}

int main(int argc, char **argv) {
        log_set_ident("mktestbundle");
        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        const char *cmd = argv[1];
        struct options o = {0};
        enum {
                OPT_CRICTL_VERSION = 256,
                OPT_CNI_VERSION,
                OPT_KUBEADM,
                OPT_KUBELET,
                OPT_KUBECTL,
                OPT_CRICTL,
                OPT_CNI_DIR,
                OPT_PAUSE,
                OPT_EXTRA_IMAGE,
                OPT_DIR,
                OPT_PORT,
                OPT_IMAGE,
                OPT_LAYER,
                OPT_ENTRYPOINT,
                OPT_ENV,
                OPT_SOURCE
        };
        static const struct option longopts[] = {
                {"version", required_argument, NULL, 'V'},
                {"arch", required_argument, NULL, 'a'},
                {"out", required_argument, NULL, 'o'},
                {"crictl-version", required_argument, NULL, OPT_CRICTL_VERSION},
                {"cni-version", required_argument, NULL, OPT_CNI_VERSION},
                {"kubeadm", required_argument, NULL, OPT_KUBEADM},
                {"kubelet", required_argument, NULL, OPT_KUBELET},
                {"kubectl", required_argument, NULL, OPT_KUBECTL},
                {"crictl", required_argument, NULL, OPT_CRICTL},
                {"cni-dir", required_argument, NULL, OPT_CNI_DIR},
                {"pause", required_argument, NULL, OPT_PAUSE},
                {"extra-image", required_argument, NULL, OPT_EXTRA_IMAGE},
                {"dir", required_argument, NULL, OPT_DIR},
                {"port", required_argument, NULL, OPT_PORT},
                {"image", required_argument, NULL, OPT_IMAGE},
                {"layer", required_argument, NULL, OPT_LAYER},
                {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
                {"env", required_argument, NULL, OPT_ENV},
                {"source", required_argument, NULL, OPT_SOURCE},
                {0},
        };
        optind = 2;
        for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
                switch (c) {
                case 'V':
                        o.version = optarg;
                        break;
                case 'a':
                        o.arch = optarg;
                        break;
                case 'o':
                        o.out = optarg;
                        break;
                case OPT_CRICTL_VERSION:
                        o.crictl_version = optarg;
                        break;
                case OPT_CNI_VERSION:
                        o.cni_version = optarg;
                        break;
                case OPT_KUBEADM:
                        o.kubeadm = optarg;
                        break;
                case OPT_KUBELET:
                        o.kubelet = optarg;
                        break;
                case OPT_KUBECTL:
                        o.kubectl = optarg;
                        break;
                case OPT_CRICTL:
                        o.crictl = optarg;
                        break;
                case OPT_CNI_DIR:
                        o.cni_dir = optarg;
                        break;
                case OPT_PAUSE:
                        o.pause = optarg;
                        break;
                case OPT_EXTRA_IMAGE:
                        if (strv_push(&o.extra_images, optarg) < 0)
                                return log_oom(), 1;
                        break;
                case OPT_IMAGE: {
                        struct oci_image *n = reallocarray(o.oci_images, o.n_oci_images + 1, sizeof *n);
                        if (!n)
                                return log_oom(), 1;
                        o.oci_images = n;
                        o.oci_images[o.n_oci_images++] = (struct oci_image){.name = optarg};
                        break;
                }
                case OPT_LAYER:
                case OPT_ENTRYPOINT:
                case OPT_ENV:
                case OPT_SOURCE: {
                        if (o.n_oci_images == 0) {
                                log_error("--layer, --entrypoint, --env and --source follow an --image");
                                return 2;
                        }
                        struct oci_image *im = &o.oci_images[o.n_oci_images - 1];
                        if (c == OPT_ENTRYPOINT)
                                im->entrypoint = optarg;
                        else if (c == OPT_SOURCE)
                                im->source = optarg;
                        else if (strv_push(c == OPT_LAYER ? &im->layers : &im->env, optarg) < 0)
                                return log_oom(), 1;
                        break;
                }
                case OPT_DIR:
                        o.dir = optarg;
                        break;
                case OPT_PORT: {
                        char *end = NULL;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (!*optarg || *end || v == 0 || v > 65535) {
                                log_error("--port '%s': expected 1..65535", optarg);
                                return 2;
                        }
                        o.port = (unsigned) v;
                        break;
                }
                default:
                        usage(stderr);
                        return 2;
                }
        }
        char **command = NULL;
        if (streq(cmd, "serve"))
                command = argv + optind; /* getopt_long stops at "--" */
        else if (optind != argc) {
                usage(stderr);
                return 2;
        }
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        if (sde && *sde) {
                char *end = NULL;
                errno = 0;
                long long v = strtoll(sde, &end, 10);
                if (errno != 0 || *end != '\0' || v < 0) {
                        log_error("SOURCE_DATE_EPOCH='%s' is not a non-negative number of seconds", sde);
                        return 1;
                }
                o.epoch = v;
        }

        int r;
        if (streq(cmd, "bundle"))
                r = cmd_bundle(&o);
        else if (streq(cmd, "images"))
                r = cmd_images(&o);
        else if (streq(cmd, "serve"))
                r = cmd_serve(&o, command);
        else if (streq(cmd, "oci"))
                r = cmd_oci(&o);
        else {
                log_error("Unknown command '%s' (bundle, images, serve, oci)", cmd);
                usage(stderr);
                return 2;
        }
        strv_free(o.extra_images);
        for (size_t i = 0; i < o.n_oci_images; i++) {
                strv_free(o.oci_images[i].layers);
                strv_free(o.oci_images[i].env);
        }
        free(o.oci_images);
        return r < 0 ? 1 : 0;
}
