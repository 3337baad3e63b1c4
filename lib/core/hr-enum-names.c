/* headrank: the names of enum and flags values (see hr-enum-names.h) */
#include "hr-enum-names.h"

/*
 * hr_enum_nick:
 * @type: an enum type (a #GEnumClass registered by glib-mkenums)
 * @value: one of its values
 *
 * Returns: (transfer none) (nullable): the nick of @value, or %NULL when @type has no such
 *   value. The nicks of a static type's values live as long as the program.
 */
const char *
hr_enum_nick (GType type, int value)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);
  const char *nick = v != NULL ? v->value_nick : NULL;

  g_type_class_unref (klass);
  return nick;
}

/*
 * hr_enum_from_nick:
 * @type: an enum type
 * @nick: a word, as a user typed it (matched exactly)
 * @value: (out): where the value goes
 *
 * Returns: whether @nick names a value of @type (@value is left alone otherwise)
 */
gboolean
hr_enum_from_nick (GType type, const char *nick, int *value)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *v = nick != NULL ? g_enum_get_value_by_nick (klass, nick) : NULL;

  if (v != NULL)
    *value = v->value;
  g_type_class_unref (klass);
  return v != NULL;
}

/*
 * hr_flags_to_keys:
 * @type: a flags type (a #GFlagsClass registered by glib-mkenums)
 * @flags: a combination of its values
 *
 * The flags set in @flags as JSON keys: the nicks of the single-bit values, in the order of
 * the type's values, with '_' for '-' (`reduces_rank` for the nick `reduces-rank`).
 *
 * Returns: (transfer full): the keys, %NULL-terminated
 */
char **
hr_flags_to_keys (GType type, guint flags)
{
  GFlagsClass *klass = g_type_class_ref (type);
  GPtrArray *keys = g_ptr_array_new ();

  for (guint i = 0; i < klass->n_values; i++)
    {
      guint v = klass->values[i].value;

      if (v != 0 && (v & (v - 1)) == 0 && (flags & v) != 0)
        g_ptr_array_add (keys, g_strdelimit (g_strdup (klass->values[i].value_nick), "-", '_'));
    }
  g_ptr_array_add (keys, NULL);
  g_type_class_unref (klass);
  return (char **)g_ptr_array_free (keys, FALSE);
}
