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

#include <cmocka.h>

#include "fsutil.h"
#include "macro.h"
#include "netconfig.h"
#include "steps.h"
#include "strv.h"

#include "testutil.h"

#define GOLDEN "tests/data/netconfig/"

/* Renders GOLDEN<dir>/network-config and compares every file with
 * GOLDEN<dir>/<file name>; `names` lists the files expected, in order. */
static void check_golden(const char *dir, const char *const *names) {
        _cleanup_free_ char *in_path = strdupf(GOLDEN "%s/network-config", dir);
        size_t size = 0;
        _cleanup_free_ char *in = tu_read(in_path, &size);
        struct netconfig n = {};
        _cleanup_free_ char *err = NULL;
        int r = netconfig_render_networkd(in, size, &n, &err);
        if (r < 0)
                fail_msg("%s: %d %s", dir, r, err ? err : "");
        size_t i = 0;
        for (; names[i]; i++) {
                assert_true(i < n.n_files);
                _cleanup_free_ char *want_path = strdupf(GOLDEN "%s/%s", dir, names[i]);
                _cleanup_free_ char *want = tu_read(want_path, NULL);
                _cleanup_free_ char *path = strdupf("/etc/systemd/network/%s", names[i]);
                assert_string_equal(n.files[i].path, path);
                assert_int_equal(n.files[i].size, strlen(n.files[i].content));
                if (!streq(n.files[i].content, want))
                        fail_msg("%s differs:\n--- got\n%s--- want\n%s", want_path, n.files[i].content,
                                 want);
        }
        assert_int_equal(n.n_files, i);
        netconfig_done(&n);
}

static void test_golden(void **unused) {
        (void) unused;
        /* What kubeseed plan writes for a static node (tests/data/plan/cp1). */
        check_golden("static", (const char *const[]){"10-kubeseed-primary.network", NULL});
        check_golden("full",
                     (const char *const[]){"10-kubeseed-eth0.network", "10-kubeseed-storage.network", NULL});
}

static void test_empty(void **unused) {
        (void) unused;
        struct netconfig n = {};
        const char *text = "version: 2\n";
        assert_int_equal(netconfig_render_networkd(text, strlen(text), &n, NULL), 0);
        assert_int_equal(n.n_files, 0);
        netconfig_done(&n);
        text = "version: 2\nethernets: {}\n";
        assert_int_equal(netconfig_render_networkd(text, strlen(text), &n, NULL), 0);
        assert_int_equal(n.n_files, 0);
        netconfig_done(&n);
}

static void test_errors(void **unused) {
        (void) unused;
        static const struct {
                const char *text, *want;
        } cases[] = {
                {"version: 1\nconfig: []\n", "network-config:1:10: version: expected 2"},
                {"ethernets: {}\n", "network-config:1:1: version: expected 2"},
                {"version: 2\nbonds: {}\n",
                 "network-config:2:1: bonds: expected one of the keys version, renderer, "
                 "ethernets (unknown key)"},
                {"version: 2\nethernets:\n  eth0:\n    set-name: lan\n",
                 "network-config:4:5: ethernets.eth0.set-name: expected one of the keys match"},
                {"version: 2\nethernets:\n  \"../x\": {dhcp4: true}\n", "ethernets.../x: expected an id"},
                {"version: 2\nethernets:\n  eth0:\n    dhcp4: maybe\n",
                 "network-config:4:12: ethernets.eth0.dhcp4: expected true or false"},
                {"version: 2\nethernets:\n  eth0:\n    addresses: [10.0.0.1]\n",
                 "network-config:4:17: ethernets.eth0.addresses[0]: expected addresses with their prefix "
                 "length"},
                {"version: 2\nethernets:\n  eth0:\n    addresses: 10.0.0.1/24\n",
                 "ethernets.eth0.addresses: expected a list"},
                {"version: 2\nethernets:\n  eth0:\n    gateway4: fd00::1\n",
                 "ethernets.eth0.gateway4: expected an IPv4 address"},
                {"version: 2\nethernets:\n  eth0:\n    match: {macaddress: 52:54:00}\n",
                 "ethernets.eth0.match.macaddress: expected a MAC address"},
                {"version: 2\nethernets:\n  eth0:\n    match: {driver: virtio}\n",
                 "ethernets.eth0.match.driver: expected one of the keys macaddress, name"},
                {"version: 2\nethernets:\n  eth0:\n    match: {name: \"a b\"}\n",
                 "ethernets.eth0.match.name: expected an interface name"},
                {"version: 2\nethernets:\n  eth0:\n    nameservers: {addresses: [x]}\n",
                 "ethernets.eth0.nameservers.addresses[0]: expected IPv4 or IPv6 addresses"},
                {"version: 2\nethernets:\n  eth0:\n    nameservers: {search: [\"a b\"]}\n",
                 "ethernets.eth0.nameservers.search[0]: expected domain names"},
                {"version: 2\nethernets:\n  eth0:\n    routes: [{to: default}]\n",
                 "ethernets.eth0.routes[0].via: expected the gateway's"},
                {"version: 2\nethernets:\n  eth0:\n    routes: [{to: 10.0.0.1/8, via: 10.0.0.1}]\n",
                 "ethernets.eth0.routes[0].to: expected default or a destination CIDR"},
                {"version: 2\nethernets:\n  eth0:\n    routes: [{to: default, via: 10.0.0.1, metric: -1}]\n",
                 "ethernets.eth0.routes[0].metric: expected a number"},
                {"version: 2\nethernets:\n  eth0:\n    routes: [{to: default, via: 10.0.0.1, table: 5}]\n",
                 "ethernets.eth0.routes[0].table: expected one of the keys to, via, metric"},
                {"version: 2\nethernets:\n  eth0:\n    mtu: 10\n",
                 "ethernets.eth0.mtu: expected a number 68-65535"},
                {"version: 2\nethernets: [eth0]\n", "network-config:2:12: ethernets: expected a mapping"},
                {"- 1\n", "network-config:1:1: expected a mapping"},
                {"version: 2\nethernets:\n  eth0: {dhcp4: true}\n  eth0: {dhcp4: true}\n",
                 "network-config:"},
                {"version: [2\n", "network-config:"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct netconfig n = {.n_files = 99};
                _cleanup_free_ char *err = NULL;
                int r = netconfig_render_networkd(cases[i].text, strlen(cases[i].text), &n, &err);
                if (r != -EBADMSG)
                        fail_msg("case %zu: %d", i, r);
                assert_int_equal(n.n_files, 99); /* untouched */
                if (!err || !strstr(err, cases[i].want))
                        fail_msg("case %zu: '%s' lacks '%s'", i, err ? err : "(null)", cases[i].want);
        }
}

/* ---- the step ------------------------------------------------------------------ */

static char root[64];

static int setup(void **unused) {
        (void) unused;
        snprintf(root, sizeof root, "/tmp/test-netconfig.XXXXXX");
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **unused) {
        (void) unused;
        return rm_rf(root) < 0 ? -1 : 0;
}

static int run_step(const char *network_config, char **detail, char **reason) {
        static struct agent_options o;
        o = (struct agent_options){.root = root};
        struct agent_ctx c = {.o = &o};
        if (network_config) {
                c.md.network_config = strdup(network_config);
                c.md.network_config_size = strlen(network_config);
                c.md.source = strdup("nocloud /dev/vdb");
                assert_non_null(c.md.network_config);
        }
        int r = step_network(&c, detail, reason);
        free(c.md.network_config);
        free(c.md.source);
        return r;
}

static void test_step(void **unused) {
        (void) unused;
        _cleanup_free_ char *detail = NULL, *reason = NULL;
        /* No network-config: nothing written. */
        assert_int_equal(run_step(NULL, &detail, &reason), 0);
        assert_non_null(strstr(detail, "no network-config"));
        _cleanup_free_ char *dir = tu_path(root, "etc/systemd/network");
        assert_int_not_equal(access(dir, F_OK), 0);

        /* The files, below the root; not applied under a root prefix. */
        free(detail);
        detail = NULL;
        _cleanup_free_ char *in = tu_read(GOLDEN "full/network-config", NULL);
        assert_int_equal(run_step(in, &detail, &reason), 0);
        assert_string_equal(detail,
                            "2 systemd-networkd files in /etc/systemd/network, not applied (not the real "
                            "root)");
        _cleanup_free_ char *got = tu_read_in(dir, "10-kubeseed-storage.network", NULL);
        _cleanup_free_ char *want = tu_read(GOLDEN "full/10-kubeseed-storage.network", NULL);
        assert_string_equal(got, want);
        _cleanup_free_ char *path = tu_path(dir, "10-kubeseed-eth0.network");
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        /* Twice is the same. */
        free(detail);
        detail = NULL;
        assert_int_equal(run_step(in, &detail, &reason), 0);

        /* A bad one fails the step with the source and the key. */
        free(detail);
        detail = NULL;
        assert_int_equal(run_step("version: 1\n", &detail, &reason), -EBADMSG);
        assert_non_null(reason);
        assert_non_null(strstr(reason, "nocloud /dev/vdb: network-config:1:10: version: expected 2"));

        /* cloud-init in the image: its business. */
        free(reason);
        reason = NULL;
        _cleanup_free_ char *ci = tu_path(root, "usr/bin/cloud-init");
        assert_int_equal(write_file_atomic_root(root, "/usr/bin/cloud-init", "", 0, 0755), 0);
        assert_int_equal(run_step("version: 1\n", &detail, &reason), 0);
        assert_non_null(strstr(detail, "left to cloud-init"));
        assert_int_equal(unlink(ci), 0);
}

static void test_early(void **unused) {
        (void) unused;
        _cleanup_free_ char *seed = tu_path(root, "seed"), *dir = tu_path(root, "etc/systemd/network");
        assert_int_equal(mkdir(seed, 0700), 0);
        tu_write_in(seed, "meta-data", "instance-id: i-1\n");
        struct agent_options o = {.verb = AGENT_NETWORK, .root = root, .seed_dir = seed};
        /* No network-config: nothing, and no failure. */
        assert_int_equal(netconfig_early(&o), 0);
        assert_int_not_equal(access(dir, F_OK), 0);
        /* A broken seed is the run verb's to report. */
        _cleanup_free_ char *missing = tu_path(root, "nothing-here");
        struct agent_options m = {.verb = AGENT_NETWORK, .root = root, .seed_dir = missing};
        assert_int_equal(netconfig_early(&m), 0);
        /* The files, as the step writes them. */
        _cleanup_free_ char *in = tu_read(GOLDEN "full/network-config", NULL);
        tu_write_in(seed, "network-config", in);
        assert_int_equal(netconfig_early(&o), 0);
        _cleanup_free_ char *got = tu_read_in(dir, "10-kubeseed-storage.network", NULL);
        _cleanup_free_ char *want = tu_read(GOLDEN "full/10-kubeseed-storage.network", NULL);
        assert_string_equal(got, want);
        /* cloud-init in the image: left alone. */
        assert_int_equal(rm_rf(dir), 0);
        assert_int_equal(write_file_atomic_root(root, "/usr/bin/cloud-init", "", 0, 0755), 0);
        assert_int_equal(netconfig_early(&o), 0);
        assert_int_not_equal(access(dir, F_OK), 0);

        /* The verb on the command line. */
        struct agent_options parsed;
        assert_int_equal(agent_parse_args(5,
                                          (char *[]){"kubeseed-firstboot", "network", "--root", root,
                                                     "--debug", NULL},
                                          &parsed),
                         0);
        assert_int_equal(parsed.verb, AGENT_NETWORK);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_errors),
                cmocka_unit_test_setup_teardown(test_step, setup, teardown),
                cmocka_unit_test_setup_teardown(test_early, setup, teardown),
        };
        return cmocka_run_group_tests_name("netconfig", tests, NULL, NULL);
}
