/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "facts.h"
#include "fsutil.h"
#include "macro.h"
#include "seed.h"

#define META "instance-id: iid-local01\nlocal-hostname: node-1\n"

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

        assert_int_equal(parse(&o, "--imds-url", "http://127.0.0.1:8080", "--kubeadm-timeout", "600",
                               "--api-wait-timeout", "86400", NULL),
                         0);
        assert_int_equal(o.verb, AGENT_RUN);
        assert_string_equal(o.imds_url, "http://127.0.0.1:8080");
        assert_int_equal(o.kubeadm_timeout_sec, 600);
        assert_int_equal(o.api_wait_timeout_sec, 86400);
        /* Defaults are 0 ("the agent's default"). */
        assert_int_equal(parse(&o, "run", NULL), 0);
        assert_int_equal(o.kubeadm_timeout_sec, 0);
        assert_int_equal(o.api_wait_timeout_sec, 0);
        assert_null(o.imds_url);
        const char *bad_seconds[] = {"0", "86401", "-1", "10s", "", "abc", "99999999999999999999"};
        for (size_t i = 0; i < ELEMENTSOF(bad_seconds); i++) {
                if (parse(&o, "--kubeadm-timeout", bad_seconds[i], NULL) != -EINVAL)
                        fail_msg("--kubeadm-timeout '%s' accepted", bad_seconds[i]);
                if (parse(&o, "--api-wait-timeout", bad_seconds[i], NULL) != -EINVAL)
                        fail_msg("--api-wait-timeout '%s' accepted", bad_seconds[i]);
        }
        assert_int_equal(parse(&o, "--kubeadm-timeout", NULL), -EINVAL);

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
        struct facts f = {
                .machine = "aarch64",
                .kernel_release = "6.1.0-18-arm64",
                .instance_id = "iid-1",
                .hostname = NULL, /* meta-data without local-hostname */
                .source = "nocloud /dev/vdb (vfat, label CIDATA)",
                .role = "worker",
                .user_data_size = 42,
        };
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        assert_int_equal(facts_serialize(&f, &text, &size), 0);
        assert_int_equal(size, strlen(text));
        assert_string_equal(text, "# kubeseed-firstboot machine facts; see docs/firstboot.md\n"
                                  "machine=aarch64\n"
                                  "kernel_release=6.1.0-18-arm64\n"
                                  "instance_id=iid-1\n"
                                  "hostname=\n"
                                  "source=nocloud\\s/dev/vdb\\s(vfat,\\slabel\\sCIDATA)\n"
                                  "role=worker\n"
                                  "user_data_size=42\n");

        /* Values are escaped like the state file's: one record per line, whatever they hold. */
        struct facts g = {
                .machine = "x86_64",
                .kernel_release = "6.1\t0",
                .instance_id = "i-\\0abc",
                .hostname = "node-1",
                .source = "directory /seed\ndir",
                .role = "control-plane",
                .user_data_size = 0,
        };
        _cleanup_free_ char *t2 = NULL;
        assert_int_equal(facts_serialize(&g, &t2, NULL), 0);
        assert_string_equal(t2, "# kubeseed-firstboot machine facts; see docs/firstboot.md\n"
                                "machine=x86_64\n"
                                "kernel_release=6.1\\t0\n"
                                "instance_id=i-\\\\0abc\n"
                                "hostname=node-1\n"
                                "source=directory\\s/seed\\ndir\n"
                                "role=control-plane\n"
                                "user_data_size=0\n");
}

/* facts_save: FACTS_PATH below the root, 0644, the directory created. */
static void test_facts_save(void **unused) {
        (void) unused;
        char dir[] = "/tmp/test-firstboot.XXXXXX";
        assert_non_null(mkdtemp(dir));
        struct facts f = {.machine = "riscv64",
                          .kernel_release = "6.6",
                          .instance_id = "iid-2",
                          .source = "kernel command line",
                          .role = "worker",
                          .user_data_size = 7};
        assert_int_equal(facts_save(dir, &f), 0);
        _cleanup_free_ char *path = path_join_root(dir, FACTS_PATH), *data = NULL, *want = NULL;
        assert_non_null(path);
        assert_int_equal(read_file_full(path, 1 << 16, &data, NULL), 0);
        assert_int_equal(facts_serialize(&f, &want, NULL), 0);
        assert_string_equal(data, want);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        /* Again: replaced atomically. */
        f.role = "control-plane";
        assert_int_equal(facts_save(dir, &f), 0);
        free(data);
        data = NULL;
        assert_int_equal(read_file_full(path, 1 << 16, &data, NULL), 0);
        assert_non_null(strstr(data, "\nrole=control-plane\n"));
        assert_int_equal(rm_rf(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_args),           cmocka_unit_test(test_meta_data),
                cmocka_unit_test(test_user_data_kind), cmocka_unit_test(test_facts_text),
                cmocka_unit_test(test_facts_save),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
