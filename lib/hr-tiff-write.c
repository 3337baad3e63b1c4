/* headrank: float32 feature stacks written to TIFF through libtiff
 *
 * The file is written under a temporary name in the target folder and renamed into place
 * once complete, so a reader never sees a half-written file under the real name. A matrix
 * streams a strip at a time; a per-pixel stack one Z slice of one T frame at a time (all
 * its channels), since its pages are channel planes.
 */
#include "hr-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* Strips of about this many bytes. */
#define HR_WRITE_STRIP_BYTES (256u << 10)
/* Past this size a classic TIFF's 32-bit offsets do not reach: write BigTIFF. */
#define HR_CLASSIC_TIFF_LIMIT (((guint64)1 << 32) - ((guint64)64 << 20))

struct _HrTiffSink
{
  char *path;
  char *tmp_path;
  TIFF *tif;
  TIFFOpenOptions *options;
  GString *messages;

  HrStackLayout layout;
  gsize n_samples;
  gsize n_features;
  gsize written;

  /* the current strip (matrix) or plane (channels) */
  float *buffer;
  gsize buffer_samples; /* capacity, in samples */
  gsize buffer_fill;
  guint32 rows_per_strip;
  guint32 next_strip;

  /* channels */
  guint width, height, depth, frames;
  float *strip; /* one strip of one channel page */
  guint pages_written;
};

static int
hr_sink_error_handler (TIFF *tif, void *user_data, const char *module, const char *fmt, va_list ap)
{
  HrTiffSink *sink = user_data;

  if (sink->messages->len > 0)
    g_string_append (sink->messages, "; ");
  if (sink->messages->len < 1024)
    g_string_append_vprintf (sink->messages, fmt, ap);
  return 1;
}

static int
hr_sink_warning_handler (TIFF *tif, void *user_data, const char *module, const char *fmt,
                         va_list ap)
{
  return 1;
}

static void
hr_sink_set_error (HrTiffSink *sink, GError **error, const char *what)
{
  if (sink->messages->len > 0)
    g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_IO, _ ("%s: %s (libtiff: %s)"), sink->path,
                 what, sink->messages->str);
  else
    g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_IO, "%s: %s", sink->path, what);
}

void
hr_tiff_sink_free (HrTiffSink *sink)
{
  if (sink == NULL)
    return;
  if (sink->tif != NULL)
    TIFFClose (sink->tif);
  if (sink->tmp_path != NULL)
    g_unlink (sink->tmp_path); /* not committed: leave nothing behind */
  if (sink->options != NULL)
    TIFFOpenOptionsFree (sink->options);
  g_string_free (sink->messages, TRUE);
  g_free (sink->buffer);
  g_free (sink->strip);
  g_free (sink->tmp_path);
  g_free (sink->path);
  g_free (sink);
}

/* Sets the tags of a float32, one-value-per-pixel page. */
static gboolean
hr_sink_set_page_tags (HrTiffSink *sink, guint32 width, guint32 height, guint32 rows_per_strip,
                       const char *description)
{
  TIFF *tif = sink->tif;

  return TIFFSetField (tif, TIFFTAG_IMAGEWIDTH, width)
         && TIFFSetField (tif, TIFFTAG_IMAGELENGTH, height)
         && TIFFSetField (tif, TIFFTAG_SAMPLESPERPIXEL, (guint16)1)
         && TIFFSetField (tif, TIFFTAG_BITSPERSAMPLE, (guint16)32)
         && TIFFSetField (tif, TIFFTAG_SAMPLEFORMAT, (guint16)SAMPLEFORMAT_IEEEFP)
         && TIFFSetField (tif, TIFFTAG_PHOTOMETRIC, (guint16)PHOTOMETRIC_MINISBLACK)
         && TIFFSetField (tif, TIFFTAG_PLANARCONFIG, (guint16)PLANARCONFIG_CONTIG)
         && TIFFSetField (tif, TIFFTAG_COMPRESSION, (guint16)COMPRESSION_NONE)
         && TIFFSetField (tif, TIFFTAG_ROWSPERSTRIP, rows_per_strip)
         && TIFFSetField (tif, TIFFTAG_SOFTWARE, "headrank " PACKAGE_VERSION)
         && (description == NULL || TIFFSetField (tif, TIFFTAG_IMAGEDESCRIPTION, description));
}

static guint32
hr_rows_per_strip (gsize row_values, gsize rows)
{
  gsize rps = MAX ((gsize)1, HR_WRITE_STRIP_BYTES / (row_values * sizeof (float)));
  return (guint32)MIN (rps, rows);
}

HrTiffSink *
hr_tiff_sink_new (const char *path, HrStackLayout layout, gsize n_samples, gsize n_features,
                  HrStackInfo *geometry, GError **error)
{
  g_autoptr (HrTiffSink) sink = g_new0 (HrTiffSink, 1);
  g_autofree char *dir = NULL, *base = NULL;
  guint64 total_bytes;
  int fd;

  sink->path = g_strdup (path);
  sink->messages = g_string_new (NULL);
  sink->layout = layout;
  sink->n_samples = n_samples;
  sink->n_features = n_features;

  if (n_samples == 0 || n_features == 0 || n_features > G_MAXUINT32
      || (layout == HR_STACK_LAYOUT_MATRIX && n_samples > G_MAXUINT32))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: cannot write %" G_GSIZE_FORMAT " × %" G_GSIZE_FORMAT " values as TIFF"),
                   path, n_samples, n_features);
      return NULL;
    }

  switch (layout)
    {
      case HR_STACK_LAYOUT_MATRIX:
        break;
      case HR_STACK_LAYOUT_CHANNELS:
        if (geometry == NULL || !geometry->per_pixel
            || (guint64)geometry->width * geometry->height * geometry->depth * geometry->frames
                   != n_samples)
          {
            g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
                         _ ("%s: a per-pixel stack needs an image geometry whose pixels are its "
                            "%" G_GSIZE_FORMAT " samples"),
                         path, n_samples);
            return NULL;
          }
        sink->width = geometry->width;
        sink->height = geometry->height;
        sink->depth = geometry->depth;
        sink->frames = geometry->frames;
        break;
      case HR_STACK_LAYOUT_PAGES:
      case HR_STACK_LAYOUT_AUTO:
      default:
        g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
                     _ ("%s: headrank writes the matrix and channels layouts"), path);
        return NULL;
    }

  dir = g_path_get_dirname (path);
  base = g_path_get_basename (path);
  sink->tmp_path = g_strdup_printf ("%s%c.%s.XXXXXX", dir, G_DIR_SEPARATOR, base);
  fd = g_mkstemp_full (sink->tmp_path, O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0)
    {
      int saved = errno;
      g_clear_pointer (&sink->tmp_path, g_free);
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_IO,
                   _ ("%s: cannot create a file in %s: %s"), path, dir, g_strerror (saved));
      return NULL;
    }

  total_bytes = (guint64)n_samples * n_features * sizeof (float);
  sink->options = TIFFOpenOptionsAlloc ();
  TIFFOpenOptionsSetErrorHandlerExtR (sink->options, hr_sink_error_handler, sink);
  TIFFOpenOptionsSetWarningHandlerExtR (sink->options, hr_sink_warning_handler, sink);
  sink->tif = TIFFFdOpenExt (fd, sink->tmp_path, total_bytes > HR_CLASSIC_TIFF_LIMIT ? "w8" : "w",
                             sink->options);
  if (sink->tif == NULL)
    {
      close (fd);
      hr_sink_set_error (sink, error, _ ("cannot start a TIFF file"));
      return NULL;
    }

  if (layout == HR_STACK_LAYOUT_MATRIX)
    {
      sink->rows_per_strip = hr_rows_per_strip (n_features, n_samples);
      sink->buffer_samples = sink->rows_per_strip;
      if (!hr_sink_set_page_tags (sink, (guint32)n_features, (guint32)n_samples,
                                  sink->rows_per_strip, NULL))
        {
          hr_sink_set_error (sink, error, _ ("cannot describe the page"));
          return NULL;
        }
    }
  else
    {
      sink->rows_per_strip = hr_rows_per_strip (sink->width, sink->height);
      sink->buffer_samples = (gsize)sink->width * sink->height;
      sink->strip = g_try_new (float, (gsize)sink->rows_per_strip * sink->width);
      if (sink->strip == NULL)
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TOO_LARGE, _ ("%s: out of memory"),
                       path);
          return NULL;
        }
    }
  if (!g_size_checked_mul (&total_bytes, sink->buffer_samples, n_features * sizeof (float))
      || (sink->buffer = g_try_malloc (total_bytes)) == NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TOO_LARGE, _ ("%s: out of memory"), path);
      return NULL;
    }
  return g_steal_pointer (&sink);
}

static gboolean
hr_sink_flush_strip (HrTiffSink *sink, GError **error)
{
  gsize bytes = sink->buffer_fill * sink->n_features * sizeof (float);

  if (TIFFWriteEncodedStrip (sink->tif, sink->next_strip, sink->buffer, (tmsize_t)bytes) < 0)
    {
      hr_sink_set_error (sink, error, _ ("cannot write the data"));
      return FALSE;
    }
  sink->next_strip++;
  sink->buffer_fill = 0;
  return TRUE;
}

/* Writes the buffered plane (one Z slice of one T frame) as C pages, channel c fastest,
 * as ImageJ orders a hyperstack. */
static gboolean
hr_sink_flush_plane (HrTiffSink *sink, GError **error)
{
  gsize C = sink->n_features;
  gsize W = sink->width, H = sink->height;

  for (gsize c = 0; c < C; c++)
    {
      g_autofree char *description = NULL;
      guint32 strip = 0;

      if (sink->pages_written == 0)
        description
            = g_strdup_printf ("ImageJ=1.11a\nimages=%" G_GSIZE_FORMAT "\nchannels=%" G_GSIZE_FORMAT
                               "\nslices=%u\nframes=%u\nhyperstack=true\n"
                               "mode=grayscale\nloop=false\n",
                               C * sink->depth * sink->frames, C, sink->depth, sink->frames);
      if (!hr_sink_set_page_tags (sink, (guint32)W, (guint32)H, sink->rows_per_strip, description))
        {
          hr_sink_set_error (sink, error, _ ("cannot describe the page"));
          return FALSE;
        }
      for (gsize y0 = 0; y0 < H; y0 += sink->rows_per_strip, strip++)
        {
          gsize rows = MIN ((gsize)sink->rows_per_strip, H - y0);
          const float *src = sink->buffer + y0 * W * C + c;

          for (gsize i = 0; i < rows * W; i++)
            sink->strip[i] = src[i * C];
          if (TIFFWriteEncodedStrip (sink->tif, strip, sink->strip,
                                     (tmsize_t)(rows * W * sizeof (float)))
              < 0)
            {
              hr_sink_set_error (sink, error, _ ("cannot write the data"));
              return FALSE;
            }
        }
      if (!TIFFWriteDirectory (sink->tif))
        {
          hr_sink_set_error (sink, error, _ ("cannot write the data"));
          return FALSE;
        }
      sink->pages_written++;
    }
  sink->buffer_fill = 0;
  return TRUE;
}

gboolean
hr_tiff_sink_append (HrTiffSink *sink, const float *rows, gsize n_rows, GError **error)
{
  gsize D = sink->n_features;

  if (n_rows > sink->n_samples - sink->written)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: more than the %" G_GSIZE_FORMAT " samples announced"), sink->path,
                   sink->n_samples);
      return FALSE;
    }
  while (n_rows > 0)
    {
      gsize take = MIN (n_rows, sink->buffer_samples - sink->buffer_fill);

      memcpy (sink->buffer + sink->buffer_fill * D, rows, take * D * sizeof (float));
      sink->buffer_fill += take;
      sink->written += take;
      rows += take * D;
      n_rows -= take;
      if (sink->buffer_fill == sink->buffer_samples || sink->written == sink->n_samples)
        {
          gboolean ok = sink->layout == HR_STACK_LAYOUT_MATRIX ? hr_sink_flush_strip (sink, error)
                                                               : hr_sink_flush_plane (sink, error);
          if (!ok)
            return FALSE;
        }
    }
  return TRUE;
}

gboolean
hr_tiff_sink_commit (HrTiffSink *sink, GError **error)
{
  TIFF *tif = sink->tif;
  int fd;

  if (sink->written != sink->n_samples)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: only %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " samples were written"),
                   sink->path, sink->written, sink->n_samples);
      return FALSE;
    }
  if (sink->layout == HR_STACK_LAYOUT_MATRIX && !TIFFWriteDirectory (tif))
    {
      hr_sink_set_error (sink, error, _ ("cannot write the data"));
      return FALSE;
    }
  fd = TIFFFileno (tif);
  if (!TIFFFlush (tif) || fsync (fd) != 0)
    {
      hr_sink_set_error (sink, error, _ ("cannot write the data"));
      return FALSE;
    }
  sink->tif = NULL;
  TIFFClose (tif);
  if (g_rename (sink->tmp_path, sink->path) != 0)
    {
      int saved = errno;
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_IO, "%s: %s", sink->path,
                   g_strerror (saved));
      return FALSE;
    }
  g_clear_pointer (&sink->tmp_path, g_free);
  return TRUE;
}

gsize
hr_tiff_sink_get_n_features (HrTiffSink *sink)
{
  return sink->n_features;
}
