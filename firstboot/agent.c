/* SPDX-License-Identifier: MIT */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "facts.h"
#include "fsutil.h"
#include "log.h"
#include "macro.h"
#include "state.h"

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *f) {
        fputs("Usage: " AGENT_PROGRAM " [run|status] [OPTIONS]\n"
              "\n"
              "  run                 find the NoCloud seed, record state and facts (default)\n"
              "  status              print the recorded steps\n"
              "\n"
              "  --root DIR          operate on a root prefix (tests, image builds)\n"
              "  --seed-dir DIR      run: read meta-data/user-data from DIR, not a volume\n"
              "  --console PATH      run: also log to PATH (default /dev/console, none\n"
              "                      with --root)\n"
              "  --json              status: print JSON\n"
              "  --debug             debug logging\n"
              "  -h, --help          this text\n",
              f);
}

int agent_parse_args(int argc, char **argv, struct agent_options *ret) {
        enum { ARG_ROOT = 0x100, ARG_SEED_DIR, ARG_CONSOLE, ARG_JSON, ARG_DEBUG };
        static const struct option options[] = {
                {"root", required_argument, NULL, ARG_ROOT},
                {"seed-dir", required_argument, NULL, ARG_SEED_DIR},
                {"console", required_argument, NULL, ARG_CONSOLE},
                {"json", no_argument, NULL, ARG_JSON},
                {"debug", no_argument, NULL, ARG_DEBUG},
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
                else {
                        log_error("Unknown command '%s' (expected run or status)", verb);
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
        if ((o.seed_dir || o.console) && o.verb != AGENT_RUN) {
                log_error("--seed-dir and --console only apply to run");
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

_printf_(1, 2) static char *strdupf(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        return s;
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

/* ---- steps ------------------------------------------------------------- */

struct agent_ctx {
        const struct agent_options *o;
        uint64_t (*now)(void);
        struct seed seed;
        bool have_seed;
};

/* A step returns >= 0 with an optional *ret_detail, or < 0 with *ret_reason
 * (one line, no secrets). */
typedef int (*step_fn)(struct agent_ctx *c, char **ret_detail, char **ret_reason);

static char *labels_joined(void) {
        _cleanup_free_ char *s = strdup("");
        for (size_t i = 0; s && seed_labels[i]; i++) {
                char *n = strdupf("%s%s%s", s, i ? "/" : "", seed_labels[i]);
                free(s);
                s = n;
        }
        return TAKE_PTR(s);
}

static int find_seed_volume(struct agent_ctx *c, struct blk_device **ret, char **ret_reason) {
        const struct blk_ops *ops = c->o->blk_ops ? c->o->blk_ops : &blk_ops_real;
        unsigned attempts = c->o->seed_attempts ? c->o->seed_attempts : 5;
        unsigned delay_ms = c->o->seed_retry_ms ? c->o->seed_retry_ms : 500;
        _cleanup_free_ char *labels = labels_joined();
        if (!labels)
                return -ENOMEM;

        /* Under --root, devices are looked up below it too (ROOT/sys/class/block,
         * ROOT/dev), so nothing of the host is probed by a test. */
        void *userdata = c->o->blk_userdata;
        _cleanup_free_ char *class_dir = NULL, *dev_dir = NULL;
        struct blk_system sys = {};
        if (!c->o->blk_ops && !userdata && !is_real_root(c->o->root)) {
                class_dir = path_join_root(c->o->root, "/sys/class/block");
                dev_dir = path_join_root(c->o->root, "/dev");
                if (!class_dir || !dev_dir)
                        return -ENOMEM;
                sys = (struct blk_system){.class_dir = class_dir, .dev_dir = dev_dir};
                userdata = &sys;
        }

        /* Devices may still be appearing (virtio, USB): a bounded retry. */
        size_t n = 0;
        for (unsigned attempt = 1;; attempt++) {
                int r = blk_find_by_label(ops, userdata, seed_labels, seed_fs_types, ret, &n);
                if (r < 0) {
                        *ret_reason = strdupf("cannot list block devices: %s", strerror(-r));
                        return r;
                }
                if (r > 0)
                        return 0;
                if (attempt >= attempts)
                        break;
                log_info("No volume labelled %s yet (looked at %zu block devices), retrying "
                         "in %u ms",
                         labels, n, delay_ms);
                (void) usleep(delay_ms * 1000U);
                delay_ms = delay_ms * 2 > 2000 ? 2000 : delay_ms * 2;
        }
        *ret_reason = strdupf("no volume labelled %s found (looked at %zu block devices)", labels, n);
        return -ENOENT;
}

static int step_seed(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        const struct agent_options *o = c->o;
        _cleanup_free_ char *err = NULL;
        int r;

        if (c->have_seed) {
                seed_done(&c->seed);
                c->have_seed = false;
        }
        if (o->seed_dir) {
                _cleanup_free_ char *source = strdupf("directory %s", o->seed_dir);
                if (!source)
                        return -ENOMEM;
                r = seed_read_dir(o->seed_dir, source, &c->seed, &err);
        } else {
                _cleanup_blk_device_ struct blk_device *dev = NULL;
                r = find_seed_volume(c, &dev, ret_reason);
                if (r < 0)
                        return r;
                _cleanup_free_ char *desc = blk_device_describe(dev);
                _cleanup_free_ char *run_dir = path_join_root(o->root, "/run");
                if (!desc || !run_dir)
                        return -ENOMEM;
                log_info("Found seed volume %s", desc);
                r = seed_read_device(dev, run_dir, o->mount_ops ? o->mount_ops : &seed_mount_ops_real,
                                     o->mount_userdata, &c->seed, &err);
        }
        if (r < 0) {
                *ret_reason = err ? TAKE_PTR(err) : strdupf("cannot read the seed: %s", strerror(-r));
                return r;
        }
        c->have_seed = true;

        const struct seed *s = &c->seed;
        log_info("meta-data: instance-id %s, local-hostname %s", s->meta.instance_id,
                 s->meta.local_hostname ? s->meta.local_hostname : "(none)");
        switch (s->user_data) {
        case SEED_USER_DATA_ABSENT:
                log_info("user-data: absent");
                break;
        case SEED_USER_DATA_CLOUD_CONFIG:
                log_info("user-data: #cloud-config, %zu bytes", s->user_data_size);
                break;
        case SEED_USER_DATA_OTHER:
                log_warning("user-data: %zu bytes, not #cloud-config (ignored)", s->user_data_size);
                break;
        }
        *ret_detail = strdup(s->source);
        return *ret_detail ? 0 : -ENOMEM;
}

static int step_report(struct agent_ctx *c, char **ret_detail, char **ret_reason) {
        struct utsname u;
        if (uname(&u) < 0) {
                int r = negative_errno();
                *ret_reason = strdupf("uname() failed: %s", strerror(-r));
                return r;
        }
        struct facts f = {
                .machine = u.machine,
                .kernel_release = u.release,
                .seed = c->have_seed ? &c->seed : NULL,
        };
        int r = facts_save(c->o->root, &f);
        if (r < 0) {
                *ret_reason = strdupf("cannot write %s: %s", FACTS_PATH, strerror(-r));
                return r;
        }
        log_info("Machine %s, kernel %s, instance-id %s, hostname %s", u.machine, u.release,
                 c->have_seed ? c->seed.meta.instance_id : "(unknown)",
                 c->have_seed && c->seed.meta.local_hostname ? c->seed.meta.local_hostname : "(none)");
        *ret_detail = strdup("facts in " FACTS_PATH);
        return *ret_detail ? 0 : -ENOMEM;
}

static const struct step {
        const char *name;
        step_fn run;
        bool always; /* re-run even when recorded done (its product lives in memory) */
} plan[] = {
        {"seed", step_seed, true},
        {"report", step_report, false},
};

/* Pure: does this step still have to run? */
static bool step_needed(const struct step *step, const struct state *s) {
        const struct state_step *st = state_find(s, step->name);
        return step->always || !st || st->status != STEP_DONE;
}

static bool plan_done(const struct state *s) {
        for (size_t i = 0; i < ELEMENTSOF(plan); i++) {
                const struct state_step *st = state_find(s, plan[i].name);
                if (!st || st->status != STEP_DONE)
                        return false;
        }
        return true;
}

static int write_done_marker(const char *root, uint64_t now) {
        _cleanup_free_ char *path = path_join_root(root, AGENT_DONE_PATH);
        _cleanup_free_ char *text = strdupf("finished %llu\n", (unsigned long long) now);
        if (!path || !text)
                return -ENOMEM;
        return write_file_atomic(path, text, strlen(text), 0644);
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

        if (plan_done(s)) {
                log_info("All steps already done, nothing to do");
        } else {
                for (size_t i = 0; i < ELEMENTSOF(plan); i++) {
                        r = state_ensure_step(s, plan[i].name);
                        if (r < 0)
                                return r;
                }
                for (size_t i = 0; i < ELEMENTSOF(plan); i++) {
                        const struct step *step = &plan[i];
                        if (!step_needed(step, s)) {
                                log_info("Step %s: already done", step->name);
                                continue;
                        }
                        r = state_step_running(s, step->name, c->now());
                        if (r >= 0)
                                r = state_save(o->root, s);
                        if (r < 0) {
                                *ret_reason = strdupf("cannot write %s: %s", STATE_PATH, strerror(-r));
                                return r;
                        }
                        log_info("Step %s: running", step->name);

                        _cleanup_free_ char *detail = NULL, *reason = NULL;
                        r = step->run(c, &detail, &reason);
                        if (r < 0) {
                                if (!reason)
                                        reason = strdup(strerror(-r));
                                if (!reason)
                                        return -ENOMEM;
                                int k = state_step_failed(s, step->name, c->now(), reason);
                                if (k >= 0)
                                        k = state_save(o->root, s);
                                if (k < 0)
                                        log_error_errno(k, "Failed to record the failure in %s: %m",
                                                        STATE_PATH);
                                *ret_reason = strdupf("%s: %s", step->name, reason);
                                return r;
                        }
                        r = state_step_done(s, step->name, c->now(), detail);
                        if (r >= 0)
                                r = state_save(o->root, s);
                        if (r < 0) {
                                *ret_reason = strdupf("cannot write %s: %s", STATE_PATH, strerror(-r));
                                return r;
                        }
                        log_info("Step %s: done%s%s", step->name, detail ? ": " : "", detail ? detail : "");
                }
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
        print_finished(console_fd, r < 0 ? (reason ? reason : "out of memory") : NULL);

        log_set_extra_fd(-1);
        if (c.have_seed)
                seed_done(&c.seed);
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
        r = o.verb == AGENT_STATUS ? agent_status(&o) : agent_run(&o);
        return r < 0 ? 1 : 0;
}
