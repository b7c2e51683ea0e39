/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-early-boot.h"
#include "vfm-early-record.h"
#include "vfm-error.h"
#include "vfm-iommu.h"
#include "vfm-journal.h"
#include "vfm-json.h"
#include "vfm-lock.h"

#include <string.h>

void
vfm_early_plan_entry_free (VfmEarlyPlanEntry *e)
{
  if (e == NULL)
    return;
  g_free (e->bdf);
  g_free (e->pci_path);
  g_free (e->driver);
  g_free (e->module);
  g_free (e->host_driver);
  g_free (e->policy);
  g_free (e);
}

/* A word the plan file can carry: its fields are separated by blanks and
 * the early step writes them into JSON without escaping. */
static gboolean
plain_word (const char *s)
{
  if (s == NULL || *s == '\0')
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum (*p) && strchr ("._-:/+", *p) == NULL)
      return FALSE;
  return TRUE;
}

GPtrArray *
vfm_early_boot_plan (VfmHost *host, GPtrArray *warnings, GError **error)
{
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (GPtrArray) plan = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_early_plan_entry_free);
  VfmSysroot *sr = vfm_host_sysroot (host);

  if (vfm_host_db (host, error) == NULL || (devices = vfm_host_devices (host, warnings, error)) == NULL)
    return NULL;
  for (guint i = 0; i < devices->len; i++) {
    VfmPciDevice *dev = g_ptr_array_index (devices, i);
    const char *bdf = vfm_pci_device_bdf (dev);
    const char *drv = vfm_pci_device_driver (dev);
    g_autoptr (VfmSelection) sel = vfm_host_select (host, dev, NULL);
    g_autoptr (VfmOwned) owned = NULL;
    VfmEarlyPlanEntry *e;
    const char *why = NULL;

    if (sel == NULL || !sel->managed || !sel->auto_bind)
      continue;
    if (vfm_pci_device_physfn (dev) != NULL)
      why = "a VF: it exists only once its PF's driver made it (vfmigd binds it at its add event)";
    else if (sel->selected == NULL)
      why = "no VFIO driver is selected for it";
    else if (vfm_pci_device_pci_path (dev) == NULL)
      why = "its PCI path cannot be read";
    else if (!plain_word (sel->selected->driver) || !plain_word (sel->selected->module))
      why = "its driver's name cannot be written into the plan";
    if (why != NULL) {
      if (warnings != NULL)
        g_ptr_array_add (warnings, g_strdup_printf ("%s: left out of the early-boot plan: %s", bdf, why));
      continue;
    }
    e = g_new0 (VfmEarlyPlanEntry, 1);
    e->bdf = g_strdup (bdf);
    e->pci_path = g_strdup (vfm_pci_device_pci_path (dev));
    e->vendor = vfm_pci_device_vendor (dev);
    e->device = vfm_pci_device_device (dev);
    e->subsystem_vendor = vfm_pci_device_subsystem_vendor (dev);
    e->subsystem_device = vfm_pci_device_subsystem_device (dev);
    e->driver = g_strdup (sel->selected->driver);
    e->module = g_strdup (sel->selected->module);
    /* the host driver to return it to: the one it has, or the one vfmig
     * recorded when it took the device */
    if (drv != NULL && !vfm_host_is_vfio_driver (host, drv))
      e->host_driver = g_strdup (drv);
    else if ((owned = vfm_journal_read_owned (sr, bdf, NULL)) != NULL && plain_word (owned->original_driver))
      e->host_driver = g_strdup (owned->original_driver);
    {
      /* the id of the policy that decided, as a word ("50-site/gpu0") */
      VfmDb *db = vfm_host_db (host, NULL);
      VfmDeviceIds ids;
      VfmPolicyOutcome out = { 0 };
      vfm_pci_device_ids (dev, NULL, FALSE, &ids);
      vfm_policy_evaluate (db->policies, &ids, &out);
      e->policy = g_strdup (out.manage_by && plain_word (out.manage_by->id) ? out.manage_by->id : "-");
      vfm_policy_outcome_clear (&out);
    }
    g_ptr_array_add (plan, e);
  }
  return g_steal_pointer (&plan);
}

static char *
entry_line (const VfmEarlyPlanEntry *e)
{
  return g_strdup_printf ("device %s 0x%04x 0x%04x 0x%04x 0x%04x %s %s %s %s", e->pci_path, e->vendor, e->device,
                          e->subsystem_vendor, e->subsystem_device, e->driver, e->module,
                          e->host_driver ? e->host_driver : "-", e->policy);
}

char *
vfm_early_boot_plan_text (GPtrArray *plan)
{
  g_autoptr (GString) body = g_string_new (NULL);
  g_autofree char *id = NULL;

  for (guint i = 0; i < plan->len; i++) {
    g_autofree char *line = entry_line (g_ptr_array_index (plan, i));
    g_string_append_printf (body, "%s\n", line);
  }
  id = g_compute_checksum_for_string (G_CHECKSUM_SHA256, body->str, -1);
  id[12] = '\0';
  return g_strdup_printf ("# vfmig early-boot plan (vfmigctl early-boot plan): the devices the policies bind\n"
                          "# before any host driver. device PCI_PATH VENDOR DEVICE SUBVENDOR SUBDEVICE DRIVER\n"
                          "# MODULE HOST_DRIVER POLICY\n"
                          "plan %s\n%s", id, body->str);
}

JsonNode *
vfm_early_boot_plan_to_json (GPtrArray *plan)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_array (b);
  for (guint i = 0; i < plan->len; i++) {
    const VfmEarlyPlanEntry *e = g_ptr_array_index (plan, i);
    json_builder_begin_object (b);
    vfm_json_add_str (b, "bdf", e->bdf);
    vfm_json_add_str (b, "pci_path", e->pci_path);
    vfm_json_add_hex (b, "vendor", e->vendor, 4);
    vfm_json_add_hex (b, "device", e->device, 4);
    vfm_json_add_hex (b, "subsystem_vendor", e->subsystem_vendor, 4);
    vfm_json_add_hex (b, "subsystem_device", e->subsystem_device, 4);
    vfm_json_add_str (b, "driver", e->driver);
    vfm_json_add_str (b, "module", e->module);
    vfm_json_add_str (b, "host_driver", e->host_driver);
    vfm_json_add_str (b, "policy", e->policy);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  return json_builder_get_root (b);
}

GPtrArray *
vfm_early_boot_adopt (VfmHost *host)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (VfmEarlyBoot) eb = vfm_early_boot_read (sr, NULL);
  GPtrArray *done = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; eb != NULL && i < eb->devices->len; i++) {
    const VfmEarlyDevice *d = g_ptr_array_index (eb->devices, i);
    g_autoptr (VfmLock) lock = NULL;
    g_autoptr (VfmOwned) have = NULL;
    g_autoptr (GError) error = NULL;
    VfmPciDevice *dev;
    char bdf[13];

    if (g_strcmp0 (d->result, "bound") != 0 || d->bdf == NULL || !vfm_host_parse_bdf (d->bdf, bdf, NULL) ||
        (dev = vfm_host_device (host, bdf, NULL)) == NULL ||
        g_strcmp0 (vfm_pci_device_pci_path (dev), d->pci_path) != 0)
      continue;
    if ((lock = vfm_lock_device (sr, bdf, 5000, NULL)) == NULL)
      continue;
    vfm_pci_device_reload (dev);
    if (g_strcmp0 (vfm_pci_device_driver (dev), d->driver) != 0)
      continue; /* moved since boot: not vfmig's to return */
    if ((have = vfm_journal_read_owned (sr, bdf, &error)) != NULL || error != NULL)
      continue; /* already recorded (adopted before, or bound again) */
    {
      VfmOwned rec = {
        .bdf = bdf,
        .driver = d->driver,
        .original_driver = d->host_driver,
        .original_override = NULL,
        .bound_at = g_get_real_time () / G_USEC_PER_SEC,
        .origin = (char *) "early-boot",
      };
      if (!vfm_journal_write_owned (sr, &rec, &error))
        continue;
    }
    g_ptr_array_add (done, g_strdup_printf ("%s: the initramfs bound it to %s (policy %s); recorded, restore returns "
                                            "it to %s", bdf, d->driver, d->policy ? d->policy : "?",
                                            d->host_driver ? d->host_driver : "no driver"));
  }
  return done;
}
