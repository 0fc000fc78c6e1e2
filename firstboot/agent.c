/* SPDX-License-Identifier: MIT */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "facts.h"
#include "fsutil.h"
#include "log.h"
#include "netconfig.h"
#include "macro.h"
#include "plan.h"
#include "proc.h"
#include "state.h"
#include "strv.h"
#include "steps.h"

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *f) {
        fputs("Usage: " AGENT_PROGRAM " [run|status] [OPTIONS]\n"
              "\n"
              "  run                 read the metadata and set the node up (default)\n"
              "  status              print the recorded steps\n"
              "  network             early boot: network-config to systemd-networkd files\n"
              "\n"
              "  --root DIR          operate on a root prefix (tests, image builds)\n"
              "  --seed-dir DIR      run: read meta-data/user-data from DIR, not a volume\n"
              "  --console PATH      run: also log to PATH (default /dev/console, none\n"
              "                      with --root)\n"
              "  --json              status: print JSON\n"
              "  --imds-url URL      run: EC2-style metadata service (default http://169.254.169.254)\n"
              "  --kubeadm-timeout S run: limit for kubeadm init/join (default 1800)\n"
              "  --api-wait-timeout S run: limit for a worker's wait for the API server (default 1800)\n"
              "  --debug             debug logging\n"
              "  -h, --help          this text\n",
              f);
}

int agent_parse_args(int argc, char **argv, struct agent_options *ret) {
        enum {
                ARG_ROOT = 0x100,
                ARG_SEED_DIR,
                ARG_CONSOLE,
                ARG_JSON,
                ARG_DEBUG,
                ARG_IMDS_URL,
                ARG_KUBEADM_TIMEOUT,
                ARG_API_WAIT_TIMEOUT,
        };
        static const struct option options[] = {
                {"root", required_argument, NULL, ARG_ROOT},
                {"seed-dir", required_argument, NULL, ARG_SEED_DIR},
                {"console", required_argument, NULL, ARG_CONSOLE},
                {"json", no_argument, NULL, ARG_JSON},
                {"debug", no_argument, NULL, ARG_DEBUG},
                {"imds-url", required_argument, NULL, ARG_IMDS_URL},
                {"kubeadm-timeout", required_argument, NULL, ARG_KUBEADM_TIMEOUT},
                {"api-wait-timeout", required_argument, NULL, ARG_API_WAIT_TIMEOUT},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        struct agent_options o = {.verb = AGENT_RUN};

        optind = 0; /* glibc: full re-initialisation, so tests can parse twice */
        opterr = 0;
        int c;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_ROOT:
                        o.root = optarg;
                        break;
                case ARG_SEED_DIR:
                        o.seed_dir = optarg;
                        break;
                case ARG_CONSOLE:
                        o.console = optarg;
                        break;
                case ARG_JSON:
                        o.json = true;
                        break;
                case ARG_DEBUG:
                        o.debug = true;
                        break;
                case ARG_IMDS_URL:
                        o.imds_url = optarg;
                        break;
                case ARG_KUBEADM_TIMEOUT:
                case ARG_API_WAIT_TIMEOUT: {
                        char *end;
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || v == 0 || v > 24UL * 3600) {
                                log_error("%s: expected a number of seconds from 1 to 86400, not '%s'",
                                          c == ARG_KUBEADM_TIMEOUT ? "--kubeadm-timeout"
                                                                   : "--api-wait-timeout",
                                          optarg);
                                return -EINVAL;
                        }
                        if (c == ARG_KUBEADM_TIMEOUT)
                                o.kubeadm_timeout_sec = (unsigned) v;
                        else
                                o.api_wait_timeout_sec = (unsigned) v;
                        break;
                }
                case 'h':
                        usage(stdout);
                        return 1;
                case ':':
                        log_error("Option '%s' needs an argument", argv[optind - 1]);
                        return -EINVAL;
                default:
                        log_error("Unknown option '%s' (see --help)", argv[optind - 1]);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                const char *verb = argv[optind++];
                if (streq(verb, "run"))
                        o.verb = AGENT_RUN;
                else if (streq(verb, "status"))
                        o.verb = AGENT_STATUS;
                else if (streq(verb, "network"))
                        o.verb = AGENT_NETWORK;
                else {
                        log_error("Unknown command '%s' (expected run, status or network)", verb);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                log_error("Unexpected argument '%s'", argv[optind]);
                return -EINVAL;
        }
        if (o.json && o.verb != AGENT_STATUS) {
                log_error("--json only applies to status");
                return -EINVAL;
        }
        if ((o.seed_dir || o.console) && o.verb == AGENT_STATUS) {
                log_error("--seed-dir and --console only apply to run and network");
                return -EINVAL;
        }
        *ret = o;
        return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static bool is_real_root(const char *root) {
        return !root || !*root || streq(root, "/");
}

static uint64_t now_real(void) {
        time_t t = time(NULL);
        return t > 0 ? (uint64_t) t : 1;
}

/* The line the QEMU harness waits for. Written directly (not through log_*,
 * whose --debug suffix would change it), on one line whatever the reason holds. */
static void print_finished(int console_fd, const char *reason) {
        char line[1200];
        int n;
        if (reason)
                n = snprintf(line, sizeof line, AGENT_PROGRAM ": finished: failed: %s", reason);
        else
                n = snprintf(line, sizeof line, AGENT_PROGRAM ": finished: ok");
        if (n < 0)
                return;
        size_t len = (size_t) n >= sizeof line - 1 ? sizeof line - 2 : (size_t) n;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) line[i] < 0x20 || line[i] == 0x7f)
                        line[i] = ' ';
        line[len++] = '\n';
        (void) !write(STDERR_FILENO, line, len);
        if (console_fd >= 0)
                (void) !write(console_fd, line, len);
}

/* ---- the plan ------------------------------------------------------------ */

static int save_state(struct agent_ctx *c, struct state *s, char **ret_reason) {
        int r = state_save(c->o->root, s);
        if (r < 0)
                *ret_reason = strdupf("cannot write %s: %s", STATE_PATH, strerror(-r));
        return r;
}

/* Runs one step and records how it ended, atomically, before going on. */
static int run_step(struct agent_ctx *c, struct state *s, const char *name, char **ret_reason) {
        step_fn fn = step_lookup(name);
        if (!fn) {
                *ret_reason = strdupf("internal error: no step '%s'", name);
                return -EINVAL;
        }
        int r = state_step_running(s, name, c->now());
        if (r >= 0)
                r = save_state(c, s, ret_reason);
        if (r < 0)
                return r;
        log_info("Step %s: %s", name,
                 c->resuming ? "resuming (the last attempt did not finish)" : "running");

        _cleanup_free_ char *detail = NULL, *reason = NULL;
        c->step_name = name;
        c->step_digest[0] = '\0';
        r = fn(c, &detail, &reason);
        c->step_name = NULL;
        if (r < 0) {
                if (!reason)
                        reason = strdup(strerror(-r));
                if (!reason)
                        return -ENOMEM;
                int k = state_step_failed(s, name, c->now(), reason);
                if (k >= 0)
                        k = state_save(c->o->root, s);
                if (k < 0)
                        log_error_errno(k, "Failed to record the failure in %s: %m", STATE_PATH);
                *ret_reason = strdupf("%s: %s", name, reason);
                return r;
        }
        r = state_step_done(s, name, c->now(), detail);
        if (r >= 0 && c->step_digest[0])
                r = state_step_set_digest(s, name, c->step_digest);
        if (r >= 0)
                r = save_state(c, s, ret_reason);
        if (r < 0)
                return r;
        log_info("Step %s: done%s%s", name, detail ? ": " : "", detail ? detail : "");
        return 0;
}

static int write_done_marker(const char *root, uint64_t now) {
        _cleanup_free_ char *path = path_join_root(root, AGENT_DONE_PATH);
        _cleanup_free_ char *text = strdupf("finished %llu\n", (unsigned long long) now);
        if (!path || !text)
                return -ENOMEM;
        return write_file_atomic(path, text, strlen(text), 0644);
}

/* A new instance-id (the disk was moved to another machine, or the operator
 * asked for a fresh start) means a new instance, as cloud-init treats it:
 * the old state is kept aside and the plan starts again. */
static int check_instance(struct agent_ctx *c, struct state **s, const char *previous, char **ret_reason) {
        int r = sources_instance_changed(c->o->root, c->cfg.instance_id);
        if (r == 1) {
                log_warning("New instance: the instance-id is now %s; starting from a fresh state (the "
                            "previous one "
                            "is kept as %s.previous)",
                            c->cfg.instance_id, STATE_PATH);
                /* The state as it was before this boot touched it. */
                _cleanup_free_ char *path = path_join_root(c->o->root, STATE_PATH);
                _cleanup_free_ char *prev = strdupf("%s.previous", path ? path : "");
                if (!path || !prev)
                        return -ENOMEM;
                if (previous && (r = write_file_atomic(prev, previous, strlen(previous), 0644)) < 0) {
                        *ret_reason = strdupf("cannot keep the old state aside: %s", strerror(-r));
                        return r;
                }
                struct state *fresh = state_new();
                if (!fresh)
                        return -ENOMEM;
                const struct state_step *md = state_find(*s, STEP_METADATA);
                if (md && state_step_done(fresh, STEP_METADATA, md->end, md->detail) < 0) {
                        state_free(fresh);
                        return -ENOMEM;
                }
                state_free(*s);
                *s = fresh;
        } else if (r < 0 && r != -ENOENT) {
                *ret_reason = strdupf("cannot read %s: %s", SOURCES_INSTANCE_ID_PATH, strerror(-r));
                return r;
        }
        r = sources_record_instance_id(c->o->root, c->cfg.instance_id);
        if (r < 0)
                *ret_reason = strdupf("cannot record the instance-id: %s", strerror(-r));
        return r;
}

static void apply_power_state(struct agent_ctx *c) {
        if (!c->have_cfg || c->cfg.power_mode == POWER_MODE_NONE)
                return;
        const char *verb = power_mode_to_string(c->cfg.power_mode);
        if (!is_real_root(c->o->root)) {
                log_info("power_state: would %s (not under --root)", verb);
                return;
        }
        /* --no-block: this unit is still running; systemd does the rest once
         * it has finished. */
        char *argv[] = {"systemctl", "--no-block", (char *) verb, NULL};
        struct proc_result res = {0};
        struct proc_opts opts = {.timeout_sec = 30, .stdout_fd = -1};
        int r = proc_ops->run(argv, &opts, &res);
        if (r < 0)
                proc_log_failure(r, "power_state", argv, &res);
        else
                log_info("power_state: %s requested", verb);
        proc_result_done(&res);
}

/* The agent's own cost, children excluded (RUSAGE_SELF), for make bench:
 * /var/lib/kubeseed/usage. Best effort: a failure is only logged. */
static void record_usage(const struct agent_ctx *c) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return;
        unsigned long cpu_ms = (unsigned long) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000UL +
                               (unsigned long) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000UL;
        _cleanup_free_ char *text = strdupf("# kubeseed-firstboot's own resource use (children excluded)\n"
                                            "cpu_ms=%lu\nmax_rss_kib=%ld\n",
                                            cpu_ms, ru.ru_maxrss);
        _cleanup_free_ char *path = path_join_root(c->o->root, "/var/lib/kubeseed/usage");
        if (!text || !path)
                return;
        int r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                log_warning_errno(r, "Cannot write %s: %m", path);
        else
                log_info("Own resource use: %lu ms CPU, %ld KiB peak RSS", cpu_ms, ru.ru_maxrss);
}

/* plan_reset_changed_addons()'s view of the image's catalogue. */
static int addon_digest_of(const char *name, char out[80], void *userdata) {
        const struct agent_ctx *c = userdata;
        const struct addon_def *d = addon_catalog_find(&c->addons, name);
        if (!d)
                return -ENOENT;
        return addon_digest(d, out);
}

static int run_plan(struct agent_ctx *c, char **ret_reason) {
        const struct agent_options *o = c->o;
        _cleanup_state_ struct state *s = NULL;
        _cleanup_free_ char *err = NULL;
        int r = state_load(o->root, &s, &err);
        if (r < 0) {
                *ret_reason = strdupf("cannot load the state file: %s", err ? err : strerror(-r));
                return r;
        }
        if (r == 0)
                log_info("No state file, starting fresh");
        /* Kept to be set aside if this turns out to be a new instance. */
        _cleanup_free_ char *previous = NULL;
        if (r > 0 && state_serialize(s, &previous, NULL) < 0)
                return -ENOMEM;
        c->state = s;

        /* The metadata is read and validated on every boot, before anything
         * else: nothing is changed on the node with a partial configuration. */
        c->resuming = false;
        r = run_step(c, s, STEP_METADATA, ret_reason);
        if (r < 0)
                return r;
        r = check_instance(c, &s, previous, ret_reason);
        if (r < 0)
                return r;
        c->state = s;

        _cleanup_strv_free_ char **plan_v = NULL;
        r = plan_build(c->cfg.role, c->addon_order, &plan_v);
        if (r < 0)
                return r;
        const char *const *plan = (const char *const *) plan_v;
        const char *foreign = plan_foreign_step(plan, s);
        if (foreign) {
                _cleanup_free_ char *why =
                        strdupf("the state file records step '%s', which a %s does not run: "
                                "the node's role changed since its first boot (reset the node "
                                "to change its role)",
                                foreign, node_role_to_string(c->cfg.role));
                if (!why)
                        return -ENOMEM;
                /* Recorded, so that `status` shows it too. */
                if (state_step_failed(s, STEP_METADATA, c->now(), why) >= 0)
                        (void) state_save(o->root, s);
                *ret_reason = strdupf("%s: %s", STEP_METADATA, why);
                return -EEXIST;
        }
        for (size_t i = 0; plan[i]; i++)
                if (state_ensure_step(s, plan[i]) < 0)
                        return -ENOMEM;
        /* An add-on whose manifests changed in the image is applied again. */
        int changed = plan_reset_changed_addons(s, addon_digest_of, c);
        if (changed > 0)
                log_info("%d add-on%s changed since applied: applying again", changed,
                         changed == 1 ? "" : "s");
        r = save_state(c, s, ret_reason);
        if (r < 0)
                return r;

        /* The first failure stops the node's own steps; among the add-ons,
         * one that failed stops only those that depend on it. */
        _cleanup_strv_free_ char **failed_addons = NULL;
        _cleanup_free_ char *first_reason = NULL;
        int first_error = 0;
        for (size_t i = 0; plan[i]; i++) {
                if (plan_step_always(plan[i]))
                        continue;
                const struct state_step *st = state_find(s, plan[i]);
                if (st && st->status == STEP_DONE)
                        continue;
                const char *addon = plan_addon_name(plan[i]);
                const char *blocker = NULL;
                for (char **f = failed_addons; addon && f && *f && !blocker; f++)
                        if (addon_depends_on(&c->addons, c->addon_order, addon, *f))
                                blocker = *f;
                if (blocker) {
                        _cleanup_free_ char *why =
                                strdupf("not started: it depends on %s, which failed", blocker);
                        if (!why || state_step_failed(s, plan[i], c->now(), why) < 0)
                                return -ENOMEM;
                        r = save_state(c, s, ret_reason);
                        if (r < 0)
                                return r;
                        log_error("Step %s: %s", plan[i], why);
                        if (strv_push(&failed_addons, addon) < 0)
                                return -ENOMEM;
                        continue;
                }
                c->resuming = (st && (st->status == STEP_RUNNING || st->status == STEP_FAILED));
                _cleanup_free_ char *reason = NULL;
                r = run_step(c, s, plan[i], &reason);
                if (r >= 0)
                        continue;
                if (!addon) {
                        *ret_reason = TAKE_PTR(reason);
                        return r;
                }
                if (strv_push(&failed_addons, addon) < 0)
                        return -ENOMEM;
                if (!first_reason) {
                        first_reason = TAKE_PTR(reason);
                        first_error = r;
                } else if (reason)
                        log_error("%s", reason);
        }
        c->resuming = false;
        if (first_error < 0) {
                size_t n = strv_length(failed_addons);
                *ret_reason = n > 1 ? strdupf("%s (and %zu more add-on%s failed or not started)",
                                              first_reason, n - 1, n - 1 == 1 ? "" : "s")
                                    : TAKE_PTR(first_reason);
                return first_error;
        }

        r = write_done_marker(o->root, c->now());
        if (r < 0) {
                *ret_reason = strdupf("cannot write %s: %s", AGENT_DONE_PATH, strerror(-r));
                return r;
        }
        return 0;
}

int agent_run(const struct agent_options *o) {
        log_set_ident(AGENT_PROGRAM);
        struct agent_ctx c = {.o = o, .now = o->now ? o->now : now_real};
        /* The agent's own CPU time and memory are measured by make bench;
         * every program it runs is accounted separately. */

        const char *console = o->console ? o->console : is_real_root(o->root) ? "/dev/console" : NULL;
        _cleanup_close_ int console_fd = -1;
        if (console) {
                console_fd = open(console, O_WRONLY | O_NOCTTY | O_APPEND | O_CLOEXEC);
                if (console_fd < 0)
                        log_warning_errno(negative_errno(),
                                          "Cannot open %s, logging to stderr "
                                          "only: %m",
                                          console);
                else
                        log_set_extra_fd(console_fd);
        }

        log_info("Starting (root %s)", is_real_root(o->root) ? "/" : o->root);
        _cleanup_free_ char *reason = NULL;
        int r = run_plan(&c, &reason);
        if (r < 0 && !reason)
                reason = strdup(strerror(-r));
        /* The reason is logged once, in this line (stderr, so the journal, and the console). */
        /* Measured before the last line, which must stay the last. */
        record_usage(&c);
        print_finished(console_fd, r < 0 ? (reason ? reason : "out of memory") : NULL);
        if (r >= 0)
                apply_power_state(&c);

        log_set_extra_fd(-1);
        agent_ctx_done(&c);
        return r < 0 ? r : 0;
}

int agent_status(const struct agent_options *o) {
        FILE *out = o->out ? o->out : stdout;
        _cleanup_state_ struct state *s = NULL;
        _cleanup_free_ char *err = NULL;
        int r = state_load(o->root, &s, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to load the state file: %s", err ? err : strerror(-r));
        _cleanup_free_ char *text = NULL;
        r = o->json ? state_to_json(s, &text) : state_to_text(s, &text);
        if (r < 0)
                return log_error_errno(r, "Failed to format the state: %m");
        if (fputs(text, out) < 0 || fflush(out) != 0)
                return log_error_errno(negative_errno(), "Failed to write the status: %m");
        return 0;
}

int agent_main(int argc, char **argv) {
        log_set_ident(AGENT_PROGRAM);
        struct agent_options o;
        int r = agent_parse_args(argc, argv, &o);
        if (r < 0)
                return 2;
        if (r > 0)
                return 0;
        if (o.debug)
                log_set_max_level(LOG_DEBUG);
        r = o.verb == AGENT_STATUS    ? agent_status(&o)
            : o.verb == AGENT_NETWORK ? netconfig_early(&o)
                                      : agent_run(&o);
        return r < 0 ? 1 : 0;
}
