/* headrank: translations of the library's messages */
#include "hr-private.h"

#include <locale.h>

const char *
hr_gettext (const char *msgid)
{
#ifdef ENABLE_NLS
  static gsize initialised = FALSE;

  if (g_once_init_enter (&initialised))
    {
      /* HEADRANK_LOCALEDIR lets the test suite use the catalogues of a build tree. */
      const char *dir = g_getenv ("HEADRANK_LOCALEDIR");

      bindtextdomain (GETTEXT_PACKAGE, dir != NULL && *dir != '\0' ? dir : HR_LOCALEDIR);
      bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
      g_once_init_leave (&initialised, TRUE);
    }
  return g_dgettext (GETTEXT_PACKAGE, msgid);
#else
  return msgid;
#endif
}
