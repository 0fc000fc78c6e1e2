/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "addon.h"
#include "lock.h"
#include "manifestwalk.h"
#include "profile.h"
#include "stagekey.h"

/* The add-on stage (docs/addons.md): the profile's add-ons taken from the
 * catalogue (the addons/ folder), each manifest fetched through the store and
 * checked against its SHA-256 (from the definition or the lock), its
 * substitutions checked, its images collected for the preload list, and the
 * whole shipped into the image under /usr/share/kubeseed/addons/ with a
 * catalog.yaml the first-boot agent reads. */

struct addons_plan {
        char *catalog_dir;
        struct addon_catalog source;  /* the definitions shipped, as written in the catalogue */
        struct addon_catalog shipped; /* as in the image: file names and sha256 filled in */
        struct image_list images;     /* every image the shipped add-ons need */
        char **defaults;              /* the default selection, dependency-ordered */
};

void addons_plan_done(struct addons_plan *p);

/* The catalogue directory: addons.catalog, or addons/ beside the folder
 * holding the profile (images/x.yaml -> addons/). */
char *addons_catalog_dir(const struct profile *p);

/* Load every *.yaml of `dir` into `cat` (sorted by file name); validates
 * the catalogue as a whole (dependencies, cycles). Logs its errors. */
int addons_load_catalog(const char *dir, struct addon_catalog *cat);

/* Pure: from a loaded catalogue, the profile's ship list and defaults
 * (absent lists: every definition / those marked default), checked: every
 * name exists, the defaults are shipped and can be ordered. Definitions are
 * moved from `all` into ret->source. */
int addons_select(const struct profile *p, struct addon_catalog *all, struct addons_plan *ret,
                  char **ret_error);

/* Nothing to do (0) when the profile has no addons key. Otherwise fetches
 * (or, offline, takes from the store) every manifest, verifies it, fills
 * ret. `lock` (may be NULL) pins URLs without a sha256 in their definition;
 * `record` (fetch, may be NULL) receives every URL's sha256. `root` (may be
 * NULL: fetch) receives the files. Each manifest's digest goes into `key`
 * (may be NULL). Returns 1 when add-ons are shipped. */
int addons_stage(const struct profile *p, const char *cas_dir, const char *root,
                 const struct lock_arch *lock, bool offline, struct lock_arch *record, struct stagekey *key,
                 struct addons_plan *ret);

/* The image file name of manifest `i` of `d`: "<i+1>-<basename>". */
char *addons_manifest_file_name(const struct addon_manifest *m, size_t i);
