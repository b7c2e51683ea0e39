/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-status.h"
#include "vfm-claim-store.h"
#include "vfm-json.h"
#include "vfm-mdev.h"

VfmStatus *
vfm_status_read (VfmHost *host)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  VfmStatus *st = g_new0 (VfmStatus, 1);
  g_autofree char *claims_problem = NULL;

  st->problems = g_ptr_array_new_with_free_func (g_free);
  st->owned = vfm_journal_list_owned (sr, st->problems);
  st->intents = vfm_journal_list_intents (sr, st->problems);
  st->sriov = vfm_journal_list_sriov (sr, st->problems);
  st->migrations = vfm_journal_list_migrations (sr, st->problems);
  st->mdevs = vfm_journal_list_mdevs (sr, st->problems);
  {
    g_autoptr (GError) error = NULL;
    st->early = vfm_early_boot_read (sr, &error);
    if (error != NULL)
      g_ptr_array_add (st->problems, g_strdup (error->message));
    for (guint i = 0; st->early != NULL && i < st->early->problems->len; i++)
      g_ptr_array_add (st->problems, g_strdup (g_ptr_array_index (st->early->problems, i)));
  }
  if ((claims_problem = vfm_claim_store_problem (vfm_host_sysroot (host))) != NULL)
    g_ptr_array_add (st->problems, g_steal_pointer (&claims_problem));
  return st;
}

void
vfm_status_free (VfmStatus *st)
{
  if (st == NULL)
    return;
  g_ptr_array_unref (st->owned);
  g_ptr_array_unref (st->intents);
  g_ptr_array_unref (st->sriov);
  g_ptr_array_unref (st->migrations);
  g_ptr_array_unref (st->mdevs);
  g_ptr_array_unref (st->problems);
  vfm_early_boot_free (st->early);
  g_free (st);
}

/* The journal's owned record and what the device is bound to now, the live
 * members right after "driver" (the order status has always printed). */
static JsonNode *
owned_to_json (const VfmOwned *o, const char *current_driver)
{
  g_autoptr (JsonNode) record = vfm_owned_to_json (o);
  JsonObject *rec = json_node_get_object (record);
  JsonObject *out = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (GList) members = json_object_get_members (rec);

  for (GList *l = members; l != NULL; l = l->next) {
    const char *name = l->data;
    json_object_set_member (out, name, json_node_copy (json_object_get_member (rec, name)));
    if (g_strcmp0 (name, "driver") == 0) {
      if (current_driver != NULL)
        json_object_set_string_member (out, "current_driver", current_driver);
      else
        json_object_set_null_member (out, "current_driver");
      json_object_set_boolean_member (out, "in_place", g_strcmp0 (o->driver, current_driver) == 0);
    }
  }
  json_node_take_object (node, out);
  return node;
}

JsonNode *
vfm_status_to_json (const VfmStatus *st, VfmHost *host)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "owned");
  json_builder_begin_array (b);
  for (guint i = 0; i < st->owned->len; i++) {
    const VfmOwned *o = g_ptr_array_index (st->owned, i);
    VfmPciDevice *dev = vfm_host_device (host, o->bdf, NULL);
    if (dev != NULL)
      vfm_pci_device_reload (dev);
    json_builder_add_value (b, owned_to_json (o, dev ? vfm_pci_device_driver (dev) : NULL));
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "pending");
  json_builder_begin_array (b);
  for (guint i = 0; i < st->intents->len; i++)
    json_builder_add_value (b, vfm_intent_to_json (g_ptr_array_index (st->intents, i)));
  for (guint i = 0; i < st->sriov->len; i++)
    json_builder_add_value (b, vfm_sriov_intent_to_json (g_ptr_array_index (st->sriov, i)));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "migrations");
  json_builder_begin_array (b);
  for (guint i = 0; i < st->migrations->len; i++)
    json_builder_add_value (b, vfm_migration_record_to_json (g_ptr_array_index (st->migrations, i)));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "journal_problems");
  json_builder_begin_array (b);
  for (guint i = 0; i < st->problems->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (st->problems, i));
  json_builder_end_array (b);
  /* after journal_problems: the members before it keep their order */
  json_builder_set_member_name (b, "mdevs");
  json_builder_begin_array (b);
  for (guint i = 0; i < st->mdevs->len; i++) {
    const VfmMdevRecord *r = g_ptr_array_index (st->mdevs, i);
    g_autoptr (VfmMdev) m = vfm_mdev_get (vfm_host_sysroot (host), r->uuid, NULL);
    JsonNode *node = vfm_mdev_record_to_json (r);
    /* the record, and whether its instance is still there */
    json_object_set_boolean_member (json_node_get_object (node), "present", m != NULL);
    json_builder_add_value (b, node);
  }
  json_builder_end_array (b);
  /* what the initramfs step did this boot (null: it did not run) */
  json_builder_set_member_name (b, "early_boot");
  if (st->early == NULL) {
    json_builder_add_null_value (b);
  } else {
    json_builder_begin_object (b);
    vfm_json_add_str (b, "plan", st->early->plan);
    json_builder_set_member_name (b, "devices");
    json_builder_begin_array (b);
    for (guint i = 0; i < st->early->devices->len; i++)
      json_builder_add_value (b, vfm_early_device_to_json (g_ptr_array_index (st->early->devices, i)));
    json_builder_end_array (b);
    json_builder_end_object (b);
  }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
