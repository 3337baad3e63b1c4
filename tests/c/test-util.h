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

/* The JSON file tests/data/@dir/@name, parsed (a parse error fails the test). */
JsonParser *hr_test_parse_json (const char *dir, const char *name);

/* A new temporary folder from @tmpl ("hr-name-XXXXXX"; a failure fails the test). */
char *hr_test_make_tmp_dir (const char *tmpl);

/* A test's own temporary folder: g_test_add (path, HrTestFolder, data, hr_test_folder_set_up,
 * test, hr_test_folder_tear_down) makes it before the test and removes it after. */
typedef struct
{
  char *dir;
} HrTestFolder;

void hr_test_folder_set_up (HrTestFolder *f, gconstpointer data);
void hr_test_folder_tear_down (HrTestFolder *f, gconstpointer data);

/* Removes @path (may be NULL) and everything below it; links are removed, not followed. */
void hr_test_remove_tree (const char *path);

/* Recomputes the SHA-256 that ends a part file of @size bytes at @b, after an edit, so that
 * the reader gets past its checksum to what the edit tests. */
void hr_test_reseal (guint8 *b, gsize size);

G_END_DECLS
