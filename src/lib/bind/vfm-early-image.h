/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-early-boot.h"

G_BEGIN_DECLS

/* Is a kernel's initramfs image carrying the early-boot plan the policies
 * give now, and rebuilding it when not (vfmigctl early-boot status|refresh,
 * the vfmig-early-boot.path unit, doctor's early-boot-image line).
 *
 * The record: when an initramfs hook embeds the plan in an image it also
 * writes it on the host (`vfmigctl early-boot plan --record RELEASE
 * --generator NAME`), in /var/lib/vfmig/early-boot/RELEASE.plan: the line
 * "generator NAME", then the plan byte for byte as the image has it.
 *
 * The generators: data/initramfs/generators.conf, one group each (Program,
 * Command, Image). */

typedef struct {
  char *name;       /* "initramfs-tools" */
  char *program;    /* "/usr/sbin/update-initramfs" */
  char *command;    /* "/usr/sbin/update-initramfs -u -k {release}" */
  char **images;    /* "/boot/initrd.img-{release}", … */
  char *no_hook;    /* what to do when the image has no vfmig hook */
} VfmInitramfsGenerator;

typedef enum {
  VFM_EARLY_IMAGE_UP_TO_DATE,
  VFM_EARLY_IMAGE_STALE,      /* recorded plan differs from the current one */
  VFM_EARLY_IMAGE_NO_RECORD,  /* no image of the release was built with vfmig's hook here */
} VfmEarlyImageState;

typedef struct {
  char *release;
  VfmEarlyImageState state;
  gboolean refresh_needed;    /* stale, or no record while the plan binds something */
  char *current_plan;         /* the plan's id now */
  char *current_text;         /* the plan file now */
  char *recorded_plan;        /* NULL: no record */
  char *recorded_generator;   /* NULL: no record */
  GPtrArray *added;           /* VfmEarlyPlanEntry (bdf NULL): in the plan now, not in the image
                               * (no record: every device of the plan) */
  GPtrArray *removed;         /* VfmEarlyPlanEntry: in the image, not in the plan now */
  GPtrArray *modules_added;   /* char *: modules the image lacks */
  GPtrArray *modules_removed; /* char *: modules the image has for nothing */
  VfmInitramfsGenerator *generator; /* the one refresh would run, NULL: none on this host */
  char *image;                /* the generator's existing image of the release, or NULL */
  GPtrArray *warnings;        /* char *: the plan's devices left out, and why */
} VfmEarlyImageStatus;

/* PATH NULL: the installed data/initramfs/generators.conf. */
GPtrArray *vfm_initramfs_generators_load (const char *path, GError **error);

/* Whether RELEASE can name a kernel (and a file): plain characters, no '/'. */
gboolean   vfm_early_image_release_valid (const char *release, GError **error);

/* Writes the record for RELEASE: PLAN_TEXT (what the hook embedded) made by
 * GENERATOR ("initramfs-tools", "dracut"). */
gboolean   vfm_early_image_record        (VfmSysroot *sr, const char *release, const char *generator,
                                          const char *plan_text, GError **error);

/* The kernels whose image has a record and whose modules are still
 * installed (/lib/modules/RELEASE), sorted; the running kernel first,
 * recorded or not. */
GPtrArray *vfm_early_image_releases      (VfmSysroot *sr);

/* RELEASE NULL: the running kernel's. GENERATORS (may be NULL: then no
 * generator is looked for) from vfm_initramfs_generators_load. */
VfmEarlyImageStatus *vfm_early_image_status (VfmHost *host, const char *release, GPtrArray *generators,
                                             GError **error);
void       vfm_early_image_status_free   (VfmEarlyImageStatus *st);
const char *vfm_early_image_state_to_string (VfmEarlyImageState s);
JsonNode  *vfm_early_image_status_to_json (const VfmEarlyImageStatus *st);

/* The generator's command for ST's release, as argv. */
char     **vfm_early_image_command       (const VfmEarlyImageStatus *st, GError **error);

/* Runs the generator's command (its output goes to this process's stderr)
 * and checks that the hook recorded the current plan. On a failing command
 * the record is put back as it was: the image was not rebuilt. */
gboolean   vfm_early_image_refresh       (VfmHost *host, const VfmEarlyImageStatus *st, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmEarlyImageStatus, vfm_early_image_status_free)

G_END_DECLS
