/* headrank: float32 feature stacks written to TIFF
 *
 * The file is written under a temporary name in the target folder and renamed into place
 * once complete, so a reader never sees a half-written file under the real name.
 *
 * A matrix is one page, written through libtiff a strip at a time. A per-pixel stack is an
 * ImageJ hyperstack: C × Z × T pages of Y × X, channel fastest. ImageJ (and tifffile, for
 * ImageJ files) expect a hyperstack's pixel data to be one contiguous block with the page
 * directories after it, a placement libtiff cannot produce (it writes each directory right
 * after its page's data), so headrank writes that simple, uncompressed layout itself: the
 * header, the data of every page in order (streamed one Z slice of one T frame at a time,
 * all its channels), then the description and the directories.
 */
#include "hr-private.h"

#include "hr-error.h"
#include "hr-output.h"
#include "hr-sources-private.h"
#include "hr-stack-info.h"
#include "hr-types.h"

#include <errno.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

/* Strips of about this many bytes. */
#define HR_WRITE_STRIP_BYTES (256u << 10)
/* Past this size a classic TIFF's 32-bit offsets do not reach: write BigTIFF. */
#define HR_CLASSIC_TIFF_LIMIT (((guint64)1 << 32) - ((guint64)64 << 20))

struct _HrTiffSink
{
  char *path;         /* as given, for messages */
  HrOutputFile *file; /* the temporary file, renamed into place at the commit */
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

  /* channels: the hyperstack written directly to fd (the file's; libtiff gets a dup) */
  int fd;
  gboolean bigtiff;
  guint width, height, depth, frames;
  float *strip; /* a few rows of one channel page */
  guint64 data_offset;
  guint64 offset; /* where the next byte goes */
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

/* libtiff's messages about a failed write do not say why; errno does, right after it. */
static void
hr_sink_set_error (HrTiffSink *sink, GError **error, const char *what)
{
  int saved = errno;

  if (saved == ENOSPC || saved == EDQUOT || saved == EFBIG || saved == EIO || saved == EROFS)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s: %s", sink->path, what,
                   g_strerror (saved));
      return;
    }
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
  /* not committed: leave nothing behind */
  g_clear_pointer (&sink->file, hr_output_file_free);
  if (sink->options != NULL)
    TIFFOpenOptionsFree (sink->options);
  g_string_free (sink->messages, TRUE);
  g_free (sink->buffer);
  g_free (sink->strip);
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
  g_autoptr (GError) local = NULL;
  guint64 total_bytes;
  int fd;

  sink->path = g_strdup (path);
  sink->fd = -1;
  sink->messages = g_string_new (NULL);
  sink->layout = layout;
  sink->n_samples = n_samples;
  sink->n_features = n_features;

  if (n_samples == 0 || n_features == 0 || n_features > G_MAXUINT32
      || (layout == HR_STACK_LAYOUT_MATRIX && n_samples > G_MAXUINT32))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: cannot write %zu × %zu values as TIFF"), path, n_samples, n_features);
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
                            "%zu samples"),
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

  /* never a device or a FIFO; one writer at a time */
  sink->file = hr_output_file_begin (path, HR_OUTPUT_FILE_LOCK, &local);
  if (sink->file == NULL)
    {
      /* G_IO_ERROR_NOT_REGULAR_FILE, G_IO_ERROR_BUSY (another writer's lock), or errno's */
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  fd = hr_output_file_get_fd (sink->file);

  total_bytes = (guint64)n_samples * n_features * sizeof (float);
  if (layout == HR_STACK_LAYOUT_CHANNELS)
    {
      sink->fd = fd;
      sink->bigtiff = total_bytes > HR_CLASSIC_TIFF_LIMIT;
      sink->data_offset = sink->offset = sink->bigtiff ? 16 : 8;
    }
  else
    {
      sink->options = TIFFOpenOptionsAlloc ();
      TIFFOpenOptionsSetErrorHandlerExtR (sink->options, hr_sink_error_handler, sink);
      TIFFOpenOptionsSetWarningHandlerExtR (sink->options, hr_sink_warning_handler, sink);
      /* libtiff closes the descriptor it is given: a dup, the file keeps its own */
      int tif_fd = dup (fd);

      if (tif_fd >= 0)
        sink->tif = TIFFFdOpenExt (tif_fd, hr_output_file_get_temp_path (sink->file),
                                   total_bytes > HR_CLASSIC_TIFF_LIMIT ? "w8" : "w", sink->options);
      if (sink->tif == NULL)
        {
          if (tif_fd >= 0)
            close (tif_fd);
          hr_sink_set_error (sink, error, _ ("cannot start a TIFF file"));
          return NULL;
        }
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
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY, _ ("%s: out of memory"),
                       path);
          return NULL;
        }
    }
  if (!g_size_checked_mul (&total_bytes, sink->buffer_samples, n_features * sizeof (float))
      || (sink->buffer = g_try_malloc (total_bytes)) == NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY, _ ("%s: out of memory"), path);
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
  hr_output_checkpoint ("strip written");
  return TRUE;
}

static gboolean
hr_sink_pwrite (HrTiffSink *sink, const void *data, gsize size, guint64 offset, GError **error)
{
  const guint8 *p = data;

  while (size > 0)
    {
      ssize_t done = pwrite (sink->fd, p, size, (off_t)offset);

      if (done < 0 && errno == EINTR)
        continue;
      if (done <= 0)
        {
          int saved = done < 0 ? errno : ENOSPC;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", sink->path,
                       g_strerror (saved));
          return FALSE;
        }
      p += done;
      size -= (gsize)done;
      offset += (guint64)done;
    }
  return TRUE;
}

/* Appends the buffered plane (one Z slice of one T frame) as C pages, channel c fastest,
 * as ImageJ orders a hyperstack. */
static gboolean
hr_sink_flush_plane (HrTiffSink *sink, GError **error)
{
  gsize C = sink->n_features;
  gsize W = sink->width, H = sink->height;

  for (gsize c = 0; c < C; c++)
    {
      for (gsize y0 = 0; y0 < H; y0 += sink->rows_per_strip)
        {
          gsize rows = MIN ((gsize)sink->rows_per_strip, H - y0);
          const float *src = sink->buffer + y0 * W * C + c;

          for (gsize i = 0; i < rows * W; i++)
            sink->strip[i] = src[i * C];
          if (!hr_sink_pwrite (sink, sink->strip, rows * W * sizeof (float), sink->offset, error))
            return FALSE;
          sink->offset += rows * W * sizeof (float);
        }
    }
  sink->buffer_fill = 0;
  hr_output_checkpoint ("plane written");
  return TRUE;
}

/* One directory entry, in native byte order: a single value stored in the entry, or the
 * offset of the values elsewhere. */
static void
hr_ifd_entry (GByteArray *ifd, gboolean bigtiff, guint16 tag, guint16 type, guint64 count,
              guint64 value)
{
  guint8 field[8] = { 0 };
  guint32 count32 = (guint32)count;
  guint16 v16 = (guint16)value;
  guint32 v32 = (guint32)value;

  g_byte_array_append (ifd, (const guint8 *)&tag, 2);
  g_byte_array_append (ifd, (const guint8 *)&type, 2);
  if (bigtiff)
    g_byte_array_append (ifd, (const guint8 *)&count, 8);
  else
    g_byte_array_append (ifd, (const guint8 *)&count32, 4);
  if (type == TIFF_SHORT)
    memcpy (field, &v16, 2);
  else if (type == TIFF_LONG8 || (bigtiff && type == TIFF_ASCII))
    memcpy (field, &value, 8);
  else
    memcpy (field, &v32, 4);
  g_byte_array_append (ifd, field, bigtiff ? 8 : 4);
}

/* Writes the ImageJ description and the C × Z × T directories after the data, and points
 * the header at the first. */
static gboolean
hr_sink_finish_hyperstack (HrTiffSink *sink, GError **error)
{
  gboolean big = sink->bigtiff;
  guint64 n_pages = (guint64)sink->n_features * sink->depth * sink->frames;
  guint64 page_bytes = (guint64)sink->width * sink->height * sizeof (float);
  guint64 description_offset = sink->offset, ifd_offset;
  g_autofree char *description = g_strdup_printf (
      "ImageJ=1.11a\nimages=%" G_GUINT64_FORMAT
      "\nchannels=%zu\nslices=%u\nframes=%u\nhyperstack=true\nmode=grayscale\nloop=false\n",
      n_pages, sink->n_features, sink->depth, sink->frames);
  gsize description_size = strlen (description) + 1;
  guint16 offset_type = big ? TIFF_LONG8 : TIFF_LONG;
  g_autoptr (GByteArray) ifd = g_byte_array_new ();
  guint8 header[16] = { 0 };
  guint16 magic = big ? 43 : 42;

  if (!hr_sink_pwrite (sink, description, description_size, description_offset, error))
    return FALSE;
  ifd_offset = (description_offset + description_size + 7) & ~(guint64)7;

  for (guint64 page = 0; page < n_pages; page++)
    {
      guint64 entries = page == 0 ? 13 : 12;
      guint64 next;
      guint32 next32;

      g_byte_array_set_size (ifd, 0);
      if (big)
        g_byte_array_append (ifd, (const guint8 *)&entries, 8);
      else
        {
          guint16 entries16 = (guint16)entries;
          g_byte_array_append (ifd, (const guint8 *)&entries16, 2);
        }
      hr_ifd_entry (ifd, big, TIFFTAG_SUBFILETYPE, TIFF_LONG, 1, 0);
      hr_ifd_entry (ifd, big, TIFFTAG_IMAGEWIDTH, TIFF_LONG, 1, sink->width);
      hr_ifd_entry (ifd, big, TIFFTAG_IMAGELENGTH, TIFF_LONG, 1, sink->height);
      hr_ifd_entry (ifd, big, TIFFTAG_BITSPERSAMPLE, TIFF_SHORT, 1, 32);
      hr_ifd_entry (ifd, big, TIFFTAG_COMPRESSION, TIFF_SHORT, 1, COMPRESSION_NONE);
      hr_ifd_entry (ifd, big, TIFFTAG_PHOTOMETRIC, TIFF_SHORT, 1, PHOTOMETRIC_MINISBLACK);
      if (page == 0)
        hr_ifd_entry (ifd, big, TIFFTAG_IMAGEDESCRIPTION, TIFF_ASCII, description_size,
                      description_offset);
      hr_ifd_entry (ifd, big, TIFFTAG_STRIPOFFSETS, offset_type, 1,
                    sink->data_offset + page * page_bytes);
      hr_ifd_entry (ifd, big, TIFFTAG_SAMPLESPERPIXEL, TIFF_SHORT, 1, 1);
      hr_ifd_entry (ifd, big, TIFFTAG_ROWSPERSTRIP, TIFF_LONG, 1, sink->height);
      hr_ifd_entry (ifd, big, TIFFTAG_STRIPBYTECOUNTS, offset_type, 1, page_bytes);
      hr_ifd_entry (ifd, big, TIFFTAG_PLANARCONFIG, TIFF_SHORT, 1, PLANARCONFIG_CONTIG);
      hr_ifd_entry (ifd, big, TIFFTAG_SAMPLEFORMAT, TIFF_SHORT, 1, SAMPLEFORMAT_IEEEFP);
      next = page + 1 < n_pages ? ifd_offset + ifd->len + (big ? 8 : 4) : 0;
      next = (next + 7) & ~(guint64)7;
      next32 = (guint32)next;
      if (big)
        g_byte_array_append (ifd, (const guint8 *)&next, 8);
      else
        g_byte_array_append (ifd, (const guint8 *)&next32, 4);
      if (!hr_sink_pwrite (sink, ifd->data, ifd->len, ifd_offset, error))
        return FALSE;
      ifd_offset = next;
    }

  /* The header last: until here the file is not a valid TIFF. */
  memcpy (header, G_BYTE_ORDER == G_LITTLE_ENDIAN ? "II" : "MM", 2);
  memcpy (header + 2, &magic, 2);
  if (big)
    {
      guint16 offset_size = 8, zero = 0;
      guint64 first = (description_offset + description_size + 7) & ~(guint64)7;

      memcpy (header + 4, &offset_size, 2);
      memcpy (header + 6, &zero, 2);
      memcpy (header + 8, &first, 8);
    }
  else
    {
      guint32 first = (guint32)((description_offset + description_size + 7) & ~(guint64)7);
      memcpy (header + 4, &first, 4);
    }
  return hr_sink_pwrite (sink, header, big ? 16 : 8, 0, error);
}

gboolean
hr_tiff_sink_append (HrTiffSink *sink, const float *rows, gsize n_rows, GError **error)
{
  gsize D = sink->n_features;

  if (n_rows > sink->n_samples - sink->written)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: more than the %zu samples announced"), sink->path, sink->n_samples);
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
  g_autoptr (GError) local = NULL;

  if (sink->written != sink->n_samples)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: only %zu of %zu samples were written"), sink->path, sink->written,
                   sink->n_samples);
      return FALSE;
    }
  if (sink->layout == HR_STACK_LAYOUT_CHANNELS)
    {
      if (!hr_sink_finish_hyperstack (sink, error))
        return FALSE;
    }
  else
    {
      if (!TIFFWriteDirectory (tif) || !TIFFFlush (tif))
        {
          hr_sink_set_error (sink, error, _ ("cannot write the data"));
          return FALSE;
        }
      sink->tif = NULL;
      TIFFClose (tif);
    }
  /* synced and renamed into place */
  if (!hr_output_file_commit (sink->file, NULL, &local))
    {
      /* G_IO_ERROR from errno (the sync or the rename) */
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return TRUE;
}
