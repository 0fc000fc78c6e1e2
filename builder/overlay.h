/* SPDX-License-Identifier: MIT */
#pragma once

/* Stage 2: copy overlay trees (overlays/<name>/) into the staging root.
 * Directories, regular files and symlinks are copied with their permission
 * bits (including setuid/setgid/sticky); everything is owned by root:root in
 * the image whoever owns the checkout. Symlinks in the image are never
 * followed (one could point outside the staging root): on a merged-/usr
 * image an overlay puts files under usr/lib, not lib. Anything else (devices, fifos,
 * sockets) is refused with the path named. An existing file in the root is
 * replaced; an existing directory is kept (its mode set from the overlay). */
int overlay_apply(const char *overlay_dir, const char *root);
