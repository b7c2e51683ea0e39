/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The varlink wire protocol (https://varlink.org/Method-Call), shared by
 * vfmigd and its clients: each message is one JSON object followed by a NUL
 * byte. A call is {"method": "iface.Method", "parameters": {...}} with the
 * optional flags "oneway", "more" and "upgrade"; a reply is
 * {"parameters": {...}} (with "continues": true while more follow) or
 * {"error": "iface.Name", "parameters": {...}}. */

/* The io.vfmig protocol's version (io.vfmig.Hello): a peer with another
 * major is refused; a minor adds methods or members only. */
#define VFM_PROTOCOL_MAJOR 1
#define VFM_PROTOCOL_MINOR 3

/* Larger messages are a protocol violation: the connection is closed. */
#define VFM_VARLINK_MAX_MESSAGE (1024 * 1024)

#define VFM_VARLINK_ERROR (vfm_varlink_error_quark ())

/* The org.varlink.service errors; for these codes the GError message is the
 * one value the standard error carries (the method, interface or parameter
 * name), so it survives the round trip unchanged. */
typedef enum {
  VFM_VARLINK_ERROR_PROTOCOL,              /* malformed message: close the connection */
  VFM_VARLINK_ERROR_INTERFACE_NOT_FOUND,   /* {"interface": …} */
  VFM_VARLINK_ERROR_METHOD_NOT_FOUND,      /* {"method": …} */
  VFM_VARLINK_ERROR_METHOD_NOT_IMPLEMENTED,/* {"method": …} */
  VFM_VARLINK_ERROR_INVALID_PARAMETER,     /* {"parameter": …} */
  VFM_VARLINK_ERROR_REMOTE,                /* client: the peer answered an error vfmig has no code for */
} VfmVarlinkError;

GQuark vfm_varlink_error_quark (void);

typedef enum {
  VFM_VARLINK_CALL_ONEWAY = 1 << 0,  /* no reply wanted */
  VFM_VARLINK_CALL_MORE = 1 << 1,    /* the caller accepts several replies */
} VfmVarlinkCallFlags;

typedef struct {
  char *method;             /* "io.vfmig.List" */
  JsonObject *parameters;   /* never NULL: {} when the call had none */
  VfmVarlinkCallFlags flags;
} VfmVarlinkCall;

void            vfm_varlink_call_free   (VfmVarlinkCall *call);
VfmVarlinkCall *vfm_varlink_call_parse  (const char *text,
                                         gsize       len,
                                         GError    **error);
gboolean        vfm_varlink_take_message (GByteArray *buffer,
                                          char      **message,
                                          GError    **error);

/* Serialized messages, without the terminating NUL (callers send len + 1). */
char       *vfm_varlink_reply_new        (JsonNode *parameters,
                                          gboolean  continues);
char       *vfm_varlink_error_reply_new  (const GError *error,
                                          JsonNode     *extra);
char       *vfm_varlink_call_new         (const char         *method,
                                          JsonNode           *parameters,
                                          VfmVarlinkCallFlags flags);
const char *vfm_varlink_error_name       (const GError *error);
gboolean    vfm_varlink_interface_of     (const char *method,
                                          char      **interface,
                                          const char **member);

/* Checking a call's parameters: NULL and absent are the same for optional
 * ones; a wrong type or an unknown name is InvalidParameter naming it. */
gboolean vfm_varlink_params_check   (JsonObject         *params,
                                     const char * const *known,
                                     GError            **error);
gboolean vfm_varlink_param_bool     (JsonObject *params,
                                     const char *name,
                                     gboolean   *out,
                                     GError    **error);
gboolean vfm_varlink_param_string   (JsonObject  *params,
                                     const char  *name,
                                     gboolean     required,
                                     const char **out,
                                     GError     **error);
gboolean vfm_varlink_param_strv     (JsonObject *params,
                                     const char *name,
                                     gboolean    required,
                                     GPtrArray **out,
                                     GError    **error);

/* A small blocking client: connect to a unix socket, call, read replies. */
typedef struct _VfmVarlinkClient VfmVarlinkClient;

/* Called for each reply of a call; return FALSE (with error set) to stop. */
typedef gboolean (*VfmVarlinkReplyFunc) (JsonObject *parameters,
                                         gboolean    continues,
                                         gpointer    user_data,
                                         GError    **error);

VfmVarlinkClient *vfm_varlink_client_connect   (const char *path,
                                                GError    **error);
/* A client whose service is a command speaking varlink on its stdin and
 * stdout (`ssh HOST vfmigctl bridge`); freeing the client ends its input and
 * waits for it. */
VfmVarlinkClient *vfm_varlink_client_spawn     (const char * const *argv,
                                                GError            **error);
void              vfm_varlink_client_free      (VfmVarlinkClient *client);
JsonObject       *vfm_varlink_client_call      (VfmVarlinkClient *client,
                                                const char       *method,
                                                JsonObject       *parameters,
                                                GError          **error);
gboolean          vfm_varlink_client_call_more (VfmVarlinkClient   *client,
                                                const char         *method,
                                                JsonObject         *parameters,
                                                VfmVarlinkReplyFunc func,
                                                gpointer            user_data,
                                                GError            **error);
JsonObject       *vfm_varlink_client_last_error_parameters (VfmVarlinkClient *client);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmVarlinkCall, vfm_varlink_call_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmVarlinkClient, vfm_varlink_client_free)

G_END_DECLS
