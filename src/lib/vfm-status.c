/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-status.h"
#include "vfm-claims.h"
#include "vfm-json.h"

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
  if ((claims_problem = vfm_claims_problem (host)) != NULL)
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
  g_ptr_array_unref (st->problems);
  g_free (st);
}

static JsonNode *
migration_to_json (const VfmMigrationRecord *m)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "domain_uuid", m->domain_uuid);
  vfm_json_add_str (b, "domain_name", m->domain_name);
  vfm_json_add_str (b, "dest_uri", m->dest_uri);
  vfm_json_add_str (b, "claim_id", m->claim_id);
  vfm_json_add_str (b, "phase", m->phase);
  vfm_json_add_int (b, "started_at", m->started_at);
  vfm_json_add_int (b, "pid", m->pid);
  json_builder_end_object (b);
  return json_builder_get_root (b);
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
    json_builder_add_value (b, vfm_owned_to_json (o, dev ? vfm_pci_device_driver (dev) : NULL));
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
    json_builder_add_value (b, migration_to_json (g_ptr_array_index (st->migrations, i)));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "journal_problems");
  json_builder_begin_array (b);
  for (guint i = 0; i < st->problems->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (st->problems, i));
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
