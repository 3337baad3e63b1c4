/* headrank command: tables and prose that fit the terminal
 *
 * Widths are counted in characters (UTF-8 code points): a translated heading such as
 * "Stichproben" takes its own width, not its bytes'. A table wider than the terminal is
 * split into blocks of columns, each repeating the first column (the stage, the report), so
 * that no line is longer than the width unless a single column is.
 */
#include "config.h"

#include "headrank-table.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define HR_DEFAULT_WIDTH 80
#define HR_MIN_WIDTH 20

struct _HrTable
{
  guint n_columns;
  gboolean *left;  /* per column */
  GPtrArray *rows; /* of GStrv; row 0 is the headings */
};

HrTable *
hr_table_new (guint n_columns, const char *const *headers)
{
  HrTable *table = g_new0 (HrTable, 1);

  table->n_columns = n_columns;
  table->left = g_new0 (gboolean, n_columns);
  table->left[0] = TRUE;
  table->rows = g_ptr_array_new_with_free_func ((GDestroyNotify)g_strfreev);
  hr_table_add_row (table, headers);
  return table;
}

void
hr_table_set_left_aligned (HrTable *table, guint column)
{
  g_return_if_fail (column < table->n_columns);
  table->left[column] = TRUE;
}

void
hr_table_add_row (HrTable *table, const char *const *cells)
{
  char **row = g_new0 (char *, table->n_columns + 1);

  for (guint c = 0; c < table->n_columns; c++)
    row[c] = g_strdup (cells[c] != NULL ? cells[c] : "");
  g_ptr_array_add (table->rows, row);
}

void
hr_table_free (HrTable *table)
{
  if (table == NULL)
    return;
  g_ptr_array_unref (table->rows);
  g_free (table->left);
  g_free (table);
}

static void
hr_print_cell (const char *cell, guint width, gboolean left)
{
  glong len = g_utf8_strlen (cell, -1);
  int pad = len < (glong)width ? (int)(width - len) : 0;

  if (left)
    g_print ("%s%*s", cell, pad, "");
  else
    g_print ("%*s%s", pad, "", cell);
}

void
hr_table_print (HrTable *table, guint width)
{
  g_autofree guint *widths = g_new0 (guint, table->n_columns);
  guint start = 1;

  for (guint r = 0; r < table->rows->len; r++)
    {
      char **row = g_ptr_array_index (table->rows, r);

      for (guint c = 0; c < table->n_columns; c++)
        widths[c] = MAX (widths[c], (guint)g_utf8_strlen (row[c], -1));
    }
  /* blocks of columns [start, end), after the first column */
  while (start < table->n_columns || start == 1)
    {
      guint used = widths[0], end = start;

      while (end < table->n_columns && (end == start || used + 1 + widths[end] <= width))
        used += 1 + widths[end++];
      if (start > 1)
        g_print ("\n");
      for (guint r = 0; r < table->rows->len; r++)
        {
          char **row = g_ptr_array_index (table->rows, r);

          /* the first column is left-aligned; the last cell of a line has no padding after
           * it when it is the first column alone */
          hr_print_cell (row[0], end > start ? widths[0] : 0, TRUE);
          for (guint c = start; c < end; c++)
            {
              g_print (" ");
              /* no padding after a left-aligned last cell */
              hr_print_cell (row[c], c + 1 < end || !table->left[c] ? widths[c] : 0,
                             table->left[c]);
            }
          g_print ("\n");
        }
      if (end == start)
        break;
      start = end;
    }
}

char *
hr_wrap_text (const char *text, guint width)
{
  GString *out = g_string_new (NULL);
  g_auto (GStrv) words = g_strsplit_set (text, " \n", -1);
  guint line = 0;

  for (guint i = 0; words[i] != NULL; i++)
    {
      guint len = (guint)g_utf8_strlen (words[i], -1);

      if (len == 0)
        continue;
      if (line > 0 && line + 1 + len > width)
        {
          g_string_append_c (out, '\n');
          line = 0;
        }
      else if (line > 0)
        {
          g_string_append_c (out, ' ');
          line++;
        }
      g_string_append (out, words[i]);
      line += len;
    }
  return g_string_free (out, FALSE);
}

guint
hr_output_width (void)
{
  const char *columns = g_getenv ("COLUMNS");
  struct winsize size;

  if (columns != NULL && *columns != '\0')
    {
      char *end = NULL;
      gint64 value = g_ascii_strtoll (columns, &end, 10);

      if (end != NULL && *end == '\0' && value >= HR_MIN_WIDTH && value <= 100000)
        return (guint)value;
    }
  if (isatty (STDOUT_FILENO) && ioctl (STDOUT_FILENO, TIOCGWINSZ, &size) == 0
      && size.ws_col >= HR_MIN_WIDTH)
    return size.ws_col;
  return HR_DEFAULT_WIDTH;
}
