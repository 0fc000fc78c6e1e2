/* SPDX-License-Identifier: MIT */
/* TEST DOUBLE — not crictl. The `crictl` member of the test bundle's
 * crictl-<version>-linux-<arch>.tar.gz (`make test-bundle`,
 * qemu-tests/doubles/README.md), because the real cri-tools release cannot be
 * downloaded on our machines. It talks to no runtime:
 *
 *   crictl --version        "crictl version <version>"
 *   crictl [opts] version   a version block like the real one, runtime named
 *                           as the test double; exit 0
 *   crictl [opts] info      "{}" (an empty status document); exit 0
 *   anything else           refused with exit 1, naming the command, so a
 *                           scenario that starts relying on more fails loudly
 *
 * Global options (-r/--runtime-endpoint, -i/--image-endpoint, -c/--config,
 * -t/--timeout, with their values; --debug and other flags) are skipped.
 * <version> is CRICTL_DOUBLE_VERSION, set at build time (doubles.mk).
 * Built -static. */
#include <stdio.h>
#include <string.h>

#include "crictl-opts.h"

#ifndef CRICTL_DOUBLE_VERSION
#error "build with -DCRICTL_DOUBLE_VERSION='\"v1.31.1\"'"
#endif

int main(int argc, char **argv) {
        const char *cmd = NULL;
        for (int i = 1; i < argc && !cmd; i++) {
                if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-v") == 0) {
                        printf("crictl version %s\n", CRICTL_DOUBLE_VERSION);
                        return 0;
                }
                if (argv[i][0] != '-')
                        cmd = argv[i];
                else if (takes_value(argv[i]))
                        i++;
        }
        if (!cmd) {
                fprintf(stderr, "crictl (kubeseed test double): no command given\n");
                return 1;
        }
        if (strcmp(cmd, "version") == 0) {
                printf("Version:  0.1.0\n"
                       "RuntimeName:  kubeseed-test-double\n"
                       "RuntimeVersion:  %s\n"
                       "RuntimeApiVersion:  v1\n",
                       CRICTL_DOUBLE_VERSION);
                return 0;
        }
        if (strcmp(cmd, "info") == 0) {
                printf("{}\n");
                return 0;
        }
        fprintf(stderr, "crictl (kubeseed test double): '%s' is not implemented by the test double\n", cmd);
        return 1;
}
