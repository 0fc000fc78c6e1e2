/* SPDX-License-Identifier: MIT */
/* kubeseed: the host-side command. `kubeseed build` turns a profile into a
 * bootable disk image; see README.md and docs/. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "build.h"
#include "clusterplan.h"
#include "lock.h"
#include "log.h"
#include "macro.h"
#include "profile.h"
#include "rootfs.h"
#include "strv.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: kubeseed build -p PROFILE.yaml [--arch ARCH] [-o DIR] [--cache DIR]\n"
                "                      [--set key=value]... [--agent PATH] [--overlays DIR] [--offline]\n"
                "       kubeseed fetch -p PROFILE.yaml [--arch ARCH] [--cache DIR] [--set key=value]...\n"
                "       kubeseed preload -p PROFILE.yaml [--arch ARCH] [-o DIR] [--cache DIR] [--offline]\n"
                "                        [--set key=value]...\n"
                "       kubeseed check -p PROFILE.yaml [--set key=value]...\n"
                "       kubeseed sysroot -p PROFILE.yaml --arch ARCH [--cache DIR] [--set key=value]...\n"
                "       kubeseed plan CLUSTER.yaml [-o DIR] [--rotate]\n"
                "       kubeseed seed NODE.yaml|SEED-DIR -o NODE.img\n"
                "\n"
                "  -p, --profile FILE   image profile (images/*.yaml)\n"
                "  -a, --arch ARCH      target architecture: amd64 or arm64 (default: the host's)\n"
                "  -o, --out DIR        output directory (default: out)\n"
                "  -c, --cache DIR      stage cache (default: $KUBESEED_CACHE or ~/.cache/kubeseed)\n"
                "  -s, --set KEY=VALUE  override a profile value (e.g. mirrors.main=http://...)\n"
                "      --agent PATH     kubeseed-firstboot binary to install (default: beside this "
                "program)\n"
                "      --overlays DIR   directory holding overlays/<name> (default: beside the profile's "
                "folder)\n"
                "      --extra-overlay DIR  copy DIR into the image after the profile's overlays "
                "(repeatable)\n"
                "      --registry-credentials FILE  registry credentials (YAML, mode 0600)\n"
                "      --offline        build only from the cache and the lock file (no network)\n"
                "  -v, --verbose        debug output\n"
                "\n"
                "fetch resolves every tag to a digest, downloads everything into the cache and\n"
                "writes the lock file beside the profile (images/NAME.lock); build uses the\n"
                "lock when it exists and never follows a tag it does not record. preload runs\n"
                "only the build's image stage: DIR/kubeseed-NAME-ARCH.images.tar.\n"
                "sysroot prints the path of the profile's libraries and headers for ARCH (made\n"
                "and cached when missing): what the agent is cross-compiled against.\n"
                "\n"
                "plan makes the cluster's CA, bootstrap token and certificate key (kept in\n"
                "DIR/cluster-secrets.yaml, default DIR seeds) and one NoCloud seed per node\n"
                "(DIR/NODE/ and DIR/NODE.img), plus DIR/admin.conf; see docs/cluster-plan.md.\n"
                "Run again, it keeps the identity; --rotate makes a new one.\n"
                "seed writes one seed volume (ISO 9660, label cidata) after checking it.\n");
}

static char *default_cache(void) {
        const char *e = getenv("KUBESEED_CACHE");
        char *s = NULL;
        if (e && *e)
                return strdup(e);
        e = getenv("XDG_CACHE_HOME");
        if (e && *e)
                return asprintf(&s, "%s/kubeseed", e) < 0 ? NULL : s;
        e = getenv("HOME");
        return asprintf(&s, "%s/.cache/kubeseed", e && *e ? e : "/var/cache") < 0 ? NULL : s;
}

/* A file beside /proc/self/exe. */
static char *beside_self(const char *name) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0)
                return NULL;
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (!slash)
                return NULL;
        *slash = '\0';
        char *s = NULL;
        return asprintf(&s, "%s/%s", self, name) < 0 ? NULL : s;
}

/* overlays/ next to the folder holding the profile (images/X.yaml ->
 * overlays/). */
static char *default_overlays(const char *profile_path) {
        _cleanup_free_ char *copy = strdup(profile_path);
        if (!copy)
                return NULL;
        char *slash = strrchr(copy, '/');
        const char *dir = ".";
        if (slash) {
                *slash = '\0';
                dir = copy;
        }
        char *s = NULL;
        return asprintf(&s, "%s/../overlays", dir) < 0 ? NULL : s;
}

static uint64_t source_date_epoch(void) {
        const char *e = getenv("SOURCE_DATE_EPOCH");
        if (e && *e) {
                char *end;
                errno = 0;
                unsigned long long v = strtoull(e, &end, 10);
                if (!errno && !*end)
                        return v;
                log_warning("SOURCE_DATE_EPOCH='%s' is not a number of seconds; ignoring it", e);
        }
        /* A fixed default keeps builds reproducible without it. */
        return 1700000000;
}

/* kubeseed plan CLUSTER.yaml [-o DIR] [--rotate]; kubeseed seed INPUT -o IMG. */
static int plan_main(int argc, char **argv) {
        static const struct option opts[] = {
                {"out", required_argument, NULL, 'o'},
                {"rotate", no_argument, NULL, 'R'},
                {"verbose", no_argument, NULL, 'v'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        bool plan = streq(argv[1], "plan"), rotate = false;
        const char *out = NULL;
        int c;
        optind = 2;
        while ((c = getopt_long(argc, argv, "o:vh", opts, NULL)) >= 0) {
                switch (c) {
                case 'o':
                        out = optarg;
                        break;
                case 'R':
                        rotate = true;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind + 1 != argc) {
                log_error("%s: expected exactly one %s", argv[1],
                          plan ? "cluster file" : "node file or seed directory");
                return 2;
        }
        if (plan) {
                struct clusterplan_options o = {
                        .cluster_path = argv[optind],
                        .out_dir = out ? out : "seeds",
                        .rotate = rotate,
                };
                return clusterplan_run(&o) < 0 ? 1 : 0;
        }
        if (rotate || !out) {
                log_error("seed: expected -o NODE.img (and no --rotate)");
                return 2;
        }
        return clusterplan_seed_run(argv[optind], out, 0) < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
        log_set_ident("kubeseed");
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        const char *cmd = argv[1];
        if (streq(cmd, "-h") || streq(cmd, "--help") || streq(cmd, "help")) {
                usage(stdout);
                return 0;
        }
        if (streq(cmd, "plan") || streq(cmd, "seed"))
                return plan_main(argc, argv);
        if (!streq(cmd, "build") && !streq(cmd, "check") && !streq(cmd, "fetch") && !streq(cmd, "preload") &&
            !streq(cmd, "sysroot")) {
                log_error("unknown command '%s' (expected build, fetch, preload, check, sysroot, plan or "
                          "seed)",
                          cmd);
                usage(stderr);
                return 2;
        }

        static const struct option opts[] = {
                {"profile", required_argument, NULL, 'p'},
                {"arch", required_argument, NULL, 'a'},
                {"out", required_argument, NULL, 'o'},
                {"cache", required_argument, NULL, 'c'},
                {"set", required_argument, NULL, 's'},
                {"agent", required_argument, NULL, 'A'},
                {"overlays", required_argument, NULL, 'O'},
                {"verbose", no_argument, NULL, 'v'},
                {"extra-overlay", required_argument, NULL, 'E'},
                {"registry-credentials", required_argument, NULL, 'R'},
                {"offline", no_argument, NULL, 'F'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *profile_path = NULL, *arch_name = NULL, *out = "out", *cache_arg = NULL;
        const char *agent_arg = NULL, *overlays_arg = NULL, *credentials_arg = NULL;
        _cleanup_strv_free_ char **sets = NULL, **extra_overlays = NULL;
        bool offline = false;
        int c;
        optind = 2;
        while ((c = getopt_long(argc, argv, "p:a:o:c:s:vh", opts, NULL)) >= 0) {
                switch (c) {
                case 'p':
                        profile_path = optarg;
                        break;
                case 'a':
                        arch_name = optarg;
                        break;
                case 'o':
                        out = optarg;
                        break;
                case 'c':
                        cache_arg = optarg;
                        break;
                case 's':
                        if (strv_push(&sets, optarg) < 0)
                                return log_oom(), 1;
                        break;
                case 'A':
                        agent_arg = optarg;
                        break;
                case 'O':
                        overlays_arg = optarg;
                        break;
                case 'R':
                        credentials_arg = optarg;
                        break;
                case 'E':
                        if (strv_push(&extra_overlays, optarg) < 0)
                                return log_oom(), 1;
                        break;
                case 'F':
                        offline = true;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                log_error("unexpected argument '%s'", argv[optind]);
                return 2;
        }
        if (!profile_path) {
                log_error("no profile given: use -p images/NAME.yaml");
                return 2;
        }

        const struct arch_info *arch = arch_name ? arch_lookup(arch_name) : arch_host();
        if (!arch) {
                log_error("unknown architecture '%s' (expected amd64 or arm64)",
                          arch_name ? arch_name : "(host)");
                return 2;
        }

        _cleanup_profile_ struct profile *p = NULL;
        _cleanup_free_ char *perr = NULL;
        int r = profile_load(profile_path, sets, &p, &perr);
        if (r < 0) {
                if (perr)
                        log_error("%s", perr);
                else
                        log_error_errno(r, "Failed to load profile '%s': %m", profile_path);
                return 1;
        }
        if (streq(cmd, "check")) {
                log_info("profile '%s' (%s) is valid", p->name, profile_path);
                return 0;
        }

        _cleanup_free_ char *cache = cache_arg ? strdup(cache_arg) : default_cache();
        _cleanup_free_ char *agent = agent_arg ? strdup(agent_arg) : beside_self("kubeseed-firstboot");
        _cleanup_free_ char *overlays = overlays_arg ? strdup(overlays_arg) : default_overlays(profile_path);
        _cleanup_free_ char *lock_path = lock_path_for_profile(profile_path);
        if (!cache || !agent || !overlays || !lock_path)
                return log_oom(), 1;
        if (offline && !streq(cmd, "build") && !streq(cmd, "preload")) {
                log_error("--offline is an option of kubeseed build and kubeseed preload");
                return 2;
        }
        if (streq(cmd, "sysroot")) {
                _cleanup_free_ char *dir = NULL;
                if (rootfs_sysroot_stage(p, arch, cache, &dir) < 0)
                        return 1;
                printf("%s\n", dir);
                return fflush(stdout) == 0 ? 0 : 1;
        }
        if (streq(cmd, "fetch")) {
                log_info("fetching profile '%s' for %s into cache '%s', lock '%s'", p->name, arch->debian,
                         cache, lock_path);
                struct build_options fo = {
                        .profile = p,
                        .arch = arch,
                        .cache_dir = cache,
                        .registry_credentials = credentials_arg,
                        .lock_path = lock_path,
                };
                return fetch_run(&fo) < 0 ? 1 : 0;
        }

        log_info("%s profile '%s' for %s into '%s' (cache '%s')",
                 streq(cmd, "preload") ? "preloading images of" : "building", p->name, arch->debian, out,
                 cache);
        struct build_options o = {
                .profile = p,
                .arch = arch,
                .out_dir = out,
                .cache_dir = cache,
                .overlays_dir = overlays,
                .extra_overlays = extra_overlays,
                .registry_credentials = credentials_arg,
                .agent_path = agent,
                .source_date_epoch = source_date_epoch(),
                .lock_path = lock_path,
                .offline = offline,
        };
        r = streq(cmd, "preload") ? preload_run(&o) : build_run(&o);
        return r < 0 ? 1 : 0;
}
