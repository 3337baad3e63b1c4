/* headrank: a strictness and depth check on JSON text before json-glib parses it, and typed
 * access to members of parsed JSON
 *
 * json-glib parses nested arrays and objects recursively, so that text of a million "["
 * would overflow the stack; it also accepts comments and single-quoted strings. The
 * safetensors header, a TIFF's ImageDescription and a zarr store's metadata go through this
 * scan first.
 */
#include "hr-private.h"

#include "hr-json.h"

#include <math.h>
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
      /* a NUL byte is not JSON, in a string or out of one (json-glib would stop at it) */
      if (c == '\0')
        return i;
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

/* The member @name of @o when it is an object (NULL when @o is NULL, when there is no such
 * member, or when it is of another type). */
JsonObject *
hr_json_object_member (JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;

  return n != NULL && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

/* The member @name of @o when it is an array, else NULL. */
JsonArray *
hr_json_array_member (JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;

  return n != NULL && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

/* The member @name of @o when it is a string, else NULL. */
const char *
hr_json_string_member (JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;

  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
             ? json_node_get_string (n)
             : NULL;
}

/* Whether @n is an integer (not a float, string or boolean); its value in *@value. */
gboolean
hr_json_node_int (JsonNode *n, gint64 *value)
{
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (n);
  return TRUE;
}

void
hr_json_add_string (JsonBuilder *b, const char *name, const char *v)
{
  if (name != NULL)
    json_builder_set_member_name (b, name);
  if (v != NULL)
    json_builder_add_string_value (b, v);
  else
    json_builder_add_null_value (b);
}

void
hr_json_add_int (JsonBuilder *b, const char *name, gint64 v)
{
  if (name != NULL)
    json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, v);
}

void
hr_json_add_boolean (JsonBuilder *b, const char *name, gboolean v)
{
  if (name != NULL)
    json_builder_set_member_name (b, name);
  json_builder_add_boolean_value (b, v);
}

void
hr_json_add_double (JsonBuilder *b, const char *name, double v)
{
  if (name != NULL)
    json_builder_set_member_name (b, name);
  if (isfinite (v))
    json_builder_add_double_value (b, v);
  else
    json_builder_add_null_value (b);
}
