/* headrank fuzz target: TIFF bytes through HrStackReader and HrFeatureStack
 *
 * Built as a libFuzzer target (-Dfuzzing=true, clang) or, with fuzz-main.c, as a plain
 * program that replays a corpus (the fuzz test suite).
 *
 * Each input is written to one private temporary file (reused for the whole process) and
 * read with every layout, whole (hr_feature_stack_new_from_file) and in small chunks
 * (hr_stack_reader_read_into). Besides crashes and sanitizer reports, the target aborts
 * when the library breaks its contract:
 *  - a failure without an error, or an error outside HR_STACK_ERROR (G_IO_ERROR_CANCELLED
 *    only with a cancelled cancellable), or with an empty message;
 *  - a GLib warning or critical (g_return_if_fail and friends);
 *  - the reader and the whole read disagree: one opens and the other does not, different
 *    shapes, different values, different non-finite counts;
 *  - info that does not match what was asked for or read (layout, shape, positions of
 *    non-finite values that are finite);
 *  - with HR_FUZZ_STRICT_LIBTIFF=1 in the environment: a libtiff message that reaches
 *    libtiff's process-wide handlers (the library promises it never does).
 */
#include <headrank.h>

/* fuzz-tiff-structured.c includes this file with its own name and entry point. */
#ifndef FUZZ_TARGET
#define FUZZ_TARGET "fuzz-stack-reader"
#endif
#ifndef FUZZ_STACK_READER_ENTRY
#define FUZZ_STACK_READER_ENTRY LLVMFuzzerTestOneInput
#endif
#include "fuzz-input.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#include <glib/gstdio.h>

int FUZZ_STACK_READER_ENTRY (const uint8_t *data, size_t size);

/* Reading a whole stack allocates n × d floats; above this the input is only read through
 * the reader, a few chunks of it, so that a valid but huge file does not exhaust memory. */
#define FUZZ_MAX_WHOLE_VALUES ((gsize)64 << 20)
/* The most values one read_into may produce, and the most read_into calls per layout. */
#define FUZZ_MAX_CHUNK_VALUES ((gsize)16 << 20)
#define FUZZ_MAX_CHUNKS ((gsize)4096)

static const char *fuzz_path; /* what the library opens */
static gboolean fuzz_strict_libtiff;
static guint fuzz_global_libtiff_messages;

static const char *
layout_name (HrStackLayout layout)
{
  switch (layout)
    {
      case HR_STACK_LAYOUT_AUTO:
        return "auto";
      case HR_STACK_LAYOUT_MATRIX:
        return "matrix";
      case HR_STACK_LAYOUT_CHANNELS:
        return "channels";
      case HR_STACK_LAYOUT_PAGES:
        return "pages";
      default:
        return "?";
    }
}

/* -- set-up ------------------------------------------------------------------------------ */

G_GNUC_PRINTF (2, 0)
static void
fuzz_libtiff_global_handler (const char *module, const char *fmt, va_list ap)
{
  fuzz_global_libtiff_messages++;
  if (fuzz_strict_libtiff)
    {
      fprintf (stderr, FUZZ_TARGET ": a libtiff message reached the process-wide handler: ");
      vfprintf (stderr, fmt, ap);
      fputc ('\n', stderr);
      abort ();
    }
}

static void
fuzz_init (void)
{
  /* Warnings and criticals (a failed precondition inside the library) are bugs. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  fuzz_strict_libtiff = g_strcmp0 (g_getenv ("HR_FUZZ_STRICT_LIBTIFF"), "1") == 0;
  TIFFSetErrorHandler (fuzz_libtiff_global_handler);
  TIFFSetWarningHandler (fuzz_libtiff_global_handler);

  fuzz_path = fuzz_input_open (".tif");
}

/* -- checks ------------------------------------------------------------------------------ */

/* A failure must come with an error of ours (or a cancellation, when @cancelled), with a
 * message. */
static void
check_error (const GError *error, gboolean cancelled, const char *what, HrStackLayout layout)
{
  if (error == NULL)
    FUZZ_FAIL ("%s (layout %s) failed without an error", what, layout_name (layout));
  if (cancelled && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    ;
  else if (error->domain != HR_STACK_ERROR)
    FUZZ_FAIL ("%s (layout %s): error outside HR_STACK_ERROR: %s %d: %s", what,
               layout_name (layout), g_quark_to_string (error->domain), error->code,
               error->message ? error->message : "(null)");
  else if (error->code < HR_STACK_ERROR_IO || error->code > HR_STACK_ERROR_NO_MEMORY)
    FUZZ_FAIL ("%s (layout %s): unknown HrStackError code %d: %s", what, layout_name (layout),
               error->code, error->message ? error->message : "(null)");
  if (error->message == NULL || error->message[0] == '\0')
    FUZZ_FAIL ("%s (layout %s): error %d without a message", what, layout_name (layout),
               error->code);
  if (!g_utf8_validate (error->message, -1, NULL))
    FUZZ_FAIL ("%s (layout %s): error message is not UTF-8", what, layout_name (layout));
}

static volatile float fuzz_sink;

static void
check_info (HrStackInfo *info, HrStackLayout requested, gsize n, gsize d)
{
  HrStackLayout layout;
  const char *s;
  guint width, height, depth, frames, channels, n_pages;

  FUZZ_CHECK (info != NULL, "no info");
  layout = hr_stack_info_get_layout (info);
  FUZZ_CHECK (layout != HR_STACK_LAYOUT_AUTO, "info says layout auto");
  FUZZ_CHECK (requested == HR_STACK_LAYOUT_AUTO || layout == requested, "asked for %s, got %s",
              layout_name (requested), layout_name (layout));
  FUZZ_CHECK ((guint)hr_stack_info_get_sample_format (info) <= HR_SAMPLE_FORMAT_FLOAT64, "%d",
              (int)hr_stack_info_get_sample_format (info));
  s = hr_stack_info_get_compression (info);
  FUZZ_CHECK (s != NULL && s[0] != '\0', "no compression name");
  s = hr_stack_info_get_metadata_kind (info);
  FUZZ_CHECK (s != NULL && s[0] != '\0', "no metadata kind");
  FUZZ_CHECK (g_strcmp0 (hr_stack_info_get_path (info), fuzz_path) == 0, "path %s",
              hr_stack_info_get_path (info));

  n_pages = hr_stack_info_get_n_pages (info);
  width = hr_stack_info_get_width (info);
  height = hr_stack_info_get_height (info);
  depth = hr_stack_info_get_depth (info);
  frames = hr_stack_info_get_frames (info);
  channels = hr_stack_info_get_channels (info);
  FUZZ_CHECK (n_pages >= 1 && width >= 1 && height >= 1, "%u pages of %u x %u", n_pages, width,
              height);
  (void)hr_stack_info_get_tiled (info);
  (void)hr_stack_info_get_big_endian (info);
  (void)hr_stack_info_get_bigtiff (info);

  switch (layout)
    {
      case HR_STACK_LAYOUT_MATRIX:
        FUZZ_CHECK (n_pages == 1, "matrix with %u pages", n_pages);
        FUZZ_CHECK (n == height && d == width, "matrix %zu x %zu from %u x %u", n, d, height,
                    width);
        FUZZ_CHECK (!hr_stack_info_is_per_pixel (info), "matrix per pixel");
        break;
      case HR_STACK_LAYOUT_PAGES:
        FUZZ_CHECK (n == n_pages, "pages: %zu samples from %u pages", n, n_pages);
        FUZZ_CHECK (d % ((gsize)width * height) == 0, "pages: %zu features from %u x %u", d, width,
                    height);
        FUZZ_CHECK (!hr_stack_info_is_per_pixel (info), "pages per pixel");
        break;
      case HR_STACK_LAYOUT_CHANNELS:
        FUZZ_CHECK (hr_stack_info_is_per_pixel (info), "channels not per pixel");
        FUZZ_CHECK (d == channels, "channels: %zu features, %u channels", d, channels);
        FUZZ_CHECK (depth >= 1 && frames >= 1, "depth %u frames %u", depth, frames);
        FUZZ_CHECK (n == (gsize)width * height * depth * frames,
                    "channels: %zu samples from %u x %u x %u x %u", n, width, height, depth,
                    frames);
        break;
      default:
        FUZZ_FAIL ("layout %d", (int)layout);
    }
}

/* The positions must be increasing, inside the data, and point at non-finite values that
 * lie in [first, first + n_values) of @values (values[0] is position @first). */
static void
check_nonfinite_positions (const guint64 *positions, gsize n_positions, guint64 count,
                           guint64 total_values, const float *values, guint64 first, gsize n_values)
{
  FUZZ_CHECK (n_positions <= HR_NONFINITE_MAX_POSITIONS, "%zu positions", n_positions);
  FUZZ_CHECK (n_positions == MIN (count, (guint64)HR_NONFINITE_MAX_POSITIONS),
              "%zu positions for %" G_GUINT64_FORMAT " non-finite values", n_positions, count);
  FUZZ_CHECK (n_positions == 0 || positions != NULL, "positions NULL");
  for (gsize i = 0; i < n_positions; i++)
    {
      FUZZ_CHECK (positions[i] < total_values,
                  "position %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT, positions[i],
                  total_values);
      FUZZ_CHECK (i == 0 || positions[i] > positions[i - 1], "positions not increasing");
      if (values != NULL && positions[i] >= first && positions[i] - first < n_values)
        FUZZ_CHECK (!isfinite (values[positions[i] - first]),
                    "position %" G_GUINT64_FORMAT " holds a finite value", positions[i]);
    }
}

static guint64
count_nonfinite (const float *values, gsize n)
{
  guint64 count = 0;

  for (gsize i = 0; i < n; i++)
    count += !isfinite (values[i]);
  return count;
}

/* -- one layout -------------------------------------------------------------------------- */

/* Reads the whole stack and checks it; NULL (with *@refused_code set) when it is refused. */
static HrFeatureStack *
fuzz_whole (HrStackLayout layout, int *refused_code)
{
  g_autoptr (GError) error = NULL;
  HrFeatureStack *stack;
  gsize n, d, n_positions, row_d = 0;
  const float *values;
  const guint64 *positions;
  float sum = 0;

  *refused_code = -1;
  stack = hr_feature_stack_new_from_file (fuzz_path, layout, NULL, &error);
  if (stack == NULL)
    {
      check_error (error, FALSE, "hr_feature_stack_new_from_file", layout);
      *refused_code = error->code;
      return NULL;
    }
  FUZZ_CHECK (error == NULL, "success with an error set");

  n = hr_feature_stack_get_n_samples (stack);
  d = hr_feature_stack_get_n_features (stack);
  FUZZ_CHECK (n > 0 && d > 0, "empty stack %zu x %zu", n, d);
  values = hr_feature_stack_peek_data (stack);
  FUZZ_CHECK (values != NULL, "no data");
  for (gsize i = 0; i < n * d; i++)
    sum += values[i];
  fuzz_sink = sum;
  FUZZ_CHECK (hr_feature_stack_get_row (stack, n - 1, &row_d) == values + (n - 1) * d && row_d == d,
              "last row");
  {
    g_autoptr (GBytes) bytes = hr_feature_stack_get_data (stack);
    FUZZ_CHECK (g_bytes_get_size (bytes) == n * d * sizeof (float), "%zu bytes for %zu x %zu",
                g_bytes_get_size (bytes), n, d);
  }

  positions = hr_feature_stack_get_nonfinite_positions (stack, &n_positions);
  FUZZ_CHECK (hr_feature_stack_get_n_nonfinite (stack) == count_nonfinite (values, n * d),
              "stack counts %" G_GUINT64_FORMAT " non-finite values",
              hr_feature_stack_get_n_nonfinite (stack));
  check_nonfinite_positions (positions, n_positions, hr_feature_stack_get_n_nonfinite (stack),
                             (guint64)n * d, values, 0, n * d);
  check_info (hr_feature_stack_get_info (stack), layout, n, d);
  return stack;
}

static gsize
fuzz_chunk_size (gsize n, gsize d, guint salt)
{
  gsize chunk = 1 + salt % 13; /* 1 … 13 samples: chunks straddle strips and tiles */

  chunk = MAX (chunk, (n + FUZZ_MAX_CHUNKS - 1) / FUZZ_MAX_CHUNKS);
  chunk = MIN (chunk, MAX ((gsize)1, FUZZ_MAX_CHUNK_VALUES / d));
  return MIN (chunk, n);
}

/* Reads [from, to) with read_into in chunks; compares with @whole (all n × d values, or
 * NULL). Returns FALSE when a read failed (with a proper error). */
static gboolean
fuzz_read_range (HrStackReader *reader, HrStackLayout layout, gsize from, gsize to, gsize chunk,
                 const float *whole, float *buffer)
{
  gsize d = hr_stack_reader_get_n_features (reader);

  if (!hr_stack_reader_seek (reader, from, NULL))
    FUZZ_FAIL ("seek to %zu failed", from);
  while (from < to)
    {
      g_autoptr (GError) error = NULL;
      gsize want = MIN (chunk, to - from), got = G_MAXSIZE;
      float sum = 0;

      if (!hr_stack_reader_read_into (reader, buffer, want, &got, NULL, &error))
        {
          check_error (error, FALSE, "hr_stack_reader_read_into", layout);
          return FALSE;
        }
      FUZZ_CHECK (error == NULL, "success with an error set");
      FUZZ_CHECK (got == want, "read %zu of %zu samples at %zu", got, want, from);
      FUZZ_CHECK (hr_stack_reader_get_position (reader) == from + got, "position %zu after %zu",
                  hr_stack_reader_get_position (reader), from + got);
      if (whole != NULL && memcmp (buffer, whole + from * d, got * d * sizeof (float)) != 0)
        FUZZ_FAIL ("layout %s: samples [%zu, %zu) read in chunks of %zu differ from the whole read",
                   layout_name (layout), from, from + got, chunk);
      for (gsize i = 0; i < got * d; i++)
        sum += buffer[i];
      fuzz_sink = sum;
      from += got;
    }
  return TRUE;
}

static void
fuzz_layout (HrStackLayout layout, guint salt)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (HrFeatureStack) stack = NULL;
  g_autofree float *buffer = NULL;
  gsize n, d, chunk, values, n_positions;
  int whole_refused = -1;
  gboolean read_all;
  const guint64 *positions;

  reader = hr_stack_reader_new (fuzz_path, layout, NULL, &error);
  if (reader == NULL)
    {
      g_autoptr (GError) error2 = NULL;
      g_autoptr (HrFeatureStack) stack2 = NULL;

      check_error (error, FALSE, "hr_stack_reader_new", layout);
      /* The whole read opens the file the same way and must fail the same way. */
      stack2 = hr_feature_stack_new_from_file (fuzz_path, layout, NULL, &error2);
      if (stack2 != NULL)
        FUZZ_FAIL ("layout %s: the reader refused the file (%s) but the whole read succeeded",
                   layout_name (layout), error->message);
      check_error (error2, FALSE, "hr_feature_stack_new_from_file", layout);
      FUZZ_CHECK (error2->code == error->code, "reader: %d %s; whole: %d %s", error->code,
                  error->message, error2->code, error2->message);
      return;
    }
  FUZZ_CHECK (error == NULL, "success with an error set");

  n = hr_stack_reader_get_n_samples (reader);
  d = hr_stack_reader_get_n_features (reader);
  FUZZ_CHECK (n > 0 && d > 0, "empty reader %zu x %zu", n, d);
  FUZZ_CHECK (hr_stack_reader_get_position (reader) == 0, "position");
  FUZZ_CHECK (g_strcmp0 (hr_stack_reader_get_path (reader), fuzz_path) == 0, "reader path");
  chunk = hr_stack_reader_get_preferred_chunk (reader);
  FUZZ_CHECK (chunk >= 1 && chunk <= n, "preferred chunk %zu of %zu", chunk, n);
  check_info (hr_stack_reader_get_info (reader), layout, n, d);

  /* The whole read, unless it would be huge. */
  read_all = g_size_checked_mul (&values, n, d) && values <= FUZZ_MAX_WHOLE_VALUES;
  if (read_all)
    {
      stack = fuzz_whole (layout, &whole_refused);
      if (stack != NULL)
        {
          FUZZ_CHECK (hr_feature_stack_get_n_samples (stack) == n
                          && hr_feature_stack_get_n_features (stack) == d,
                      "whole %zu x %zu, reader %zu x %zu", hr_feature_stack_get_n_samples (stack),
                      hr_feature_stack_get_n_features (stack), n, d);
          FUZZ_CHECK (hr_stack_info_get_layout (hr_feature_stack_get_info (stack))
                          == hr_stack_info_get_layout (hr_stack_reader_get_info (reader)),
                      "whole and reader decided different layouts");
        }
    }

  if (d > FUZZ_MAX_CHUNK_VALUES)
    return; /* one sample is too large to read for fun */
  chunk = fuzz_chunk_size (n, d, salt);
  buffer = g_new (float, chunk *d);

  if (read_all)
    {
      const float *whole = stack != NULL ? hr_feature_stack_peek_data (stack) : NULL;
      gsize got = G_MAXSIZE;
      g_autoptr (GError) end_error = NULL;

      if (!fuzz_read_range (reader, layout, 0, n, chunk, whole, buffer))
        {
          if (stack != NULL)
            FUZZ_FAIL ("layout %s: the whole read succeeded but reading in chunks of %zu failed",
                       layout_name (layout), chunk);
          return;
        }
      /* At the end: nothing more, no error. */
      FUZZ_CHECK (hr_stack_reader_read_into (reader, buffer, chunk, &got, NULL, &end_error)
                      && got == 0,
                  "read at the end");
      positions = hr_stack_reader_get_nonfinite_positions (reader, &n_positions);
      check_nonfinite_positions (positions, n_positions, hr_stack_reader_get_n_nonfinite (reader),
                                 (guint64)n * d, whole, 0, whole != NULL ? n * d : 0);
      if (stack != NULL)
        {
          gsize whole_positions;
          const guint64 *wp = hr_feature_stack_get_nonfinite_positions (stack, &whole_positions);

          FUZZ_CHECK (
              hr_stack_reader_get_n_nonfinite (reader) == hr_feature_stack_get_n_nonfinite (stack),
              "non-finite: reader %" G_GUINT64_FORMAT ", whole %" G_GUINT64_FORMAT,
              hr_stack_reader_get_n_nonfinite (reader), hr_feature_stack_get_n_nonfinite (stack));
          FUZZ_CHECK (whole_positions == n_positions
                          && memcmp (wp, positions, n_positions * sizeof *wp) == 0,
                      "non-finite positions differ");
        }
      else if (whole_refused != HR_STACK_ERROR_TOO_LARGE
               && whole_refused != HR_STACK_ERROR_NO_MEMORY)
        FUZZ_FAIL ("layout %s: reading in chunks succeeded but the whole read failed with "
                   "error %d",
                   layout_name (layout), whole_refused);
    }
  else
    {
      /* Huge: the start, a chunk in the middle, and the end. */
      if (!fuzz_read_range (reader, layout, 0, chunk, chunk, NULL, buffer))
        return;
      if (!fuzz_read_range (reader, layout, n / 2, MIN (n, n / 2 + chunk), chunk, NULL, buffer))
        return;
      if (!fuzz_read_range (reader, layout, n - chunk, n, chunk, NULL, buffer))
        return;
    }

  /* Seeking past the end is refused; a chunk as a stack from the start. */
  {
    g_autoptr (GError) seek_error = NULL;
    g_autoptr (GError) chunk_error = NULL;
    g_autoptr (HrFeatureStack) part = NULL;

    FUZZ_CHECK (!hr_stack_reader_seek (reader, n + 1, &seek_error), "seek past the end");
    check_error (seek_error, FALSE, "hr_stack_reader_seek", layout);
    FUZZ_CHECK (seek_error->code == HR_STACK_ERROR_INVALID, "seek error %d", seek_error->code);
    FUZZ_CHECK (hr_stack_reader_seek (reader, 0, NULL), "seek to 0");
    part = hr_stack_reader_read_chunk (reader, chunk, NULL, &chunk_error);
    if (part == NULL)
      check_error (chunk_error, FALSE, "hr_stack_reader_read_chunk", layout);
    else
      {
        const float *whole = stack != NULL ? hr_feature_stack_peek_data (stack) : NULL;

        FUZZ_CHECK (hr_feature_stack_get_n_samples (part) == chunk
                        && hr_feature_stack_get_n_features (part) == d,
                    "chunk of %zu x %zu", hr_feature_stack_get_n_samples (part),
                    hr_feature_stack_get_n_features (part));
        if (whole != NULL)
          FUZZ_CHECK (memcmp (hr_feature_stack_peek_data (part), whole, chunk * d * sizeof (float))
                          == 0,
                      "read_chunk differs from the whole read");
        positions = hr_feature_stack_get_nonfinite_positions (part, &n_positions);
        check_nonfinite_positions (positions, n_positions, hr_feature_stack_get_n_nonfinite (part),
                                   (guint64)chunk * d, hr_feature_stack_peek_data (part), 0,
                                   chunk * d);
      }
  }
}

/* A cancelled open fails, with a cancellation or (for what is refused before looking at
 * pages) an error of ours. */
static void
fuzz_cancelled (void)
{
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (HrStackReader) reader = NULL;

  g_cancellable_cancel (cancellable);
  reader = hr_stack_reader_new (fuzz_path, HR_STACK_LAYOUT_AUTO, cancellable, &error);
  FUZZ_CHECK (reader == NULL, "a cancelled open succeeded");
  check_error (error, TRUE, "hr_stack_reader_new (cancelled)", HR_STACK_LAYOUT_AUTO);
}

int
FUZZ_STACK_READER_ENTRY (const uint8_t *data, size_t size)
{
  static const HrStackLayout layouts[] = {
    HR_STACK_LAYOUT_AUTO,
    HR_STACK_LAYOUT_MATRIX,
    HR_STACK_LAYOUT_CHANNELS,
    HR_STACK_LAYOUT_PAGES,
  };
  guint salt = 0;

  if (fuzz_path == NULL)
    fuzz_init ();
  fuzz_input_write (data, size);

  /* A deterministic chunk size per input. */
  for (size_t i = 0; i < size; i += 61)
    salt = salt * 31 + data[i];
  salt += (guint)size;

  for (gsize i = 0; i < G_N_ELEMENTS (layouts); i++)
    fuzz_layout (layouts[i], salt + (guint)i);
  fuzz_cancelled ();
  return 0;
}
