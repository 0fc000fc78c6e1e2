/* SPDX-License-Identifier: MIT */
/* The agent end to end: agent_run()/agent_status() against a temporary root
 * directory, with a NoCloud seed directory, a recording fake for proc_ops
 * (kubeadm, kubectl, ctr) and a scripted fake for http_ops (the worker's wait
 * for the API server). The CA is a real one, made with the openssl command. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "blk.h"
#include "addon.h"
#include "cert.h"
#include "digest.h"
#include "facts.h"
#include "fsutil.h"
#include "http.h"
#include "macro.h"
#include "plan.h"
#include "proc.h"
#include "seed.h"
#include "sources.h"
#include "state.h"
#include "steps.h"
#include "strv.h"

#include "testutil.h"

#define TOKEN "abcdef.0123456789abcdef"
#define REDACTED_TOKEN "***********************" /* as long as the token */
#define NOW 1714557600ULL                        /* 2024-05-01T10:00:00Z */
#define NOW_TEXT "2024-05-01T10:00:00Z"
#define KUBEADM_VERSION "v1.31.1"
#define ENDPOINT "10.0.0.10:6443"
#define HEALTHZ "https://10.0.0.10:6443/healthz"
#define CRI_RESET "kubeadm reset -f --cri-socket=unix:///run/containerd/containerd.sock"
#define INIT "kubeadm init --config /var/lib/kubeseed/kubeadm.yaml"
#define JOIN "kubeadm join --config /var/lib/kubeseed/kubeadm.yaml"
#define VERSION_CALL "kubeadm version -o short"
#define TAINT_KEY "node-role.kubernetes.io/control-plane-"
#define FAKE_ADMIN_CONF "apiVersion: v1\nkind: Config\nclusters: []\n# written by the fake kubeadm init\n"

#define META_CP "instance-id: iid-a\nlocal-hostname: cp-1\n"
#define META_WORKER "instance-id: iid-a\nlocal-hostname: worker-1\n"

/* ---- the CA, made once with the openssl command ---------------------------- */

static char ca_dir[64];
static struct tu_kube_ca ca; /* ca.hash: SHA-256 of the DER SPKI, by openssl */
static char ca_key_line[48]; /* a piece of the key's base64: must stay secret */

static int group_setup(void **unused) {
        (void) unused;
        snprintf(ca_dir, sizeof ca_dir, "/tmp/test-agent-ca.XXXXXX");
        if (!mkdtemp(ca_dir))
                return -1;
        tu_make_kube_ca(ca_dir, "ca", &ca);
        const char *nl = strchr(ca.key, '\n');
        assert_non_null(nl);
        snprintf(ca_key_line, sizeof ca_key_line, "%.40s", nl + 1);
        assert_int_equal(strlen(ca_key_line), 40);
        return 0;
}

static int group_teardown(void **unused) {
        (void) unused;
        tu_kube_ca_done(&ca);
        return rm_rf(ca_dir) < 0 ? -1 : 0;
}

/* ---- the recording fake for proc_ops --------------------------------------- */

struct fake_reply_proc {
        int exit_status; /* 0: success */
        const char *err;
};

struct fake_proc {
        const char *root;
        char **calls;                          /* each argv joined with spaces, in order */
        const char *version_out;               /* stdout of `kubeadm version -o short` */
        bool version_silent;                   /* it prints nothing (proc_run leaves out NULL) */
        const struct fake_reply_proc *kubectl; /* kubectl's answers in turn; then success */
        size_t n_kubectl, kubectl_calls;
        int init_exit; /* kubeadm init's exit status; 0: succeeds and writes admin.conf */
        const char *init_stderr;
        int ca_at_init;          /* -1: init not run; else did pki/ca.crt exist when it ran */
        const char *never_ready; /* kubectl get of this name prints "1 0 0" and moves the clock on */
        const char *ctr_ls_out;  /* what `ctr ... images ls -q` prints */
        const char *pod_cidrs;   /* `kubectl get node N` prints it (NULL: 10.244.1.0/24) */
        unsigned pod_cidrs_late; /* ... after this many queries that print nothing */
        bool pod_cidrs_never;    /* ... never: prints nothing and moves the clock past the wait */
        unsigned pod_cidr_queries;
        unsigned resets;
        bool version_not_captured; /* `kubeadm version` asked without capture_stdout */
};
static struct fake_proc fp;
static uint64_t clock_now;

static bool exists_below(const char *root, const char *rel) {
        _cleanup_free_ char *p = path_join_root(root, rel);
        return p && access(p, F_OK) == 0;
}

/* No assertions in here: a longjmp out of the agent would leak what it holds. */
static int fake_run(char *const argv[], const struct proc_opts *opts, struct proc_result *ret) {
        _cleanup_free_ char *line = strv_join(argv, " ");
        if (!line || strv_push(&fp.calls, line) < 0)
                return -ENOMEM;
        struct proc_result res = {.err_tail = strdup("")};
        int r = 0;
        size_t n = strv_length(argv);
        bool kubeadm = streq(argv[0], "kubeadm") && n >= 2;
        if (kubeadm && streq(argv[1], "version")) {
                if (!opts->capture_stdout)
                        fp.version_not_captured = true;
                if (!fp.version_silent) {
                        res.out = strdup(fp.version_out ? fp.version_out : KUBEADM_VERSION "\n");
                        res.out_size = res.out ? strlen(res.out) : 0;
                }
        } else if (kubeadm && streq(argv[1], "init")) {
                fp.ca_at_init = exists_below(fp.root, CA_CERT_PATH);
                if (fp.init_exit) {
                        free(res.err_tail);
                        res.err_tail = strdup(fp.init_stderr ? fp.init_stderr : "");
                        res.exit_status = fp.init_exit;
                        r = -EPROTO;
                } else {
                        /* What kubeadm init leaves behind that the next steps use. */
                        _cleanup_free_ char *dir = path_join_root(fp.root, "/etc/kubernetes/manifests");
                        _cleanup_free_ char *admin = path_join_root(fp.root, ADMIN_CONF);
                        _cleanup_free_ char *apiserver = path_join_root(fp.root, APISERVER_MANIFEST);
                        if (mkdir_p(dir, 0755) < 0 ||
                            write_file_atomic(admin, FAKE_ADMIN_CONF, strlen(FAKE_ADMIN_CONF), 0600) < 0 ||
                            write_file_atomic(apiserver, "kind: Pod\n", 10, 0600) < 0)
                                r = -EIO;
                }
        } else if (kubeadm && streq(argv[1], "reset")) {
                /* kubeadm reset removes what init made, the pki directory included. */
                fp.resets++;
                _cleanup_free_ char *pki = path_join_root(fp.root, "/etc/kubernetes/pki");
                _cleanup_free_ char *admin = path_join_root(fp.root, ADMIN_CONF);
                _cleanup_free_ char *apiserver = path_join_root(fp.root, APISERVER_MANIFEST);
                (void) rm_rf(pki);
                (void) unlink(admin);
                (void) unlink(apiserver);
        } else if (kubeadm && streq(argv[1], "join")) {
                _cleanup_free_ char *dir = path_join_root(fp.root, "/etc/kubernetes");
                _cleanup_free_ char *kubelet = path_join_root(fp.root, KUBELET_CONF);
                if (mkdir_p(dir, 0755) < 0 || write_file_atomic(kubelet, "kind: Config\n", 13, 0600) < 0)
                        r = -EIO;
        } else if (streq(argv[0], "ctr") && strv_contains((char **) argv, "ls")) {
                res.out = strdup(fp.ctr_ls_out ? fp.ctr_ls_out : "");
                res.out_size = res.out ? strlen(res.out) : 0;
        } else if (streq(argv[0], "kubectl") && strv_contains((char **) argv, "get") &&
                   strv_contains((char **) argv, "node")) {
                /* The node's pod CIDRs, once the controller-manager allocated them. */
                bool none = fp.pod_cidrs_never || fp.pod_cidr_queries++ < fp.pod_cidrs_late;
                res.out = strdup(none ? "" : fp.pod_cidrs ? fp.pod_cidrs : "10.244.1.0/24");
                res.out_size = res.out ? strlen(res.out) : 0;
                if (fp.pod_cidrs_never)
                        clock_now += 1000; /* past the wait without sleeping */
        } else if (streq(argv[0], "kubectl") && strv_contains((char **) argv, "get")) {
                /* A readiness query: "<wanted> <updated> <available>". */
                bool never = fp.never_ready && strv_contains((char **) argv, fp.never_ready);
                res.out = strdup(never ? "1 0 0" : "1 1 1");
                res.out_size = res.out ? strlen(res.out) : 0;
                if (never)
                        clock_now += 100; /* past any deadline without sleeping */
        } else if (streq(argv[0], "kubectl") && fp.kubectl_calls < fp.n_kubectl) {
                const struct fake_reply_proc *k = &fp.kubectl[fp.kubectl_calls++];
                if (k->exit_status) {
                        free(res.err_tail);
                        res.err_tail = strdup(k->err ? k->err : "");
                        res.exit_status = k->exit_status;
                        r = -EPROTO;
                }
        } else if (streq(argv[0], "kubectl") || streq(argv[0], "ctr")) {
                /* succeed */
        } else {
                res.exit_status = 127;
                r = -ENOENT;
        }
        if (!res.err_tail)
                r = -ENOMEM;
        if (ret)
                *ret = res;
        else
                proc_result_done(&res);
        return r;
}
static const struct proc_ops fake_proc_ops = {.run = fake_run};

/* ---- the scripted fake for http_ops ---------------------------------------- */

struct fake_reply {
        int r;
        long status;
        bool pin_mismatch;
        const char *error;
};

struct fake_http {
        const struct fake_reply *script; /* the last entry repeats */
        size_t n_script;
        size_t calls;
        char *url;        /* of the first call */
        char **pins;      /* pinned_ca_hashes of the first call */
        char *pinned_pem; /* pinned_ca_pem of the first call */
};
static struct fake_http fh;

static int fake_perform(const struct http_request *req, struct http_response *ret) {
        size_t i = fh.calls < fh.n_script ? fh.calls : fh.n_script - 1;
        if (fh.calls++ == 0) {
                fh.url = strdup(req->url);
                fh.pinned_pem = req->pinned_ca_pem ? strdup(req->pinned_ca_pem) : NULL;
                for (const char *const *p = req->pinned_ca_hashes; p && *p; p++)
                        if (strv_push(&fh.pins, *p) < 0)
                                return -ENOMEM;
        }
        if (fh.n_script == 0)
                return -ECONNREFUSED;
        const struct fake_reply *f = &fh.script[i];
        ret->status = f->status;
        ret->pin_mismatch = f->pin_mismatch;
        if (f->error)
                ret->error = strdup(f->error);
        if (f->r >= 0) {
                ret->body = strdup("ok");
                ret->body_size = 2;
        }
        return f->r;
}
static const struct http_ops fake_http_ops = {.perform = fake_perform};

static const struct fake_reply reply_ok[] = {{.r = 0, .status = 200}};

/* ---- fixtures ---------------------------------------------------------------- */

/* clock_now (above): fake_run moves it on. */
static uint64_t fake_now(void) {
        return clock_now;
}

struct env {
        char dir[64];
        char *root, *seed, *console;
        const struct proc_ops *saved_proc;
        const struct http_ops *saved_http;
};

static char *join(const char *a, const char *b) {
        char *p = path_join_root(a, b);
        assert_non_null(p);
        return p;
}

static void mkfile(const char *path, const char *text) {
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static int setup(void **state) {
        struct env *e = calloc(1, sizeof *e);
        if (!e)
                return -1;
        *state = e;
        snprintf(e->dir, sizeof e->dir, "/tmp/test-agent.XXXXXX");
        assert_non_null(mkdtemp(e->dir));
        e->root = join(e->dir, "/root");
        e->seed = join(e->dir, "/seed");
        e->console = join(e->dir, "/console");
        assert_int_equal(mkdir_p(e->root, 0755), 0);
        assert_int_equal(mkdir_p(e->seed, 0755), 0);
        mkfile(e->console, "");

        fp = (struct fake_proc){.root = e->root, .ca_at_init = -1};
        fh = (struct fake_http){.script = reply_ok, .n_script = ELEMENTSOF(reply_ok)};
        e->saved_proc = proc_ops;
        e->saved_http = http_ops;
        proc_ops = &fake_proc_ops;
        http_ops = &fake_http_ops;
        clock_now = NOW;
        return 0;
}

static int teardown(void **state) {
        struct env *e = *state;
        proc_ops = e->saved_proc;
        http_ops = e->saved_http;
        strv_free(fp.calls);
        free(fh.url);
        free(fh.pinned_pem);
        strv_free(fh.pins);
        fp = (struct fake_proc){};
        fh = (struct fake_http){};
        int r = rm_rf(e->dir);
        free(e->root);
        free(e->seed);
        free(e->console);
        free(e);
        return r < 0 ? -1 : 0;
}

static void clear_calls(void) {
        strv_free(fp.calls);
        fp.calls = NULL;
        fp.ca_at_init = -1;
        fp.resets = 0;
        free(fh.url);
        free(fh.pinned_pem);
        strv_free(fh.pins);
        fh.url = fh.pinned_pem = NULL;
        fh.pins = NULL;
        fh.calls = 0;
}

static struct agent_options run_options(const struct env *e) {
        return (struct agent_options){
                .verb = AGENT_RUN,
                .root = e->root,
                .seed_dir = e->seed,
                .console = e->console,
                .now = fake_now,
        };
}

static void write_seed(const struct env *e, const char *meta, const char *user) {
        _cleanup_free_ char *m = join(e->seed, "/meta-data"), *u = join(e->seed, "/user-data");
        mkfile(m, meta);
        mkfile(u, user);
}

/* user-data of a control plane with the pre-provisioned CA; `extra` goes
 * under kubeseed: ("  workers: 2\n"). */
static char *control_plane_user_data(const char *extra) {
        _cleanup_free_ char *c = tu_indent(ca.cert, "      "), *k = tu_indent(ca.key, "      ");
        char *ud = strdupf("#cloud-config\n"
                           "kubeseed:\n"
                           "  role: control-plane\n"
                           "  cluster:\n"
                           "    endpoint: " ENDPOINT "\n"
                           "    token: " TOKEN "\n"
                           "    pod-subnet: 10.244.0.0/16\n"
                           "    ca-cert: |\n%s"
                           "    ca-key: |\n%s"
                           "%s",
                           c, k, extra ? extra : "");
        assert_non_null(ud);
        return ud;
}

static void seed_control_plane(const struct env *e, const char *extra) {
        _cleanup_free_ char *ud = control_plane_user_data(extra);
        write_seed(e, META_CP, ud);
}

static char *worker_user_data(const char *token) {
        char *ud = strdupf("#cloud-config\n"
                           "kubeseed:\n"
                           "  role: worker\n"
                           "  cluster:\n"
                           "    endpoint: " ENDPOINT "\n"
                           "    token: %s\n"
                           "    ca-cert-hash: %s\n",
                           token, ca.hash);
        assert_non_null(ud);
        return ud;
}

static void seed_worker(const struct env *e, const char *meta) {
        _cleanup_free_ char *ud = worker_user_data(TOKEN);
        write_seed(e, meta, ud);
}

/* ---- checks ------------------------------------------------------------------ */

static void assert_calls(const char *const *want) {
        size_t n = 0;
        while (want[n])
                n++;
        size_t got = strv_length(fp.calls);
        for (size_t i = 0; i < n || i < got; i++) {
                const char *g = i < got ? fp.calls[i] : "(none)";
                const char *w = i < n ? want[i] : "(none)";
                if (!streq(g, w)) {
                        for (size_t j = 0; j < got; j++)
                                fprintf(stderr, "  call %zu: %s\n", j, fp.calls[j]);
                        fail_msg("call %zu: got '%s', expected '%s'", i, g, w);
                }
        }
}

/* The pod-network step's query for the node's pod CIDRs (no CNI add-on). */
static char *pod_cidrs_call(const struct env *e, const char *node) {
        char *c = strdupf("kubectl --kubeconfig %s/etc/kubernetes/kubelet.conf get node %s "
                          "--output=jsonpath={.spec.podCIDRs[*]}",
                          e->root, node);
        assert_non_null(c);
        return c;
}

static bool called_with_prefix(const char *prefix) {
        for (char **c = fp.calls; c && *c; c++)
                if (strncmp(*c, prefix, strlen(prefix)) == 0)
                        return true;
        return false;
}

static char *read_rel(const struct env *e, const char *rel) {
        _cleanup_free_ char *p = join(e->root, rel);
        return tu_read(p, NULL);
}

static bool exists_rel(const struct env *e, const char *rel) {
        return exists_below(e->root, rel);
}

static void assert_mode(const struct env *e, const char *rel, mode_t mode) {
        _cleanup_free_ char *p = join(e->root, rel);
        struct stat st;
        if (stat(p, &st) < 0)
                fail_msg("%s: %m", rel);
        if ((st.st_mode & 07777) != mode)
                fail_msg("%s: mode %04o, expected %04o", rel, st.st_mode & 07777, mode);
}

static struct state *load_state(const struct env *e) {
        struct state *s = NULL;
        _cleanup_free_ char *err = NULL;
        int r = state_load(e->root, &s, &err);
        if (r != 1)
                fail_msg("state_load: %d %s", r, err ? err : "");
        return s;
}

static const struct state_step *step_of(const struct state *s, const char *name) {
        const struct state_step *st = state_find(s, name);
        if (!st)
                fail_msg("no step %s in the state", name);
        return st;
}

/* The state's steps are exactly the role's plan, all done. */
static void assert_all_done(const struct env *e, enum node_role role) {
        _cleanup_state_ struct state *s = load_state(e);
        const char *const *plan = plan_for_role(role);
        size_t n = 0;
        for (; plan[n]; n++) {
                assert_true(n < s->n_steps);
                assert_string_equal(s->steps[n].name, plan[n]);
                if (s->steps[n].status != STEP_DONE)
                        fail_msg("step %s is %s", plan[n], step_status_to_string(s->steps[n].status));
                assert_null(s->steps[n].reason);
        }
        assert_int_equal(s->n_steps, n);
        assert_true(state_all_done(s));
}

static char *console_text(const struct env *e) {
        return tu_read(e->console, NULL);
}

static char *console_last_line(const struct env *e) {
        _cleanup_free_ char *data = console_text(e);
        size_t n = strlen(data);
        assert_true(n > 0 && data[n - 1] == '\n');
        data[n - 1] = '\0';
        char *nl = strrchr(data, '\n');
        char *line = strdup(nl ? nl + 1 : data);
        assert_non_null(line);
        return line;
}

static void assert_last_line(const struct env *e, const char *want) {
        _cleanup_free_ char *last = console_last_line(e);
        assert_string_equal(last, want);
}

/* Every file below the test's directory that holds `needle`, except those
 * whose path ends with one of `allowed`. */
static const char *scan_needle;
static const char *const *scan_allowed;
static char *scan_found;

static int scan_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (type != FTW_F)
                return 0;
        for (const char *const *a = scan_allowed; a && *a; a++) {
                size_t pl = strlen(path), al = strlen(*a);
                if (pl >= al && streq(path + pl - al, *a))
                        return 0;
        }
        char *data = NULL;
        size_t size = 0;
        if (read_file_full(path, 64 << 20, &data, &size) < 0)
                return 0;
        bool hit = memmem(data, size, scan_needle, strlen(scan_needle)) != NULL;
        free(data);
        if (hit) {
                scan_found = strdup(path);
                return 1;
        }
        return 0;
}

static void assert_secret_only_in(const struct env *e, const char *needle, const char *const *allowed) {
        scan_needle = needle;
        scan_allowed = allowed;
        scan_found = NULL;
        assert_true(nftw(e->dir, scan_one, 16, FTW_PHYS) >= 0);
        if (scan_found) {
                _cleanup_free_ char *f = scan_found;
                fail_msg("a secret is in %s", f);
        }
}

static char *status_of(const struct env *e, bool json) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_non_null(f);
        struct agent_options so = {.verb = AGENT_STATUS, .root = e->root, .json = json, .out = f};
        int r = agent_status(&so);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(r, 0);
        return buf;
}

static char *facts_expected(const struct env *e, const char *hostname, const char *role, size_t ud_size) {
        struct utsname u;
        assert_int_equal(uname(&u), 0);
        _cleanup_free_ char *source = strdupf("directory %s", e->seed), *esc = NULL;
        assert_int_equal(state_escape(source, &esc), 0);
        char *t = strdupf("# kubeseed-firstboot machine facts; see docs/firstboot.md\n"
                          "machine=%s\nkernel_release=%s\ninstance_id=iid-a\nhostname=%s\n"
                          "source=%s\nrole=%s\nuser_data_size=%zu\n",
                          u.machine, u.release, hostname, esc, role, ud_size);
        assert_non_null(t);
        return t;
}

/* ---- control plane ------------------------------------------------------------ */

static void test_control_plane(void **state) {
        struct env *e = *state;
        _cleanup_free_ char *ud = control_plane_user_data(NULL);
        write_seed(e, META_CP, ud);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);

        _cleanup_free_ char *taint = strdupf(
                "kubectl --kubeconfig %s/etc/kubernetes/admin.conf taint nodes cp-1 " TAINT_KEY, e->root);
        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "cp-1");
        const char *want[] = {VERSION_CALL, INIT, cidrs, taint, NULL};
        assert_calls(want);
        assert_false(fp.version_not_captured);
        assert_int_equal(fp.ca_at_init, 1); /* the CA was in place before kubeadm init */
        assert_int_equal(fp.resets, 0);
        assert_int_equal(fh.calls, 0);

        /* The CA, as given; the key 0600. */
        _cleanup_free_ char *crt = read_rel(e, CA_CERT_PATH), *key = read_rel(e, CA_KEY_PATH);
        assert_string_equal(crt, ca.cert);
        assert_string_equal(key, ca.key);
        assert_mode(e, CA_CERT_PATH, 0644);
        assert_mode(e, CA_KEY_PATH, 0600);

        /* kubeadm's configuration: the API of kubeadm v1.31, the token, 0600. */
        _cleanup_free_ char *yaml = read_rel(e, KUBEADM_CONFIG_PATH);
        assert_non_null(strstr(yaml, "apiVersion: kubeadm.k8s.io/v1beta4"));
        assert_non_null(strstr(yaml, "kind: InitConfiguration"));
        assert_non_null(strstr(yaml, "kind: ClusterConfiguration"));
        assert_non_null(strstr(yaml, TOKEN));
        assert_non_null(strstr(yaml, "cp-1"));
        assert_non_null(strstr(yaml, "10.244.0.0/16"));
        assert_null(strstr(yaml, "JoinConfiguration"));
        assert_null(strstr(yaml, ca_key_line));
        assert_mode(e, KUBEADM_CONFIG_PATH, 0600);

        /* /root/.kube/config: admin.conf, 0600. */
        _cleanup_free_ char *kubeconfig = read_rel(e, "/root/.kube/config");
        assert_string_equal(kubeconfig, FAKE_ADMIN_CONF);
        assert_mode(e, "/root/.kube/config", 0600);

        _cleanup_free_ char *hostname = read_rel(e, "/etc/hostname"), *hosts = read_rel(e, "/etc/hosts");
        assert_string_equal(hostname, "cp-1\n");
        assert_non_null(strstr(hosts, "127.0.1.1\tcp-1\n"));

        assert_all_done(e, NODE_ROLE_CONTROL_PLANE);
        {
                _cleanup_state_ struct state *s = load_state(e);
                const struct state_step *md = step_of(s, STEP_METADATA);
                _cleanup_free_ char *detail =
                        strdupf("directory %s: role control-plane, instance-id iid-a", e->seed);
                assert_string_equal(md->detail, detail);
                assert_int_equal(md->start, NOW);
                assert_string_equal(step_of(s, STEP_UNTAINT)->detail, "removed "
                                                                      "node-role.kubernetes.io/control-plane"
                                                                      " from cp-1: it schedules "
                                                                      "workloads");
                assert_string_equal(step_of(s, STEP_IMAGES)->detail,
                                    "no preloaded images in " PREFLOADED_IMAGES_DIR);
                /* The image ships no add-ons, so no CNI: the node-local bridge. */
                assert_string_equal(step_of(s, STEP_POD_NETWORK)->detail,
                                    "no CNI add-on: node-local bridge kubeseed0 for 10.244.1.0/24 in "
                                    "/etc/cni/net.d/99-kubeseed-bridge.conflist");
        }
        _cleanup_free_ char *conflist = read_rel(e, "/etc/cni/net.d/99-kubeseed-bridge.conflist");
        assert_non_null(strstr(conflist, "\"subnet\": \"10.244.1.0/24\""));
        assert_mode(e, "/etc/cni/net.d/99-kubeseed-bridge.conflist", 0644);
        assert_mode(e, STATE_PATH, 0644);
        assert_true(exists_rel(e, AGENT_DONE_PATH));
        _cleanup_free_ char *iid = read_rel(e, SOURCES_INSTANCE_ID_PATH);
        assert_int_equal(strncmp(iid, "iid-a", 5), 0);

        _cleanup_free_ char *facts = read_rel(e, FACTS_PATH);
        _cleanup_free_ char *facts_want = facts_expected(e, "cp-1", "control-plane", strlen(ud));
        assert_string_equal(facts, facts_want);
        assert_mode(e, FACTS_PATH, 0644);

        assert_last_line(e, "kubeseed-firstboot: finished: ok");

        /* The token only in kubeadm.yaml (and the seed it came from); the CA
         * key only in ca.key. The console, state and facts files included. */
        const char *token_ok[] = {"/root" KUBEADM_CONFIG_PATH, "/seed/user-data", NULL};
        assert_secret_only_in(e, TOKEN, token_ok);
        const char *key_ok[] = {"/root" CA_KEY_PATH, "/seed/user-data", NULL};
        assert_secret_only_in(e, ca_key_line, key_ok);
}

/* ---- add-ons ------------------------------------------------------------------ */

/* An image catalogue with three add-ons: net (cni), store (storage), ui
 * (depends on storage); each one manifest, checked by one deployment.
 * `net_manifest` lets a test change net's bytes (and so its digest). */
static void write_addon_catalog(const struct env *e, const char *net_manifest) {
        static const char *const names[] = {"net", "store", "ui"};
        static const char *const cats[] = {"cni", "storage", "ui"};
        _cleanup_free_ char *cat = strdup("");
        for (size_t i = 0; i < 3; i++) {
                _cleanup_free_ char *m = strdupf("kind: ConfigMap\napiVersion: v1\nmetadata: {name: %s}\n%s",
                                                 names[i], i == 0 && net_manifest ? net_manifest : "");
                _cleanup_free_ char *rel = strdupf(ADDON_IMAGE_DIR "/%s/01-m.yaml", names[i]);
                _cleanup_free_ char *path = join(e->root, rel), *dir = strdup(path);
                *strrchr(dir, '/') = '\0';
                assert_int_equal(mkdir_p(dir, 0755), 0);
                mkfile(path, m);
                char hex[SHA256_HEX_LEN + 1];
                assert_int_equal(sha256_buffer(m, strlen(m), hex), 0);
                char *next = strdupf(
                        "%s---\nname: %s\ncategory: %s\ndefault: true\n%s"
                        "manifests: [{file: 01-m.yaml, sha256: %s}]\n"
                        "ready: {timeout: 60s, checks: [{kind: deployment, namespace: ns, name: %s-d}]}\n",
                        cat, names[i], cats[i], i == 2 ? "depends: [storage]\n" : "", hex, names[i]);
                assert_non_null(next);
                free(cat);
                cat = next;
        }
        _cleanup_free_ char *path = join(e->root, ADDON_CATALOG_PATH);
        mkfile(path, cat);
}

static size_t count_calls(const char *needle) {
        size_t n = 0;
        for (char **c = fp.calls; c && *c; c++)
                n += strstr(*c, needle) != NULL;
        return n;
}

static void test_addons_unknown(void **state) {
        struct env *e = *state;
        write_addon_catalog(e, NULL);
        seed_control_plane(e, "  addons: [net, nope]\n");
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), -EINVAL);
        assert_last_line(
                e, "kubeseed-firstboot: finished: failed: metadata: kubeseed.addons: unknown add-on 'nope' "
                   "(this image has: net, store, ui)");
        assert_false(called_with_prefix("kubeadm"));

        clear_calls();
        seed_control_plane(e, "  addons: [ui]\n");
        assert_int_equal(agent_run(&o), -EINVAL);
        assert_last_line(
                e, "kubeseed-firstboot: finished: failed: metadata: kubeseed.addons: add-on ui needs a "
                   "storage add-on, and none is selected");
}

/* A failing readiness check: named with its last status; what depends on
 * it is not started; the next run applies only what is not done; a changed
 * manifest is applied again. */
static void test_addons_failure_and_resume(void **state) {
        struct env *e = *state;
        write_addon_catalog(e, NULL);
        seed_control_plane(e, NULL);
        fp.never_ready = "store-d";
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), -ETIMEDOUT);
        assert_last_line(
                e, "kubeseed-firstboot: finished: failed: addon-store: add-on store: deployment ns/store-d "
                   "not ready after 100 s (last status: 0 of 1 replicas available, 0 updated) (and 1 "
                   "more add-on failed or not started)");
        assert_int_equal(count_calls("apply --filename"), 2); /* net, store; never ui */
        assert_true(count_calls("/var/lib/kubeseed/addons/net/01-m.yaml") == 1);
        {
                _cleanup_state_ struct state *s = load_state(e);
                const struct state_step *net = step_of(s, "addon-net");
                assert_int_equal(net->status, STEP_DONE);
                assert_non_null(net->digest);
                assert_int_equal(step_of(s, "addon-store")->status, STEP_FAILED);
                assert_string_equal(step_of(s, "addon-ui")->reason,
                                    "not started: it depends on store, which failed");
                /* The add-on steps come after the control plane's own. */
                assert_int_equal(step_of(s, STEP_UNTAINT)->status, STEP_DONE);
        }
        _cleanup_free_ char *status = status_of(e, false);
        assert_non_null(strstr(status, "addon-store"));
        assert_non_null(strstr(status, "addon-ui"));

        /* Fixed: store and ui run, net is not applied again. */
        clear_calls();
        fp.never_ready = NULL;
        assert_int_equal(agent_run(&o), 0);
        assert_int_equal(count_calls("addons/net/"), 0);
        assert_int_equal(count_calls("apply --filename"), 2);
        assert_false(called_with_prefix("kubeadm init"));

        /* A new image with other manifests for net: net alone again. */
        clear_calls();
        write_addon_catalog(e, "data: {changed: \"yes\"}\n");
        assert_int_equal(agent_run(&o), 0);
        assert_int_equal(count_calls("apply --filename"), 1);
        assert_int_equal(count_calls("addons/net/01-m.yaml"), 1);
        _cleanup_free_ char *rendered = read_rel(e, "/var/lib/kubeseed/addons/net/01-m.yaml");
        assert_non_null(strstr(rendered, "changed"));
}

static void test_control_plane_with_workers(void **state) {
        struct env *e = *state;
        seed_control_plane(e, "  workers: 2\n");
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);
        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "cp-1");
        const char *want[] = {VERSION_CALL, INIT, cidrs, NULL};
        assert_calls(want);
        assert_all_done(e, NODE_ROLE_CONTROL_PLANE);
        _cleanup_state_ struct state *s = load_state(e);
        assert_string_equal(step_of(s, STEP_UNTAINT)->detail,
                            "kept the control-plane taint: the cluster has workers");
        assert_last_line(e, "kubeseed-firstboot: finished: ok");
}

/* ---- worker -------------------------------------------------------------------- */

static void test_worker(void **state) {
        struct env *e = *state;
        seed_worker(e, META_WORKER);
        /* The API server is not up yet, then it is. */
        static const struct fake_reply script[] = {
                {.r = -ECONNREFUSED,
                 .error = "Failed to connect to 10.0.0.10 port 6443: Connection refused"},
                {.r = 0, .status = 200},
        };
        fh.script = script;
        fh.n_script = ELEMENTSOF(script);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);

        assert_int_equal(fh.calls, 2);
        assert_string_equal(fh.url, HEALTHZ);
        assert_int_equal(strv_length(fh.pins), 1);
        assert_string_equal(fh.pins[0], ca.hash);
        assert_null(fh.pinned_pem); /* no ca-cert in the metadata: the server must send its CA */

        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "worker-1");
        const char *want[] = {VERSION_CALL, JOIN, cidrs, NULL};
        assert_calls(want);
        assert_false(called_with_prefix("kubeadm init"));

        _cleanup_free_ char *yaml = read_rel(e, KUBEADM_CONFIG_PATH);
        assert_non_null(strstr(yaml, "kind: JoinConfiguration"));
        assert_non_null(strstr(yaml, TOKEN));
        assert_non_null(strstr(yaml, ca.hash));
        assert_non_null(strstr(yaml, ENDPOINT));
        assert_null(strstr(yaml, "InitConfiguration"));
        assert_mode(e, KUBEADM_CONFIG_PATH, 0600);
        assert_false(exists_rel(e, CA_KEY_PATH));
        assert_false(exists_rel(e, "/root/.kube/config"));

        assert_all_done(e, NODE_ROLE_WORKER);
        _cleanup_state_ struct state *s = load_state(e);
        _cleanup_free_ char *detail = strdupf(HEALTHZ " answered after 2 attempts (CA pinned: %s)", ca.hash);
        assert_string_equal(step_of(s, STEP_WAIT_API)->detail, detail);
        assert_string_equal(step_of(s, STEP_KUBEADM_JOIN)->detail, "worker-1 joined " ENDPOINT);
        assert_true(exists_rel(e, AGENT_DONE_PATH));
        assert_last_line(e, "kubeseed-firstboot: finished: ok");
        const char *token_ok[] = {"/root" KUBEADM_CONFIG_PATH, "/seed/user-data", NULL};
        assert_secret_only_in(e, TOKEN, token_ok);
}

/* With the CA's certificate in the metadata (what kubeseed plan writes),
 * the wait verifies the server with it: kube-apiserver sends no CA. */
static void test_worker_with_ca_cert(void **state) {
        struct env *e = *state;
        _cleanup_free_ char *pem = tu_indent(ca.cert, "      ");
        _cleanup_free_ char *ud = strdupf("#cloud-config\nkubeseed:\n  role: worker\n  cluster:\n"
                                          "    endpoint: " ENDPOINT "\n    token: " TOKEN "\n"
                                          "    ca-cert-hash: %s\n    ca-cert: |\n%s"
                                          "  node:\n    labels: {disk: ssd, example.com/zone: a}\n",
                                          ca.hash, pem);
        write_seed(e, META_WORKER, ud);
        static const struct fake_reply script[] = {{.r = 0, .status = 200}};
        fh.script = script;
        fh.n_script = ELEMENTSOF(script);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);
        assert_string_equal(fh.pins[0], ca.hash);
        assert_string_equal(fh.pinned_pem, ca.cert);
        /* A worker places no CA (kubeadm join's preflight refuses an existing ca.crt). */
        assert_false(exists_rel(e, CA_CERT_PATH));
        /* The node's labels, for kubelet. */
        _cleanup_free_ char *yaml = read_rel(e, KUBEADM_CONFIG_PATH);
        assert_non_null(strstr(yaml, "- name: node-labels\n    value: disk=ssd,example.com/zone=a\n"));
        assert_last_line(e, "kubeseed-firstboot: finished: ok");
}

static void test_worker_wrong_ca(void **state) {
        struct env *e = *state;
        seed_worker(e, META_WORKER);
        static const struct fake_reply script[] = {
                {.r = -EPERM,
                 .pin_mismatch = true,
                 .error = "no certificate of the chain matches a pinned hash"},
                {.r = 0, .status = 200}, /* never reached: a pin mismatch is not retried */
        };
        fh.script = script;
        fh.n_script = ELEMENTSOF(script);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), -EPERM);

        assert_int_equal(fh.calls, 1);
        assert_false(called_with_prefix("kubeadm join"));
        const char *none[] = {NULL};
        assert_calls(none);

        _cleanup_free_ char *reason =
                strdupf(HEALTHZ " is not signed by the pinned CA %s: refusing to join (no "
                                "certificate of the chain matches a pinned hash)",
                        ca.hash);
        _cleanup_state_ struct state *s = load_state(e);
        const struct state_step *w = step_of(s, STEP_WAIT_API);
        assert_int_equal(w->status, STEP_FAILED);
        assert_string_equal(w->reason, reason);
        assert_int_equal(step_of(s, STEP_KUBEADM_CONFIG)->status, STEP_PENDING);
        assert_int_equal(step_of(s, STEP_KUBEADM_JOIN)->status, STEP_PENDING);
        assert_int_equal(step_of(s, STEP_HOSTNAME)->status, STEP_DONE);
        assert_false(exists_rel(e, AGENT_DONE_PATH));
        assert_false(exists_rel(e, KUBEADM_CONFIG_PATH));

        _cleanup_free_ char *line = strdupf("kubeseed-firstboot: finished: failed: wait-api: %s", reason);
        assert_last_line(e, line);

        /* status --json shows the failure. */
        _cleanup_free_ char *json = status_of(e, true);
        _cleanup_free_ char *frag =
                strdupf("{\"name\":\"wait-api\",\"status\":\"failed\",\"start\":%llu,\"end\":%llu,"
                        "\"reason\":\"%s\",\"detail\":null,\"digest\":null}",
                        NOW, NOW, reason);
        assert_non_null(strstr(json, frag));
        assert_non_null(strstr(json, "{\"name\":\"kubeadm-join\",\"status\":\"pending\",\"start\":null,"
                                     "\"end\":null,\"reason\":null,\"detail\":null,\"digest\":null}"));
}

/* ---- bad metadata -------------------------------------------------------------- */

static void test_bad_token(void **state) {
        struct env *e = *state;
        const char *bad = "s3cret.0123456789ABCDEF"; /* upper case: not a bootstrap token */
        _cleanup_free_ char *ud = worker_user_data(bad);
        write_seed(e, META_WORKER, ud);
        struct agent_options o = run_options(e);
        assert_true(agent_run(&o) < 0);

        const char *none[] = {NULL};
        assert_calls(none);
        assert_int_equal(fh.calls, 0);

        _cleanup_free_ char *reason =
                strdupf("directory %s: user-data:6:12: kubeseed.cluster.token: expected 6 "
                        "lowercase letters or digits, a dot, and 16 more",
                        e->seed);
        _cleanup_free_ char *line = strdupf("kubeseed-firstboot: finished: failed: metadata: %s", reason);
        assert_last_line(e, line);

        _cleanup_state_ struct state *s = load_state(e);
        assert_int_equal(s->n_steps, 1); /* nothing else was planned */
        assert_string_equal(s->steps[0].name, STEP_METADATA);
        assert_int_equal(s->steps[0].status, STEP_FAILED);
        assert_string_equal(s->steps[0].reason, reason);
        assert_false(exists_rel(e, AGENT_DONE_PATH));
        assert_false(exists_rel(e, "/etc/hostname"));
        assert_false(exists_rel(e, FACTS_PATH));
        assert_false(exists_rel(e, KUBEADM_CONFIG_PATH));

        const char *seed_only[] = {"/seed/user-data", NULL};
        assert_secret_only_in(e, bad, seed_only);
        assert_secret_only_in(e, "s3cret", seed_only);
}

/* ---- resuming -------------------------------------------------------------------- */

static void write_image(const struct env *e, const char *name) {
        _cleanup_free_ char *dir = join(e->root, PREFLOADED_IMAGES_DIR);
        assert_int_equal(mkdir_p(dir, 0755), 0);
        _cleanup_free_ char *p = join(dir, name);
        mkfile(p, "not really a tar\n");
}

static void test_resume_kubeadm_init(void **state) {
        struct env *e = *state;
        seed_control_plane(e, NULL);
        /* The last boot died in kubeadm init: every earlier step done. */
        _cleanup_state_ struct state *s = state_new();
        assert_non_null(s);
        const char *const *plan = plan_for_role(NODE_ROLE_CONTROL_PLANE);
        size_t i = 0;
        for (; !streq(plan[i], STEP_KUBEADM_INIT); i++)
                assert_int_equal(state_step_done(s, plan[i], 1000 + i, "earlier"), 0);
        assert_int_equal(state_step_running(s, plan[i], 2000), 0);
        for (i++; plan[i]; i++)
                assert_true(state_ensure_step(s, plan[i]) > 0);
        assert_int_equal(state_save(e->root, s), 0);
        assert_int_equal(sources_record_instance_id(e->root, "iid-a"), 0);
        /* What the half-done init left, and what the earlier steps made. */
        _cleanup_free_ char *pki = join(e->root, "/etc/kubernetes/pki");
        assert_int_equal(mkdir_p(pki, 0755), 0);
        _cleanup_free_ char *stale = join(pki, "/apiserver.crt");
        mkfile(stale, "half-written by the last kubeadm init\n");
        write_image(e, "a.tar"); /* the images step is done: not imported again */

        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);

        _cleanup_free_ char *taint = strdupf(
                "kubectl --kubeconfig %s/etc/kubernetes/admin.conf taint nodes cp-1 " TAINT_KEY, e->root);
        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "cp-1");
        const char *want[] = {VERSION_CALL, CRI_RESET, INIT, cidrs, taint, NULL};
        assert_calls(want);
        assert_false(called_with_prefix("ctr"));
        assert_int_equal(fp.resets, 1);
        /* The reset removed the pki directory; the CA was placed again before init. */
        assert_int_equal(fp.ca_at_init, 1);
        assert_false(exists_rel(e, "/etc/kubernetes/pki/apiserver.crt"));
        assert_mode(e, CA_KEY_PATH, 0600);
        /* Steps done before were not redone. */
        assert_false(exists_rel(e, "/etc/hostname"));
        assert_false(exists_rel(e, FACTS_PATH));

        assert_all_done(e, NODE_ROLE_CONTROL_PLANE);
        _cleanup_state_ struct state *after = load_state(e);
        size_t hostname_at = 0;
        while (!streq(plan[hostname_at], STEP_HOSTNAME))
                hostname_at++;
        assert_int_equal(step_of(after, STEP_HOSTNAME)->start, 1000 + hostname_at);
        assert_string_equal(step_of(after, STEP_HOSTNAME)->detail, "earlier");
        assert_int_equal(step_of(after, STEP_KUBEADM_INIT)->start, NOW);
        assert_true(exists_rel(e, AGENT_DONE_PATH));
        assert_last_line(e, "kubeseed-firstboot: finished: ok");
}

static void test_init_fails_token_redacted(void **state) {
        struct env *e = *state;
        seed_control_plane(e, NULL);
        fp.init_exit = 1;
        fp.init_stderr =
                "[init] Using Kubernetes version: v1.31.1\n"
                "[preflight] Running pre-flight checks\n"
                "error execution phase bootstrap-token: bootstrap token " TOKEN " could not be created\n"
                "\n";
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), -EPROTO);

        const char *reason = "kubeadm init failed (exit status 1): error execution phase bootstrap-token: "
                             "bootstrap token " REDACTED_TOKEN " could not be created";
        _cleanup_state_ struct state *s = load_state(e);
        const struct state_step *init = step_of(s, STEP_KUBEADM_INIT);
        assert_int_equal(init->status, STEP_FAILED);
        assert_string_equal(init->reason, reason);
        assert_int_equal(step_of(s, STEP_KUBECONFIG)->status, STEP_PENDING);
        assert_false(exists_rel(e, AGENT_DONE_PATH));

        _cleanup_free_ char *line =
                strdupf("kubeseed-firstboot: finished: failed: kubeadm-init: %s", reason);
        assert_last_line(e, line);
        /* kubeadm's standard error is logged, redacted. */
        _cleanup_free_ char *console = console_text(e);
        assert_non_null(strstr(console, "[preflight] Running pre-flight checks"));
        const char *token_ok[] = {"/root" KUBEADM_CONFIG_PATH, "/seed/user-data", NULL};
        assert_secret_only_in(e, TOKEN, token_ok);
        /* Nor any piece of it that identifies it. */
        assert_secret_only_in(e, "0123456789abcdef", token_ok);

        /* The next boot: the failed init is retried after a reset. */
        clear_calls();
        fp.init_exit = 0;
        assert_int_equal(agent_run(&o), 0);
        _cleanup_free_ char *taint = strdupf(
                "kubectl --kubeconfig %s/etc/kubernetes/admin.conf taint nodes cp-1 " TAINT_KEY, e->root);
        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "cp-1");
        const char *want[] = {VERSION_CALL, CRI_RESET, INIT, cidrs, taint, NULL};
        assert_calls(want);
        assert_int_equal(fp.ca_at_init, 1);
        assert_all_done(e, NODE_ROLE_CONTROL_PLANE);
        assert_last_line(e, "kubeseed-firstboot: finished: ok");
}

static void test_second_run(void **state) {
        struct env *e = *state;
        seed_control_plane(e, NULL);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);
        assert_int_equal(strv_length(fp.calls), 4);
        _cleanup_free_ char *before = read_rel(e, STATE_PATH);

        clear_calls();
        assert_int_equal(agent_run(&o), 0);
        const char *none[] = {NULL};
        assert_calls(none);
        assert_int_equal(fh.calls, 0);
        _cleanup_free_ char *after = read_rel(e, STATE_PATH);
        assert_string_equal(before, after); /* the same clock: the metadata step's record is the same */
        assert_all_done(e, NODE_ROLE_CONTROL_PLANE);
        assert_last_line(e, "kubeseed-firstboot: finished: ok");
        _cleanup_free_ char *console = console_text(e);
        /* Only the metadata step ran the second time. */
        const char *second = strstr(console, "finished: ok\n");
        assert_non_null(second);
        assert_non_null(strstr(second, "Step metadata: running"));
        assert_null(strstr(second, "Step hostname"));
        assert_null(strstr(second, "Step kubeadm-init"));
}

static void test_role_changed(void **state) {
        struct env *e = *state;
        seed_worker(e, META_WORKER);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);
        assert_all_done(e, NODE_ROLE_WORKER);

        /* Same instance, now a control plane. */
        clear_calls();
        seed_control_plane(e, NULL);
        assert_int_equal(agent_run(&o), -EEXIST);
        const char *none[] = {NULL};
        assert_calls(none);
        assert_last_line(
                e, "kubeseed-firstboot: finished: failed: metadata: the state file records step 'wait-api', "
                   "which a control-plane does not run: the node's role changed since its first boot "
                   "(reset the node to change its role)");
        /* The worker's record is kept as it was. */
        _cleanup_state_ struct state *s = load_state(e);
        assert_int_equal(step_of(s, STEP_KUBEADM_JOIN)->status, STEP_DONE);
        assert_null(state_find(s, STEP_KUBEADM_INIT));
        assert_false(exists_rel(e, CA_KEY_PATH));
        /* ... and the refusal is recorded, so `status` shows it. */
        assert_int_equal(step_of(s, STEP_METADATA)->status, STEP_FAILED);
        assert_non_null(strstr(step_of(s, STEP_METADATA)->reason, "role changed"));
}

static void test_instance_id_changed(void **state) {
        struct env *e = *state;
        seed_worker(e, META_WORKER);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);

        /* The disk now boots another instance. */
        clear_calls();
        clock_now = NOW + 3600;
        seed_worker(e, "instance-id: iid-b\nlocal-hostname: worker-2\n");
        assert_int_equal(agent_run(&o), 0);

        /* The plan started again: everything ran a second time, the join after
         * a reset (the old instance's kubelet.conf is there). */
        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "worker-2");
        const char *want[] = {VERSION_CALL, CRI_RESET, JOIN, cidrs, NULL};
        assert_calls(want);
        assert_int_equal(fh.calls, 1);
        _cleanup_free_ char *hostname = read_rel(e, "/etc/hostname");
        assert_string_equal(hostname, "worker-2\n");
        _cleanup_free_ char *iid = read_rel(e, SOURCES_INSTANCE_ID_PATH);
        assert_int_equal(strncmp(iid, "iid-b", 5), 0);

        assert_all_done(e, NODE_ROLE_WORKER);
        _cleanup_state_ struct state *s = load_state(e);
        for (size_t i = 0; i < s->n_steps; i++)
                assert_int_equal(s->steps[i].start, NOW + 3600);
        _cleanup_free_ char *detail = strdupf("directory %s: role worker, instance-id iid-b", e->seed);
        assert_string_equal(step_of(s, STEP_METADATA)->detail, detail);

        /* The old state, aside: instance A's steps and times. */
        _cleanup_free_ char *prev_path = join(e->root, STATE_PATH ".previous");
        _cleanup_free_ char *prev = tu_read(prev_path, NULL);
        _cleanup_state_ struct state *p = NULL;
        assert_int_equal(state_parse(prev, strlen(prev), &p, NULL), 0);
        assert_int_equal(step_of(p, STEP_KUBEADM_JOIN)->status, STEP_DONE);
        assert_int_equal(step_of(p, STEP_HOSTNAME)->start, NOW);
        assert_string_equal(step_of(p, STEP_HOSTNAME)->detail, "worker-1");
        /* Exactly as it was before this boot: instance A's metadata record. */
        assert_non_null(strstr(step_of(p, STEP_METADATA)->detail, "instance-id iid-a"));
        assert_last_line(e, "kubeseed-firstboot: finished: ok");
}

/* ---- status ------------------------------------------------------------------ */

static void test_status(void **state) {
        struct env *e = *state;
        _cleanup_free_ char *empty = status_of(e, false);
        assert_string_equal(empty, "no steps recorded (the agent has not run)\n");

        seed_control_plane(e, NULL);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);

        _cleanup_free_ char *text = status_of(e, false);
        const char *const *plan = plan_for_role(NODE_ROLE_CONTROL_PLANE);
        const char *p = text;
        for (size_t i = 0; plan[i]; i++) {
                _cleanup_free_ char *head =
                        strdupf("%-12s done     " NOW_TEXT " .. " NOW_TEXT "  ", plan[i]);
                if (strncmp(p, head, strlen(head)) != 0)
                        fail_msg("status line %zu: '%.*s', expected it to start with '%s'", i,
                                 (int) strcspn(p, "\n"), p, head);
                p = strchr(p, '\n');
                assert_non_null(p);
                p++;
        }
        assert_string_equal(p, "");
        assert_non_null(strstr(text, "\nkubeadm-init done     " NOW_TEXT " .. " NOW_TEXT
                                     "  control plane cp-1 initialised (Kubernetes v1.31.1)\n"));
        assert_null(strstr(text, TOKEN));

        _cleanup_free_ char *json = status_of(e, true);
        _cleanup_free_ char *md =
                strdupf("{\"format\":1,\"steps\":[{\"name\":\"metadata\",\"status\":\"done\","
                        "\"start\":%llu,\"end\":%llu,\"reason\":null,\"detail\":\"directory %s: "
                        "role control-plane, instance-id iid-a\",\"digest\":null},",
                        NOW, NOW, e->seed);
        assert_int_equal(strncmp(json, md, strlen(md)), 0);
        _cleanup_free_ char *last =
                strdupf("{\"name\":\"untaint\",\"status\":\"done\",\"start\":%llu,\"end\":%llu,"
                        "\"reason\":null,\"detail\":\"removed node-role.kubernetes.io/"
                        "control-plane from cp-1: it schedules workloads\",\"digest\":null}]}\n",
                        NOW, NOW);
        size_t jl = strlen(json), ll = strlen(last);
        assert_true(jl > ll);
        assert_string_equal(json + jl - ll, last);
        assert_null(strstr(json, TOKEN));
        assert_true(strchr(json, '\n') == json + jl - 1); /* one line */
}

/* kubeadm prints nothing: a clear failure, kubeadm is not run. */
static void test_kubeadm_version_silent(void **state) {
        struct env *e = *state;
        seed_control_plane(e, NULL);
        fp.version_silent = true;
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), -EBADMSG);
        const char *want[] = {VERSION_CALL, NULL};
        assert_calls(want);
        assert_last_line(
                e, "kubeseed-firstboot: finished: failed: kubeadm-config: kubeadm version printed '', not "
                   "a version");
        assert_false(exists_rel(e, KUBEADM_CONFIG_PATH));
}

/* kubectl taint: a taint that is not there is what we want; a node that is
 * not there (yet) is not, and is retried. */
static void test_untaint_not_found(void **state) {
        struct env *e = *state;
        seed_control_plane(e, NULL);
        static const struct fake_reply_proc kubectl[] = {
                {1, "Error from server (NotFound): nodes \"cp-1\" not found\n"},
                {1, "error: taint \"node-role.kubernetes.io/control-plane\" not found\n"},
        };
        fp.kubectl = kubectl;
        fp.n_kubectl = ELEMENTSOF(kubectl);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);
        _cleanup_free_ char *taint = strdupf(
                "kubectl --kubeconfig %s/etc/kubernetes/admin.conf taint nodes cp-1 " TAINT_KEY, e->root);
        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "cp-1");
        const char *want[] = {VERSION_CALL, INIT, cidrs, taint, taint, NULL};
        assert_calls(want);
        assert_int_equal(fp.kubectl_calls, 2);
        assert_all_done(e, NODE_ROLE_CONTROL_PLANE);
        assert_last_line(e, "kubeseed-firstboot: finished: ok");
}

/* ---- where the metadata comes from -------------------------------------------- */

/* blk ops: three devices, none a seed. */
static int three_list(void *userdata, char ***ret) {
        (void) userdata;
        char **v = NULL;
        if (strv_push(&v, "/dev/vda") < 0 || strv_push(&v, "/dev/vda1") < 0 ||
            strv_push(&v, "/dev/sr0") < 0) {
                strv_free(v);
                return -ENOMEM;
        }
        *ret = v;
        return 0;
}
static int three_probe(void *userdata, const char *path, struct blk_device **ret) {
        (void) userdata;
        if (streq(path, "/dev/sr0"))
                return 0;
        struct blk_device *d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->path = strdup(path);
        d->type = strdup("ext4");
        d->label = strdup("rootfs");
        *ret = d;
        return 1;
}
static const struct blk_ops three_ops = {.list_devices = three_list, .probe = three_probe};

/* No source at all: the metadata step fails, nothing else is planned or run;
 * the next boot that has metadata goes on. */
static void test_no_metadata(void **state) {
        struct env *e = *state;
        static const struct fake_reply refused[] = {{.r = -ECONNREFUSED, .error = "Connection refused"}};
        fh.script = refused; /* no metadata service either */
        fh.n_script = ELEMENTSOF(refused);
        struct agent_options o = run_options(e);
        o.seed_dir = NULL;
        o.cmdline = "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro console=ttyS0";
        o.blk_ops = &three_ops;
        o.seed_attempts = 1;
        o.imds_url = "http://127.0.0.1:9";
        assert_true(agent_run(&o) < 0);

        const char *none[] = {NULL};
        assert_calls(none);
        {
                _cleanup_state_ struct state *s = load_state(e);
                assert_int_equal(s->n_steps, 1);
                assert_string_equal(s->steps[0].name, STEP_METADATA);
                assert_int_equal(s->steps[0].status, STEP_FAILED);
                assert_non_null(strstr(s->steps[0].reason, "cidata/CIDATA"));
                _cleanup_free_ char *last = console_last_line(e);
                _cleanup_free_ char *want =
                        strdupf("kubeseed-firstboot: finished: failed: metadata: %s", s->steps[0].reason);
                assert_string_equal(last, want);
        }
        assert_false(exists_rel(e, AGENT_DONE_PATH));
        assert_false(exists_rel(e, FACTS_PATH));

        /* The next boot has a seed. */
        fh.script = reply_ok;
        fh.n_script = ELEMENTSOF(reply_ok);
        seed_control_plane(e, "  workers: 2\n");
        o = run_options(e);
        assert_int_equal(agent_run(&o), 0);
        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "cp-1");
        const char *want[] = {VERSION_CALL, INIT, cidrs, NULL};
        assert_calls(want);
        assert_all_done(e, NODE_ROLE_CONTROL_PLANE);
        assert_last_line(e, "kubeseed-firstboot: finished: ok");
}

/* A corrupted state file stops the agent with a clear reason, before anything runs. */
static void test_corrupt_state(void **state) {
        struct env *e = *state;
        _cleanup_free_ char *dir = join(e->root, "/var/lib/kubeseed");
        assert_int_equal(mkdir_p(dir, 0755), 0);
        _cleanup_free_ char *path = join(e->root, STATE_PATH);
        mkfile(path, "kubeseed-state 1\nstep name=metadata status=maybe start=1 end=2\n");
        seed_control_plane(e, NULL);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), -EBADMSG);
        const char *none[] = {NULL};
        assert_calls(none);
        _cleanup_free_ char *want =
                strdupf("kubeseed-firstboot: finished: failed: cannot load the state file: %s: "
                        "line 2: unknown status 'maybe' (expected pending, running, done or "
                        "failed)",
                        path);
        assert_last_line(e, want);
        assert_false(exists_rel(e, AGENT_DONE_PATH));
        assert_false(exists_rel(e, "/etc/hostname"));
        /* Left as it was, for a person to look at. */
        _cleanup_free_ char *after = tu_read(path, NULL);
        assert_string_equal(after, "kubeseed-state 1\nstep name=metadata status=maybe start=1 end=2\n");

        struct agent_options so = {.verb = AGENT_STATUS, .root = e->root, .out = stdout};
        assert_int_equal(agent_status(&so), -EBADMSG);
}

/* Mount ops that "mount" by writing the seed files into the mount point. */
struct fake_mount {
        const char *expect_device;
        const char *user_data;
        char *mounted_at;
        unsigned mounts, umounts;
        bool bad;
};
static int fake_mount(void *userdata, const char *device, const char *fstype, const char *target) {
        struct fake_mount *m = userdata;
        struct stat st;
        if (!streq(device, m->expect_device) || !streq(fstype, "vfat") || stat(target, &st) < 0 ||
            !S_ISDIR(st.st_mode) || (st.st_mode & 07777) != 0700)
                m->bad = true;
        free(m->mounted_at);
        m->mounted_at = strdup(target);
        m->mounts++;
        _cleanup_free_ char *a = path_join_root(target, "/meta-data"),
                            *b = path_join_root(target, "/user-data");
        if (!a || !b || write_file_atomic(a, META_CP, strlen(META_CP), 0644) < 0 ||
            write_file_atomic(b, m->user_data, strlen(m->user_data), 0644) < 0)
                return -EIO;
        return 0;
}
static int fake_umount(void *userdata, const char *target) {
        struct fake_mount *m = userdata;
        if (!m->mounted_at || !streq(target, m->mounted_at))
                m->bad = true;
        m->umounts++;
        _cleanup_free_ char *a = path_join_root(target, "/meta-data"),
                            *b = path_join_root(target, "/user-data");
        if (!a || !b || unlink(a) < 0 || unlink(b) < 0)
                m->bad = true;
        return 0;
}
static const struct seed_mount_ops fake_mount_ops = {.mount = fake_mount, .umount = fake_umount};

static void make_vfat(const char *path, const char *label) {
        char *const argv[] = {"mformat", "-i", (char *) path,  "-C", "-T",
                              "2880",    "-v", (char *) label, "::", NULL};
        struct proc_opts opts = {.timeout_sec = 60, .stdout_fd = -1};
        struct proc_result res = {};
        int r = proc_ops_real.run(argv, &opts, &res);
        if (r < 0)
                fail_msg("mformat failed (%d): %s", r, res.err_tail ? res.err_tail : "");
        proc_result_done(&res);
}

/* The metadata from a NoCloud volume: a fake sysfs and two real vfat images
 * probed by libblkid, a private mount point below ROOT/run, removed after. */
static void test_metadata_from_volume(void **state) {
        struct env *e = *state;
        _cleanup_free_ char *cls = join(e->dir, "/sys/class/block"), *dev = join(e->dir, "/dev");
        _cleanup_free_ char *cls_a = join(cls, "/vda"), *cls_b = join(cls, "/vdb");
        assert_int_equal(mkdir_p(cls_a, 0755), 0);
        assert_int_equal(mkdir_p(cls_b, 0755), 0);
        assert_int_equal(mkdir_p(dev, 0755), 0);
        _cleanup_free_ char *size_a = join(cls_a, "/size"), *size_b = join(cls_b, "/size");
        mkfile(size_a, "2880\n");
        mkfile(size_b, "2880\n");
        _cleanup_free_ char *vda = join(dev, "/vda"), *vdb = join(dev, "/vdb");
        make_vfat(vda, "ROOTISH");
        make_vfat(vdb, "CIDATA");

        _cleanup_free_ char *ud = control_plane_user_data("  workers: 2\n");
        struct fake_mount m = {.expect_device = vdb, .user_data = ud};
        struct blk_system sys = {.class_dir = cls, .dev_dir = dev};
        struct agent_options o = run_options(e);
        o.seed_dir = NULL;
        o.cmdline = "root=/dev/vda1";
        o.blk_userdata = &sys;
        o.mount_ops = &fake_mount_ops;
        o.mount_userdata = &m;
        assert_int_equal(agent_run(&o), 0);
        _cleanup_free_ char *mounted_at = m.mounted_at;
        assert_false(m.bad);
        assert_int_equal(m.mounts, 1);
        assert_int_equal(m.umounts, 1);
        _cleanup_free_ char *run = join(e->root, "/run");
        assert_non_null(mounted_at);
        assert_int_equal(strncmp(mounted_at, run, strlen(run)), 0);
        assert_int_equal(access(mounted_at, F_OK), -1); /* removed */

        _cleanup_state_ struct state *s = load_state(e);
        _cleanup_free_ char *detail = strdupf("nocloud %s: role control-plane, instance-id iid-a", vdb);
        assert_string_equal(step_of(s, STEP_METADATA)->detail, detail);
        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "cp-1");
        const char *want[] = {VERSION_CALL, INIT, cidrs, NULL};
        assert_calls(want);
        assert_all_done(e, NODE_ROLE_CONTROL_PLANE);
        _cleanup_free_ char *facts = read_rel(e, FACTS_PATH);
        _cleanup_free_ char *src = strdupf("\nsource=nocloud\\s%s\nrole=control-plane\n", vdb);
        assert_non_null(strstr(facts, src));
        assert_last_line(e, "kubeseed-firstboot: finished: ok");
}

/* ---- preloaded images -------------------------------------------------------- */

static void test_images(void **state) {
        struct env *e = *state;
        /* Created in an order that is neither the names' nor its reverse (a
         * directory's own order often is one of those). */
        write_image(e, "kube-proxy.tar");
        write_image(e, "coredns.tar");
        write_image(e, "pause.tar");
        write_image(e, "README");       /* not an archive */
        write_image(e, ".partial.tar"); /* hidden: an unfinished copy */
        seed_control_plane(e, NULL);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);

        char *imports[3];
        const char *names[] = {"coredns.tar", "kube-proxy.tar", "pause.tar"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                imports[i] = strdupf(
                        "ctr --namespace k8s.io images import --no-unpack %s" PREFLOADED_IMAGES_DIR "/%s",
                        e->root, names[i]);
                assert_non_null(imports[i]);
        }
        _cleanup_free_ char *taint = strdupf(
                "kubectl --kubeconfig %s/etc/kubernetes/admin.conf taint nodes cp-1 " TAINT_KEY, e->root);
        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "cp-1");
        const char *want[] = {imports[0], imports[1], imports[2], VERSION_CALL, INIT, cidrs, taint, NULL};
        assert_calls(want);
        for (size_t i = 0; i < ELEMENTSOF(imports); i++)
                free(imports[i]);
        _cleanup_state_ struct state *s = load_state(e);
        assert_string_equal(step_of(s, STEP_IMAGES)->detail,
                            "3 archives imported into containerd (namespace k8s.io)");
}

/* With /etc/kubeseed/image.yaml, every image it lists must be in
 * containerd after the import; a missing one fails the step, named. */
static void test_images_checked(void **state) {
        struct env *e = *state;
        write_image(e, "preload.tar");
        _cleanup_free_ char *yaml = join(e->root, IMAGE_YAML_PATH), *dir = join(e->root, "/etc/kubeseed");
        assert_int_equal(mkdir_p(dir, 0755), 0);
        mkfile(yaml, "profile: p\nimages:\n  - {name: registry.k8s.io/pause:3.10, digest: sha256:x}\n"
                     "  - {name: docker.io/flannel/flannel:v0.26.1, digest: sha256:y}\n");
        fp.ctr_ls_out = "registry.k8s.io/pause:3.10\nregistry.k8s.io/pause:3.10@sha256:aa\n";
        seed_control_plane(e, NULL);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), -ENOENT);
        assert_last_line(
                e, "kubeseed-firstboot: finished: failed: images: 1 of the 2 preloaded images listed in "
                   "/etc/kubeseed/image.yaml are not in containerd after the import (kubeadm would have "
                   "to pull them): docker.io/flannel/flannel:v0.26.1");
        assert_false(called_with_prefix("kubeadm init"));

        clear_calls();
        fp.ctr_ls_out = "docker.io/flannel/flannel:v0.26.1\nregistry.k8s.io/pause:3.10\n";
        assert_int_equal(agent_run(&o), 0);
        _cleanup_state_ struct state *s = load_state(e);
        assert_string_equal(step_of(s, STEP_IMAGES)->detail,
                            "1 archive imported into containerd (namespace k8s.io); all 2 images of "
                            "/etc/kubeseed/image.yaml present");
}

/* ---- the pod network ----------------------------------------------------------- */

/* A worker of a cluster whose add-ons hold a CNI: the add-on's DaemonSet
 * configures the node; the agent writes nothing and asks nothing. */
static void test_pod_network_from_cni_addon(void **state) {
        struct env *e = *state;
        write_addon_catalog(e, NULL);
        seed_worker(e, META_WORKER);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);
        const char *want[] = {VERSION_CALL, JOIN, NULL};
        assert_calls(want);
        _cleanup_state_ struct state *s = load_state(e);
        assert_string_equal(step_of(s, STEP_POD_NETWORK)->detail,
                            "from the CNI add-on net (the control plane applies it)");
        assert_false(exists_rel(e, "/etc/cni/net.d/99-kubeseed-bridge.conflist"));
        /* A worker applies no add-on. */
        assert_int_equal(count_calls("apply"), 0);
}

/* No CNI add-on: the node's pod CIDRs (dual stack here), once allocated,
 * become the node-local bridge's ranges. */
static void test_pod_network_bridge_waits_for_cidrs(void **state) {
        struct env *e = *state;
        write_addon_catalog(e, NULL);
        _cleanup_free_ char *base = worker_user_data(TOKEN), *ud = strdupf("%s  addons: []\n", base);
        write_seed(e, META_WORKER, ud);
        fp.pod_cidrs_late = 1;
        fp.pod_cidrs = "10.244.3.0/24 fd00:10:0:3::/64\n";
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);
        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "worker-1");
        const char *want[] = {VERSION_CALL, JOIN, cidrs, cidrs, NULL};
        assert_calls(want);
        _cleanup_state_ struct state *s = load_state(e);
        assert_string_equal(
                step_of(s, STEP_POD_NETWORK)->detail,
                "no CNI add-on: node-local bridge kubeseed0 for 10.244.3.0/24 and fd00:10:0:3::/64 "
                "in /etc/cni/net.d/99-kubeseed-bridge.conflist");
        _cleanup_free_ char *conflist = read_rel(e, "/etc/cni/net.d/99-kubeseed-bridge.conflist");
        assert_non_null(strstr(conflist, "\"subnet\": \"fd00:10:0:3::/64\""));
        assert_non_null(strstr(conflist, "\"dst\": \"::/0\""));
}

/* A pod CIDR that never comes: a failure naming the node and what
 * allocates it; nothing written. */
static void test_pod_network_no_cidr(void **state) {
        struct env *e = *state;
        seed_worker(e, META_WORKER);
        fp.pod_cidrs_never = true;
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), -ETIMEDOUT);
        assert_last_line(e,
                         "kubeseed-firstboot: finished: failed: pod-network: node worker-1 has no pod CIDR "
                         "after 900 s (last: no pod CIDR allocated yet); the controller-manager allocates "
                         "one from the cluster's pod subnet");
        assert_false(exists_rel(e, "/etc/cni/net.d/99-kubeseed-bridge.conflist"));
        assert_false(exists_rel(e, AGENT_DONE_PATH));
}

/* ---- the bundle's kubeadm settings (image.yaml) ------------------------------------ */

static void write_image_yaml(const struct env *e, const char *text) {
        _cleanup_free_ char *yaml = join(e->root, IMAGE_YAML_PATH), *dir = join(e->root, "/etc/kubeseed");
        assert_int_equal(mkdir_p(dir, 0755), 0);
        mkfile(yaml, text);
}

/* Kubernetes v1.20 (kubeadm.k8s.io/v1beta2, no skipPhases field): the
 * phases on kubeadm init's command line, etcd's tag in the configuration;
 * a joining node skips nothing. */
static void test_image_kubeadm_settings(void **state) {
        struct env *e = *state;
        write_image_yaml(e,
                         "profile: p\nkubernetes:\n  version: v1.20.2\n  kubeadm:\n"
                         "    etcd-image-tag: 3.4.23\n    init-skip-phases: [addon/coredns]\nimages: []\n");
        seed_control_plane(e, "  workers: 1\n");
        fp.version_out = "v1.20.2\n";
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), 0);
        _cleanup_free_ char *cidrs = pod_cidrs_call(e, "cp-1");
        const char *want[] = {VERSION_CALL, INIT " --skip-phases=addon/coredns", cidrs, NULL};
        assert_calls(want);
        _cleanup_free_ char *yaml = read_rel(e, KUBEADM_CONFIG_PATH);
        assert_non_null(strstr(yaml, "apiVersion: kubeadm.k8s.io/v1beta2"));
        assert_non_null(strstr(yaml, "etcd:\n  local:\n    imageTag: \"3.4.23\"\n"));
        assert_non_null(strstr(yaml, "cgroupDriver: systemd"));

        /* A worker from the same image. */
        teardown(state);
        assert_int_equal(setup(state), 0);
        e = *state;
        write_image_yaml(e, "kubernetes:\n  kubeadm:\n    init-skip-phases: [addon/coredns]\n");
        seed_worker(e, META_WORKER);
        fp.version_out = "v1.20.2\n";
        o = run_options(e);
        assert_int_equal(agent_run(&o), 0);
        assert_true(called_with_prefix(JOIN));
        assert_false(count_calls("skip-phases"));
}

/* A damaged image.yaml stops the node before kubeadm, naming file, line and key. */
static void test_image_yaml_broken(void **state) {
        struct env *e = *state;
        write_image_yaml(e, "kubernetes:\n  kubeadm:\n    init-skip-phases: addon/coredns\n");
        seed_control_plane(e, NULL);
        struct agent_options o = run_options(e);
        assert_int_equal(agent_run(&o), -EBADMSG);
        assert_last_line(
                e, "kubeseed-firstboot: finished: failed: kubeadm-config: /etc/kubeseed/image.yaml:3:23: "
                   "kubernetes.kubeadm.init-skip-phases: expected a list");
        assert_false(called_with_prefix("kubeadm init"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_control_plane, setup, teardown),
                cmocka_unit_test_setup_teardown(test_addons_unknown, setup, teardown),
                cmocka_unit_test_setup_teardown(test_images_checked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_addons_failure_and_resume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_control_plane_with_workers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_worker, setup, teardown),
                cmocka_unit_test_setup_teardown(test_worker_with_ca_cert, setup, teardown),
                cmocka_unit_test_setup_teardown(test_worker_wrong_ca, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_token, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resume_kubeadm_init, setup, teardown),
                cmocka_unit_test_setup_teardown(test_init_fails_token_redacted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_second_run, setup, teardown),
                cmocka_unit_test_setup_teardown(test_role_changed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_instance_id_changed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_status, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kubeadm_version_silent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_untaint_not_found, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_metadata, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_metadata_from_volume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_images, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_network_from_cni_addon, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_network_bridge_waits_for_cidrs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pod_network_no_cidr, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_kubeadm_settings, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_yaml_broken, setup, teardown),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
