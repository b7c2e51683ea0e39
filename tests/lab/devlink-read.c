/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* devlink-read — vfmig's devlink code (src/lib/host/vfm-devlink) on its own,
 * for tests/lab/devlink.sh to hold against iproute2's `devlink -j` on the
 * real kernel (netdevsim, the kernel's devlink test driver):
 *
 *   devlink-read BUS/DEV                      what vfm_devlink_read() says, JSON
 *   devlink-read --set-migratable BUS/DEV VF [--switchdev]
 *                                             vfm_devlink_set_vf_migratable()
 *
 * The second prints the steps it took, then "ok" or the error on stderr
 * (exit 1). */
#include "vfm-devlink.h"
#include "vfm-json.h"

#include <stdio.h>
#include <string.h>

static gboolean
split (const char *handle, char **bus, char **dev)
{
  const char *slash = strchr (handle, '/');
  if (slash == NULL || slash == handle || slash[1] == '\0')
    return FALSE;
  *bus = g_strndup (handle, (gsize) (slash - handle));
  *dev = g_strdup (slash + 1);
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autoptr (VfmSysroot) sr = vfm_sysroot_new (NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *bus = NULL, *dev = NULL;

  if (argc == 2 && split (argv[1], &bus, &dev)) {
    g_autoptr (VfmDevlinkInfo) info = vfm_devlink_read (sr, bus, dev, &error);
    g_autoptr (JsonNode) node = NULL;
    g_autofree char *text = NULL;
    if (info == NULL) {
      fprintf (stderr, "devlink-read: %s\n", error->message);
      return 1;
    }
    node = vfm_devlink_info_to_json (info);
    text = vfm_json_to_string (node, TRUE);
    printf ("%s\n", text);
    return 0;
  }
  if ((argc == 4 || argc == 5) && strcmp (argv[1], "--set-migratable") == 0 && split (argv[2], &bus, &dev) &&
      (argc == 4 || strcmp (argv[4], "--switchdev") == 0)) {
    g_autoptr (GPtrArray) steps = g_ptr_array_new_with_free_func (g_free);
    gboolean ok = vfm_devlink_set_vf_migratable (sr, bus, dev, atoi (argv[3]), argc == 5, FALSE, steps, &error);
    for (guint i = 0; i < steps->len; i++)
      printf ("step: %s\n", (char *) g_ptr_array_index (steps, i));
    if (!ok) {
      fprintf (stderr, "devlink-read: %s\n", error->message);
      return 1;
    }
    printf ("ok\n");
    return 0;
  }
  fprintf (stderr, "usage: devlink-read BUS/DEV | devlink-read --set-migratable BUS/DEV VF [--switchdev]\n");
  return 2;
}
