/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* The installed packages of a root filesystem, read from its
 * /var/lib/dpkg/status (RFC 822-style stanzas) for the image manifest. */
struct dpkg_package {
        char *name, *version, *arch;
};

/* Parses a status file in memory, keeping stanzas whose Status is
 * "install ok installed" or "hold ok installed", sorted by name. -EINVAL for a malformed file. */
int dpkg_status_parse(const char *data, size_t size, struct dpkg_package **ret, size_t *ret_n);
void dpkg_packages_free(struct dpkg_package *p, size_t n);
