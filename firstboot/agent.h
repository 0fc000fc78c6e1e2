/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "blk.h"
#include "seed.h"

/* kubeseed-firstboot: the first-boot agent. main.c is a thin wrapper over
 * agent_main(); tests call agent_run()/agent_status() with their own I/O tables. */

#define AGENT_DONE_PATH "/var/lib/kubeseed/done" /* written on success; the unit's condition */
#define AGENT_PROGRAM "kubeseed-firstboot"

/* AGENT_NETWORK: early in boot, before systemd-networkd starts, write the
 * network-config of a local metadata source as networkd files (netconfig.c;
 * kubeseed-firstboot-network.service). Records no state. */
enum agent_verb { AGENT_RUN, AGENT_STATUS, AGENT_NETWORK };

struct agent_options {
        enum agent_verb verb;
        const char *root;              /* --root: NULL or "/" is the real root */
        const char *seed_dir;          /* --seed-dir: read this directory instead of a volume */
        const char *console;           /* --console: extra log sink; default /dev/console unless --root */
        bool json;                     /* status --json */
        const char *imds_url;          /* --imds-url: EC2-style metadata service base URL */
        const char *cmdline;           /* kernel command line to use instead of /proc/cmdline (tests) */
        unsigned kubeadm_timeout_sec;  /* --kubeadm-timeout; default 1800 */
        unsigned api_wait_timeout_sec; /* --api-wait-timeout; default 1800 */
        bool debug;

        /* Test hooks; NULL/0 means the real thing. */
        const struct blk_ops *blk_ops;
        void *blk_userdata;
        const struct seed_mount_ops *mount_ops;
        void *mount_userdata;
        unsigned seed_attempts; /* default 5 */
        unsigned seed_retry_ms; /* first delay, doubled up to 2 s; default 500 */
        uint64_t (*now)(void);  /* default time(NULL) */
        FILE *out;              /* status output; default stdout */
};

/* Parse the command line (getopt_long, options anywhere). Returns 0 and
 * fills *ret, 1 when --help was printed (exit 0), or -EINVAL after logging
 * what was wrong. */
int agent_parse_args(int argc, char **argv, struct agent_options *ret);

/* The run verb. Prints progress to stderr and the console, records the state
 * and facts files, and ends with the console line
 * "kubeseed-firstboot: finished: ok" or "... finished: failed: <reason>".
 * Returns 0 on success (or nothing left to do), a negative errno on failure. */
int agent_run(const struct agent_options *o);

/* The status verb: the state file as text or JSON on o->out. */
int agent_status(const struct agent_options *o);

/* What main() does: returns the process exit code (0 ok, 1 failed, 2 usage). */
int agent_main(int argc, char **argv);
