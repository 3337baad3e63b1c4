/* headrank tests: helpers shared by the C tests */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The file tests/data/@dir/@relative, which must hold exactly @n_values little-endian values
 * of @element_size bytes (4 or 8), in host byte order. */
GBytes *hr_test_load_raw (const char *dir, const char *relative, gsize element_size,
                          gsize n_values);

/* A string member of a JSON object, NULL when absent or null. */
const char *hr_test_object_string (JsonObject *object, const char *member);

G_END_DECLS
