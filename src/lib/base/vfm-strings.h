/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Sorts a GPtrArray of strings (directory listings, names) in byte order. */
void vfm_strings_sort (GPtrArray *strings);

G_END_DECLS
