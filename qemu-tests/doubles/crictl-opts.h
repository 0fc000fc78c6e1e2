/* SPDX-License-Identifier: MIT */
/* crictl's global options, for the crictl test double (crictl-double.c) and
 * the real bundle's crictl stand-in (qemu-tests/k8s/crictl-standin.c):
 * whether `opt` takes the next argument as its value. */
#pragma once

#include <string.h>

static int takes_value(const char *opt) {
        static const char *const with_value[] = {
                "-r", "--runtime-endpoint", "-i", "--image-endpoint", "-c", "--config", "-t", "--timeout",
        };
        if (strchr(opt, '='))
                return 0;
        for (size_t i = 0; i < sizeof with_value / sizeof with_value[0]; i++)
                if (strcmp(opt, with_value[i]) == 0)
                        return 1;
        return 0;
}
