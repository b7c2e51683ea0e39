/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-kmod.h"
#include "vfm-error.h"

#include <dlfcn.h>
#include <libkmod.h>

typedef struct kmod_ctx VfmKmodCtx;
typedef struct kmod_module VfmKmodModule;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmKmodCtx, kmod_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmKmodModule, kmod_module_unref)

typedef int (*VfmMockLoadFunc) (const char *root, const char *module);

static gboolean
load_real (const char *module, GError **error)
{
  g_autoptr (VfmKmodCtx) ctx = kmod_new (NULL, NULL);
  g_autoptr (VfmKmodModule) mod = NULL;
  int r;

  if (ctx == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot load module %s: libkmod context failed", module);
    return FALSE;
  }
  r = kmod_module_new_from_name (ctx, module, &mod);
  if (r < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "cannot load module %s: %s", module, g_strerror (-r));
    return FALSE;
  }
  r = kmod_module_probe_insert_module (mod, KMOD_PROBE_APPLY_BLACKLIST, NULL, NULL, NULL, NULL);
  if (r != 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot load module %s: %s", module,
                 r == KMOD_PROBE_APPLY_BLACKLIST ? "it is blacklisted" : g_strerror (r < 0 ? -r : r));
    return FALSE;
  }
  return TRUE;
}

gboolean
vfm_kmod_load (VfmSysroot *sr, const char *module, GError **error)
{
  VfmMockLoadFunc mock;
  int r;

  if (vfm_sysroot_is_real (sr))
    return load_real (module, error);

  mock = (VfmMockLoadFunc) dlsym (RTLD_DEFAULT, "vfm_mock_load_module");
  if (mock == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED,
                 "cannot load module %s under --sysroot %s: module loading there needs the kernel mock "
                 "(LD_PRELOAD of tests/mock); the running kernel is never touched",
                 module, vfm_sysroot_root (sr));
    return FALSE;
  }
  r = mock (vfm_sysroot_root (sr), module);
  if (r != 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot load module %s: %s", module, g_strerror (-r));
    return FALSE;
  }
  return TRUE;
}
