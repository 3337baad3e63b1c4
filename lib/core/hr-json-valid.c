/* headrank: JSON that is valid UTF-8 whatever the names in it
 *
 * File names on Linux are bytes, and json-glib writes a string's bytes as they are: a name
 * that is not UTF-8 would make the whole text invalid JSON. Every string and member name of
 * a tree goes through hr_json_make_valid() before it is written, which puts U+FFFD in place
 * of each invalid sequence (g_utf8_make_valid()); control characters are escaped by the
 * generator. Compiled into both the library and the command.
 */
#include "hr-json-valid.h"

static char *
hr_json_valid_copy (const char *text)
{
  return text != NULL && !g_utf8_validate (text, -1, NULL) ? g_utf8_make_valid (text, -1) : NULL;
}

/*
 * hr_json_make_valid:
 * @node: a mutable JSON tree
 *
 * Replaces every string and member name of @node that is not valid UTF-8 by a valid one.
 */
void
hr_json_make_valid (JsonNode *node)
{
  switch (JSON_NODE_TYPE (node))
    {
      case JSON_NODE_OBJECT:
        {
          JsonObject *object = json_node_get_object (node);
          GList *members = json_object_get_members (object);
          gboolean bad_name = FALSE;

          for (GList *l = members; l != NULL; l = l->next)
            {
              bad_name = bad_name || !g_utf8_validate (l->data, -1, NULL);
              hr_json_make_valid (json_object_get_member (object, l->data));
            }
          if (bad_name)
            {
              JsonObject *copy = json_object_new ();

              for (GList *l = members; l != NULL; l = l->next)
                {
                  g_autofree char *name = g_utf8_make_valid (l->data, -1);
                  json_object_set_member (
                      copy, name, json_node_copy (json_object_get_member (object, l->data)));
                }
              json_node_take_object (node, copy);
            }
          g_list_free (members);
          break;
        }
      case JSON_NODE_ARRAY:
        {
          JsonArray *array = json_node_get_array (node);

          for (guint i = 0; i < json_array_get_length (array); i++)
            hr_json_make_valid (json_array_get_element (array, i));
          break;
        }
      case JSON_NODE_VALUE:
        if (json_node_get_value_type (node) == G_TYPE_STRING)
          {
            g_autofree char *valid = hr_json_valid_copy (json_node_get_string (node));

            if (valid != NULL)
              json_node_set_string (node, valid);
          }
        break;
      case JSON_NODE_NULL:
      default:
        break;
    }
}
