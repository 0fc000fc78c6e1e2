/* SPDX-License-Identifier: MIT */
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strv.h"

static const char *const plan_control_plane[] = {
        STEP_METADATA,       STEP_NETWORK,      STEP_REPORT,     STEP_HOSTNAME,    STEP_IMAGES,  STEP_CA,
        STEP_KUBEADM_CONFIG, STEP_KUBEADM_INIT, STEP_KUBECONFIG, STEP_POD_NETWORK, STEP_UNTAINT, NULL,
};
static const char *const plan_worker[] = {
        STEP_METADATA, STEP_NETWORK,        STEP_REPORT,       STEP_HOSTNAME,    STEP_IMAGES,
        STEP_WAIT_API, STEP_KUBEADM_CONFIG, STEP_KUBEADM_JOIN, STEP_POD_NETWORK, NULL,
};

const char *const *plan_for_role(enum node_role role) {
        switch (role) {
        case NODE_ROLE_CONTROL_PLANE:
                return plan_control_plane;
        case NODE_ROLE_WORKER:
        case NODE_ROLE_CONTROL_PLANE_JOIN:
                /* The same steps; the join is made with --control-plane and the
                 * certificate key (kubeadm.c decides from the role). */
                return plan_worker;
        default:
                return NULL;
        }
}

int plan_build(enum node_role role, char *const *addons, char ***ret) {
        const char *const *base = plan_for_role(role);
        if (!base)
                return -EINVAL;
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        if (!v || strv_extend(&v, (char *const *) base) < 0)
                return -ENOMEM;
        for (char *const *a = addons; role == NODE_ROLE_CONTROL_PLANE && a && *a; a++)
                if (strv_pushf(&v, STEP_ADDON_PREFIX "%s", *a) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

const char *plan_addon_name(const char *step) {
        size_t n = strlen(STEP_ADDON_PREFIX);
        if (!step || strncmp(step, STEP_ADDON_PREFIX, n) != 0 || !step[n])
                return NULL;
        return step + n;
}

int plan_reset_changed_addons(struct state *s,
                              int (*digest_of)(const char *name, char out[80], void *userdata),
                              void *userdata) {
        int n = 0;
        for (size_t i = 0; s && i < s->n_steps; i++) {
                struct state_step *st = &s->steps[i];
                const char *name = plan_addon_name(st->name);
                char want[80];
                if (!name || st->status != STEP_DONE || digest_of(name, want, userdata) < 0)
                        continue;
                if (st->digest && streq(st->digest, want))
                        continue;
                if (state_step_pending(s, st->name) >= 0)
                        n++;
        }
        return n;
}

bool plan_step_always(const char *step) {
        return streq(step, STEP_METADATA);
}

enum plan_decision plan_next(const char *const *plan, const struct state *s, size_t *ret_index) {
        for (size_t i = 0; plan[i]; i++) {
                if (plan_step_always(plan[i]))
                        continue;
                const struct state_step *st = s ? state_find(s, plan[i]) : NULL;
                if (!st || st->status == STEP_PENDING || st->status == STEP_FAILED) {
                        *ret_index = i;
                        return PLAN_RUN;
                }
                if (st->status == STEP_RUNNING) {
                        *ret_index = i;
                        return PLAN_RESUME;
                }
        }
        return PLAN_DONE;
}

const char *plan_foreign_step(const char *const *plan, const struct state *s) {
        bool control_plane = false;
        for (size_t j = 0; plan[j]; j++)
                control_plane = control_plane || streq(plan[j], STEP_KUBEADM_INIT);
        for (size_t i = 0; s && i < s->n_steps; i++) {
                /* An add-on applied earlier and no longer selected stays
                 * applied: not a sign of a role change. */
                bool known = control_plane && plan_addon_name(s->steps[i].name);
                for (size_t j = 0; plan[j] && !known; j++)
                        known = streq(plan[j], s->steps[i].name);
                if (!known)
                        return s->steps[i].name;
        }
        return NULL;
}
