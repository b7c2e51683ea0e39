/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What any local user can send to the daemon socket (mode 0666): a byte
 * stream split into NUL-terminated messages, each parsed as a varlink call,
 * whose parameters are then checked the way the methods check them. */
#include "fuzz-common.h"
#include "vfm-varlink.h"

/* VFMIG_FUZZ_SKIP_KNOWN=1 steps around open findings (crashes/varlink/)
 * so that a fuzzing run can look further; replays never set it. */
static gboolean skip_known;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vfm_fuzz_init_logging ();
  skip_known = g_strcmp0 (g_getenv ("VFMIG_FUZZ_SKIP_KNOWN"), "1") == 0;
  return 0;
}

/* crashes/varlink/critical-*: a message that is empty, blank or only a
 * comment parses to no JSON root, and vfm_varlink_call_parse hands that NULL
 * to JSON_NODE_HOLDS_OBJECT */
static gboolean
known_finding (const char *message)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  return g_utf8_validate (message, -1, NULL) &&
         json_parser_load_from_data (parser, message, -1, NULL) &&
         json_parser_get_root (parser) == NULL;
}

static void
check_parameters (JsonObject *params)
{
  static const char * const known[] = { "bdf", "bdfs", "driver", "all", "dry_run", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) bdfs = NULL;
  const char *s = NULL;
  gboolean b = FALSE;

  vfm_varlink_params_check (params, known, &error);
  g_clear_error (&error);
  vfm_varlink_param_string (params, "bdf", FALSE, &s, &error);
  g_clear_error (&error);
  vfm_varlink_param_string (params, "driver", TRUE, &s, &error);
  g_clear_error (&error);
  vfm_varlink_param_bool (params, "all", &b, &error);
  g_clear_error (&error);
  if (vfm_varlink_param_strv (params, "bdfs", FALSE, &bdfs, &error) && bdfs != NULL)
    for (guint i = 0; i < bdfs->len; i++)
      VFM_FUZZ_CHECK (g_ptr_array_index (bdfs, i) != NULL, "NULL in bdfs");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GByteArray) buffer = g_byte_array_new ();
  guint messages = 0;

  g_byte_array_append (buffer, data, size);
  for (;;) {
    g_autofree char *message = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (VfmVarlinkCall) call = NULL;
    g_autofree char *interface = NULL;
    const char *member = NULL;

    if (!vfm_varlink_take_message (buffer, &message, &error)) {
      VFM_FUZZ_CHECK (error != NULL, "no error");
      break;
    }
    if (message == NULL)
      break;  /* an incomplete message waits for more bytes */
    VFM_FUZZ_CHECK (++messages <= size, "more messages than bytes");
    if (skip_known && known_finding (message))
      continue;
    call = vfm_varlink_call_parse (message, strlen (message), &error);
    VFM_FUZZ_CHECK ((call == NULL) == (error != NULL), "call %p, error %p", (void *) call, (void *) error);
    if (call == NULL) {
      g_autoptr (GError) copy = g_error_copy (error);
      g_autofree char *reply = vfm_varlink_error_reply_new (copy, NULL);
      VFM_FUZZ_CHECK (reply != NULL && strlen (reply) > 0, "empty error reply");
      vfm_varlink_error_name (error);
      continue;
    }
    VFM_FUZZ_CHECK (call->method != NULL && call->parameters != NULL, "incomplete call");
    if (vfm_varlink_interface_of (call->method, &interface, &member))
      VFM_FUZZ_CHECK (member != NULL, "no member");
    check_parameters (call->parameters);
  }
  return 0;
}
