/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "vfm-host.h"
#include "vfm-migrate.h"
#include "vfm-profile.h"
#include "vfm-table.h"
#include "vfm-term.h"
#include "vfm-backend.h"
#include "vfm-varlink.h"

G_BEGIN_DECLS

/* What every command gets: the global options and the host, opened on first
 * use so that `--help` and `db lint FILE` need no host at all. */
typedef struct {
  char *sysroot;
  char *connect;
  gboolean json;
  gboolean verbose;
  gboolean tty;
  gboolean no_daemon;  /* --no-daemon: never through vfmigd */
  VfmColorMode color;  /* --color */
  VfmTerm out;         /* stdout: colour (never with --json) and width */
  VfmTerm err;         /* stderr */
  int exit_code;      /* set by a command that succeeded but reports a failure (lint) */
  VfmHost *host;
  VfmBackend *backend; /* vfm_cli_backend: chosen on first use */
  gboolean progress_shown;
} VfmCli;

typedef gboolean (*VfmCliFunc) (VfmCli *cli, int argc, char **argv, GError **error);

typedef struct {
  const char *name;       /* "list", "db lint" */
  const char *args;       /* "[--all]" */
  const char *description;
  VfmCliFunc func;
} VfmCliCommand;

VfmHost  *vfm_cli_host          (VfmCli *cli, GError **error);
VfmBackend *vfm_cli_backend     (VfmCli *cli);
void      vfm_cli_progress_end  (VfmCli *cli);
gboolean  vfm_cli_parse_options (VfmCli        *cli,
                                 const char    *command,
                                 const char    *args,
                                 GOptionEntry  *entries,
                                 int           *argc,
                                 char        ***argv,
                                 GError       **error);
void      vfm_cli_print_json    (VfmCli *cli, JsonNode *node);
/* A long job's progress as migrate (domain NULL: its one domain) and
 * evacuate (several at a time: each line names its domain) print it. */
void      vfm_cli_print_progress (VfmCli            *cli,
                                  const char        *domain,
                                  const char        *event,
                                  const VfmJobStats *stats,
                                  const char        *message);
void      vfm_cli_warn          (VfmCli *cli, const char *message);
void      vfm_cli_error         (VfmCli *cli, const char *name, const char *message);
void      vfm_cli_item          (VfmCli *cli, guint indent, const char *label, const char *format, ...)
                                 G_GNUC_PRINTF (4, 5);
const char *vfm_cli_class_name  (guint32 class_code);
const char *vfm_cli_class_short_name (guint32 class_code);
VfmHostProfile *vfm_cli_build_profile (VfmCli *cli, gboolean quiet, GError **error);

/* commands, one file each */
gboolean vfm_cmd_list       (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_explain    (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_doctor     (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_early_boot_plan (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_early_boot_status (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_early_boot_refresh (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_db_list    (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_db_show    (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_bind       (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_unbind     (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_restore    (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_status     (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_vf_create  (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_vf_destroy (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_xml        (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_check      (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_profile    (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_probe      (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_migrate    (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_recover    (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_evacuate   (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_inventory  (VfmCli *cli, int argc, char **argv, GError **error);
JsonNode *vfm_cli_migrate_result_to_json (const VfmMigrateResult *r);
gboolean vfm_cmd_claim      (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_prepare    (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_release    (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_claims     (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_hook       (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_bridge     (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_udev_query (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_import_driverctl (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_db_lint    (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_mdev_types  (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_mdev_list   (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_mdev_create (VfmCli *cli, int argc, char **argv, GError **error);
gboolean vfm_cmd_mdev_remove (VfmCli *cli, int argc, char **argv, GError **error);
/* the instances as a table (mdev list, and a section of list); FALSE: none */
gboolean vfm_cli_print_mdevs (VfmCli *cli, VfmHost *host, GPtrArray *mdevs);

G_END_DECLS
