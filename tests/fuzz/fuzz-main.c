/* headrank: run a fuzz target without libFuzzer
 *
 * Usage: fuzz-TARGET FILE-OR-DIRECTORY…
 *
 * Feeds every file named, and every file under every directory named (recursively, in
 * name order), to LLVMFuzzerTestOneInput once. A bug aborts; otherwise the exit status is
 * 0 when at least one file was run, 1 when there was nothing to run or a file could not
 * be read.
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv) __attribute__ ((weak));

static guint n_run;
static gboolean failed;

static void
run_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;
  gint64 start;

  if (!g_file_get_contents (path, &contents, &length, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      failed = TRUE;
      return;
    }
  if (g_getenv ("FUZZ_VERBOSE") != NULL)
    fprintf (stderr, "running %s (%zu bytes)\n", path, (size_t) length);
  start = g_get_monotonic_time ();
  /* An exact copy, so that reads past the end are caught by sanitizers. */
  {
    g_autofree uint8_t *copy = length > 0 ? g_memdup2 (contents, length) : NULL;
    LLVMFuzzerTestOneInput (copy, length);
  }
  if (g_getenv ("FUZZ_VERBOSE") != NULL)
    fprintf (stderr, "  %.3f s\n", (g_get_monotonic_time () - start) / 1e6);
  n_run++;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

static void
run_path (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GPtrArray) names = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      run_file (path);
      return;
    }
  dir = g_dir_open (path, 0, &error);
  if (dir == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      failed = TRUE;
      return;
    }
  names = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_build_filename (path, name, NULL));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    run_path (names->pdata[i]);
}

int
main (int argc, char **argv)
{
  if (LLVMFuzzerInitialize != NULL)
    LLVMFuzzerInitialize (&argc, &argv);
  if (argc < 2)
    {
      fprintf (stderr, "usage: %s FILE-OR-DIRECTORY…\n", argv[0]);
      return 2;
    }
  for (int i = 1; i < argc; i++)
    run_path (argv[i]);
  {
    g_autofree char *name = g_path_get_basename (argv[0]);
    printf ("%s: ran %u inputs\n", name, n_run);
  }
  return failed || n_run == 0 ? 1 : 0;
}
