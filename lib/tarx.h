/* SPDX-License-Identifier: MIT */
#pragma once

/* Extract a tar archive (any compression libarchive reads) into `dir`,
 * keeping permissions, owners, times, extended attributes and ACLs. Entries
 * with absolute paths or ".." are refused. */
int tar_extract(const char *archive_path, const char *dir, char **ret_error);
