/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Facts from the libvirt on a connection (DESIGN.md, Decisions 23: libvirt
 * gives its own and QEMU's versions; host facts come from vfmig). The URI
 * defaults as in virsh: LIBVIRT_DEFAULT_URI, then qemu:///system. */
gboolean vfm_libvirt_versions (const char  *uri,
                               gulong      *libvirt_version,
                               gulong      *qemu_version,
                               GError     **error);
char    *vfm_libvirt_version_string (gulong version);
char    *vfm_libvirt_domain_xml  (const char  *uri,
                                  const char  *name,
                                  GError     **error);
/* QEMU's query-migrate blocked-reasons (char *). Asks QEMU's monitor,
 * which makes libvirt mark the domain tainted: only on request. */
GPtrArray *vfm_libvirt_qemu_blockers (const char  *uri,
                                      const char  *name,
                                      GError     **error);
/* The values the running QEMU has for the properties props (NULL-ended) of
 * the device with that alias (qom-get /machine/peripheral/ALIAS), as
 * VfmQemuOverride (type "string", "bool" or "number" as QEMU answered); a
 * property QEMU does not have is left out. Tainting as above. */
GPtrArray *vfm_libvirt_qom_get       (const char  *uri,
                                      const char  *name,
                                      const char  *alias,
                                      const char * const *props,
                                      GError     **error);

/* A libvirt connection for the migration sequence (read-write). */
typedef struct _VfmVirt VfmVirt;

typedef struct {
  guint64 processed, remaining, total;   /* bytes */
  guint64 dirty_rate_pages;              /* pages per second */
  guint64 expected_downtime_ms;
  guint64 memory_bps;                    /* QEMU's measured transfer rate, bytes/s (0: not yet) */
  guint64 memory_iteration;              /* QEMU's pass over guest RAM (1: the first) */
} VfmJobStats;

VfmVirt  *vfm_virt_open          (const char *uri, gboolean read_only, GError **error);
void      vfm_virt_close         (VfmVirt *v);
char     *vfm_virt_domain_xml    (VfmVirt *v, const char *name, gboolean inactive, GError **error);
char     *vfm_virt_domain_live_xml (VfmVirt *v, const char *name, GError **error);
gboolean  vfm_virt_domain_facts  (VfmVirt *v, const char *name, char **uuid, gboolean *persistent,
                                  gboolean *active, GError **error);
gboolean  vfm_virt_migrate       (VfmVirt *v, const char *name, const char *dest_uri, const char *dest_xml,
                                  const char *persist_xml, guint flags, guint64 bandwidth_mib, GError **error);
gboolean  vfm_virt_job_stats     (VfmVirt *v, const char *name, VfmJobStats *out);
gboolean  vfm_virt_abort         (VfmVirt *v, const char *name);
gboolean  vfm_virt_set_max_downtime (VfmVirt *v, const char *name, guint64 ms);
gboolean  vfm_virt_device        (VfmVirt *v, const char *name, const char *xml, gboolean attach,
                                  gboolean config, GError **error);

gboolean  vfm_virt_define        (VfmVirt *v, const char *xml, GError **error);

/* Domain life cycle, for a cold move (evacuate --allow-stop). */
GPtrArray *vfm_virt_list_running (VfmVirt *v, GError **error);
int       vfm_virt_compare_names (gconstpointer a, gconstpointer b);
gboolean  vfm_virt_shutdown      (VfmVirt *v, const char *name, GError **error);
gboolean  vfm_virt_start         (VfmVirt *v, const char *name, GError **error);
gboolean  vfm_virt_create_transient (VfmVirt *v, const char *xml, GError **error);
gboolean  vfm_virt_undefine      (VfmVirt *v, const char *name, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmVirt, vfm_virt_close)

G_END_DECLS
