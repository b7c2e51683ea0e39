/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-preflight.h"
#include "vfm-libvirt.h"
#include "vfm-qemu-props.h"

#include <string.h>

VfmHostProfile *
vfm_preflight_source (VfmHost *host, const char *source_uri, GError **error)
{
  VfmHostProfile *p = vfm_host_profile_build (host, error);
  g_autoptr (GError) local = NULL;

  if (p == NULL) {
    g_prefix_error (error, "profiling this host: ");
    return NULL;
  }
  if (!vfm_libvirt_versions (source_uri, &p->libvirt_version, &p->qemu_version, &local))
    g_debug ("libvirt and QEMU versions of %s unknown: %s", source_uri, local->message);
  return p;
}

static gboolean
is_peer_spec (const char *peer)
{
  return g_str_has_prefix (peer, "ssh://") || g_str_has_prefix (peer, "sysroot:") || strcmp (peer, "local") == 0;
}

VfmHostProfile *
vfm_preflight_destination (const char *peer, const char *dest_uri, GError **error)
{
  g_autoptr (VfmPeer) p = NULL;
  VfmHostProfile *dst;
  g_autoptr (GError) local = NULL;

  if (!is_peer_spec (peer))
    return vfm_host_profile_load (g_str_has_prefix (peer, "file:") ? peer + 5 : peer, error);
  if ((p = vfm_peer_new (peer, error)) == NULL || (dst = vfm_peer_profile (p, error)) == NULL) {
    g_prefix_error (error, "profiling the destination through %s: ", peer);
    return NULL;
  }
  if (!vfm_libvirt_versions (dest_uri, &dst->libvirt_version, &dst->qemu_version, &local))
    g_debug ("libvirt and QEMU versions of %s unknown: %s", dest_uri, local->message);
  if (dst->hostname == NULL)
    dst->hostname = g_strdup (dest_uri);
  return dst;
}

gboolean
vfm_preflight_running_properties (const char *uri, VfmDomainInfo *domain, GError **error)
{
  g_autoptr (GPtrArray) props = vfm_qemu_props_load (error);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();

  if (props == NULL)
    return FALSE;
  for (guint i = 0; i < props->len; i++) {
    const char *n = ((VfmQemuProp *) g_ptr_array_index (props, i))->name;
    if (!g_ptr_array_find_with_equal_func (names, n, g_str_equal, NULL))
      g_ptr_array_add (names, (gpointer) n);
  }
  g_ptr_array_add (names, NULL);
  for (guint i = 0; i < domain->hostdevs->len; i++) {
    VfmHostdev *h = g_ptr_array_index (domain->hostdevs, i);
    if (h->alias != NULL &&
        (h->running = vfm_libvirt_qom_get (uri, domain->name, h->alias, (const char * const *) names->pdata, error)) == NULL)
      goto fail;
  }
  for (guint i = 0; i < domain->mdevs->len; i++) {
    VfmMdevHostdev *m = g_ptr_array_index (domain->mdevs, i);
    if (m->alias != NULL &&
        (m->running = vfm_libvirt_qom_get (uri, domain->name, m->alias, (const char * const *) names->pdata, error)) == NULL)
      goto fail;
  }
  return TRUE;
fail:
  /* all or nothing: the rules judge every device the same way */
  for (guint i = 0; i < domain->hostdevs->len; i++)
    g_clear_pointer (&((VfmHostdev *) g_ptr_array_index (domain->hostdevs, i))->running, g_ptr_array_unref);
  for (guint i = 0; i < domain->mdevs->len; i++)
    g_clear_pointer (&((VfmMdevHostdev *) g_ptr_array_index (domain->mdevs, i))->running, g_ptr_array_unref);
  return FALSE;
}

VfmCheckResult *
vfm_preflight_check (VfmHost *host, const char *source_uri, const char *peer, const char *dest_uri,
                     const VfmDomainInfo *domain, VfmStrategy strategy, VfmHostProfile **source_out,
                     VfmHostProfile **dest_out, GError **error)
{
  g_autoptr (VfmHostProfile) src = vfm_preflight_source (host, source_uri, error);
  g_autoptr (VfmHostProfile) dst = src ? vfm_preflight_destination (peer, dest_uri, error) : NULL;
  VfmCheckResult *r;

  if (dst == NULL)
    return NULL;
  r = vfm_check (src, dst, domain, strategy);
  if (source_out != NULL)
    *source_out = g_steal_pointer (&src);
  if (dest_out != NULL)
    *dest_out = g_steal_pointer (&dst);
  return r;
}
