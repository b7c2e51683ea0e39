/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-json.h"
#include "vfm-error.h"

#include <string.h>

gboolean
vfm_json_check_text (const char *text, gsize len, GError **error)
{
  guint depth = 0;

  for (gsize i = 0; i < len; i++) {
    char c = text[i];
    if (c == '"') {
      for (i++; i < len && text[i] != '"'; i++)
        if (text[i] == '\\')
          i++;
      if (i >= len)
        return TRUE; /* unterminated: the parser says so */
    } else if (c == '[' || c == '{') {
      if (++depth > VFM_JSON_MAX_DEPTH) {
        g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "nested deeper than %d levels", VFM_JSON_MAX_DEPTH);
        return FALSE;
      }
    } else if (c == ']' || c == '}') {
      if (depth > 0)
        depth--;
    } else if (c == '\0' || strchr (" \t\r\n:,-+.0123456789Eaeflnrstu", c) == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "not JSON: byte 0x%02x outside a string at offset %" G_GSIZE_FORMAT,
                   (guint8) c, i);
      return FALSE;
    }
  }
  return TRUE;
}

static JsonNode *
value_of (JsonObject *o, const char *key, GType type)
{
  JsonNode *n = o ? json_object_get_member (o, key) : NULL;
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return NULL;
  if (json_node_get_value_type (n) == type || (type == G_TYPE_DOUBLE && json_node_get_value_type (n) == G_TYPE_INT64))
    return n;
  return NULL;
}

const char *
vfm_json_get_str_or (JsonObject *o, const char *key, const char *def)
{
  JsonNode *n = value_of (o, key, G_TYPE_STRING);
  return n ? json_node_get_string (n) : def;
}

gint64
vfm_json_get_int_or (JsonObject *o, const char *key, gint64 def)
{
  JsonNode *n = value_of (o, key, G_TYPE_INT64);
  return n ? json_node_get_int (n) : def;
}

gboolean
vfm_json_get_bool_or (JsonObject *o, const char *key, gboolean def)
{
  JsonNode *n = value_of (o, key, G_TYPE_BOOLEAN);
  return n ? json_node_get_boolean (n) : def;
}

gdouble
vfm_json_get_double_or (JsonObject *o, const char *key, gdouble def)
{
  JsonNode *n = value_of (o, key, G_TYPE_DOUBLE);
  return n ? json_node_get_double (n) : def;
}

gboolean
vfm_json_load_data (JsonParser *parser, const char *text, gsize len, GError **error)
{
  g_autoptr (GError) local = NULL;
  if (!vfm_json_check_text (text, len, error))
    return FALSE;
  if (!json_parser_load_from_data (parser, text, (gssize) len, &local)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s", local->message);
    return FALSE;
  }
  return TRUE;
}

gboolean
vfm_json_load_file (JsonParser *parser, const char *path, gsize max_bytes, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &text, &len, &local)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "%s", local->message);
    return FALSE;
  }
  if (len > max_bytes) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "larger than %" G_GSIZE_FORMAT " bytes", max_bytes);
    return FALSE;
  }
  return vfm_json_load_data (parser, text, len, error);
}

void
vfm_json_add_str (JsonBuilder *b, const char *key, const char *v)
{
  json_builder_set_member_name (b, key);
  if (v != NULL)
    json_builder_add_string_value (b, v);
  else
    json_builder_add_null_value (b);
}

/* PCI ids as lowercase hex without 0x (DESIGN.md, Decisions 4). */
void
vfm_json_add_hex (JsonBuilder *b, const char *key, guint32 v, int width)
{
  char buf[16];
  g_snprintf (buf, sizeof buf, "%0*x", width, v);
  vfm_json_add_str (b, key, buf);
}

void
vfm_json_add_bool (JsonBuilder *b, const char *key, gboolean v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_boolean_value (b, v);
}

void
vfm_json_add_int (JsonBuilder *b, const char *key, gint64 v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, v);
}


static void
add_int_or_null (JsonBuilder *b, const char *key, gint v)
{
  json_builder_set_member_name (b, key);
  if (v >= 0)
    json_builder_add_int_value (b, v);
  else
    json_builder_add_null_value (b);
}

static void
add_strv (JsonBuilder *b, const char *key, GPtrArray *list)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; list != NULL && i < list->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (list, i));
  json_builder_end_array (b);
}

static void
add_fact (JsonBuilder *b, const char *key, VfmFact f)
{
  json_builder_set_member_name (b, key);
  if (f == VFM_FACT_UNKNOWN)
    json_builder_add_null_value (b);
  else
    json_builder_add_boolean_value (b, f == VFM_FACT_YES);
}

/* The list shape reads about five attributes per device, so that a host
 * with thousands of VFs lists fast; `full` adds what explain and status show
 * (revision, NUMA node, override, VF index, netdevs and block devices). */
JsonNode *
vfm_device_to_json (VfmHost *host, VfmPciDevice *dev, VfmSelection *sel, gboolean full)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  gint total = vfm_pci_device_sriov_totalvfs (dev);

  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", vfm_pci_device_bdf (dev));
  vfm_json_add_hex (b, "vendor", vfm_pci_device_vendor (dev), 4);
  vfm_json_add_hex (b, "device", vfm_pci_device_device (dev), 4);
  vfm_json_add_hex (b, "subsystem_vendor", vfm_pci_device_subsystem_vendor (dev), 4);
  vfm_json_add_hex (b, "subsystem_device", vfm_pci_device_subsystem_device (dev), 4);
  vfm_json_add_hex (b, "class", vfm_pci_device_class (dev), 6);
  vfm_json_add_str (b, "driver", vfm_pci_device_driver (dev));
  add_int_or_null (b, "iommu_group", vfm_pci_device_iommu_group (dev));
  vfm_json_add_str (b, "physfn", vfm_pci_device_physfn (dev));
  vfm_json_add_int (b, "sriov_totalvfs", total);
  vfm_json_add_int (b, "sriov_numvfs", vfm_pci_device_sriov_numvfs (dev));
  vfm_json_add_str (b, "pci_path", vfm_pci_device_pci_path (dev));
  if (full) {
    g_autoptr (GPtrArray) net = vfm_pci_device_net (dev);
    g_autoptr (GPtrArray) block = vfm_pci_device_block (dev);
    g_autoptr (GPtrArray) members = vfm_pci_device_group_members (dev);
    json_builder_set_member_name (b, "revision");
    if (vfm_pci_device_revision (dev) >= 0) {
      char rev[4];
      g_snprintf (rev, sizeof rev, "%02x", vfm_pci_device_revision (dev));
      json_builder_add_string_value (b, rev);
    } else {
      json_builder_add_null_value (b);
    }
    vfm_json_add_str (b, "module", vfm_pci_device_module (dev));
    vfm_json_add_str (b, "driver_override", vfm_pci_device_driver_override (dev));
    vfm_json_add_int (b, "numa_node", vfm_pci_device_numa_node (dev));
    add_int_or_null (b, "vf_index", vfm_pci_device_physfn (dev) ? vfm_pci_device_vf_index (dev) : -1);
    add_strv (b, "iommu_group_members", members);
    add_strv (b, "net", net);
    add_strv (b, "block", block);
  }
  vfm_json_add_str (b, "selected_driver", sel && sel->selected ? sel->selected->driver : NULL);
  vfm_json_add_str (b, "selected_module", sel && sel->selected ? sel->selected->module : NULL);
  vfm_json_add_str (b, "selection_kind", sel && sel->selected ? vfm_driver_kind_to_string (sel->selected->kind) : NULL);
  vfm_json_add_str (b, "selection_source", sel && sel->selected ? sel->selected->source : NULL);
  vfm_json_add_str (b, "selection_reason", sel ? sel->reason : NULL);
  vfm_json_add_bool (b, "managed", sel ? sel->managed : FALSE);
  vfm_json_add_bool (b, "auto_bind", sel ? sel->auto_bind : FALSE);
  vfm_json_add_str (b, "managed_reason", sel ? sel->managed_reason : NULL);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
add_candidate_object (JsonBuilder *b, const VfmCandidate *c, gboolean full)
{
  json_builder_begin_object (b);
  vfm_json_add_str (b, "driver", c->driver);
  vfm_json_add_str (b, "module", c->module);
  vfm_json_add_str (b, "kind", vfm_driver_kind_to_string (c->kind));
  vfm_json_add_str (b, "source", c->source);
  if (full) {
    vfm_json_add_int (b, "score", c->score);
    vfm_json_add_str (b, "reason", c->reason);
    vfm_json_add_bool (b, "chosen", c->chosen);
    vfm_json_add_str (b, "entry", c->entry ? c->entry->id : NULL);
  }
  json_builder_end_object (b);
}

JsonNode *
vfm_selection_to_json (VfmPciDevice *dev, VfmSelection *sel)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", vfm_pci_device_bdf (dev));
  json_builder_set_member_name (b, "selected");
  if (sel->selected != NULL)
    add_candidate_object (b, sel->selected, FALSE);
  else
    json_builder_add_null_value (b);
  vfm_json_add_str (b, "reason", sel->reason);
  json_builder_set_member_name (b, "candidates");
  json_builder_begin_array (b);
  for (guint i = 0; i < sel->candidates->len; i++)
    add_candidate_object (b, g_ptr_array_index (sel->candidates, i), TRUE);
  json_builder_end_array (b);
  vfm_json_add_bool (b, "managed", sel->managed);
  vfm_json_add_bool (b, "auto_bind", sel->auto_bind);
  vfm_json_add_str (b, "managed_reason", sel->managed_reason);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
add_cstrv (JsonBuilder *b, const char *key, char **v)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; v != NULL && v[i] != NULL; i++)
    json_builder_add_string_value (b, v[i]);
  json_builder_end_array (b);
}

JsonNode *
vfm_driver_entry_to_json (const VfmDriverEntry *e)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  vfm_json_add_str (b, "id", e->id);
  vfm_json_add_str (b, "driver", e->driver);
  vfm_json_add_str (b, "module", e->module);
  vfm_json_add_str (b, "kind", vfm_driver_kind_to_string (e->kind));
  vfm_json_add_str (b, "summary", e->summary);
  vfm_json_add_str (b, "source", e->path);
  json_builder_set_member_name (b, "matches");
  json_builder_begin_array (b);
  for (guint i = 0; i < e->matches->len; i++) {
    g_autofree char *d = vfm_match_describe (g_ptr_array_index (e->matches, i));
    json_builder_add_string_value (b, d);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "migration");
  json_builder_begin_object (b);
  add_fact (b, "supported", e->migratable);
  add_fact (b, "stop_copy", e->stop_copy);
  add_fact (b, "pre_copy", e->pre_copy);
  add_fact (b, "p2p", e->p2p);
  vfm_json_add_str (b, "dirty_tracking", e->dirty_tracking);
  vfm_json_add_str (b, "since_kernel", e->migration_since);
  vfm_json_add_str (b, "notes", e->migration_notes);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "prerequisites");
  json_builder_begin_object (b);
  add_cstrv (b, "pf_drivers", e->pf_drivers);
  vfm_json_add_bool (b, "devlink_migratable", e->devlink_migratable);
  vfm_json_add_str (b, "min_kernel", e->min_kernel);
  vfm_json_add_str (b, "min_qemu", e->min_qemu);
  vfm_json_add_str (b, "min_libvirt", e->min_libvirt);
  vfm_json_add_str (b, "firmware", e->firmware);
  vfm_json_add_str (b, "notes", e->prereq_notes);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "qemu");
  json_builder_begin_object (b);
  add_cstrv (b, "device_properties", e->qemu_properties);
  vfm_json_add_str (b, "machine", e->qemu_machine);
  vfm_json_add_str (b, "guest_address", e->qemu_guest_address);
  vfm_json_add_bool (b, "rom_required", e->qemu_rom_required);
  vfm_json_add_str (b, "notes", e->qemu_notes);
  json_builder_end_object (b);
  vfm_json_add_str (b, "notes", e->notes);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
vfm_group_status_to_json (const VfmGroupStatus *st)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_int_or_null (b, "group", st->group);
  vfm_json_add_bool (b, "viable", st->viable);
  json_builder_set_member_name (b, "members");
  json_builder_begin_array (b);
  for (guint i = 0; i < st->members->len; i++) {
    const VfmGroupMember *m = g_ptr_array_index (st->members, i);
    json_builder_begin_object (b);
    vfm_json_add_str (b, "bdf", m->bdf);
    vfm_json_add_str (b, "driver", m->driver);
    vfm_json_add_bool (b, "bridge", m->is_bridge);
    vfm_json_add_bool (b, "vfio_owned", m->vfio_owned);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  add_strv (b, "blockers", st->blockers);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

void
vfm_json_add_bind_results (JsonBuilder *b, GPtrArray *results)
{
  json_builder_set_member_name (b, "results");
  json_builder_begin_array (b);
  for (guint i = 0; i < results->len; i++)
    json_builder_add_value (b, vfm_bind_result_to_json (g_ptr_array_index (results, i)));
  json_builder_end_array (b);
}

JsonNode *
vfm_bind_result_to_json (const VfmBindResult *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", r->bdf);
  vfm_json_add_str (b, "op", r->op);
  vfm_json_add_str (b, "driver", r->driver);
  vfm_json_add_str (b, "previous_driver", r->previous_driver);
  vfm_json_add_bool (b, "changed", r->changed);
  vfm_json_add_str (b, "message", r->message);
  add_strv (b, "steps", r->steps);
  add_strv (b, "warnings", r->warnings);
  json_builder_set_member_name (b, "iommu_group");
  if (r->group != NULL)
    json_builder_add_value (b, vfm_group_status_to_json (r->group));
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "seconds");
  json_builder_add_double_value (b, r->seconds);
  json_builder_set_member_name (b, "error");
  if (r->error != NULL) {
    json_builder_begin_object (b);
    vfm_json_add_str (b, "name", vfm_error_name (r->error));
    vfm_json_add_str (b, "message", r->error->message);
    json_builder_end_object (b);
  } else {
    json_builder_add_null_value (b);
  }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
vfm_owned_to_json (const VfmOwned *o, const char *current_driver)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", o->bdf);
  vfm_json_add_str (b, "driver", o->driver);
  vfm_json_add_str (b, "current_driver", current_driver);
  vfm_json_add_bool (b, "in_place", g_strcmp0 (o->driver, current_driver) == 0);
  vfm_json_add_str (b, "original_driver", o->original_driver);
  vfm_json_add_str (b, "original_override", o->original_override);
  vfm_json_add_int (b, "bound_at", o->bound_at);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
vfm_intent_to_json (const VfmIntent *i)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", i->bdf);
  vfm_json_add_str (b, "op", vfm_intent_op_to_string (i->op));
  vfm_json_add_str (b, "target_driver", i->target_driver);
  vfm_json_add_str (b, "previous_driver", i->previous_driver);
  vfm_json_add_int (b, "started_at", i->started_at);
  vfm_json_add_int (b, "pid", i->pid);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
vfm_sriov_intent_to_json (const VfmSriovIntent *i)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", i->pf);
  vfm_json_add_str (b, "op", vfm_sriov_op_to_string (i->op));
  vfm_json_add_int (b, "numvfs", i->numvfs);
  vfm_json_add_int (b, "previous_numvfs", i->previous_numvfs);
  vfm_json_add_int (b, "previous_autoprobe", i->previous_autoprobe);
  vfm_json_add_int (b, "started_at", i->started_at);
  vfm_json_add_int (b, "pid", i->pid);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
vfm_error_to_json (const GError *error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_begin_object (b);
  vfm_json_add_str (b, "name", vfm_error_name (error));
  vfm_json_add_str (b, "message", error->message);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

char *
vfm_json_to_string (JsonNode *node, gboolean pretty)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, pretty);
  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}
