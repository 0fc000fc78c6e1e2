/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
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
#include "facts.h"
#include "fsutil.h"
#include "macro.h"
#include "proc.h"
#include "seed.h"
#include "state.h"

#define META "instance-id: iid-local01\nlocal-hostname: node-1\n"
#define USER "#cloud-config\nkubeseed:\n  role: worker\n"

/* ---- fixtures ---------------------------------------------------------- */

struct env {
        char dir[64];
        char *root, *seed, *console;
};

static void mkfile(const char *path, const char *text) {
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static char *join(const char *a, const char *b) {
        char *p = path_join_root(a, b);
        assert_non_null(p);
        return p;
}

static int setup(void **state) {
        struct env *e = calloc(1, sizeof *e);
        if (!e)
                return -1;
        snprintf(e->dir, sizeof e->dir, "/tmp/test-firstboot.XXXXXX");
        if (!mkdtemp(e->dir))
                return -1;
        e->root = join(e->dir, "root");
        e->seed = join(e->dir, "seed");
        e->console = join(e->dir, "console");
        if (mkdir_p(e->root, 0755) < 0 || mkdir_p(e->seed, 0755) < 0)
                return -1;
        mkfile(e->console, "");
        *state = e;
        return 0;
}

static int teardown(void **state) {
        struct env *e = *state;
        int r = rm_rf(e->dir);
        free(e->root);
        free(e->seed);
        free(e->console);
        free(e);
        return r < 0 ? -1 : 0;
}

static uint64_t fixed_now(void) {
        return 1714557600; /* 2024-05-01T10:00:00Z */
}

static struct agent_options run_options(const struct env *e, const char *seed_dir) {
        return (struct agent_options){
                .verb = AGENT_RUN,
                .root = e->root,
                .seed_dir = seed_dir,
                .console = e->console,
                .seed_attempts = 1,
                .now = fixed_now,
        };
}

static char *read_rel(const struct env *e, const char *rel) {
        _cleanup_free_ char *p = join(e->root, rel);
        char *data = NULL;
        int r = read_file_full(p, 1 << 20, &data, NULL);
        if (r < 0)
                fail_msg("cannot read %s: %d", p, r);
        return data;
}

static bool exists_rel(const struct env *e, const char *rel) {
        _cleanup_free_ char *p = join(e->root, rel);
        return access(p, F_OK) == 0;
}

static struct state *load_state(const struct env *e) {
        struct state *s = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(state_load(e->root, &s, &err), 1);
        return s;
}

/* The console's last line. */
static char *console_last_line(const struct env *e) {
        char *data = NULL;
        assert_int_equal(read_file_full(e->console, 1 << 20, &data, NULL), 0);
        size_t n = strlen(data);
        assert_true(n > 0 && data[n - 1] == '\n');
        data[n - 1] = '\0';
        char *nl = strrchr(data, '\n');
        char *line = strdup(nl ? nl + 1 : data);
        free(data);
        return line;
}

/* ---- command line ------------------------------------------------------ */

static int parse(struct agent_options *o, ...) {
        char *argv[16] = {"kubeseed-firstboot"};
        int argc = 1;
        va_list ap;
        va_start(ap, o);
        for (const char *a; (a = va_arg(ap, const char *));)
                argv[argc++] = (char *) a;
        va_end(ap);
        return agent_parse_args(argc, argv, o);
}

static void test_args(void **unused) {
        (void) unused;
        struct agent_options o;
        assert_int_equal(parse(&o, NULL), 0);
        assert_int_equal(o.verb, AGENT_RUN);
        assert_null(o.root);

        assert_int_equal(parse(&o, "--root", "/r", "status", "--json", "--debug", NULL), 0);
        assert_int_equal(o.verb, AGENT_STATUS);
        assert_string_equal(o.root, "/r");
        assert_true(o.json);
        assert_true(o.debug);

        assert_int_equal(parse(&o, "run", "--seed-dir", "/s", "--console", "/c", NULL), 0);
        assert_int_equal(o.verb, AGENT_RUN);
        assert_string_equal(o.seed_dir, "/s");
        assert_string_equal(o.console, "/c");

        assert_int_equal(parse(&o, "frobnicate", NULL), -EINVAL);
        assert_int_equal(parse(&o, "run", "status", NULL), -EINVAL);
        assert_int_equal(parse(&o, "run", "--json", NULL), -EINVAL);
        assert_int_equal(parse(&o, "status", "--seed-dir", "/s", NULL), -EINVAL);
        assert_int_equal(parse(&o, "--root", NULL), -EINVAL);
        assert_int_equal(parse(&o, "--bogus", NULL), -EINVAL);
}

/* ---- seed parsing ------------------------------------------------------ */

static void meta_bad(const char *text, const char *expect) {
        struct seed_meta m = {};
        char *err = NULL;
        int r = seed_parse_meta_data(text, strlen(text), &m, &err);
        if (r >= 0)
                fail_msg("meta-data accepted: %s", text);
        assert_null(m.instance_id);
        assert_non_null(err);
        if (!strstr(err, expect))
                fail_msg("message '%s' does not contain '%s'", err, expect);
        free(err);
}

static void test_meta_data(void **unused) {
        (void) unused;
        struct seed_meta m = {};
        char *err = NULL;
        assert_int_equal(seed_parse_meta_data(META, strlen(META), &m, &err), 0);
        assert_string_equal(m.instance_id, "iid-local01");
        assert_string_equal(m.local_hostname, "node-1");
        seed_meta_done(&m);

        /* JSON is YAML; extra keys are ignored; hostname optional. */
        const char *json = "{\"instance-id\": \"i-0abc\", \"public-keys\": [\"x\"]}";
        assert_int_equal(seed_parse_meta_data(json, strlen(json), &m, &err), 0);
        assert_string_equal(m.instance_id, "i-0abc");
        assert_null(m.local_hostname);
        seed_meta_done(&m);

        meta_bad("", "instance-id is missing");
        meta_bad("local-hostname: a\n", "instance-id is missing");
        meta_bad("instance-id: ~\n", "instance-id is missing");
        meta_bad("- a\n- b\n", "1:1: expected a mapping");
        meta_bad("instance-id: [a]\n", "1:14: instance-id: expected a string");
        meta_bad("instance-id: \"a b\"\n", "1:14: instance-id: expected 1-255 printable");
        meta_bad("instance-id: x\nlocal-hostname: bad_name\n", "2:17: local-hostname: expected a hostname");
        meta_bad("instance-id: x\nlocal-hostname: -lead\n", "local-hostname");
        meta_bad("instance-id: x\n  bad: [\n", "2:");
        meta_bad("instance-id: x\ninstance-id: y\n", "2:");

        assert_true(seed_hostname_valid("node-1.example.com"));
        assert_true(seed_hostname_valid("a"));
        assert_false(seed_hostname_valid("a..b"));
        assert_false(seed_hostname_valid("trail-"));
        assert_false(seed_hostname_valid("a.b."));
        assert_false(seed_hostname_valid("x\ny"));
        char label[70];
        memset(label, 'a', 64);
        label[64] = '\0';
        assert_false(seed_hostname_valid(label));
        label[63] = '\0';
        assert_true(seed_hostname_valid(label));
}

static void test_user_data_kind(void **unused) {
        (void) unused;
        static const struct {
                const char *text;
                bool cloud_config;
        } v[] = {
                {"#cloud-config\n", true},
                {"#cloud-config", true},
                {"#cloud-config \r\nx: 1\n", true},
                {"#cloud-configx\n", false},
                {"#!/bin/sh\n", false},
                {" #cloud-config\n", false},
                {"", false},
        };
        for (size_t i = 0; i < ELEMENTSOF(v); i++)
                assert_int_equal(seed_user_data_is_cloud_config(v[i].text, strlen(v[i].text)),
                                 v[i].cloud_config);
}

static void test_facts_text(void **unused) {
        (void) unused;
        struct seed s = {
                .source = "/dev/vdb (vfat, label CIDATA)",
                .meta = {.instance_id = "iid-1", .local_hostname = NULL},
                .user_data = SEED_USER_DATA_OTHER,
                .user_data_size = 42,
        };
        struct facts f = {.machine = "aarch64", .kernel_release = "6.1.0-18-arm64", .seed = &s};
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        assert_int_equal(facts_serialize(&f, &text, &size), 0);
        assert_int_equal(size, strlen(text));
        assert_string_equal(text, "# kubeseed-firstboot machine facts; see docs/firstboot.md\n"
                                  "machine=aarch64\n"
                                  "kernel_release=6.1.0-18-arm64\n"
                                  "instance_id=iid-1\n"
                                  "hostname=\n"
                                  "seed_source=/dev/vdb\\s(vfat,\\slabel\\sCIDATA)\n"
                                  "user_data=other\n"
                                  "user_data_size=42\n");
}

/* ---- the run verb ------------------------------------------------------ */

static void write_seed(const char *dir, const char *meta, const char *user) {
        _cleanup_free_ char *m = join(dir, "meta-data");
        _cleanup_free_ char *u = join(dir, "user-data");
        if (meta)
                mkfile(m, meta);
        if (user)
                mkfile(u, user);
}

static void test_run_seed_dir(void **state) {
        struct env *e = *state;
        write_seed(e->seed, META, USER);
        struct agent_options o = run_options(e, e->seed);
        assert_int_equal(agent_run(&o), 0);

        _cleanup_state_ struct state *s = load_state(e);
        assert_int_equal(s->n_steps, 2);
        assert_string_equal(s->steps[0].name, "seed");
        assert_int_equal(s->steps[0].status, STEP_DONE);
        assert_int_equal(s->steps[0].start, fixed_now());
        assert_int_equal(s->steps[0].end, fixed_now());
        _cleanup_free_ char *source = NULL;
        assert_true(asprintf(&source, "directory %s", e->seed) > 0);
        assert_string_equal(s->steps[0].detail, source);
        assert_string_equal(s->steps[1].name, "report");
        assert_int_equal(s->steps[1].status, STEP_DONE);

        struct utsname u;
        assert_int_equal(uname(&u), 0);
        _cleanup_free_ char *facts = read_rel(e, FACTS_PATH);
        _cleanup_free_ char *esc = NULL, *expect = NULL;
        assert_int_equal(state_escape(source, &esc), 0);
        assert_true(asprintf(&expect,
                             "# kubeseed-firstboot machine facts; see docs/firstboot.md\n"
                             "machine=%s\nkernel_release=%s\ninstance_id=iid-local01\n"
                             "hostname=node-1\nseed_source=%s\nuser_data=cloud-config\n"
                             "user_data_size=%zu\n",
                             u.machine, u.release, esc, strlen(USER)) > 0);
        assert_string_equal(facts, expect);

        _cleanup_free_ char *path = join(e->root, STATE_PATH);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_true(exists_rel(e, AGENT_DONE_PATH));

        _cleanup_free_ char *last = console_last_line(e);
        assert_string_equal(last, "kubeseed-firstboot: finished: ok");
        _cleanup_free_ char *all = NULL;
        assert_int_equal(read_file_full(e->console, 1 << 20, &all, NULL), 0);
        assert_non_null(strstr(all, "meta-data: instance-id iid-local01, local-hostname node-1\n"));
        assert_non_null(strstr(all, "user-data: #cloud-config, 39 bytes\n"));
        /* user-data's content never reaches the console. */
        assert_null(strstr(all, "role"));

        /* Again: nothing to do, still ok, state unchanged. */
        _cleanup_free_ char *before = read_rel(e, STATE_PATH);
        assert_int_equal(agent_run(&o), 0);
        _cleanup_free_ char *after = read_rel(e, STATE_PATH);
        assert_string_equal(before, after);
        _cleanup_free_ char *last2 = console_last_line(e);
        assert_string_equal(last2, "kubeseed-firstboot: finished: ok");
}

/* blk ops: three devices, none a seed. */
static int three_list(void *userdata, char ***ret) {
        (void) userdata;
        char **v = calloc(4, sizeof(char *));
        assert_non_null(v);
        v[0] = strdup("/dev/vda");
        v[1] = strdup("/dev/vda1");
        v[2] = strdup("/dev/sr0");
        *ret = v;
        return 0;
}
static int three_probe(void *userdata, const char *path, struct blk_device **ret) {
        (void) userdata;
        if (streq(path, "/dev/sr0"))
                return 0;
        struct blk_device *d = calloc(1, sizeof *d);
        assert_non_null(d);
        d->path = strdup(path);
        d->type = strdup("ext4");
        d->label = strdup("rootfs");
        *ret = d;
        return 1;
}
static const struct blk_ops three_ops = {.list_devices = three_list, .probe = three_probe};

static void test_run_no_seed(void **state) {
        struct env *e = *state;
        struct agent_options o = run_options(e, NULL);
        o.blk_ops = &three_ops;
        assert_true(agent_run(&o) < 0);

        const char *reason = "no volume labelled cidata/CIDATA found (looked at 3 block devices)";
        {
                _cleanup_state_ struct state *s = load_state(e);
                assert_int_equal(s->n_steps, 2);
                assert_int_equal(s->steps[0].status, STEP_FAILED);
                assert_string_equal(s->steps[0].reason, reason);
                assert_int_equal(s->steps[1].status, STEP_PENDING);
        }
        assert_false(exists_rel(e, AGENT_DONE_PATH));
        assert_false(exists_rel(e, FACTS_PATH));
        _cleanup_free_ char *last = console_last_line(e);
        _cleanup_free_ char *expect = NULL;
        assert_true(asprintf(&expect, "kubeseed-firstboot: finished: failed: seed: %s", reason) > 0);
        assert_string_equal(last, expect);

        /* status shows the failure; --json too. */
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_non_null(f);
        struct agent_options so = {.verb = AGENT_STATUS, .root = e->root, .json = true, .out = f};
        assert_int_equal(agent_status(&so), 0);
        assert_int_equal(fclose(f), 0);
        _cleanup_free_ char *json = NULL;
        assert_true(asprintf(&json,
                             "{\"format\":1,\"steps\":[{\"name\":\"seed\",\"status\":\"failed\","
                             "\"start\":%llu,\"end\":%llu,\"reason\":\"%s\",\"detail\":null},"
                             "{\"name\":\"report\",\"status\":\"pending\",\"start\":null,"
                             "\"end\":null,\"reason\":null,\"detail\":null}]}\n",
                             (unsigned long long) fixed_now(), (unsigned long long) fixed_now(),
                             reason) > 0);
        assert_string_equal(buf, json);

        /* The next boot finds the seed and resumes. */
        write_seed(e->seed, META, NULL);
        o = run_options(e, e->seed);
        assert_int_equal(agent_run(&o), 0);
        _cleanup_state_ struct state *s = load_state(e);
        assert_int_equal(s->steps[0].status, STEP_DONE);
        assert_null(s->steps[0].reason);
        assert_int_equal(s->steps[1].status, STEP_DONE);
        assert_true(exists_rel(e, AGENT_DONE_PATH));
        _cleanup_free_ char *facts = read_rel(e, FACTS_PATH);
        assert_non_null(strstr(facts, "\nuser_data=absent\nuser_data_size=0\n"));
}

static void test_run_bad_meta_data(void **state) {
        struct env *e = *state;
        write_seed(e->seed, "instance-id: x\nlocal-hostname: not_valid\n", USER);
        struct agent_options o = run_options(e, e->seed);
        assert_true(agent_run(&o) < 0);
        _cleanup_state_ struct state *s = load_state(e);
        _cleanup_free_ char *expect = NULL;
        assert_true(asprintf(&expect,
                             "meta-data on directory %s: 2:17: local-hostname: expected a "
                             "hostname (letters, digits, '-' and '.', at most 253 characters)",
                             e->seed) > 0);
        assert_string_equal(s->steps[0].reason, expect);
        _cleanup_free_ char *last = console_last_line(e);
        assert_non_null(strstr(last, "kubeseed-firstboot: finished: failed: seed: meta-data on "));

        /* No meta-data at all. */
        _cleanup_free_ char *m = join(e->seed, "meta-data");
        assert_int_equal(unlink(m), 0);
        assert_true(agent_run(&o) < 0);
        _cleanup_state_ struct state *s2 = load_state(e);
        _cleanup_free_ char *expect2 = NULL;
        assert_true(asprintf(&expect2, "no meta-data file on directory %s", e->seed) > 0);
        assert_string_equal(s2->steps[0].reason, expect2);
}

static void test_run_resumes_after_crash(void **state) {
        struct env *e = *state;
        /* A boot that died in the middle of "report": seed done, report running. */
        _cleanup_free_ char *dir = join(e->root, "/var/lib/kubeseed");
        assert_int_equal(mkdir_p(dir, 0755), 0);
        _cleanup_free_ char *path = join(e->root, STATE_PATH);
        mkfile(path, "kubeseed-state 1\n"
                     "step name=seed status=done start=5 end=6 detail=old\n"
                     "step name=report status=running start=6 end=0\n");
        write_seed(e->seed, META, USER);
        struct agent_options o = run_options(e, e->seed);
        assert_int_equal(agent_run(&o), 0);
        _cleanup_state_ struct state *s = load_state(e);
        assert_int_equal(s->steps[1].status, STEP_DONE);
        assert_int_equal(s->steps[1].start, fixed_now());
        /* seed re-ran: its product (the metadata) lives in memory only. */
        assert_int_equal(s->steps[0].start, fixed_now());
        assert_true(exists_rel(e, FACTS_PATH));
        assert_true(exists_rel(e, AGENT_DONE_PATH));
}

/* A corrupted state file stops the agent with a clear reason. */
static void test_run_corrupt_state(void **state) {
        struct env *e = *state;
        _cleanup_free_ char *dir = join(e->root, "/var/lib/kubeseed");
        assert_int_equal(mkdir_p(dir, 0755), 0);
        _cleanup_free_ char *path = join(e->root, STATE_PATH);
        mkfile(path, "kubeseed-state 1\nstep name=seed status=maybe start=1 end=2\n");
        write_seed(e->seed, META, USER);
        struct agent_options o = run_options(e, e->seed);
        assert_int_equal(agent_run(&o), -EBADMSG);
        _cleanup_free_ char *last = console_last_line(e);
        _cleanup_free_ char *expect = NULL;
        assert_true(asprintf(&expect,
                             "kubeseed-firstboot: finished: failed: cannot load the state file: "
                             "%s: line 2: unknown status 'maybe' (expected pending, running, "
                             "done or failed)",
                             path) > 0);
        assert_string_equal(last, expect);
        assert_false(exists_rel(e, AGENT_DONE_PATH));

        /* status reports it too. */
        struct agent_options so = {.verb = AGENT_STATUS, .root = e->root, .out = stdout};
        assert_int_equal(agent_status(&so), -EBADMSG);
}

/* Mount ops that "mount" by writing the seed files into the mount point. */
struct fake_mount {
        const char *expect_device;
        char *mounted_at;
        unsigned mounts, umounts;
};
static int fake_mount(void *userdata, const char *device, const char *fstype, const char *target) {
        struct fake_mount *m = userdata;
        assert_string_equal(device, m->expect_device);
        assert_string_equal(fstype, "vfat");
        struct stat st;
        assert_int_equal(stat(target, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        m->mounted_at = strdup(target);
        m->mounts++;
        write_seed(target, META, USER);
        return 0;
}
static int fake_umount(void *userdata, const char *target) {
        struct fake_mount *m = userdata;
        assert_string_equal(target, m->mounted_at);
        m->umounts++;
        _cleanup_free_ char *a = join(target, "meta-data"), *b = join(target, "user-data");
        assert_int_equal(unlink(a), 0);
        assert_int_equal(unlink(b), 0);
        return 0;
}
static const struct seed_mount_ops fake_mount_ops = {.mount = fake_mount, .umount = fake_umount};

static void make_vfat(const char *path, const char *label) {
        char *const argv[] = {"mformat", "-i", (char *) path,  "-C", "-T",
                              "2880",    "-v", (char *) label, "::", NULL};
        struct proc_opts opts = {.timeout_sec = 60};
        struct proc_result res = {};
        int r = proc_run(argv, &opts, &res);
        if (r < 0)
                fail_msg("mformat failed (%d): %s", r, res.err_tail ? res.err_tail : "");
        proc_result_done(&res);
}

/* The whole device path: ROOT/sys/class/block + ROOT/dev (a real vfat image,
 * probed by libblkid), a private mount point under ROOT/run, removed after. */
static void test_run_device(void **state) {
        struct env *e = *state;
        _cleanup_free_ char *cls = join(e->root, "/sys/class/block/vdb");
        _cleanup_free_ char *cls2 = join(e->root, "/sys/class/block/vda");
        _cleanup_free_ char *dev = join(e->root, "/dev");
        assert_int_equal(mkdir_p(cls, 0755), 0);
        assert_int_equal(mkdir_p(cls2, 0755), 0);
        assert_int_equal(mkdir_p(dev, 0755), 0);
        _cleanup_free_ char *size = join(cls, "size"), *size2 = join(cls2, "size");
        mkfile(size, "2880\n");
        mkfile(size2, "2880\n");
        _cleanup_free_ char *vda = join(dev, "vda"), *vdb = join(dev, "vdb");
        make_vfat(vda, "ROOTISH");
        make_vfat(vdb, "CIDATA");

        struct fake_mount m = {.expect_device = vdb};
        struct agent_options o = run_options(e, NULL);
        o.mount_ops = &fake_mount_ops;
        o.mount_userdata = &m;
        assert_int_equal(agent_run(&o), 0);
        assert_int_equal(m.mounts, 1);
        assert_int_equal(m.umounts, 1);
        _cleanup_free_ char *run = join(e->root, "/run");
        assert_int_equal(strncmp(m.mounted_at, run, strlen(run)), 0);
        assert_int_equal(access(m.mounted_at, F_OK), -1); /* removed */
        free(m.mounted_at);

        _cleanup_state_ struct state *s = load_state(e);
        _cleanup_free_ char *detail = NULL;
        assert_true(asprintf(&detail, "%s (vfat, label CIDATA)", vdb) > 0);
        assert_string_equal(s->steps[0].detail, detail);
        _cleanup_free_ char *facts = read_rel(e, FACTS_PATH);
        assert_non_null(strstr(facts, "\ninstance_id=iid-local01\nhostname=node-1\n"));
        _cleanup_free_ char *last = console_last_line(e);
        assert_string_equal(last, "kubeseed-firstboot: finished: ok");
}

static void test_status_text(void **state) {
        struct env *e = *state;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_non_null(f);
        struct agent_options so = {.verb = AGENT_STATUS, .root = e->root, .out = f};
        assert_int_equal(agent_status(&so), 0);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(buf, "no steps recorded (the agent has not run)\n");

        write_seed(e->seed, META, USER);
        struct agent_options o = run_options(e, e->seed);
        assert_int_equal(agent_run(&o), 0);
        free(buf);
        buf = NULL;
        f = open_memstream(&buf, &size);
        so.out = f;
        assert_int_equal(agent_status(&so), 0);
        assert_int_equal(fclose(f), 0);
        _cleanup_free_ char *expect = NULL;
        assert_true(asprintf(&expect,
                             "seed         done     2024-05-01T10:00:00Z .. 2024-05-01T10:00:00Z"
                             "  directory %s\n"
                             "report       done     2024-05-01T10:00:00Z .. 2024-05-01T10:00:00Z"
                             "  facts in /var/lib/kubeseed/facts\n",
                             e->seed) > 0);
        assert_string_equal(buf, expect);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_args),
                cmocka_unit_test(test_meta_data),
                cmocka_unit_test(test_user_data_kind),
                cmocka_unit_test(test_facts_text),
                cmocka_unit_test_setup_teardown(test_run_seed_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_no_seed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_bad_meta_data, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_resumes_after_crash, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_corrupt_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_run_device, setup, teardown),
                cmocka_unit_test_setup_teardown(test_status_text, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
