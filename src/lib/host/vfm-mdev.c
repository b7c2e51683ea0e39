/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-mdev.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-strings.h"
#include "vfm-sysfs.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

void
vfm_mdev_type_free (VfmMdevType *t)
{
  if (t == NULL)
    return;
  g_free (t->parent);
  g_free (t->name);
  g_free (t->pretty_name);
  g_free (t->device_api);
  g_free (t->description);
  g_free (t);
}

void
vfm_mdev_free (VfmMdev *m)
{
  if (m == NULL)
    return;
  g_free (m->uuid);
  g_free (m->parent);
  g_free (m->type);
  g_free (m->driver);
  g_free (m);
}

gboolean
vfm_mdev_uuid_is_valid (const char *uuid)
{
  return uuid != NULL && g_uuid_string_is_valid (uuid);
}

/* Names are directory entries the kernel made, but a synthetic host or a
 * caller could hand us anything: never a path. */
static gboolean
name_is_safe (const char *name)
{
  return name != NULL && *name != '\0' && *name != '.' && strchr (name, '/') == NULL && strlen (name) < 128;
}

static GPtrArray *
dir_names (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (name_is_safe (name))
      g_ptr_array_add (out, g_strdup (name));
  vfm_strings_sort (out);
  return out;
}

/* A small text attribute, trimmed, or NULL. */
static char *
read_text (const char *dir, const char *attr)
{
  g_autofree char *path = g_build_filename (dir, attr, NULL);
  char buf[512];
  if (!vfm_sysfs_read (path, buf, sizeof buf))
    return NULL;
  g_strstrip (buf);
  return g_strdup (buf);
}

GPtrArray *
vfm_mdev_parents (VfmSysroot *sr)
{
  g_autofree char *dir = vfm_sysroot_mdev_bus_dir (sr);
  return dir_names (dir);
}

static void
add_types (VfmSysroot *sr, const char *parent, GPtrArray *out)
{
  g_autofree char *bus = vfm_sysroot_mdev_bus_dir (sr);
  g_autofree char *types_dir = g_build_filename (bus, parent, "mdev_supported_types", NULL);
  g_autoptr (GPtrArray) names = dir_names (types_dir);

  for (guint i = 0; i < names->len; i++) {
    g_autofree char *dir = g_build_filename (types_dir, g_ptr_array_index (names, i), NULL);
    g_autofree char *avail = g_build_filename (dir, "available_instances", NULL);
    VfmMdevType *t = g_new0 (VfmMdevType, 1);
    t->parent = g_strdup (parent);
    t->name = g_strdup (g_ptr_array_index (names, i));
    t->pretty_name = read_text (dir, "name");
    t->device_api = read_text (dir, "device_api");
    t->description = read_text (dir, "description");
    if (!vfm_sysfs_read_int (avail, &t->available_instances))
      t->available_instances = -1;
    g_ptr_array_add (out, t);
  }
}

GPtrArray *
vfm_mdev_types (VfmSysroot *sr, const char *parent)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_mdev_type_free);
  g_autoptr (GPtrArray) parents = NULL;

  if (parent != NULL) {
    if (name_is_safe (parent))
      add_types (sr, parent, out);
    return out;
  }
  parents = vfm_mdev_parents (sr);
  for (guint i = 0; i < parents->len; i++)
    add_types (sr, g_ptr_array_index (parents, i), out);
  return out;
}

/* The type is where the instance's mdev_type link points (…/TYPE, a
 * relative link on a real kernel); the parent is the device the instance
 * sits under (/sys/devices/…/PARENT/UUID, /sys/bus/mdev/devices/UUID being a
 * link to it). */
static void
type_and_parent (const char *dir, char **type, char **parent)
{
  g_autofree char *link = g_build_filename (dir, "mdev_type", NULL);
  g_autofree char *target = g_file_read_link (link, NULL);
  g_autofree char *real = realpath (dir, NULL);

  if (target != NULL)
    *type = g_path_get_basename (target);
  if (real != NULL) {
    g_autofree char *up = g_path_get_dirname (real);
    *parent = g_path_get_basename (up);
  }
}

static VfmMdev *
read_instance (VfmSysroot *sr, const char *uuid)
{
  g_autofree char *devices = vfm_sysroot_mdev_devices_dir (sr);
  g_autofree char *dir = g_build_filename (devices, uuid, NULL);
  g_autofree char *group_link = g_build_filename (dir, "iommu_group", NULL);
  g_autofree char *driver_link = g_build_filename (dir, "driver", NULL);
  g_autofree char *group = NULL;
  VfmMdev *m;

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    return NULL;
  m = g_new0 (VfmMdev, 1);
  m->uuid = g_strdup (uuid);
  m->iommu_group = -1;
  type_and_parent (dir, &m->type, &m->parent);
  if ((group = vfm_sysfs_link_name (group_link)) != NULL)
    m->iommu_group = (gint) g_ascii_strtoll (group, NULL, 10);
  m->driver = vfm_sysfs_link_name (driver_link);
  return m;
}

GPtrArray *
vfm_mdev_list (VfmSysroot *sr)
{
  g_autofree char *devices = vfm_sysroot_mdev_devices_dir (sr);
  g_autoptr (GPtrArray) names = dir_names (devices);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_mdev_free);

  for (guint i = 0; i < names->len; i++) {
    VfmMdev *m = vfm_mdev_uuid_is_valid (g_ptr_array_index (names, i))
                   ? read_instance (sr, g_ptr_array_index (names, i)) : NULL;
    if (m != NULL)
      g_ptr_array_add (out, m);
  }
  return out;
}

VfmMdev *
vfm_mdev_get (VfmSysroot *sr, const char *uuid, GError **error)
{
  VfmMdev *m;
  if (!vfm_mdev_uuid_is_valid (uuid)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a mediated device UUID",
                 uuid ? uuid : "");
    return NULL;
  }
  if ((m = read_instance (sr, uuid)) == NULL)
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "no mediated device %s", uuid);
  return m;
}

gboolean
vfm_mdev_create (VfmSysroot *sr, const char *parent, const char *type, const char *uuid, GError **error)
{
  g_autofree char *bus = vfm_sysroot_mdev_bus_dir (sr);
  g_autofree char *create = NULL;
  g_autoptr (VfmMdev) m = NULL;

  if (!name_is_safe (parent) || !name_is_safe (type) || !vfm_mdev_uuid_is_valid (uuid)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "cannot create mediated device: bad parent, type or UUID");
    return FALSE;
  }
  create = g_build_filename (bus, parent, "mdev_supported_types", type, "create", NULL);
  if (!g_file_test (create, G_FILE_TEST_EXISTS)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "%s has no mediated device type %s", parent, type);
    return FALSE;
  }
  if (!vfm_sysfs_write (create, uuid, error)) {
    g_prefix_error (error, "cannot create %s %s on %s: ", type, uuid, parent);
    return FALSE;
  }
  /* the kernel creates it inside the write: it is there now, or it failed */
  if ((m = read_instance (sr, uuid)) == NULL || g_strcmp0 (m->type, type) != 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "created %s on %s, but /sys/bus/mdev/devices/%s is not a %s",
                 type, parent, uuid, type);
    return FALSE;
  }
  return TRUE;
}

gboolean
vfm_mdev_remove (VfmSysroot *sr, const char *uuid, GError **error)
{
  g_autofree char *devices = vfm_sysroot_mdev_devices_dir (sr);
  g_autofree char *remove = NULL;

  if (!vfm_mdev_uuid_is_valid (uuid)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a mediated device UUID", uuid ? uuid : "");
    return FALSE;
  }
  remove = g_build_filename (devices, uuid, "remove", NULL);
  if (!vfm_sysfs_write (remove, "1", error)) {
    g_prefix_error (error, "cannot remove mediated device %s: ", uuid);
    return FALSE;
  }
  return TRUE;
}

JsonNode *
vfm_mdev_to_json (const VfmMdev *m)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "uuid", m->uuid);
  vfm_json_add_str (b, "parent", m->parent);
  vfm_json_add_str (b, "type", m->type);
  vfm_json_add_int_or_null (b, "iommu_group", m->iommu_group);
  vfm_json_add_str (b, "driver", m->driver);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
vfm_mdev_type_to_json (const VfmMdevType *t)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "parent", t->parent);
  vfm_json_add_str (b, "name", t->name);
  vfm_json_add_str (b, "pretty_name", t->pretty_name);
  vfm_json_add_str (b, "device_api", t->device_api);
  vfm_json_add_str (b, "description", t->description);
  vfm_json_add_int_or_null (b, "available_instances", t->available_instances);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
