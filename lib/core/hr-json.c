/* headrank: a strictness and depth check on JSON text before json-glib parses it
 *
 * json-glib parses nested arrays and objects recursively, so that text of a million "["
 * would overflow the stack; it also accepts comments and single-quoted strings. Both the
 * safetensors header and a TIFF's ImageDescription go through this scan first.
 */
#include "hr-private.h"

#include <string.h>

/* The header must be strict JSON before json-glib sees it: json-glib also accepts comments
 * and single-quoted strings, and it parses nested arrays recursively, so that a header of
 * a million "[" would overflow the stack. Outside strings, only JSON's own characters are
 * allowed, and the nesting depth is bounded. Returns the offset of the first offending
 * byte, or -1. */
gssize
hr_json_prescan (const char *text, gsize length, guint max_depth, gboolean *too_deep)
{
  guint depth = 0;
  gboolean in_string = FALSE, started = FALSE;

  *too_deep = FALSE;
  for (gsize i = 0; i < length; i++)
    {
      char c = text[i];
      gboolean space = c == ' ' || c == '\t' || c == '\r' || c == '\n';

      /* exactly one object: json-glib would stop after the first value of "{…}{…}" and
       * take it (leaking the rest) */
      if (!in_string && depth == 0 && !space)
        {
          if (started || (c != '{' && c != '['))
            return i;
          started = TRUE;
        }
      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }
      switch (c)
        {
          case '"':
            in_string = TRUE;
            break;
          case '[':
          case '{':
            if (++depth > max_depth)
              {
                *too_deep = TRUE;
                return i;
              }
            break;
          case ']':
          case '}':
            if (depth > 0)
              depth--;
            break;
          case ' ':
          case '\t':
          case '\r':
          case '\n':
          case ':':
          case ',':
          case '-':
          case '+':
          case '.':
            break;
          default:
            /* digits, exponents, and the letters of true, false and null */
            if (!g_ascii_isdigit (c) && strchr ("eEtrufalsn", c) == NULL)
              return i;
        }
    }
  return -1;
}
