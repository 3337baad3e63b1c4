/* headrank command: tables and prose that fit the terminal (headrank-table.c) */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _HrTable HrTable;

/* A table of @n_columns; the first column names the row (left-aligned, repeated in every
 * block when the table is split), the others are right-aligned. @headers: translated. */
HrTable *hr_table_new (guint n_columns, const char *const *headers);
/* Aligns @column to the left (a column of names). */
void hr_table_set_left_aligned (HrTable *table, guint column);
/* Adds a row of @n_columns cells (copied). */
void hr_table_add_row (HrTable *table, const char *const *cells);
/* Prints @table on standard output in lines of at most @width characters where it can:
 * the columns that do not fit go into further blocks, each after a blank line, each with
 * the first column again. */
void hr_table_print (HrTable *table, guint width);
void hr_table_free (HrTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrTable, hr_table_free)

/* @text in lines of at most @width characters, broken between words only (a word longer
 * than @width stays whole on its own line); no final newline. */
char *hr_wrap_text (const char *text, guint width);

/* The width of standard output: COLUMNS when it is a number of at least 20, else the
 * terminal's when standard output is one, else 80. */
guint hr_output_width (void);

G_END_DECLS
