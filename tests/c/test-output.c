/* headrank tests: files written whole (lib/hr-output.c, HrOutputFile)
 *
 * The one helper through which TIFF stacks, the files of a report and plots are written:
 * a temporary file beside the target, synced and renamed into place; devices and links to
 * them refused; a link to a regular file followed (the link stays); nothing left behind on
 * an error, a cancellation or a writer dropped without a commit; one writer at a time for an
 * output of its own.
 */
#include "hr-output.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "test-util.h"

/* Each test in a temporary folder of its own, f->dir. */
typedef HrTestFolder Fixture;

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

/* The names in @dir, sorted, joined by spaces. */
static char *
list_dir (const char *dir_path)
{
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **)names->pdata);
}

static void
assert_contents (const char *path, const char *expected)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, expected);
}

static void
write_old (const char *path)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, "old", -1, &error);
  g_assert_no_error (error);
}

/* Written through the descriptor, then through a stream: the new contents replace the old
 * ones, the temporary file was beside the target while written, and nothing else is left. */
static void
test_commit (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "out.txt", NULL);
  g_autofree char *listing = NULL, *temp_dir = NULL, *temp_name = NULL;
  g_autoptr (HrOutputFile) file = NULL;
  FILE *fp;

  write_old (path);
  file = hr_output_file_begin (path, HR_OUTPUT_FILE_NONE, &error);
  g_assert_no_error (error);
  temp_dir = g_path_get_dirname (hr_output_file_get_temp_path (file));
  temp_name = g_path_get_basename (hr_output_file_get_temp_path (file));
  g_assert_cmpstr (temp_dir, ==, f->dir);
  g_assert_true (g_str_has_prefix (temp_name, ".out.txt" HR_OUTPUT_INFIX));
  g_assert_cmpint (write (hr_output_file_get_fd (file), "new ", 4), ==, 4);
  fp = hr_output_file_get_stream (file, &error);
  g_assert_no_error (error);
  g_assert_true (fp == hr_output_file_get_stream (file, NULL));
  fputs ("contents", fp);
  assert_contents (path, "old"); /* not before the commit */
  g_assert_true (hr_output_file_commit (file, NULL, &error));
  g_assert_no_error (error);
  assert_contents (path, "new contents");
  listing = list_dir (f->dir);
  g_assert_cmpstr (listing, ==, "out.txt");
}

/* Dropped without a commit (an error while writing): the old file stays, nothing else. */
static void
test_abandon (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "out.txt", NULL);
  g_autofree char *listing = NULL;
  HrOutputFile *file;

  write_old (path);
  file = hr_output_file_begin (path, HR_OUTPUT_FILE_LOCK, &error);
  g_assert_no_error (error);
  fputs ("half", hr_output_file_get_stream (file, &error));
  listing = list_dir (f->dir);
  g_assert_nonnull (strstr (listing, ".out.txt" HR_OUTPUT_INFIX "lock"));
  g_clear_pointer (&listing, g_free);
  hr_output_file_free (file);
  assert_contents (path, "old");
  listing = list_dir (f->dir);
  g_assert_cmpstr (listing, ==, "out.txt");
}

/* Cancelled before the commit: an error, the old file, nothing else. */
static void
test_cancelled (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *path = g_build_filename (f->dir, "out.txt", NULL);
  g_autofree char *listing = NULL;
  g_autoptr (HrOutputFile) file = NULL;

  write_old (path);
  file = hr_output_file_begin (path, HR_OUTPUT_FILE_LOCK, &error);
  g_assert_no_error (error);
  fputs ("new", hr_output_file_get_stream (file, &error));
  g_cancellable_cancel (cancellable);
  g_assert_false (hr_output_file_commit (file, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_pointer (&file, hr_output_file_free);
  assert_contents (path, "old");
  listing = list_dir (f->dir);
  g_assert_cmpstr (listing, ==, "out.txt");
}

/* A device, and a link to one, are refused before anything is made; the device is untouched
 * (as root a rename over /dev/null would replace it). */
static void
test_refuses_devices (Fixture *f, gconstpointer data)
{
  g_autofree char *link = g_build_filename (f->dir, "null", NULL);
  g_autofree char *listing = NULL;
  const char *const targets[] = { "/dev/null", link };
  GStatBuf before, after;

  if (g_stat ("/dev/null", &before) != 0 || !S_ISCHR (before.st_mode))
    {
      g_test_skip ("no /dev/null here");
      return;
    }
  g_assert_cmpint (symlink ("/dev/null", link), ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      g_autoptr (GError) error = NULL;
      HrOutputFile *file = hr_output_file_begin (targets[i], HR_OUTPUT_FILE_LOCK, &error);

      g_assert_null (file);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
      g_assert_nonnull (strstr (error->message, targets[i]));
    }
  g_assert_cmpint (g_stat ("/dev/null", &after), ==, 0);
  g_assert_true (S_ISCHR (after.st_mode));
  g_assert_cmpuint (before.st_rdev, ==, after.st_rdev);
  listing = list_dir (f->dir);
  g_assert_cmpstr (listing, ==, "null");
}

/* A link to a regular file: the file it points to is replaced, the link stays a link. */
static void
test_follows_links (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *real = g_build_filename (f->dir, "real.txt", NULL);
  g_autofree char *link = g_build_filename (f->dir, "link.txt", NULL);
  g_autofree char *target = NULL, *listing = NULL;
  g_autoptr (HrOutputFile) file = NULL;

  write_old (real);
  g_assert_cmpint (symlink ("real.txt", link), ==, 0);
  file = hr_output_file_begin (link, HR_OUTPUT_FILE_NONE, &error);
  g_assert_no_error (error);
  fputs ("new", hr_output_file_get_stream (file, &error));
  g_assert_true (hr_output_file_commit (file, NULL, &error));
  g_assert_no_error (error);
  target = g_file_read_link (link, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (target, ==, "real.txt");
  assert_contents (real, "new");
  listing = list_dir (f->dir);
  g_assert_cmpstr (listing, ==, "link.txt real.txt");
}

/* An output of its own has one writer: a second is refused at once (busy) until the first
 * is done. */
static void
test_one_writer (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "out.txt", NULL);
  g_autoptr (HrOutputFile) first = NULL, second = NULL;

  first = hr_output_file_begin (path, HR_OUTPUT_FILE_LOCK, &error);
  g_assert_no_error (error);
  second = hr_output_file_begin (path, HR_OUTPUT_FILE_LOCK, &error);
  g_assert_null (second);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_clear_error (&error);
  g_assert_true (hr_output_file_commit (first, NULL, &error));
  g_assert_no_error (error);
  second = hr_output_file_begin (path, HR_OUTPUT_FILE_LOCK, &error);
  g_assert_no_error (error);
  g_assert_nonnull (second);
}

/* A folder that does not exist: the error names the output, nothing is made. */
static void
test_missing_folder (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "missing", "out.txt", NULL);
  g_autofree char *listing = NULL;
  HrOutputFile *file = hr_output_file_begin (path, HR_OUTPUT_FILE_NONE, &error);

  g_assert_null (file);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));
  listing = list_dir (f->dir);
  g_assert_cmpstr (listing, ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/output/file/commit", Fixture, NULL, hr_test_folder_set_up, test_commit,
              hr_test_folder_tear_down);
  g_test_add ("/output/file/abandon", Fixture, NULL, hr_test_folder_set_up, test_abandon,
              hr_test_folder_tear_down);
  g_test_add ("/output/file/cancelled", Fixture, NULL, hr_test_folder_set_up, test_cancelled,
              hr_test_folder_tear_down);
  g_test_add ("/output/file/refuses-devices", Fixture, NULL, hr_test_folder_set_up,
              test_refuses_devices, hr_test_folder_tear_down);
  g_test_add ("/output/file/follows-links", Fixture, NULL, hr_test_folder_set_up,
              test_follows_links, hr_test_folder_tear_down);
  g_test_add ("/output/file/one-writer", Fixture, NULL, hr_test_folder_set_up, test_one_writer,
              hr_test_folder_tear_down);
  g_test_add ("/output/file/missing-folder", Fixture, NULL, hr_test_folder_set_up,
              test_missing_folder, hr_test_folder_tear_down);
  return g_test_run ();
}
