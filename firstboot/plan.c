/* SPDX-License-Identifier: MIT */
#include "plan.h"

#include <string.h>

#include "macro.h"

static const char *const plan_control_plane[] = {
        STEP_METADATA,       STEP_NETWORK,      STEP_REPORT,     STEP_HOSTNAME, STEP_IMAGES, STEP_CA,
        STEP_KUBEADM_CONFIG, STEP_KUBEADM_INIT, STEP_KUBECONFIG, STEP_UNTAINT,  NULL,
};
static const char *const plan_worker[] = {
        STEP_METADATA, STEP_NETWORK,        STEP_REPORT,       STEP_HOSTNAME, STEP_IMAGES,
        STEP_WAIT_API, STEP_KUBEADM_CONFIG, STEP_KUBEADM_JOIN, NULL,
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
        for (size_t i = 0; s && i < s->n_steps; i++) {
                bool known = false;
                for (size_t j = 0; plan[j] && !known; j++)
                        known = streq(plan[j], s->steps[i].name);
                if (!known)
                        return s->steps[i].name;
        }
        return NULL;
}
