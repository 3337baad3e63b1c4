/* headrank tests: helpers shared by the C tests */
#include "test-util.h"

#include <sys/stat.h>

#include <glib/gstdio.h>

GBytes *
hr_test_load_raw (const char *dir, const char *relative, gsize element_size, gsize n_values)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", dir, relative, NULL);
  g_autoptr (GError) error = NULL;
  char *contents;
  gsize length;

  g_assert_true (element_size == 4 || element_size == 8);
  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (length, ==, n_values * element_size);
#if G_BYTE_ORDER == G_BIG_ENDIAN
  for (gsize i = 0; i < n_values; i++)
    if (element_size == 4)
      ((guint32 *)contents)[i] = GUINT32_SWAP_LE_BE (((guint32 *)contents)[i]);
    else
      ((guint64 *)contents)[i] = GUINT64_SWAP_LE_BE (((guint64 *)contents)[i]);
#endif
  return g_bytes_new_take (contents, length);
}

const char *
hr_test_object_string (JsonObject *object, const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  return json_node_get_string (node);
}

JsonParser *
hr_test_parse_json (const char *dir, const char *name)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", dir, name, NULL);
  g_autoptr (GError) error = NULL;
  JsonParser *parser = json_parser_new ();

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return parser;
}

char *
hr_test_make_tmp_dir (const char *tmpl)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp (tmpl, &error);

  g_assert_no_error (error);
  g_assert_nonnull (dir);
  return dir;
}

void
hr_test_remove_tree (const char *path)
{
  GStatBuf st;
  GDir *d;
  const char *name;

  if (path == NULL || g_lstat (path, &st) != 0)
    return;
  if (!S_ISDIR (st.st_mode))
    {
      g_unlink (path);
      return;
    }
  d = g_dir_open (path, 0, NULL);
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      hr_test_remove_tree (child);
    }
  if (d != NULL)
    g_dir_close (d);
  g_rmdir (path);
}

void
hr_test_folder_set_up (HrTestFolder *f, gconstpointer data)
{
  f->dir = hr_test_make_tmp_dir ("hr-test-XXXXXX");
}

void
hr_test_folder_tear_down (HrTestFolder *f, gconstpointer data)
{
  hr_test_remove_tree (f->dir);
  g_free (f->dir);
}

void
hr_test_reseal (guint8 *b, gsize size)
{
  g_autoptr (GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
  gsize len = 32;

  g_checksum_update (sha, b, (gssize)(size - 32));
  g_checksum_get_digest (sha, b + size - 32, &len);
}
