/* SPDX-License-Identifier: MIT */
/* TEST DOUBLE — not kubeadm. Installed as /usr/bin/kubeadm (and, linked,
 * /usr/bin/kubectl) in the images the QEMU scenarios boot, because the real
 * Kubernetes binaries cannot be downloaded on our machines. It checks its
 * arguments and its --config file against the kubeadm API fields the
 * version expects, writes the files kubeadm would write (so the agent's next
 * steps see what they would see), refuses what kubeadm refuses (init on a
 * node that already has a control plane, join on a node that already has a
 * kubelet.conf), and records every call in /var/log/kubeseed-test/calls.log.
 *
 * Controlled by /etc/kubeseed-test/double.conf (key=value), which the
 * harness writes into the disk image with debugfs:
 *   version=v1.31.1     what `kubeadm version -o short` says
 *   init-delay=N        sleep N seconds inside init (power-cut tests)
 *   join-delay=N        likewise for join
 *   fail=init|join      exit 1 from that verb
 *   serve-api=1         init: leave a stand-in API server on :6443 (below)
 *   discover=1          join: fetch https://<endpoint>/healthz with the CA
 *                       pinned by caCertHashes[0] first, as kubeadm's
 *                       discovery does, and refuse to join when that fails
 *
 * The stand-in API server (serve-api=1) is what kubeadm init leaves behind
 * as far as a joining node can tell: a TLS server on port 6443 whose
 * certificate (/etc/kubernetes/pki/apiserver.crt, serverAuth, the node's
 * and the endpoint's addresses as SANs) is signed by the cluster CA in
 * /etc/kubernetes/pki. It answers every request with 200 "ok" and logs the
 * peer in /var/log/kubeseed-test/apiserver.log. It runs detached (its own
 * session, stdio on /dev/null) until the machine stops.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <strings.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cert.h"
#include "fsutil.h"
#include "http.h"
#include "imageref.h"
#include "kubeadmimages.h"
#include "manifestwalk.h"
#include "digest.h"
#include "nodeconfig.h"
#include "proc.h"
#include "macro.h"
#include "pki.h"
#include "strv.h"
#include "yamltree.h"

#define CONF "/etc/kubeseed-test/double.conf"
#define LOGDIR "/var/log/kubeseed-test"
#define CALLS LOGDIR "/calls.log"

static const char *root = ""; /* KUBESEED_TEST_ROOT, for running the double on the host */
static const char *prog = "kubeadm";

static char *rpath(const char *p) {
        char *s = NULL;
        return asprintf(&s, "%s%s", root, p) < 0 ? NULL : s;
}

static _printf_(1, 2) void say(const char *fmt, ...) {
        /* To stderr (the agent captures it) and to the console, so the
         * harness can see progress (e.g. when to cut the power). */
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        fprintf(stderr, "%s (test double): %s\n", prog, buf);
        if (!*root) {
                int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
                if (fd >= 0) {
                        dprintf(fd, "kubeseed-test: %s: %s\n", prog, buf);
                        close(fd);
                }
        }
}

static int fail(const char *fmt, ...) _printf_(1, 2);
static int fail(const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        say("error: %s", buf);
        return 1;
}

static char *conf_get(const char *key) {
        _cleanup_free_ char *p = rpath(CONF), *data = NULL;
        if (!p || read_file_full(p, 65536, &data, NULL) < 0)
                return NULL;
        size_t kl = strlen(key);
        for (char *line = data; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = '\0';
                if (strncmp(line, key, kl) == 0 && line[kl] == '=')
                        return strdup(line + kl + 1);
                line = nl ? nl + 1 : NULL;
        }
        return NULL;
}

static void record(char **argv, const char *extra) {
        _cleanup_free_ char *dir = rpath(LOGDIR), *p = rpath(CALLS);
        if (!dir || !p || mkdir_p(dir, 0700) < 0)
                return;
        FILE *f = fopen(p, "ae");
        if (!f)
                return;
        fprintf(f, "%s", prog);
        for (char **a = argv + 1; *a; a++)
                fprintf(f, " %s", *a);
        if (extra)
                fprintf(f, " | %s", extra);
        fputc('\n', f);
        fflush(f);
        fsync(fileno(f));
        fclose(f);
}

static const char *version(void) {
        static char *v;
        if (!v)
                v = conf_get("version");
        return v ? v : "v1.31.1";
}

static int minor(void) {
        const char *v = version();
        int maj = 0, min = 0;
        if (sscanf(v, "v%d.%d", &maj, &min) != 2)
                return 0;
        return min;
}

static const char *expected_api(void) {
        int m = minor();
        return m <= 21   ? "kubeadm.k8s.io/v1beta2"
               : m <= 30 ? "kubeadm.k8s.io/v1beta3"
                         : "kubeadm.k8s.io/v1beta4";
}

/* Every key of `map` must be in `allowed`. */
static int check_keys(const struct ynode *map, const char *what, const char *const *allowed) {
        if (!map)
                return 0;
        if (map->kind != YNODE_MAPPING)
                return fail("%s: expected a mapping", what);
        for (size_t i = 0; i < map->n_items; i++) {
                bool ok = false;
                for (const char *const *a = allowed; *a && !ok; a++)
                        ok = streq(*a, map->keys[i]);
                if (!ok)
                        return fail("%s: unknown field \"%s\" for %s (line %zu)", what, map->keys[i],
                                    expected_api(), map->key_lines[i]);
        }
        return 0;
}

static int check_node_registration(const struct ynode *nr) {
        static const char *const v2[] = {
                "name", "criSocket", "taints", "kubeletExtraArgs", "ignorePreflightErrors", NULL};
        static const char *const v3[] = {"name",
                                         "criSocket",
                                         "taints",
                                         "kubeletExtraArgs",
                                         "ignorePreflightErrors",
                                         "imagePullPolicy",
                                         NULL};
        static const char *const v4[] = {"name",
                                         "criSocket",
                                         "taints",
                                         "kubeletExtraArgs",
                                         "ignorePreflightErrors",
                                         "imagePullPolicy",
                                         "imagePullSerial",
                                         NULL};
        int m = minor();
        if (!nr)
                return fail("nodeRegistration is missing");
        if (check_keys(nr, "nodeRegistration", m <= 21 ? v2 : m <= 30 ? v3 : v4))
                return 1;
        const char *name = ynode_get_str(nr, "name");
        if (!name || !*name)
                return fail("nodeRegistration.name is missing");
        const char *cri = ynode_get_str(nr, "criSocket");
        if (!cri || (!streq(cri, "unix:///run/containerd/containerd.sock") &&
                     !streq(cri, "/run/containerd/containerd.sock")))
                return fail("nodeRegistration.criSocket: expected containerd's socket, got '%s'",
                            cri ? cri : "(none)");
        const struct ynode *extra = ynode_get(nr, "kubeletExtraArgs");
        if (extra && m >= 31 && extra->kind != YNODE_SEQUENCE)
                return fail("nodeRegistration.kubeletExtraArgs: v1beta4 expects a list of {name, value}");
        if (extra && m < 31 && extra->kind != YNODE_MAPPING)
                return fail("nodeRegistration.kubeletExtraArgs: %s expects a map", expected_api());
        return 0;
}

static bool token_ok(const char *t) {
        if (!t || strlen(t) != 23 || t[6] != '.')
                return false;
        for (int i = 0; i < 23; i++)
                if (i != 6 && !((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9')))
                        return false;
        return true;
}

struct config {
        struct ynode **docs;
        size_t n;
        const struct ynode *init, *cluster, *join;
};

static int load_config(const char *file, struct config *c) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = read_file_full(file, 1 << 20, &data, &size);
        if (r < 0)
                return fail("cannot read --config %s: %s", file, strerror(-r));
        struct stat st;
        if (stat(file, &st) == 0 && (st.st_mode & 077))
                return fail("--config %s holds the bootstrap token but is readable by others (mode %o)",
                            file, (unsigned) (st.st_mode & 0777));
        _cleanup_free_ char *err = NULL;
        r = yaml_parse_documents(data, size, NULL, &c->docs, &c->n, &err);
        if (r < 0)
                return fail("--config %s: %s", file, err ? err : "parse error");
        for (size_t i = 0; i < c->n; i++) {
                const char *api = ynode_get_str(c->docs[i], "apiVersion");
                const char *kind = ynode_get_str(c->docs[i], "kind");
                if (!api || !kind)
                        return fail("--config document %zu has no apiVersion/kind", i + 1);
                /* Component configurations have their own API groups. */
                const char *want = expected_api();
                if (streq(kind, "KubeletConfiguration"))
                        want = "kubelet.config.k8s.io/v1beta1";
                else if (streq(kind, "KubeProxyConfiguration"))
                        want = "kubeproxy.config.k8s.io/v1alpha1";
                if (!streq(api, want))
                        return fail("%s: apiVersion %s is not the one kubeadm %s reads (%s)", kind, api,
                                    version(), want);
                if (streq(kind, "InitConfiguration"))
                        c->init = c->docs[i];
                else if (streq(kind, "ClusterConfiguration"))
                        c->cluster = c->docs[i];
                else if (streq(kind, "JoinConfiguration"))
                        c->join = c->docs[i];
                else if (!streq(kind, "KubeletConfiguration") && !streq(kind, "KubeProxyConfiguration"))
                        return fail("unknown kind %s", kind);
        }
        return 0;
}

static const char *opt_value(char **argv, const char *name) {
        size_t l = strlen(name);
        for (char **a = argv; *a; a++) {
                if (streq(*a, name) && a[1])
                        return a[1];
                if (strncmp(*a, name, l) == 0 && (*a)[l] == '=')
                        return *a + l + 1;
        }
        return NULL;
}

static bool exists(const char *p) {
        _cleanup_free_ char *f = rpath(p);
        return f && access(f, F_OK) == 0;
}

static int put(const char *p, const char *content, mode_t mode) {
        _cleanup_free_ char *f = rpath(p);
        if (!f)
                return -ENOMEM;
        _cleanup_free_ char *dir = strdup(f);
        if (!dir)
                return -ENOMEM;
        *strrchr(dir, '/') = '\0';
        int r = mkdir_p(dir, 0755);
        return r < 0 ? r : write_file_atomic(f, content, strlen(content), mode);
}

static void delay(const char *key) {
        _cleanup_free_ char *d = conf_get(key);
        if (!d)
                return;
        int s = (int) strtol(d, NULL, 10);
        say("%s: sleeping %d s (power-cut window)", key, s);
        sleep((unsigned) s);
}

static bool should_fail(const char *verb) {
        _cleanup_free_ char *f = conf_get("fail");
        return f && streq(f, verb);
}

static char *kubeconfig(const char *server, const char *user) {
        char *s = NULL;
        if (asprintf(&s,
                     "# written by the kubeadm TEST DOUBLE\n"
                     "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n    server: "
                     "https://%s\n"
                     "contexts:\n- name: %s@kubernetes\n  context: {cluster: kubernetes, user: %s}\n"
                     "current-context: %s@kubernetes\nusers:\n- name: %s\n  user: {}\n",
                     server, user, user, user, user) < 0)
                return NULL;
        return s;
}

static int write_kubeconfig(const char *path, const char *server, const char *user) {
        _cleanup_free_ char *text = kubeconfig(server ? server : "127.0.0.1:6443", user);
        return text ? put(path, text, 0600) : -ENOMEM;
}

/* kubeadm's preflight pulls every image it needs; offline, they must already
 * be in containerd (imported by the agent from the image's preloaded
 * archive). Like kubeadm, the double refuses to go on when one is missing,
 * and it also starts a container from the preloaded pause image, which is
 * what the kubelet does first. Only inside the VM (no KUBESEED_TEST_ROOT). */
static int ctr(char *const *argv, char **ret_out) {
        struct proc_result res = {0};
        struct proc_opts o = {.timeout_sec = 120, .stdout_fd = -1, .capture_stdout = ret_out != NULL};
        int r = proc_run(argv, &o, &res);
        if (r < 0)
                fail("%s %s: exit %d: %s", argv[0], argv[3], res.exit_status,
                     res.err_tail ? res.err_tail : "");
        else if (ret_out)
                *ret_out = res.out ? TAKE_PTR(res.out) : strdup("");
        proc_result_done(&res);
        return r;
}

static int preflight_images(char **argv) {
        if (*root)
                return 0;
        struct kubeadm_images ki;
        _cleanup_free_ char *err = NULL, *listing = NULL;
        if (kubeadm_images_for(version(), NULL, &ki, &err) < 0)
                return fail("no image list for %s: %s", version(), err ? err : "?");
        char *ls[] = {"ctr", "--namespace", "k8s.io", "images", "ls", "-q", NULL};
        if (ctr(ls, &listing) < 0)
                return 1;
        size_t present = 0;
        for (size_t i = 0; i < KUBEADM_IMAGE_MAX; i++) {
                _cleanup_free_ char *name = imageref_format(&ki.refs[i]);
                if (!name)
                        return 1;
                if (!text_has_line(listing, name))
                        return fail("[preflight] [ERROR ImagePull]: %s is not in containerd and this node "
                                    "is offline",
                                    name);
                present++;
        }
        _cleanup_free_ char *pause = imageref_format(&ki.refs[KUBEADM_IMAGE_PAUSE]);
        if (!pause)
                return 1;
        char *run[] = {"ctr", "--namespace", "k8s.io", "run", "--detach", pause, "kubeseed-preflight", NULL};
        char *tasks[] = {"ctr", "--namespace", "k8s.io", "tasks", "ls", NULL};
        char *kill[] = {"ctr",     "--namespace",        "k8s.io", "tasks", "kill", "--signal",
                        "SIGKILL", "kubeseed-preflight", NULL};
        char *rm[] = {"ctr", "--namespace", "k8s.io", "containers", "rm", "kubeseed-preflight", NULL};
        _cleanup_free_ char *task_list = NULL;
        if (ctr(run, NULL) < 0 || ctr(tasks, &task_list) < 0)
                return 1;
        bool running = strstr(task_list, "kubeseed-preflight") && strstr(task_list, "RUNNING");
        (void) ctr(kill, NULL);
        sleep(1);
        (void) ctr(rm, NULL);
        if (!running)
                return fail("a container from %s did not reach RUNNING:\n%s", pause, task_list);
        char note[256];
        snprintf(note, sizeof note, "preflight: %zu images present, a container from %s ran", present,
                 pause);
        record(argv, note);
        return 0;
}

/* What init and join do once their checks pass: the image preflight, the
 * "started" record, the verb's first step (`step` said, `manifest` written
 * when not NULL), the VERB-delay power-cut window, then fail=VERB. Nonzero
 * when the verb must stop. */
static int begin_phase(char **argv, const char *verb, const char *step, const char *manifest,
                       const char *failure) {
        if (preflight_images(argv))
                return 1;
        record(argv, "started");
        say("%s", step);
        if (manifest)
                put(manifest, "# kubeadm TEST DOUBLE\n", 0600);
        char key[32];
        snprintf(key, sizeof key, "%s-delay", verb);
        delay(key);
        if (should_fail(verb)) {
                char note[64];
                snprintf(note, sizeof note, "FAILED (fail=%s)", verb);
                record(argv, note);
                fail("%s (fail=%s in " CONF ")", failure, verb);
                return 1;
        }
        return 0;
}

/* ---- the stand-in API server (serve-api=1) ---------------------------------------- */

static void serve_log(const char *line) {
        _cleanup_free_ char *p = rpath(LOGDIR "/apiserver.log");
        FILE *f = p ? fopen(p, "ae") : NULL;
        if (!f)
                return;
        fprintf(f, "%lld %s\n", (long long) time(NULL), line);
        fclose(f);
}

/* The TLS loop; never returns. */
#define CLUSTER_INFO "/api/v1/namespaces/kube-public/configmaps/cluster-info"

/* kube-public/cluster-info as kube-apiserver serves it to anyone: a
 * kubeconfig with the CA (kubeadm's discovery reads it, then checks the
 * CA's hash). The JWS signatures are left out. */
static char *cluster_info_response(const char *ca_pem, const char *endpoint) {
        _cleanup_free_ char *b64 = pki_base64(ca_pem, strlen(ca_pem));
        _cleanup_free_ char *body = b64 ? strdupf("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                                                  "\"metadata\":{\"name\":\"cluster-info\","
                                                  "\"namespace\":\"kube-public\"},\"data\":{\"kubeconfig\":"
                                                  "\"apiVersion: v1\\nclusters:"
                                                  "\\n- cluster:\\n    certificate-authority-data: %s\\n    "
                                                  "server: https://%s\\n  name: "
                                                  "\\\"\\\"\\ncontexts: null\\ncurrent-context: "
                                                  "\\\"\\\"\\nkind: Config\\nusers: null\\n\"}}",
                                                  b64, endpoint)
                                        : NULL;
        return body ? strdupf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                              "Connection: close\r\n\r\n%s",
                              strlen(body), body)
                    : NULL;
}

static _Noreturn void serve_forever(const struct pki_pair *serving, const char *cluster_info) {
        signal(SIGPIPE, SIG_IGN);
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        BIO *cb = BIO_new_mem_buf(serving->cert_pem, -1), *kb = BIO_new_mem_buf(serving->key_pem, -1);
        X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
        EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), off = 0, on = 1;
        struct sockaddr_in6 a = {
                .sin6_family = AF_INET6, .sin6_port = htons(6443), .sin6_addr = in6addr_any};
        if (!ctx || !cert || !key || SSL_CTX_use_certificate(ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey(ctx, key) != 1 || fd < 0 ||
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
            bind(fd, (struct sockaddr *) &a, sizeof a) < 0 || listen(fd, 16) < 0) {
                serve_log("cannot listen on :6443");
                _exit(1);
        }
        serve_log("listening on :6443");
        for (;;) {
                struct sockaddr_in6 peer;
                socklen_t pl = sizeof peer;
                int c = accept4(fd, (struct sockaddr *) &peer, &pl, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                struct timeval tv = {.tv_sec = 10};
                (void) setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                char host[INET6_ADDRSTRLEN] = "?", line[256];
                inet_ntop(AF_INET6, &peer.sin6_addr, host, sizeof host);
                SSL *ssl = SSL_new(ctx);
                char req[2048];
                int n = -1;
                if (ssl && SSL_set_fd(ssl, c) == 1 && SSL_accept(ssl) == 1 &&
                    (n = SSL_read(ssl, req, sizeof req - 1)) > 0) {
                        req[n] = '\0';
                        req[strcspn(req, "\r\n")] = '\0';
                        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                                 "Content-Length: 2\r\nConnection: close\r\n\r\nok";
                        const char *answer = strstr(req, " " CLUSTER_INFO " ") ? cluster_info : ok;
                        (void) SSL_write(ssl, answer, (int) strlen(answer));
                        SSL_shutdown(ssl);
                        snprintf(line, sizeof line, "%s: %.120s -> 200", host, req);
                } else
                        snprintf(line, sizeof line, "%s: TLS handshake or request failed", host);
                serve_log(line);
                ERR_clear_error();
                SSL_free(ssl);
                close(c);
        }
}

/* After init: a serving certificate signed by the cluster CA, then a
 * detached server. The parent returns at once. */
static int serve_api(const char *advertise, const char *endpoint) {
        _cleanup_free_ char *crt = rpath("/etc/kubernetes/pki/ca.crt"),
                            *keyp = rpath("/etc/kubernetes/pki/ca.key");
        struct pki_pair ca = {};
        if (!crt || !keyp || read_file_full(crt, 65536, &ca.cert_pem, NULL) < 0 ||
            read_file_full(keyp, 65536, &ca.key_pem, NULL) < 0) {
                pki_pair_done(&ca);
                return fail("serve-api: no CA in /etc/kubernetes/pki");
        }
        _cleanup_strv_free_ char **ips = NULL;
        _cleanup_free_ char *host = NULL;
        if (endpoint)
                (void) nodeconfig_endpoint_parse(endpoint, &host, NULL);
        unsigned char buf[16];
        if ((advertise && strv_push(&ips, advertise) < 0) ||
            (host && (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1) &&
             strv_push(&ips, host) < 0) ||
            strv_push(&ips, "127.0.0.1") < 0)
                return fail("out of memory");
        char *dns[] = {"kubernetes", "kubernetes.default", "localhost", NULL};
        struct pki_leaf leaf = {
                .common_name = "kube-apiserver", .server = true, .ip_sans = ips, .dns_sans = dns};
        struct pki_pair serving = {};
        _cleanup_free_ char *err = NULL;
        int r = pki_leaf_cert_new(&ca, &leaf, NULL, (long long) time(NULL), &serving, &err);
        if (r < 0) {
                pki_pair_done(&ca);
                return fail("serve-api: %s", err ? err : "cannot make the serving certificate");
        }
        if (put("/etc/kubernetes/pki/apiserver.crt", serving.cert_pem, 0644) < 0 ||
            put("/etc/kubernetes/pki/apiserver.key", serving.key_pem, 0600) < 0) {
                pki_pair_done(&serving);
                pki_pair_done(&ca);
                return fail("serve-api: cannot write apiserver.crt");
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
                pki_pair_done(&serving);
                pki_pair_done(&ca);
                return fail("serve-api: fork: %s", strerror(errno));
        }
        if (pid == 0) {
                /* Out of the agent's process group and pipes. */
                setsid();
                if (fork() != 0)
                        _exit(0);
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        dup2(null, STDIN_FILENO);
                        dup2(null, STDOUT_FILENO);
                        dup2(null, STDERR_FILENO);
                }
                _cleanup_free_ char *info = cluster_info_response(ca.cert_pem, endpoint ? endpoint : "");
                if (!info)
                        _exit(1);
                serve_forever(&serving, info);
        }
        waitpid(pid, NULL, 0);
        pki_pair_done(&serving);
        pki_pair_done(&ca);
        say("[control-plane] stand-in API server on :6443 (TLS, signed by the cluster CA)");
        return 0;
}

/* GET `path` from https://<host:port> without verifying the server (what
 * kubeadm does for cluster-info before it checks the CA's hash): the body
 * and the server's certificate (PEM). */
static int fetch_unverified(const char *endpoint, const char *path, char **ret_body, char **ret_leaf) {
        _cleanup_free_ char *host = NULL;
        uint16_t port = 0;
        if (nodeconfig_endpoint_parse(endpoint, &host, &port) < 0)
                return -EINVAL;
        char service[8];
        snprintf(service, sizeof service, "%u", port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        if (getaddrinfo(host, service, &hints, &ai) != 0)
                return -EHOSTUNREACH;
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), r = -ECONNREFUSED;
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
                r = 0;
        freeaddrinfo(ai);
        SSL_CTX *ctx = r == 0 ? SSL_CTX_new(TLS_client_method()) : NULL;
        SSL *ssl = ctx ? SSL_new(ctx) : NULL;
        _cleanup_free_ char *request =
                strdupf("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, endpoint);
        char *body = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&body, &size);
        if (r == 0 && (!ssl || !request || !out || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1 ||
                       SSL_write(ssl, request, (int) strlen(request)) <= 0))
                r = -EPROTO;
        char buf[4096];
        for (int n; r == 0 && (n = SSL_read(ssl, buf, sizeof buf)) > 0;)
                fwrite(buf, 1, (size_t) n, out);
        X509 *leaf = ssl && r == 0 ? SSL_get1_peer_certificate(ssl) : NULL;
        BIO *lb = leaf ? BIO_new(BIO_s_mem()) : NULL;
        if (lb && PEM_write_bio_X509(lb, leaf) == 1) {
                char *p = NULL;
                long n = BIO_get_mem_data(lb, &p);
                *ret_leaf = n > 0 ? strndup(p, (size_t) n) : NULL;
        }
        BIO_free(lb);
        X509_free(leaf);
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        ERR_clear_error();
        if (fd >= 0)
                close(fd);
        if (out)
                fclose(out);
        if (r == 0 && (!body || !*ret_leaf))
                r = -EPROTO;
        if (r < 0) {
                free(body);
                return r;
        }
        *ret_body = body;
        return 0;
}

/* join with discover=1: kubeadm's token discovery. cluster-info's CA must
 * have the pinned hash, and the API server's certificate must be signed by
 * that CA; then /healthz through lib/http with the same pin. */
static int discover(const char *endpoint, const char *hash) {
        char *pins[] = {(char *) hash, NULL};
        for (int attempt = 1;; attempt++) {
                _cleanup_free_ char *body = NULL, *leaf = NULL, *ca_pem = NULL, *err = NULL;
                int r = fetch_unverified(endpoint, CLUSTER_INFO, &body, &leaf);
                const char *b64 = r == 0 ? strstr(body, "certificate-authority-data: ") : NULL;
                if (b64) {
                        b64 += strlen("certificate-authority-data: ");
                        size_t n = strcspn(b64, "\\\"");
                        ca_pem = calloc(n + 1, 1);
                        if (!ca_pem || EVP_DecodeBlock((unsigned char *) ca_pem, (const unsigned char *) b64,
                                                       (int) n) < 0)
                                return fail("[discovery] cluster-info: bad certificate-authority-data");
                        char got[CERT_HASH_STRING_MAX];
                        if (cert_spki_hash_pem(ca_pem, strlen(ca_pem), got, NULL) < 0)
                                return fail("[discovery] cluster-info: the CA does not parse");
                        if (strcasecmp(got, hash) != 0)
                                return fail("[discovery] cluster-info's CA is %s, not the pinned %s", got,
                                            hash);
                        if (cert_chain_check_pins_pem(leaf, strlen(leaf), pins, ca_pem, strlen(ca_pem),
                                                      &err) < 0)
                                return fail("[discovery] the API server's certificate: %s", err ? err : "?");
                        _cleanup_free_ char *url = strdupf("https://%s/healthz", endpoint);
                        struct http_request req = {.url = url,
                                                   .timeout_ms = 10000,
                                                   .connect_timeout_ms = 5000,
                                                   .max_response = 4096,
                                                   .pinned_ca_hashes = (const char *const *) pins,
                                                   .pinned_ca_pem = ca_pem};
                        struct http_response res = {0};
                        r = url ? http_ops->perform(&req, &res) : -ENOMEM;
                        bool ok = r >= 0 && res.status == 200;
                        http_response_done(&res);
                        if (ok) {
                                say("[discovery] cluster-info's CA has the pinned hash and signed the API "
                                    "server's "
                                    "certificate");
                                return 0;
                        }
                }
                if (attempt >= 10)
                        return fail("[discovery] https://%s%s: no answer (%s)", endpoint, CLUSTER_INFO,
                                    r < 0 ? strerror(-r) : "no CA in it");
                sleep(3);
        }
}

static int cmd_init_checked(char **argv, const struct config *c) {
        if (!c->init || !c->cluster) {
                fail("init: --config needs an InitConfiguration and a ClusterConfiguration");
                return 1;
        }
        int m = minor();
        static const char *const init2[] = {
                "apiVersion",     "kind", "bootstrapTokens", "nodeRegistration", "localAPIEndpoint",
                "certificateKey", NULL};
        static const char *const init3[] = {"apiVersion",
                                            "kind",
                                            "bootstrapTokens",
                                            "nodeRegistration",
                                            "localAPIEndpoint",
                                            "certificateKey",
                                            "skipPhases",
                                            "patches",
                                            NULL};
        static const char *const init4[] = {"apiVersion",
                                            "kind",
                                            "bootstrapTokens",
                                            "nodeRegistration",
                                            "localAPIEndpoint",
                                            "certificateKey",
                                            "skipPhases",
                                            "patches",
                                            "dryRun",
                                            "timeouts",
                                            NULL};
        static const char *const cl2[] = {"apiVersion",
                                          "kind",
                                          "etcd",
                                          "networking",
                                          "kubernetesVersion",
                                          "controlPlaneEndpoint",
                                          "apiServer",
                                          "controllerManager",
                                          "scheduler",
                                          "dns",
                                          "certificatesDir",
                                          "imageRepository",
                                          "useHyperKubeImage",
                                          "featureGates",
                                          "clusterName",
                                          NULL};
        static const char *const cl3[] = {"apiVersion",
                                          "kind",
                                          "etcd",
                                          "networking",
                                          "kubernetesVersion",
                                          "controlPlaneEndpoint",
                                          "apiServer",
                                          "controllerManager",
                                          "scheduler",
                                          "dns",
                                          "certificatesDir",
                                          "imageRepository",
                                          "featureGates",
                                          "clusterName",
                                          NULL};
        static const char *const cl4[] = {"apiVersion",
                                          "kind",
                                          "etcd",
                                          "networking",
                                          "kubernetesVersion",
                                          "controlPlaneEndpoint",
                                          "apiServer",
                                          "controllerManager",
                                          "scheduler",
                                          "dns",
                                          "proxy",
                                          "certificatesDir",
                                          "imageRepository",
                                          "featureGates",
                                          "clusterName",
                                          "encryptionAlgorithm",
                                          "certificateValidityPeriod",
                                          "caCertificateValidityPeriod",
                                          NULL};
        static const char *const api2[] = {"certSANs", "timeoutForControlPlane", "extraArgs", "extraVolumes",
                                           NULL};
        static const char *const api4[] = {"certSANs", "extraArgs", "extraVolumes", "extraEnvs", NULL};
        static const char *const net[] = {"serviceSubnet", "podSubnet", "dnsDomain", NULL};
        if (check_keys(c->init, "InitConfiguration",
                       m <= 21   ? init2
                       : m <= 30 ? init3
                                 : init4) ||
            check_keys(c->cluster, "ClusterConfiguration",
                       m <= 21   ? cl2
                       : m <= 30 ? cl3
                                 : cl4) ||
            check_keys(ynode_get(c->cluster, "apiServer"), "ClusterConfiguration.apiServer",
                       m <= 30 ? api2 : api4) ||
            check_keys(ynode_get(c->cluster, "networking"), "ClusterConfiguration.networking", net) ||
            check_node_registration(ynode_get(c->init, "nodeRegistration")))
                return 1;
        const struct ynode *bts = ynode_get(c->init, "bootstrapTokens");
        const char *token = bts && bts->kind == YNODE_SEQUENCE && bts->n_items
                                    ? ynode_get_str(bts->items[0], "token")
                                    : NULL;
        if (!token_ok(token)) {
                fail("InitConfiguration.bootstrapTokens[0].token: expected [a-z0-9]{6}.[a-z0-9]{16}");
                return 1;
        }
        const char *kv = ynode_get_str(c->cluster, "kubernetesVersion");
        if (!kv || !streq(kv, version())) {
                fail("ClusterConfiguration.kubernetesVersion is '%s', this kubeadm is %s",
                     kv ? kv : "(none)", version());
                return 1;
        }
        if (exists("/etc/kubernetes/manifests/kube-apiserver.yaml")) {
                fail("[preflight] [ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: "
                     "/etc/kubernetes/manifests/kube-apiserver.yaml already exists (run kubeadm reset "
                     "first)");
                return 1;
        }
        if (exists("/etc/kubernetes/pki/ca.crt"))
                say("[certs] Using existing ca certificate authority");
        else
                say("[certs] no pre-provisioned CA: kubeadm would generate one");
        if (exists("/etc/kubernetes/pki/ca.crt") && !exists("/etc/kubernetes/pki/ca.key")) {
                fail("[certs] ca.crt without ca.key: external CA mode is not what kubeseed asks for");
                return 1;
        }
        const char *endpoint = ynode_get_str(c->cluster, "controlPlaneEndpoint");
        const char *name = ynode_get_str(ynode_get(c->init, "nodeRegistration"), "name");
        char extra[512];
        snprintf(extra, sizeof extra, "api=%s node=%s token=%s endpoint=%s pod-subnet=%s", expected_api(),
                 name, token, endpoint ? endpoint : "",
                 ynode_get_str(ynode_get(c->cluster, "networking"), "podSubnet") ?: "");
        /* The manifests go first: a power cut from here on leaves a node
         * that needs `kubeadm reset` before init can run again. */
        if (begin_phase(argv, "init", "[control-plane] writing static Pod manifests",
                        "/etc/kubernetes/manifests/kube-apiserver.yaml", "[wait-control-plane] timed out"))
                return 1;
        if (write_kubeconfig("/etc/kubernetes/admin.conf", endpoint, "kubernetes-admin") < 0 ||
            write_kubeconfig("/etc/kubernetes/kubelet.conf", endpoint, name) < 0) {
                fail("cannot write kubeconfigs");
                return 1;
        }
        _cleanup_free_ char *serve = conf_get("serve-api");
        if (serve && streq(serve, "1") &&
            serve_api(ynode_get_str(ynode_get(c->init, "localAPIEndpoint"), "advertiseAddress"), endpoint))
                return 1;
        record(argv, extra);
        say("Your Kubernetes control-plane has initialized successfully! (test double)");
        return 0;
}

static int cmd_join_checked(char **argv, const struct config *c) {
        if (!c->join) {
                fail("join: --config needs a JoinConfiguration");
                return 1;
        }
        int m = minor();
        static const char *const j2[] = {
                "apiVersion", "kind", "nodeRegistration", "caCertPath", "discovery", "controlPlane", NULL};
        static const char *const j3[] = {"apiVersion", "kind",      "nodeRegistration",
                                         "caCertPath", "discovery", "controlPlane",
                                         "skipPhases", "patches",   NULL};
        static const char *const j4[] = {
                "apiVersion", "kind",    "nodeRegistration", "caCertPath", "discovery", "controlPlane",
                "skipPhases", "patches", "dryRun",           "timeouts",   NULL};
        static const char *const d2[] = {"bootstrapToken", "file", "tlsBootstrapToken", "timeout", NULL};
        static const char *const d4[] = {"bootstrapToken", "file", "tlsBootstrapToken", NULL};
        static const char *const bt[] = {"token", "apiServerEndpoint", "caCertHashes",
                                         "unsafeSkipCAVerification", NULL};
        const struct ynode *disc = ynode_get(c->join, "discovery");
        const struct ynode *bts = ynode_get(disc, "bootstrapToken");
        if (check_keys(c->join, "JoinConfiguration",
                       m <= 21   ? j2
                       : m <= 30 ? j3
                                 : j4) ||
            check_keys(disc, "JoinConfiguration.discovery", m <= 30 ? d2 : d4) ||
            check_keys(bts, "JoinConfiguration.discovery.bootstrapToken", bt) ||
            check_node_registration(ynode_get(c->join, "nodeRegistration")))
                return 1;
        const char *token = ynode_get_str(bts, "token");
        const char *ep = ynode_get_str(bts, "apiServerEndpoint");
        const struct ynode *hashes = ynode_get(bts, "caCertHashes");
        if (!token_ok(token) || !ep || !hashes || hashes->kind != YNODE_SEQUENCE || hashes->n_items == 0) {
                fail("discovery.bootstrapToken needs token, apiServerEndpoint and caCertHashes (no unsafe "
                     "skip)");
                return 1;
        }
        const char *hash = hashes->items[0]->value;
        if (!hash || strncmp(hash, "sha256:", 7) != 0 || strlen(hash) != 71) {
                fail("discovery.bootstrapToken.caCertHashes[0]: expected sha256:<64 hex>");
                return 1;
        }
        bool control_plane = ynode_get(c->join, "controlPlane") != NULL;
        if (control_plane && !ynode_get_str(ynode_get(c->join, "controlPlane"), "certificateKey")) {
                fail("controlPlane.certificateKey is needed to join a control plane");
                return 1;
        }
        if (exists("/etc/kubernetes/kubelet.conf")) {
                fail("[preflight] [ERROR FileAvailable--etc-kubernetes-kubelet.conf]: "
                     "/etc/kubernetes/kubelet.conf already exists");
                return 1;
        }
        const char *name = ynode_get_str(ynode_get(c->join, "nodeRegistration"), "name");
        char extra[512];
        snprintf(extra, sizeof extra, "api=%s node=%s token=%s endpoint=%s ca-cert-hash=%s control-plane=%s",
                 expected_api(), name, token, ep, hash, control_plane ? "yes" : "no");
        if (begin_phase(argv, "join", "[preflight] Running pre-flight checks", NULL, "[discovery] failed"))
                return 1;
        _cleanup_free_ char *disc_on = conf_get("discover");
        if (disc_on && streq(disc_on, "1")) {
                if (discover(ep, hash))
                        return 1;
                size_t used = strlen(extra);
                snprintf(extra + used, sizeof extra - used, " discovery=pinned");
        }
        if (write_kubeconfig("/etc/kubernetes/kubelet.conf", ep, name) < 0) {
                fail("cannot write kubelet.conf");
                return 1;
        }
        record(argv, extra);
        say("This node has joined the cluster (test double)");
        return 0;
}

/* Loads --config, runs the verb's checks and actions, frees the documents. */
static int with_config(char **argv, const char *verb, int (*fn)(char **argv, const struct config *c)) {
        const char *file = opt_value(argv, "--config");
        if (!file)
                return fail("%s: the agent must pass --config (no flags-only %s)", verb, verb);
        struct config c = {0};
        int r = load_config(file, &c);
        if (!r)
                r = fn(argv, &c);
        ynode_free_documents(c.docs, c.n);
        return r;
}

static int cmd_reset(char **argv) {
        if (!opt_value(argv, "-f") && !strv_contains(argv, "-f") && !strv_contains(argv, "--force"))
                return fail("reset: the agent must pass -f (nobody is there to answer the prompt)");
        static const char *const files[] = {"/etc/kubernetes/manifests/kube-apiserver.yaml",
                                            "/etc/kubernetes/admin.conf", "/etc/kubernetes/kubelet.conf",
                                            NULL};
        for (const char *const *f = files; *f; f++) {
                _cleanup_free_ char *p = rpath(*f);
                if (p)
                        (void) unlink(p);
        }
        record(argv, NULL);
        say("[reset] done");
        return 0;
}

/* ---- kubectl ----------------------------------------------------------------- */

/* kubectl apply --filename F: the file must parse; every container image it
 * names must already be in containerd (an offline cluster cannot pull);
 * recorded with the file's digest. `apply-delay=<substring>:N` sleeps N s
 * when the file name contains the substring (power-cut tests). */
static int kubectl_apply(char **argv) {
        const char *file = opt_value(argv, "--filename");
        if (!file)
                return fail("apply: the agent must pass --filename");
        _cleanup_free_ char *path = rpath(file), *data = NULL, *err = NULL, *listing = NULL;
        size_t size = 0;
        if (!path || read_file_full(path, 16u << 20, &data, &size) < 0)
                return fail("apply: cannot read %s", file);
        struct image_list images = {0};
        int r = manifest_collect_images(file, data, size, &images, &err);
        if (r < 0) {
                image_list_done(&images);
                return fail("error: error parsing %s: %s", file, err ? err : "?");
        }
        if (!*root) {
                char *ls[] = {"ctr", "--namespace", "k8s.io", "images", "ls", "-q", NULL};
                if (ctr(ls, &listing) < 0) {
                        image_list_done(&images);
                        return 1;
                }
        }
        for (size_t i = 0; i < images.n_items; i++) {
                _cleanup_free_ char *name = imageref_format(&images.items[i].ref);
                if (!name || (listing && !text_has_line(listing, name))) {
                        image_list_done(&images);
                        return fail("apply %s: image %s is not in containerd: the cluster would have to "
                                    "pull it",
                                    file, name ? name : "?");
                }
        }
        char sha[SHA256_HEX_LEN + 1];
        if (sha256_buffer(data, size, sha) < 0) {
                image_list_done(&images);
                return 1;
        }
        _cleanup_free_ char *d = conf_get("apply-delay");
        char *colon = d ? strrchr(d, ':') : NULL;
        if (colon) {
                *colon = '\0';
                if (strstr(file, d)) {
                        say("apply-delay: sleeping %s s in apply of %s (power-cut window)", colon + 1, file);
                        sleep((unsigned) strtoul(colon + 1, NULL, 10));
                }
        }
        char extra[160];
        snprintf(extra, sizeof extra, "sha256=%.12s images=%zu present", sha, images.n_items);
        image_list_done(&images);
        record(argv, extra);
        return 0;
}

/* kubectl --namespace NS get KIND NAME --output=jsonpath=...: answers from
 * double.conf, counting the queries per object:
 *   ready-after.<kind>.<namespace>.<name>=N   not ready for the first N queries (default 1)
 *   never-ready=<kind>.<namespace>.<name>      never ready
 * Built-in kinds print "<wanted> <updated> <available>" ("1 0 0" -> "1 1 1");
 * a custom jsonpath prints "Progressing", then "Ready". */
static int kubectl_get(char **argv) {
        const char *ns = opt_value(argv, "--namespace");
        const char *out = opt_value(argv, "--output");
        char **a = argv;
        while (*a && !streq(*a, "get"))
                a++;
        if (!*a || !a[1] || !a[2] || !ns || !out || strncmp(out, "jsonpath=", 9) != 0)
                return fail("get: expected --namespace NS get KIND NAME --output=jsonpath=...");
        const char *kind = a[1], *name = a[2];
        _cleanup_free_ char *id = strdupf("%s.%s.%s", kind, ns, name), *key = strdupf("ready-after.%s", id),
                            *never = conf_get("never-ready"), *after = key ? conf_get(key) : NULL,
                            *counter = strdupf(LOGDIR "/get-%s.count", id), *cpath = counter ? rpath(counter) : NULL,
                            *old = NULL;
        if (!id || !key || !cpath)
                return 1;
        unsigned n = 0;
        if (read_file_full(cpath, 64, &old, NULL) >= 0)
                n = (unsigned) strtoul(old, NULL, 10);
        n++;
        char num[16];
        snprintf(num, sizeof num, "%u\n", n);
        _cleanup_free_ char *dir = rpath(LOGDIR);
        if (dir && mkdir_p(dir, 0700) >= 0)
                (void) write_file_atomic(cpath, num, strlen(num), 0644);
        unsigned wait = after ? (unsigned) strtoul(after, NULL, 10) : 1;
        bool ready = !(never && streq(never, id)) && n > wait;
        bool builtin = streq(kind, "deployment") || streq(kind, "daemonset") || streq(kind, "statefulset");
        char extra[64];
        snprintf(extra, sizeof extra, "query %u: %s", n, ready ? "ready" : "not ready");
        record(argv, extra);
        if (builtin)
                printf("%s", ready ? "1 1 1" : "1 0 0");
        else
                printf("%s", ready ? "Ready" : "Progressing");
        return 0;
}

static int kubectl(char **argv) {
        const char *kc = opt_value(argv, "--kubeconfig");
        if (!kc)
                return fail("the agent must pass --kubeconfig");
        _cleanup_free_ char *p = rpath(kc);
        if (!p || access(p, R_OK) < 0)
                return fail("--kubeconfig %s: %s", kc, strerror(errno));
        for (char **a = argv + 1; *a; a++) {
                if (streq(*a, "apply"))
                        return kubectl_apply(argv);
                if (streq(*a, "get"))
                        return kubectl_get(argv);
        }
        record(argv, NULL);
        return 0;
}

int main(int argc, char **argv) {
        (void) argc;
        const char *r = getenv("KUBESEED_TEST_ROOT");
        if (r)
                root = r;
        const char *base = strrchr(argv[0], '/');
        base = base ? base + 1 : argv[0];
        if (streq(base, "kubectl")) {
                prog = "kubectl";
                return kubectl(argv);
        }
        if (!argv[1])
                return fail("no command");
        if (streq(argv[1], "version")) {
                if (opt_value(argv, "-o") && streq(opt_value(argv, "-o"), "short"))
                        printf("%s\n", version());
                else
                        printf("kubeadm version: &version.Info{GitVersion:\"%s\", (kubeseed TEST DOUBLE)}\n",
                               version());
                return 0;
        }
        if (streq(argv[1], "init"))
                return with_config(argv, "init", cmd_init_checked);
        if (streq(argv[1], "join"))
                return with_config(argv, "join", cmd_join_checked);
        if (streq(argv[1], "reset"))
                return cmd_reset(argv);
        record(argv, "unsupported by the test double");
        return fail("'%s' is not something kubeseed's agent should run", argv[1]);
}
