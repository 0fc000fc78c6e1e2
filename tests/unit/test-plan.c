/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "plan.h"
#include "state.h"
#include "strv.h"

/* The plans, spelled out: a change of order or of a step is a change of the
 * agent's behaviour (and of every state file written before it). */
static const char *const control_plane[] = {
        STEP_METADATA,       STEP_NETWORK,      STEP_REPORT,     STEP_HOSTNAME,    STEP_IMAGES,  STEP_CA,
        STEP_KUBEADM_CONFIG, STEP_KUBEADM_INIT, STEP_KUBECONFIG, STEP_POD_NETWORK, STEP_UNTAINT, NULL,
};
static const char *const joiner[] = {
        STEP_METADATA, STEP_NETWORK,        STEP_REPORT,       STEP_HOSTNAME,    STEP_IMAGES,
        STEP_WAIT_API, STEP_KUBEADM_CONFIG, STEP_KUBEADM_JOIN, STEP_POD_NETWORK, NULL,
};

static void assert_plan(const char *const *got, const char *const *want) {
        assert_non_null(got);
        size_t i = 0;
        for (; want[i]; i++) {
                if (!got[i])
                        fail_msg("plan ends at %zu, expected %s", i, want[i]);
                assert_string_equal(got[i], want[i]);
        }
        assert_null(got[i]);
}

static size_t plan_len(const char *const *plan) {
        size_t n = 0;
        while (plan[n])
                n++;
        return n;
}

static size_t plan_index(const char *const *plan, const char *step) {
        for (size_t i = 0; plan[i]; i++)
                if (streq(plan[i], step))
                        return i;
        fail_msg("no step %s in the plan", step);
        return SIZE_MAX;
}

static void test_plan_for_role(void **unused) {
        (void) unused;
        assert_plan(plan_for_role(NODE_ROLE_CONTROL_PLANE), control_plane);
        assert_plan(plan_for_role(NODE_ROLE_WORKER), joiner);
        assert_plan(plan_for_role(NODE_ROLE_CONTROL_PLANE_JOIN), joiner);
        assert_null(plan_for_role(_NODE_ROLE_INVALID));
        assert_null(plan_for_role(_NODE_ROLE_MAX));

        /* The metadata comes first in every plan: nothing runs on a partial configuration. */
        for (enum node_role r = 0; r < _NODE_ROLE_MAX; r++)
                assert_string_equal(plan_for_role(r)[0], STEP_METADATA);
        /* kubeadm's file before kubeadm; the worker waits for the API before joining. */
        const char *const *cp = plan_for_role(NODE_ROLE_CONTROL_PLANE);
        assert_true(plan_index(cp, STEP_CA) < plan_index(cp, STEP_KUBEADM_INIT));
        assert_true(plan_index(cp, STEP_KUBEADM_CONFIG) < plan_index(cp, STEP_KUBEADM_INIT));
        assert_true(plan_index(cp, STEP_KUBEADM_INIT) < plan_index(cp, STEP_KUBECONFIG));
        const char *const *w = plan_for_role(NODE_ROLE_WORKER);
        assert_true(plan_index(w, STEP_WAIT_API) < plan_index(w, STEP_KUBEADM_JOIN));
        assert_true(plan_index(w, STEP_KUBEADM_CONFIG) < plan_index(w, STEP_KUBEADM_JOIN));
        /* The pod network needs the node registered (its pod CIDR), and
         * comes before anything that schedules pods (untaint, add-ons). */
        assert_true(plan_index(cp, STEP_KUBEADM_INIT) < plan_index(cp, STEP_POD_NETWORK));
        assert_true(plan_index(cp, STEP_POD_NETWORK) < plan_index(cp, STEP_UNTAINT));
        assert_true(plan_index(w, STEP_KUBEADM_JOIN) < plan_index(w, STEP_POD_NETWORK));
}

static void test_step_always(void **unused) {
        (void) unused;
        assert_true(plan_step_always(STEP_METADATA));
        const char *others[] = {STEP_NETWORK,
                                STEP_REPORT,
                                STEP_HOSTNAME,
                                STEP_IMAGES,
                                STEP_CA,
                                STEP_KUBEADM_CONFIG,
                                STEP_KUBEADM_INIT,
                                STEP_KUBECONFIG,
                                STEP_UNTAINT,
                                STEP_POD_NETWORK,
                                STEP_WAIT_API,
                                STEP_KUBEADM_JOIN,
                                "seed",
                                ""};
        for (size_t i = 0; i < ELEMENTSOF(others); i++)
                if (plan_step_always(others[i]))
                        fail_msg("step '%s' runs on every boot", others[i]);
}

/* A state with the first `n_done` steps of `plan` done, then `tail` (if not
 * negative) for the next one; the rest pending or absent. */
static struct state *state_with(const char *const *plan, size_t n_done, int tail, bool add_pending) {
        struct state *s = state_new();
        assert_non_null(s);
        size_t i = 0;
        for (; plan[i] && i < n_done; i++)
                assert_int_equal(state_step_done(s, plan[i], 100 + i, NULL), 0);
        if (tail >= 0 && plan[i]) {
                switch (tail) {
                case STEP_RUNNING:
                        assert_int_equal(state_step_running(s, plan[i], 200), 0);
                        break;
                case STEP_FAILED:
                        assert_int_equal(state_step_running(s, plan[i], 200), 0);
                        assert_int_equal(state_step_failed(s, plan[i], 201, "it broke"), 0);
                        break;
                case STEP_PENDING:
                        assert_true(state_ensure_step(s, plan[i]) >= 0);
                        break;
                default:
                        fail();
                }
                i++;
        }
        for (; add_pending && plan[i]; i++)
                assert_true(state_ensure_step(s, plan[i]) >= 0);
        return s;
}

static void test_next_no_state(void **unused) {
        (void) unused;
        for (enum node_role r = 0; r < _NODE_ROLE_MAX; r++) {
                const char *const *plan = plan_for_role(r);
                size_t i = 99;
                /* No state at all (NULL) and an empty state: the first step after the metadata. */
                assert_int_equal(plan_next(plan, NULL, &i), PLAN_RUN);
                assert_int_equal(i, 1);
                assert_string_equal(plan[i], STEP_NETWORK);
                _cleanup_state_ struct state *s = state_new();
                assert_non_null(s);
                i = 99;
                assert_int_equal(plan_next(plan, s, &i), PLAN_RUN);
                assert_int_equal(i, 1);
                /* Every step pending, as the agent records them before starting. */
                _cleanup_state_ struct state *p = state_with(plan, 0, -1, true);
                i = 99;
                assert_int_equal(plan_next(plan, p, &i), PLAN_RUN);
                assert_int_equal(i, 1);
        }
}

static void test_next_metadata_skipped(void **unused) {
        (void) unused;
        const char *const *plan = plan_for_role(NODE_ROLE_CONTROL_PLANE);
        size_t n = plan_len(plan);
        /* Everything but the metadata done: the metadata's own state does not
         * matter, whatever it is (it ran first, this boot). */
        static const int md_states[] = {-1, STEP_PENDING, STEP_RUNNING, STEP_FAILED, STEP_DONE};
        for (size_t k = 0; k < ELEMENTSOF(md_states); k++) {
                _cleanup_state_ struct state *s = state_new();
                assert_non_null(s);
                switch (md_states[k]) {
                case STEP_PENDING:
                        assert_true(state_ensure_step(s, STEP_METADATA) >= 0);
                        break;
                case STEP_RUNNING:
                        assert_int_equal(state_step_running(s, STEP_METADATA, 5), 0);
                        break;
                case STEP_FAILED:
                        assert_int_equal(state_step_failed(s, STEP_METADATA, 5, "bad token"), 0);
                        break;
                case STEP_DONE:
                        assert_int_equal(state_step_done(s, STEP_METADATA, 5, NULL), 0);
                        break;
                default:
                        break;
                }
                for (size_t i = 1; i < n; i++)
                        assert_int_equal(state_step_done(s, plan[i], 10, NULL), 0);
                size_t i = 99;
                assert_int_equal(plan_next(plan, s, &i), PLAN_DONE);
                assert_int_equal(i, 99); /* untouched */
        }
}

static void test_next_all_done(void **unused) {
        (void) unused;
        for (enum node_role r = 0; r < _NODE_ROLE_MAX; r++) {
                const char *const *plan = plan_for_role(r);
                _cleanup_state_ struct state *s = state_with(plan, plan_len(plan), -1, false);
                assert_true(state_all_done(s));
                size_t i = 99;
                assert_int_equal(plan_next(plan, s, &i), PLAN_DONE);
        }
}

/* Every position, every status of the step there, with and without pending
 * steps recorded after it. */
static void test_next_every_position(void **unused) {
        (void) unused;
        for (enum node_role r = 0; r < _NODE_ROLE_MAX; r++) {
                const char *const *plan = plan_for_role(r);
                size_t n = plan_len(plan);
                for (size_t pos = 1; pos < n; pos++) {
                        static const struct {
                                int status;
                                enum plan_decision want;
                        } cases[] = {
                                {-1, PLAN_RUN}, /* not recorded at all */
                                {STEP_PENDING, PLAN_RUN},
                                {STEP_FAILED, PLAN_RUN},
                                {STEP_RUNNING, PLAN_RESUME},
                        };
                        for (size_t k = 0; k < ELEMENTSOF(cases); k++)
                                for (int pending = 0; pending < 2; pending++) {
                                        _cleanup_state_ struct state *s =
                                                state_with(plan, pos, cases[k].status, pending);
                                        size_t i = 99;
                                        enum plan_decision d = plan_next(plan, s, &i);
                                        if (d != cases[k].want || i != pos)
                                                fail_msg("role %d, step %s, status %d, pending %d: decision "
                                                         "%d "
                                                         "at %zu, expected %d at %zu",
                                                         r, plan[pos], cases[k].status, pending, d, i,
                                                         cases[k].want, pos);
                                }
                }
        }
}

/* The first step not done wins, even when later ones are done (a state
 * written by hand, or a plan that grew a step). */
static void test_next_gap(void **unused) {
        (void) unused;
        const char *const *plan = plan_for_role(NODE_ROLE_WORKER);
        size_t n = plan_len(plan);
        size_t hole = plan_index(plan, STEP_IMAGES);
        _cleanup_state_ struct state *s = state_new();
        assert_non_null(s);
        for (size_t i = 0; i < n; i++)
                if (i != hole)
                        assert_int_equal(state_step_done(s, plan[i], 10, NULL), 0);
        size_t i = 99;
        assert_int_equal(plan_next(plan, s, &i), PLAN_RUN);
        assert_int_equal(i, hole);

        /* A failed step before a running one: the failed one comes first. */
        _cleanup_state_ struct state *t = state_new();
        assert_non_null(t);
        assert_int_equal(state_step_done(t, STEP_NETWORK, 5, NULL), 0);
        assert_int_equal(state_step_failed(t, STEP_HOSTNAME, 5, "x"), 0);
        assert_int_equal(state_step_done(t, STEP_REPORT, 5, NULL), 0);
        assert_int_equal(state_step_running(t, STEP_IMAGES, 6), 0);
        assert_int_equal(plan_next(plan, t, &i), PLAN_RUN);
        assert_string_equal(plan[i], STEP_HOSTNAME);

        /* Steps of the state that the plan does not have do not count. */
        _cleanup_state_ struct state *u = state_with(plan, n, -1, false);
        assert_int_equal(state_step_running(u, "something-else", 7), 0);
        assert_int_equal(plan_next(plan, u, &i), PLAN_DONE);
}

static void test_foreign_step(void **unused) {
        (void) unused;
        const char *const *cp = plan_for_role(NODE_ROLE_CONTROL_PLANE);
        const char *const *w = plan_for_role(NODE_ROLE_WORKER);

        assert_null(plan_foreign_step(cp, NULL));
        _cleanup_state_ struct state *empty = state_new();
        assert_non_null(empty);
        assert_null(plan_foreign_step(cp, empty));

        /* A worker's state, read by a control-plane's plan: wait-api is the first
         * step a control plane does not run. */
        _cleanup_state_ struct state *ws = state_with(w, plan_len(w), -1, false);
        assert_null(plan_foreign_step(w, ws));
        const char *f = plan_foreign_step(cp, ws);
        assert_non_null(f);
        assert_string_equal(f, STEP_WAIT_API);

        /* A worker that only got as far as the steps both roles share: nothing foreign. */
        _cleanup_state_ struct state *early = state_with(w, plan_index(w, STEP_IMAGES), STEP_FAILED, false);
        assert_null(plan_foreign_step(cp, early));

        /* The other way: a control plane's state read by a worker's plan. */
        _cleanup_state_ struct state *cs = state_with(cp, plan_len(cp), -1, false);
        assert_null(plan_foreign_step(cp, cs));
        f = plan_foreign_step(w, cs);
        assert_non_null(f);
        assert_string_equal(f, STEP_CA);

        /* Pending steps count as well: they were the plan of another role. */
        _cleanup_state_ struct state *ps = state_new();
        assert_non_null(ps);
        assert_true(state_ensure_step(ps, STEP_METADATA) >= 0);
        assert_true(state_ensure_step(ps, STEP_KUBEADM_JOIN) >= 0);
        f = plan_foreign_step(cp, ps);
        assert_non_null(f);
        assert_string_equal(f, STEP_KUBEADM_JOIN);

        /* A step of the earlier agent ("seed") is foreign to both. */
        _cleanup_state_ struct state *old = state_new();
        assert_non_null(old);
        assert_int_equal(state_step_done(old, "seed", 1, NULL), 0);
        f = plan_foreign_step(w, old);
        assert_non_null(f);
        assert_string_equal(f, "seed");
}

/* ---- add-on steps ----------------------------------------------------------- */

#define DIGEST_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void test_build(void **unused) {
        (void) unused;
        char *const addons[] = {(char *) "flannel", (char *) "local-path", (char *) "dashboard", NULL};

        /* A control plane: its steps, then one per add-on in the order given. */
        _cleanup_strv_free_ char **cp = NULL;
        assert_int_equal(plan_build(NODE_ROLE_CONTROL_PLANE, addons, &cp), 0);
        size_t n = plan_len(control_plane);
        assert_int_equal(strv_length(cp), n + 3);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(cp[i], control_plane[i]);
        assert_string_equal(cp[n], "addon-flannel");
        assert_string_equal(cp[n + 1], "addon-local-path");
        assert_string_equal(cp[n + 2], "addon-dashboard");
        assert_null(cp[n + 3]);

        /* No add-ons (NULL or empty): the role's plan as it is. */
        _cleanup_strv_free_ char **bare = NULL, **empty = NULL;
        assert_int_equal(plan_build(NODE_ROLE_CONTROL_PLANE, NULL, &bare), 0);
        assert_plan((const char *const *) bare, control_plane);
        assert_int_equal(plan_build(NODE_ROLE_CONTROL_PLANE, (char *const[]){NULL}, &empty), 0);
        assert_plan((const char *const *) empty, control_plane);

        /* Workers and joining control planes never apply add-ons. */
        _cleanup_strv_free_ char **w = NULL, **j = NULL;
        assert_int_equal(plan_build(NODE_ROLE_WORKER, addons, &w), 0);
        assert_plan((const char *const *) w, joiner);
        assert_int_equal(plan_build(NODE_ROLE_CONTROL_PLANE_JOIN, addons, &j), 0);
        assert_plan((const char *const *) j, joiner);

        /* No plan for the role: nothing returned. */
        char **none = NULL;
        assert_int_equal(plan_build(_NODE_ROLE_INVALID, addons, &none), -EINVAL);
        assert_int_equal(plan_build(_NODE_ROLE_MAX, NULL, &none), -EINVAL);
        assert_null(none);

        /* The built plan drives plan_next(): the add-ons after untaint. */
        _cleanup_state_ struct state *s = state_with((const char *const *) cp, n + 1, STEP_RUNNING, false);
        size_t i = 99;
        assert_int_equal(plan_next((const char *const *) cp, s, &i), PLAN_RESUME);
        assert_string_equal(cp[i], "addon-local-path");
}

static void test_addon_name(void **unused) {
        (void) unused;
        assert_string_equal(plan_addon_name("addon-flannel"), "flannel");
        assert_string_equal(plan_addon_name("addon-addon-x"), "addon-x");
        const char *step = "addon-rook-ceph";
        assert_ptr_equal(plan_addon_name(step), step + 6);
        assert_null(plan_addon_name("addon-"));
        assert_null(plan_addon_name("addon"));
        assert_null(plan_addon_name("addons-x"));
        assert_null(plan_addon_name("my-addon-x"));
        assert_null(plan_addon_name(STEP_UNTAINT));
        assert_null(plan_addon_name(""));
        assert_null(plan_addon_name(NULL));
}

static void test_foreign_addon_steps(void **unused) {
        (void) unused;
        char *const addons[] = {(char *) "flannel", NULL};
        _cleanup_strv_free_ char **cp = NULL, **cp_none = NULL;
        assert_int_equal(plan_build(NODE_ROLE_CONTROL_PLANE, addons, &cp), 0);
        assert_int_equal(plan_build(NODE_ROLE_CONTROL_PLANE, NULL, &cp_none), 0);
        const char *const *w = plan_for_role(NODE_ROLE_WORKER);

        /* A control plane that applied flannel and dashboard, dashboard since
         * dropped from the selection: still its own steps. */
        _cleanup_state_ struct state *s = state_with(control_plane, plan_len(control_plane), -1, false);
        assert_int_equal(state_step_done(s, "addon-flannel", 300, NULL), 0);
        assert_int_equal(state_step_done(s, "addon-dashboard", 301, NULL), 0);
        assert_null(plan_foreign_step((const char *const *) cp, s));
        assert_null(plan_foreign_step((const char *const *) cp_none, s));
        assert_null(plan_foreign_step(control_plane, s));

        /* The same add-on steps in a worker's plan are a role change. */
        _cleanup_state_ struct state *ws = state_with(w, plan_len(w), -1, false);
        assert_null(plan_foreign_step(w, ws));
        assert_int_equal(state_step_done(ws, "addon-flannel", 300, NULL), 0);
        const char *f = plan_foreign_step(w, ws);
        assert_non_null(f);
        assert_string_equal(f, "addon-flannel");
        f = plan_foreign_step(plan_for_role(NODE_ROLE_CONTROL_PLANE_JOIN), ws);
        assert_non_null(f);
        assert_string_equal(f, "addon-flannel");

        /* Only "addon-<name>" is let through, not any step starting so. */
        _cleanup_state_ struct state *odd = state_new();
        assert_non_null(odd);
        assert_true(state_ensure_step(odd, "addon-") >= 0);
        f = plan_foreign_step((const char *const *) cp, odd);
        assert_non_null(f);
        assert_string_equal(f, "addon-");
}

struct digests {
        const char *name[4];
        const char *digest[4];
        unsigned calls;
};

static int digest_of(const char *name, char out[80], void *userdata) {
        struct digests *d = userdata;
        d->calls++;
        for (size_t i = 0; i < ELEMENTSOF(d->name) && d->name[i]; i++)
                if (streq(d->name[i], name)) {
                        snprintf(out, 80, "%s", d->digest[i]);
                        return 0;
                }
        return -ENOENT;
}

static void test_reset_changed_addons(void **unused) {
        (void) unused;
        _cleanup_state_ struct state *s = state_new();
        assert_non_null(s);
        assert_int_equal(state_step_done(s, STEP_UNTAINT, 10, NULL), 0);
        /* Done, same digest: kept. */
        assert_int_equal(state_step_done(s, "addon-same", 11, "applied"), 0);
        assert_int_equal(state_step_set_digest(s, "addon-same", DIGEST_A), 0);
        /* Done, another digest: the image's manifests changed. */
        assert_int_equal(state_step_done(s, "addon-changed", 12, "applied"), 0);
        assert_int_equal(state_step_set_digest(s, "addon-changed", DIGEST_A), 0);
        /* Done with no digest (an older agent): cannot tell, run it again. */
        assert_int_equal(state_step_done(s, "addon-nodigest", 13, NULL), 0);
        /* Done, but the image no longer knows the add-on: left alone. */
        assert_int_equal(state_step_done(s, "addon-gone", 14, NULL), 0);
        assert_int_equal(state_step_set_digest(s, "addon-gone", DIGEST_A), 0);
        /* Failed and pending: already to run, not counted. */
        assert_int_equal(state_step_failed(s, "addon-failed", 15, "timed out"), 0);
        assert_true(state_ensure_step(s, "addon-pending") >= 0);

        struct digests d = {
                .name = {"same", "changed", "nodigest", "failed"},
                .digest = {DIGEST_A, DIGEST_B, DIGEST_A, DIGEST_B},
        };
        assert_int_equal(plan_reset_changed_addons(s, digest_of, &d), 2);

        const struct state_step *st = state_find(s, "addon-same");
        assert_int_equal(st->status, STEP_DONE);
        assert_string_equal(st->digest, DIGEST_A);
        assert_string_equal(st->detail, "applied");
        assert_int_equal(st->end, 11);

        st = state_find(s, "addon-changed");
        assert_int_equal(st->status, STEP_PENDING);
        assert_null(st->digest);
        assert_null(st->detail);
        assert_int_equal(st->start, 0);
        assert_int_equal(st->end, 0);

        st = state_find(s, "addon-nodigest");
        assert_int_equal(st->status, STEP_PENDING);

        st = state_find(s, "addon-gone");
        assert_int_equal(st->status, STEP_DONE);
        assert_string_equal(st->digest, DIGEST_A);

        st = state_find(s, "addon-failed");
        assert_int_equal(st->status, STEP_FAILED);
        assert_string_equal(st->reason, "timed out");
        assert_int_equal(state_find(s, "addon-pending")->status, STEP_PENDING);
        /* Other steps are never looked at. */
        assert_int_equal(state_find(s, STEP_UNTAINT)->status, STEP_DONE);

        /* Again: nothing left to reset. */
        assert_int_equal(plan_reset_changed_addons(s, digest_of, &d), 0);
        /* No state: nothing. */
        d.calls = 0;
        assert_int_equal(plan_reset_changed_addons(NULL, digest_of, &d), 0);
        assert_int_equal(d.calls, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan_for_role),
                cmocka_unit_test(test_step_always),
                cmocka_unit_test(test_next_no_state),
                cmocka_unit_test(test_next_metadata_skipped),
                cmocka_unit_test(test_next_all_done),
                cmocka_unit_test(test_next_every_position),
                cmocka_unit_test(test_next_gap),
                cmocka_unit_test(test_foreign_step),
                cmocka_unit_test(test_build),
                cmocka_unit_test(test_addon_name),
                cmocka_unit_test(test_foreign_addon_steps),
                cmocka_unit_test(test_reset_changed_addons),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
