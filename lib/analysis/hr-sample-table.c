/* headrank: the analysis: per-sample statistics, kept in an unlinked temporary file */
#include "hr-private.h"
#include "hr-analysis.h"

#include "hr-analysis-internal.h"

#include <errno.h>
#include <gio/gio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>

#include <glib/gstdio.h>

/* -- per-sample statistics, kept in an unlinked temporary file -------------------------- */

#define HR_TABLE_BUFFER 4096 /* rows buffered before a write */

void
hr_sample_table_free (HrSampleTable *t)
{
  if (t->fd >= 0)
    close (t->fd);
  g_free (t->buffer);
  g_free (t);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrSampleTable, hr_sample_table_free)

HrSampleTable *
hr_sample_table_new (GError **error)
{
  g_autofree char *path = NULL;
  HrSampleTable *t = g_new0 (HrSampleTable, 1);
  GError *local = NULL;

  t->fd = g_file_open_tmp ("headrank-samples-XXXXXX", &path, &local);
  if (t->fd < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _ ("cannot create a temporary file for the per-sample statistics: %s"),
                   local->message);
      g_error_free (local);
      g_free (t);
      return NULL;
    }
  g_unlink (path);
  t->buffer = g_new (float, HR_TABLE_BUFFER *HR_PER_SAMPLE_COLUMNS);
  return t;
}

static gboolean
hr_sample_table_flush (HrSampleTable *t, GError **error)
{
  const char *data = (const char *)t->buffer;
  gsize left = t->n_buffered * HR_PER_SAMPLE_COLUMNS * sizeof (float);
  off_t offset = (off_t)(t->n_flushed * HR_PER_SAMPLE_COLUMNS * sizeof (float));

  while (left > 0)
    {
      ssize_t w = pwrite (t->fd, data, left, offset);

      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       _ ("cannot write the per-sample statistics to a temporary file: %s"),
                       g_strerror (saved));
          return FALSE;
        }
      data += w;
      left -= (gsize)w;
      offset += w;
    }
  t->n_flushed += t->n_buffered;
  t->n_buffered = 0;
  return TRUE;
}

/* Appends the statistics of sample @sample, NaN for the samples skipped since the last. */
gboolean
hr_sample_table_put (HrSampleTable *t, guint64 sample, const float *values, GError **error)
{
  while (t->n_rows <= sample)
    {
      float *row;

      if (t->n_buffered == HR_TABLE_BUFFER && !hr_sample_table_flush (t, error))
        return FALSE;
      row = t->buffer + t->n_buffered * HR_PER_SAMPLE_COLUMNS;
      if (t->n_rows == sample)
        memcpy (row, values, HR_PER_SAMPLE_COLUMNS * sizeof (float));
      else
        for (int c = 0; c < HR_PER_SAMPLE_COLUMNS; c++)
          row[c] = NAN;
      t->n_buffered++;
      t->n_rows++;
    }
  return TRUE;
}

gboolean
hr_sample_table_finish (HrSampleTable *t, guint64 n_rows, GError **error)
{
  static const float missing[HR_PER_SAMPLE_COLUMNS] = { NAN, NAN, NAN, NAN };

  if (n_rows > 0 && t->n_rows < n_rows && !hr_sample_table_put (t, n_rows - 1, missing, error))
    return FALSE;
  return hr_sample_table_flush (t, error);
}

gboolean
hr_sample_table_read (HrSampleTable *t, guint64 first, gsize n, float *out, GError **error)
{
  char *data = (char *)out;
  gsize left = n * HR_PER_SAMPLE_COLUMNS * sizeof (float);
  off_t offset = (off_t)(first * HR_PER_SAMPLE_COLUMNS * sizeof (float));

  while (left > 0)
    {
      ssize_t r = pread (t->fd, data, left, offset);

      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR,
                       r == 0 ? G_IO_ERROR_FAILED : g_io_error_from_errno (saved),
                       _ ("cannot read the per-sample statistics back: %s"),
                       r == 0 ? _ ("the temporary file is too short") : g_strerror (saved));
          return FALSE;
        }
      data += r;
      left -= (gsize)r;
      offset += r;
    }
  return TRUE;
}
