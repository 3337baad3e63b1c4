/* headrank: translations of the library's messages */
#include "hr-private.h"

#include <locale.h>

#include "hr-localedir.h"

const char *
hr_gettext (const char *msgid)
{
#ifdef ENABLE_NLS
  static gsize initialised = FALSE;

  if (g_once_init_enter (&initialised))
    {
      /* installed, the build tree's when run from it, or HEADRANK_LOCALEDIR */
      bindtextdomain (GETTEXT_PACKAGE, hr_localedir ());
      bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
      g_once_init_leave (&initialised, TRUE);
    }
  return g_dgettext (GETTEXT_PACKAGE, msgid);
#else
  return msgid;
#endif
}
