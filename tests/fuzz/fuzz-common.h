/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the fuzz targets. Each target defines the two libFuzzer entry
 * points; built with clang -fsanitize=fuzzer they run under libFuzzer, built
 * with any compiler and replay.c they replay a corpus directory (meson suite
 * 'fuzz'), so CI runs every seed and every fixed crash with gcc too. */

#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize   (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The parsers take C strings: the input up to its first NUL. */
static inline char *
vfm_fuzz_cstring (const uint8_t *data, size_t size)
{
  char *s = g_malloc (size + 1);
  memcpy (s, data, size);
  s[size] = '\0';
  return s;
}

/* A g_critical or g_warning is a bug as much as a crash: the tests run with
 * G_DEBUG=fatal-criticals, so must the fuzzers. GLib stops a fatal message
 * with SIGTRAP, which libFuzzer does not catch: abort() instead, so that the
 * input is saved. Debug and info messages are dropped. */
static inline void
vfm_fuzz_log (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) {
    g_printerr ("%s: %s\n", domain ? domain : "(no domain)", message);
    abort ();
  }
}

static inline void
vfm_fuzz_init_logging (void)
{
  g_log_set_default_handler (vfm_fuzz_log, NULL);
}

/* abort() with a message even in builds with G_DISABLE_ASSERT. */
#define VFM_FUZZ_CHECK(cond, ...)                                                   \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      g_printerr ("%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);     \
      g_printerr (__VA_ARGS__);                                                     \
      g_printerr ("\n");                                                            \
      abort ();                                                                     \
    }                                                                               \
  } while (0)
