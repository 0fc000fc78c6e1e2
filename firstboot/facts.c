/* SPDX-License-Identifier: MIT */
#include "facts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fsutil.h"
#include "macro.h"
#include "state.h"

static int put(FILE *f, const char *key, const char *value) {
        _cleanup_free_ char *e = NULL;
        int r = state_escape(value ? value : "", &e);
        if (r < 0)
                return r;
        fprintf(f, "%s=%s\n", key, e);
        return 0;
}

int facts_serialize(const struct facts *fa, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        char num[32];
        snprintf(num, sizeof num, "%zu", fa->user_data_size);
        fputs("# kubeseed-firstboot machine facts; see docs/firstboot.md\n", f);
        if (put(f, "machine", fa->machine) < 0 || put(f, "kernel_release", fa->kernel_release) < 0 ||
            put(f, "instance_id", fa->instance_id) < 0 || put(f, "hostname", fa->hostname) < 0 ||
            put(f, "source", fa->source) < 0 || put(f, "role", fa->role) < 0 ||
            put(f, "user_data_size", num) < 0)
                return -ENOMEM;
        return memstream_finish(&f, &buf, &size, ret, ret_size);
}

int facts_save(const char *root, const struct facts *fa) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = facts_serialize(fa, &data, &size);
        if (r < 0)
                return r;
        return write_file_atomic_root(root, FACTS_PATH, data, size, 0644);
}
