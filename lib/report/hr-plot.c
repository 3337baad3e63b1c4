/* headrank: figures of the rank diagnostics, drawn with cairo
 *
 * Each panel is laid out in three steps: the data ranges (one pass over every series, with
 * the log axes' validity rules), the ticks and margins (measured with the panel's fonts),
 * and the legend's place, chosen on a coarse occupancy grid of what the data cover. Long
 * series are reduced to one min / max / mean per pixel column, so drawing costs one pass
 * over the samples and memory in proportion to the width.
 *
 * This file builds figures and writes them; hr-plot-ticks.c makes the scales and ticks,
 * hr-plot-layout.c the ranges, margins and geometry of a panel, hr-plot-legend.c places
 * the legend and notes, hr-plot-draw.c draws (hr-plot-private.h between them).
 */
#include "hr-private.h"
#include "hr-plot.h"

#include "hr-output.h"
#include "hr-plot-private.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <errno.h>
#include <gio/gio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* Okabe & Ito, "Color Universal Design" (2008): blue, vermillion, bluish green, reddish
 * purple, orange, sky blue, black, yellow (last: faint on white). */
const guint8 hr_palette[HR_PLOT_N_COLORS][3] = {
  { 0x00, 0x72, 0xb2 }, { 0xd5, 0x5e, 0x00 }, { 0x00, 0x9e, 0x73 }, { 0xcc, 0x79, 0xa7 },
  { 0xe6, 0x9f, 0x00 }, { 0x56, 0xb4, 0xe9 }, { 0x00, 0x00, 0x00 }, { 0xf0, 0xe4, 0x42 },
};

/* -- building ----------------------------------------------------------------------------- */

static void
hr_series_free (gpointer data)
{
  HrSeries *s = data;

  g_free (s->label);
  g_free (s->x);
  g_free (s->y);
  g_free (s->y_float);
  g_free (s->counts);
  g_free (s);
}

void
hr_plot_palette_rgb (guint index, guint8 *r, guint8 *g, guint8 *b)
{
  const guint8 *c = hr_palette[index % HR_PLOT_N_COLORS];

  *r = c[0];
  *g = c[1];
  *b = c[2];
}

HrFigure *
hr_figure_new (const char *title, guint n_rows, guint n_cols)
{
  HrFigure *fig;

  g_return_val_if_fail (n_rows >= 1 && n_rows <= 16, NULL);
  g_return_val_if_fail (n_cols >= 1 && n_cols <= 16, NULL);

  fig = g_new0 (HrFigure, 1);
  fig->title = g_strdup (title);
  fig->n_rows = n_rows;
  fig->n_cols = n_cols;
  /* One panel: 800 × 500. A grid keeps panels readable: at least 440 wide, 360 high. */
  fig->width = MAX (HR_PLOT_WIDTH, 440 * n_cols);
  fig->height = n_rows == 1 ? HR_PLOT_HEIGHT : 360 * n_rows + (title != NULL ? 36 : 0);
  fig->axes = g_new0 (HrAxes, (gsize)n_rows * n_cols);
  for (guint i = 0; i < n_rows * n_cols; i++)
    {
      fig->axes[i].y_lo = NAN;
      fig->axes[i].y_hi = NAN;
      fig->axes[i].series = g_ptr_array_new_with_free_func (hr_series_free);
      fig->axes[i].notes = g_ptr_array_new_with_free_func (g_free);
    }
  return fig;
}

void
hr_figure_free (HrFigure *fig)
{
  if (fig == NULL)
    return;
  for (guint i = 0; i < fig->n_rows * fig->n_cols; i++)
    {
      HrAxes *ax = &fig->axes[i];

      g_free (ax->title);
      g_free (ax->x_label);
      g_free (ax->y_label);
      g_ptr_array_unref (ax->series);
      g_ptr_array_unref (ax->notes);
    }
  g_free (fig->axes);
  g_free (fig->title);
  g_free (fig);
}

HrAxes *
hr_figure_get_axes (HrFigure *fig, guint row, guint col)
{
  g_return_val_if_fail (fig != NULL, NULL);
  g_return_val_if_fail (row < fig->n_rows && col < fig->n_cols, NULL);

  return &fig->axes[row * fig->n_cols + col];
}

void
hr_figure_set_size (HrFigure *fig, guint width, guint height)
{
  g_return_if_fail (fig != NULL);
  g_return_if_fail (width >= 200 && width <= 8000 && height >= 150 && height <= 8000);

  fig->width = width;
  fig->height = height;
}

void
hr_figure_get_size (HrFigure *fig, guint *width, guint *height)
{
  g_return_if_fail (fig != NULL);

  if (width != NULL)
    *width = fig->width;
  if (height != NULL)
    *height = fig->height;
}

void
hr_axes_set_title (HrAxes *ax, const char *title)
{
  g_return_if_fail (ax != NULL);

  g_free (ax->title);
  ax->title = g_strdup (title);
}

void
hr_axes_set_labels (HrAxes *ax, const char *x_label, const char *y_label)
{
  g_return_if_fail (ax != NULL);

  g_free (ax->x_label);
  g_free (ax->y_label);
  ax->x_label = g_strdup (x_label);
  ax->y_label = g_strdup (y_label);
}

void
hr_axes_set_log_x (HrAxes *ax, gboolean log)
{
  g_return_if_fail (ax != NULL);

  ax->log_x = log;
}

void
hr_axes_set_integer_x (HrAxes *ax, gboolean integer)
{
  g_return_if_fail (ax != NULL);

  ax->integer_x = integer;
}

void
hr_axes_set_log_y (HrAxes *ax, gboolean log)
{
  g_return_if_fail (ax != NULL);

  ax->log_y = log;
}

void
hr_axes_set_y_range (HrAxes *ax, double lo, double hi)
{
  g_return_if_fail (ax != NULL);
  g_return_if_fail (!isinf (lo) && !isinf (hi));
  g_return_if_fail (isnan (lo) || isnan (hi) || lo < hi);

  ax->y_lo = lo;
  ax->y_hi = hi;
}

static guint
hr_axes_pick_color (HrAxes *ax, int color)
{
  if (color >= 0)
    return (guint)color % HR_PLOT_N_COLORS;
  return ax->next_color++ % HR_PLOT_N_COLORS;
}

static HrSeries *
hr_axes_append (HrAxes *ax, HrSeriesKind kind, const char *label, int color, gboolean dashed)
{
  HrSeries *s = g_new0 (HrSeries, 1);

  s->kind = kind;
  s->label = g_strdup (label);
  s->color = hr_axes_pick_color (ax, color);
  s->dashed = dashed;
  g_ptr_array_add (ax->series, s);
  return s;
}

void
hr_axes_add_line (HrAxes *ax, const char *label, const double *x, const double *y, gsize n,
                  int color, gboolean dashed, gboolean markers)
{
  HrSeries *s;

  g_return_if_fail (ax != NULL);
  g_return_if_fail (y != NULL || n == 0);

  s = hr_axes_append (ax, HR_SERIES_LINE, label, color, dashed);
  s->markers = markers;
  s->n = n;
  s->y = n > 0 ? g_memdup2 (y, n * sizeof (double)) : NULL;
  s->x = x != NULL && n > 0 ? g_memdup2 (x, n * sizeof (double)) : NULL;
}

void
hr_axes_add_line_float (HrAxes *ax, const char *label, const float *values, gsize n, gsize stride,
                        int color, gboolean dashed)
{
  HrSeries *s;

  g_return_if_fail (ax != NULL);
  g_return_if_fail (values != NULL || n == 0);
  g_return_if_fail (stride >= 1);

  s = hr_axes_append (ax, HR_SERIES_LINE, label, color, dashed);
  s->n = n;
  s->y_float = g_new (float, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    s->y_float[i] = values[i * stride];
}

void
hr_axes_add_histogram (HrAxes *ax, const char *label, const double *values, gsize n, double lo,
                       double hi, guint n_bins, int color)
{
  HrSeries *s;
  double bins_per_unit;

  g_return_if_fail (ax != NULL);
  g_return_if_fail (values != NULL || n == 0);
  g_return_if_fail (isfinite (lo) && isfinite (hi) && lo < hi);
  g_return_if_fail (n_bins >= 1 && n_bins <= 100000);

  s = hr_axes_append (ax, HR_SERIES_HISTOGRAM, label, color, FALSE);
  s->lo = lo;
  s->hi = hi;
  s->n_bins = n_bins;
  s->counts = g_new0 (guint64, n_bins);
  bins_per_unit = n_bins / (hi - lo);
  for (gsize i = 0; i < n; i++)
    {
      double v = values[i];
      gint64 bin;

      if (!(v >= lo && v <= hi)) /* also false for NaN */
        continue;
      bin = (gint64)((v - lo) * bins_per_unit);
      s->counts[CLAMP (bin, 0, (gint64)n_bins - 1)]++;
      s->n++;
    }
}

void
hr_axes_add_histogram_counts (HrAxes *ax, const char *label, const guint64 *counts, guint n_bins,
                              double lo, double hi, int color)
{
  HrSeries *s;

  g_return_if_fail (ax != NULL);
  g_return_if_fail (counts != NULL);
  g_return_if_fail (isfinite (lo) && isfinite (hi) && lo < hi);
  g_return_if_fail (n_bins >= 1 && n_bins <= 100000);

  s = hr_axes_append (ax, HR_SERIES_HISTOGRAM, label, color, FALSE);
  s->lo = lo;
  s->hi = hi;
  s->n_bins = n_bins;
  s->counts = g_memdup2 (counts, n_bins * sizeof (guint64));
  for (guint i = 0; i < n_bins; i++)
    s->n += counts[i];
}

void
hr_axes_add_hline (HrAxes *ax, double y, const char *label, int color, gboolean dashed)
{
  g_return_if_fail (ax != NULL);

  hr_axes_append (ax, HR_SERIES_HLINE, label, color, dashed)->value = y;
}

void
hr_axes_add_vline (HrAxes *ax, double x, const char *label, int color, gboolean dashed)
{
  g_return_if_fail (ax != NULL);

  hr_axes_append (ax, HR_SERIES_VLINE, label, color, dashed)->value = x;
}

void
hr_axes_add_note (HrAxes *ax, const char *text)
{
  g_return_if_fail (ax != NULL);
  g_return_if_fail (text != NULL);

  g_ptr_array_add (ax->notes, g_strdup (text));
}

/* -- writing ------------------------------------------------------------------------------ */

typedef struct
{
  int fd;
  int saved_errno;
} HrPlotSink;

static cairo_status_t
hr_plot_sink_write (void *closure, const unsigned char *data, unsigned int length)
{
  HrPlotSink *sink = closure;

  while (length > 0)
    {
      ssize_t n = write (sink->fd, data, length);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          sink->saved_errno = n < 0 ? errno : EIO;
          return CAIRO_STATUS_WRITE_ERROR;
        }
      data += n;
      length -= (unsigned int)n;
    }
  return CAIRO_STATUS_SUCCESS;
}

static gboolean
hr_plot_render (HrFigure *fig, gboolean svg, HrPlotSink *sink, cairo_status_t *status)
{
  cairo_surface_t *surface;
  cairo_t *cr;

  if (svg)
    {
      surface
          = cairo_svg_surface_create_for_stream (hr_plot_sink_write, sink, fig->width, fig->height);
      cairo_svg_surface_set_document_unit (surface, CAIRO_SVG_UNIT_PX);
    }
  else
    {
      surface
          = cairo_image_surface_create (CAIRO_FORMAT_RGB24, (int)(fig->width * HR_PLOT_PNG_SCALE),
                                        (int)(fig->height * HR_PLOT_PNG_SCALE));
      cairo_surface_set_device_scale (surface, HR_PLOT_PNG_SCALE, HR_PLOT_PNG_SCALE);
    }
  cr = cairo_create (surface);
  if (cairo_status (cr) == CAIRO_STATUS_SUCCESS)
    hr_figure_draw (fig, cr);
  *status = cairo_status (cr);
  cairo_destroy (cr);
  if (*status == CAIRO_STATUS_SUCCESS && !svg)
    *status = cairo_surface_write_to_png_stream (surface, hr_plot_sink_write, sink);
  cairo_surface_finish (surface);
  if (*status == CAIRO_STATUS_SUCCESS)
    *status = cairo_surface_status (surface);
  cairo_surface_destroy (surface);
  return *status == CAIRO_STATUS_SUCCESS;
}

gboolean
hr_figure_write (HrFigure *fig, const char *path, GError **error)
{
  g_autofree char *lower = NULL;
  g_autoptr (HrOutputFile) file = NULL;
  HrPlotSink sink = { -1, 0 };
  cairo_status_t status;
  gboolean svg;

  g_return_val_if_fail (fig != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  lower = g_ascii_strdown (path, -1);
  svg = g_str_has_suffix (lower, ".svg");
  if (!svg && !g_str_has_suffix (lower, ".png"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   _ ("%s: a figure is written as .png or .svg"), path);
      return FALSE;
    }

  /* never a device or a FIFO: a symbolic link is followed to the file it replaces */
  file = hr_output_file_begin (path, HR_OUTPUT_FILE_NONE, error);
  if (file == NULL)
    return FALSE;
  sink.fd = hr_output_file_get_fd (file);
  if (!hr_plot_render (fig, svg, &sink, &status))
    {
      if (sink.saved_errno != 0)
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (sink.saved_errno), "%s: %s", path,
                     g_strerror (sink.saved_errno));
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                     /* TRANSLATORS: the second %s is cairo's message, in English */
                     _ ("%s: cannot draw the figure: %s"), path, cairo_status_to_string (status));
      return FALSE;
    }
  return hr_output_file_commit (file, NULL, error);
}
