/* headrank: where the message catalogues are
 *
 * Installed, the catalogues are in HR_LOCALEDIR. Run from the build tree (the library or
 * the command as meson built them, in the build tree's lib/ folder), they are the ones
 * meson compiled into the build tree's po/ folder (po/<lang>/LC_MESSAGES/headrank.mo), so
 * that `LANGUAGE=de build/lib/headrank --help` is German without installing. The test is
 * where the code that runs was loaded from (dladdr), so an installed copy never looks into
 * a build tree. HEADRANK_LOCALEDIR, when set, wins over both.
 */
#define _GNU_SOURCE /* dladdr */
#include "config.h"

#include "hr-localedir.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/* TRUE when the object that holds this function was loaded from the build tree's lib/. */
static gboolean
hr_running_uninstalled (void)
{
  gboolean same = FALSE;
#ifdef HR_BUILD_LIBDIR
  Dl_info info;
  char *real, *build;

  if (dladdr ((void *)hr_running_uninstalled, &info) == 0 || info.dli_fname == NULL)
    return FALSE;
  /* realpath() allocates with malloc(): freed with free() */
  real = realpath (info.dli_fname, NULL);
  build = realpath (HR_BUILD_LIBDIR, NULL);
  if (real != NULL && build != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (real);

      same = strcmp (dir, build) == 0;
    }
  free (real);
  free (build);
#endif
  return same;
}

/**
 * hr_localedir: (skip)
 *
 * The folder of the message catalogues: HEADRANK_LOCALEDIR when set, else the build tree's
 * when running from it, else the installed one.
 *
 * Returns: (transfer none): a path
 */
const char *
hr_localedir (void)
{
  static const char *dir;
  static gsize initialised = FALSE;

  if (g_once_init_enter (&initialised))
    {
      const char *env = g_getenv ("HEADRANK_LOCALEDIR");
      const char *found = HR_LOCALEDIR;

      if (env != NULL && *env != '\0')
        found = g_intern_string (env);
#ifdef HR_BUILD_LOCALEDIR
      else if (hr_running_uninstalled () && g_file_test (HR_BUILD_LOCALEDIR, G_FILE_TEST_IS_DIR))
        found = HR_BUILD_LOCALEDIR;
#endif
      dir = found;
      g_once_init_leave (&initialised, TRUE);
    }
  return dir;
}
