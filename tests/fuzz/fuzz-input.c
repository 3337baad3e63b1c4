/* headrank fuzz targets: the input as a file the library can open
 *
 * The library reads files by name, so each input goes through one temporary file,
 * rewritten for every run.
 */
#include "fuzz-input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

static int input_fd = -1;
static char *input_path;      /* what the library opens */
static char *input_real_path; /* the file itself, unlinked at exit, NULL if already unlinked */

G_GNUC_NORETURN G_GNUC_PRINTF (1, 2) static void input_fail (const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  fputs ("FUZZ FAILURE: ", stderr);
  vfprintf (stderr, format, ap);
  fputc ('\n', stderr);
  va_end (ap);
  abort ();
}

static void
input_unlink (void)
{
  if (input_real_path != NULL)
    g_unlink (input_real_path);
}

const char *
fuzz_input_open (const char *suffix)
{
  const char *dirs[] = { "/dev/shm", g_get_tmp_dir () };
  g_autofree char *proc_path = NULL;

  if (input_path != NULL)
    return input_path;

  for (gsize i = 0; i < G_N_ELEMENTS (dirs) && input_fd < 0; i++)
    {
      g_autofree char *name = g_strconcat ("headrank-fuzz-XXXXXX", suffix, NULL);
      char *path = g_build_filename (dirs[i], name, NULL);

      input_fd = g_mkstemp_full (path, O_RDWR | O_CLOEXEC, 0600);
      if (input_fd >= 0)
        input_real_path = path;
      else
        g_free (path);
    }
  if (input_fd < 0)
    input_fail ("cannot create a temporary file: %s", g_strerror (errno));

  /* On Linux the file is reachable as /proc/self/fd/N once unlinked: nothing is left
   * behind when the fuzzer stops on a crash. */
  proc_path = g_strdup_printf ("/proc/self/fd/%d", input_fd);
  if (g_file_test (proc_path, G_FILE_TEST_IS_REGULAR) && g_unlink (input_real_path) == 0)
    {
      g_clear_pointer (&input_real_path, g_free);
      input_path = g_steal_pointer (&proc_path);
    }
  else
    {
      input_path = g_strdup (input_real_path);
      atexit (input_unlink);
    }
  return input_path;
}

void
fuzz_input_write (const uint8_t *data, size_t size)
{
  size_t done = 0;

  if (ftruncate (input_fd, 0) != 0)
    input_fail ("ftruncate: %s", g_strerror (errno));
  while (done < size)
    {
      ssize_t n = pwrite (input_fd, data + done, size - done, (off_t)done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        input_fail ("pwrite: %s", g_strerror (errno));
      done += (size_t)n;
    }
}
