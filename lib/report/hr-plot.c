/* headrank: figures of the rank diagnostics, drawn with cairo
 *
 * Each panel is laid out in three steps: the data ranges (one pass over every series, with
 * the log axes' validity rules), the ticks and margins (measured with the panel's fonts),
 * and the legend's place, chosen on a coarse occupancy grid of what the data cover. Long
 * series are reduced to one min / max / mean per pixel column, so drawing costs one pass
 * over the samples and memory in proportion to the width.
 */
#include "hr-private.h"
#include "hr-plot.h"

#include "hr-output.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define HR_PLOT_FONT "DejaVu Sans"
#define HR_PLOT_PNG_SCALE 2.0

/* Sizes in user units (CSS pixels). */
#define FONT_TICK 11.0
#define FONT_LABEL 12.0
#define FONT_LEGEND 11.0
#define FONT_TITLE 14.0
#define FONT_PANEL_TITLE 13.0
#define LINE_WIDTH 1.5
#define TICK_MAJOR 4.0
#define TICK_MINOR 2.5
#define TICK_PAD 3.5
#define OUTER_PAD 10.0
#define LABEL_PAD 7.0
#define MARKER_RADIUS 3.0
#define LEGEND_PAD 7.0
#define LEGEND_ROW 17.0
#define LEGEND_HANDLE 24.0
#define LEGEND_INSET 8.0
#define GRID_CELL 4.0
#define MARGIN_FRACTION 0.05
/* A series is drawn as an envelope when it has more points than this many per pixel. */
#define ENVELOPE_POINTS_PER_PIXEL 2

/* Okabe & Ito, "Color Universal Design" (2008): blue, vermillion, bluish green, reddish
 * purple, orange, sky blue, black, yellow (last: faint on white). */
static const guint8 hr_palette[HR_PLOT_N_COLORS][3] = {
  { 0x00, 0x72, 0xb2 }, { 0xd5, 0x5e, 0x00 }, { 0x00, 0x9e, 0x73 }, { 0xcc, 0x79, 0xa7 },
  { 0xe6, 0x9f, 0x00 }, { 0x56, 0xb4, 0xe9 }, { 0x00, 0x00, 0x00 }, { 0xf0, 0xe4, 0x42 },
};

/* Ink for spines, ticks and text, a little softer than black. */
#define INK 0.15, 0.15, 0.15

typedef enum
{
  HR_SERIES_LINE,
  HR_SERIES_HISTOGRAM,
  HR_SERIES_HLINE,
  HR_SERIES_VLINE,
} HrSeriesKind;

typedef struct
{
  HrSeriesKind kind;
  char *label;
  guint color;
  gboolean dashed;
  gboolean markers;
  /* lines: x (NULL: 1..n) and y as double, or y_float */
  gsize n;
  double *x;
  double *y;
  float *y_float;
  /* histograms */
  double lo, hi;
  guint n_bins;
  guint64 *counts;
  /* reference lines */
  double value;
  /* set while drawing: points that can be drawn on the panel's scales */
  gsize n_valid;
} HrSeries;

struct _HrAxes
{
  char *title;
  char *x_label;
  char *y_label;
  gboolean log_x;
  gboolean log_y;
  double y_lo;
  double y_hi;
  GPtrArray *series; /* HrSeries */
  GPtrArray *notes;  /* char */
  guint next_color;
};

struct _HrFigure
{
  char *title;
  guint n_rows;
  guint n_cols;
  guint width;
  guint height;
  HrAxes *axes; /* n_rows × n_cols, row-major */
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

/* -- scales and ticks --------------------------------------------------------------------- */

typedef struct
{
  gboolean log;
  double lo, hi;   /* the range, in data units */
  double tlo, thi; /* the same, in log10 units on a log scale */
  double p0, p1;   /* pixels that lo and hi map to */
} HrScale;

typedef struct
{
  double value;
  gboolean major;
  char *label; /* NULL: no label */
} HrTick;

static inline double
hr_scale_map (const HrScale *sc, double v)
{
  double t = sc->log ? log10 (v) : v;
  double p = sc->p0 + (t - sc->tlo) / (sc->thi - sc->tlo) * (sc->p1 - sc->p0);

  /* Keeps far-away points (a fixed y range) within coordinates cairo handles well. */
  return CLAMP (p, -1e5, 1e5);
}

static inline gboolean
hr_valid (double v, gboolean log)
{
  return isfinite (v) && (!log || v > 0);
}

static void
hr_scale_set (HrScale *sc, gboolean log, double lo, double hi)
{
  sc->log = log;
  sc->lo = lo;
  sc->hi = hi;
  sc->tlo = log ? log10 (lo) : lo;
  sc->thi = log ? log10 (hi) : hi;
}

/* Unicode superscript digits, as matplotlib writes 10^k. */
static void
hr_append_superscript (GString *out, int k)
{
  static const char *const digits[] = { "⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹" };
  char buf[16];

  if (k < 0)
    g_string_append (out, "⁻");
  g_snprintf (buf, sizeof buf, "%d", ABS (k));
  for (const char *c = buf; *c != '\0'; c++)
    g_string_append (out, digits[*c - '0']);
}

/* A number as tick label text: the minus sign is U+2212, as in typeset mathematics. */
static char *
hr_number_text (const char *ascii)
{
  GString *out = g_string_new (NULL);

  for (const char *c = ascii; *c != '\0'; c++)
    {
      if (*c == '-')
        g_string_append (out, "−");
      else
        g_string_append_c (out, *c);
    }
  return g_string_free (out, FALSE);
}

static char *
hr_decade_text (int k)
{
  GString *out = g_string_new ("10");

  hr_append_superscript (out, k);
  return g_string_free (out, FALSE);
}

/* A value between decades on a log axis: plain under 10⁵ and over 10⁻³, else m×10ᵏ. */
static char *
hr_log_minor_text (double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  int k = (int)floor (log10 (v) + 1e-9);

  if (v >= 1e-3 && v < 1e5)
    return hr_number_text (g_ascii_formatd (buf, sizeof buf, "%g", v));
  else
    {
      GString *out = g_string_new (NULL);

      g_string_append_printf (out, "%.0f×10", v / pow (10, k));
      hr_append_superscript (out, k);
      return g_string_free (out, FALSE);
    }
}

static void
hr_tick_clear (gpointer data)
{
  g_free (((HrTick *)data)->label);
}

static GArray *
hr_ticks_new (void)
{
  GArray *ticks = g_array_new (FALSE, TRUE, sizeof (HrTick));

  g_array_set_clear_func (ticks, hr_tick_clear);
  return ticks;
}

static void
hr_ticks_add (GArray *ticks, double value, gboolean major, char *label)
{
  HrTick t = { value, major, label };

  g_array_append_val (ticks, t);
}

/* Linear ticks at the smallest 1-2-5 step that makes at most @target intervals (and at
 * least 3 ticks where a smaller step allows it); labels share one number of decimals,
 * and values of 10⁶ and over (or under 10⁻⁴, as matplotlib) are scaled, with "×10ᵏ" in @offset. */
static GArray *
hr_linear_ticks (double lo, double hi, int target, char **offset)
{
  GArray *ticks = hr_ticks_new ();
  double raw = (hi - lo) / MAX (target, 1);
  double mag = pow (10, floor (log10 (raw)));
  double f = raw / mag;
  double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  double k0, k1, max_abs;
  int exponent = 0, decimals;

  for (int smaller = 0;; smaller++)
    {
      double m = step / pow (10, floor (log10 (step) + 1e-9));

      k0 = ceil (lo / step - 1e-9);
      k1 = floor (hi / step + 1e-9);
      if (k1 - k0 + 1 >= 3 || smaller == 3)
        break;
      step = m < 1.5 ? step / 2 : m < 3 ? step / 2 : step * 0.4; /* 1 → 0.5, 2 → 1, 5 → 2 */
    }
  max_abs = MAX (fabs (k0 * step), fabs (k1 * step));
  if (max_abs >= 1e6 || (max_abs > 0 && max_abs < 1e-4))
    exponent = (int)floor (log10 (max_abs) + 1e-9);
  decimals = (int)MAX (0, ceil (-log10 (step / pow (10, exponent)) - 1e-9));
  *offset = NULL;
  if (exponent != 0)
    {
      GString *out = g_string_new ("×10");

      hr_append_superscript (out, exponent);
      *offset = g_string_free (out, FALSE);
    }
  for (double k = k0; k <= k1; k++)
    {
      double v = k * step;
      char buf[64];

      if (fabs (v) < step * 1e-9)
        v = 0;
      g_snprintf (buf, sizeof buf, "%.*f", decimals, v / pow (10, exponent));
      hr_ticks_add (ticks, v, TRUE, hr_number_text (buf));
    }
  return ticks;
}

/* Log ticks: decades 10ᵏ (every stride-th labelled when there are many), minor ticks at
 * 2..9 × 10ᵏ when a decade is wide enough to show them, labelled when the axis spans
 * less than two labelled decades. */
static GArray *
hr_log_ticks (double tlo, double thi, double pixels, int max_labels)
{
  GArray *ticks = hr_ticks_new ();
  int d0 = (int)ceil (tlo - 1e-9), d1 = (int)floor (thi + 1e-9);
  int n_decades = MAX (d1 - d0 + 1, 0);
  int stride = MAX (1, (n_decades + max_labels - 1) / MAX (max_labels, 1));
  double decade_px = pixels / MAX (thi - tlo, 1e-12);
  int n_labelled = 0;
  gboolean label_minor;

  for (int d = d0; d <= d1; d++)
    if (d % stride == 0)
      n_labelled++;
  label_minor = n_labelled < 2 || thi - tlo < 1.6;
  for (int d = (int)floor (tlo) - 1; d <= (int)ceil (thi); d++)
    {
      double decade = pow (10, d);

      if (d >= tlo - 1e-9 && d <= thi + 1e-9)
        {
          gboolean labelled = d % stride == 0;

          hr_ticks_add (ticks, decade, labelled, labelled ? hr_decade_text (d) : NULL);
        }
      if (stride > 1 || decade_px < 25)
        continue;
      for (int m = 2; m <= 9; m++)
        {
          double v = m * decade;
          double t = log10 (v);
          gboolean labelled;

          if (t < tlo - 1e-9 || t > thi + 1e-9)
            continue;
          labelled = label_minor && (decade_px >= 400 || m == 2 || m == 5);
          hr_ticks_add (ticks, v, FALSE, labelled ? hr_log_minor_text (v) : NULL);
        }
    }
  return ticks;
}

/* -- text --------------------------------------------------------------------------------- */

static void
hr_set_font (cairo_t *cr, double size, gboolean bold)
{
  cairo_select_font_face (cr, HR_PLOT_FONT, CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
}

static double
hr_text_width (cairo_t *cr, const char *text)
{
  cairo_text_extents_t ext;

  cairo_text_extents (cr, text, &ext);
  return ext.x_advance;
}

/* Draws @text with its left / centre / right (halign 0, 0.5, 1) at @x, and its top / middle
 * / bottom (valign 0, 0.5, 1: of the font's ascent and descent) at @y. */
static void
hr_draw_text (cairo_t *cr, const char *text, double x, double y, double halign, double valign)
{
  cairo_font_extents_t fe;
  double w = hr_text_width (cr, text);

  cairo_font_extents (cr, &fe);
  cairo_move_to (cr, x - halign * w, y + fe.ascent - valign * (fe.ascent + fe.descent));
  cairo_show_text (cr, text);
}

static double
hr_font_height (cairo_t *cr)
{
  cairo_font_extents_t fe;

  cairo_font_extents (cr, &fe);
  return fe.ascent + fe.descent;
}

/* -- one panel: ranges, layout, geometry -------------------------------------------------- */

typedef struct
{
  double min, max;
  gboolean any;
} HrExtent;

static void
hr_extent_add (HrExtent *e, double v)
{
  if (!e->any)
    {
      e->min = e->max = v;
      e->any = TRUE;
    }
  else
    {
      e->min = MIN (e->min, v);
      e->max = MAX (e->max, v);
    }
}

/* One pixel column of an envelope (in pixel y, except the sums). */
typedef struct
{
  double min, max;
  double sum;
  guint64 count;
  gboolean gap; /* had non-finite values only */
} HrColumn;

typedef struct
{
  gboolean envelope;
  GArray *points; /* polyline: HrPoint, a break as a NaN x */
  HrColumn *columns;
  guint n_columns;
} HrGeometry;

typedef struct
{
  double x, y;
} HrPoint;

typedef struct
{
  double x, y, w, h;
} HrRect;

typedef struct
{
  HrAxes *ax;
  cairo_t *cr;
  HrRect panel;      /* the panel's share of the figure */
  HrRect plot;       /* the plotting area */
  HrScale sx, sy;    /* data ranges, mapped to the plotting area */
  GArray *x_ticks;   /* HrTick */
  GArray *y_ticks;   /* HrTick */
  char *x_offset;    /* "×10ᵏ" of linear tick labels, or NULL */
  char *y_offset;    /* idem */
  double title_size; /* 0: no panel title */
  gboolean any_data;
  GPtrArray *notes;  /* the panel's notes, plus "no data" notes */
  GPtrArray *legend; /* HrSeries with a label and data, borrowed */
  double legend_w;   /* legend box size */
  double legend_h;
  gboolean legend_outside;
  HrRect legend_box;
  HrGeometry *geometry; /* per series */
  guint8 *occupied;     /* grid of GRID_CELL cells over the plotting area */
  guint grid_w, grid_h;
  /* margins at least this wide, so that the panels of a grid line up */
  double min_left, min_top, min_bottom;
} HrPanel;

static void
hr_series_ranges (HrSeries *s, gboolean log_x, gboolean log_y, HrExtent *ex, HrExtent *ey)
{
  s->n_valid = 0;
  switch (s->kind)
    {
      case HR_SERIES_LINE:
        for (gsize i = 0; i < s->n; i++)
          {
            double x = s->x != NULL ? s->x[i] : (double)(i + 1);
            double y = s->y != NULL ? s->y[i] : (double)s->y_float[i];

            if (!hr_valid (x, log_x) || !hr_valid (y, log_y))
              continue;
            hr_extent_add (ex, x);
            hr_extent_add (ey, y);
            s->n_valid++;
          }
        break;
      case HR_SERIES_HISTOGRAM:
        {
          guint64 max_count = 0, min_count = G_MAXUINT64;

          for (guint b = 0; b < s->n_bins; b++)
            {
              max_count = MAX (max_count, s->counts[b]);
              if (s->counts[b] > 0)
                min_count = MIN (min_count, s->counts[b]);
            }
          if (s->n == 0)
            break;
          s->n_valid = s->n;
          if (hr_valid (s->lo, log_x))
            hr_extent_add (ex, s->lo);
          if (hr_valid (s->hi, log_x))
            hr_extent_add (ex, s->hi);
          hr_extent_add (ey, log_y ? (double)min_count : 0.0);
          hr_extent_add (ey, (double)max_count);
        }
        break;
      case HR_SERIES_HLINE:
        if (hr_valid (s->value, log_y))
          {
            hr_extent_add (ey, s->value);
            s->n_valid = 1;
          }
        break;
      case HR_SERIES_VLINE:
        if (hr_valid (s->value, log_x))
          {
            hr_extent_add (ex, s->value);
            s->n_valid = 1;
          }
        break;
      default:
        g_assert_not_reached ();
    }
}

/* The range of an axis from the data's extent: 5 % margins (in log units on a log axis),
 * none beyond a sticky edge (a histogram's bin edges, its zero), ±10 % around constant
 * data (±1 around zero); @fixed_lo / @fixed_hi (NaN: automatic) take precedence. */
static void
hr_axis_range (HrScale *sc, gboolean log, const HrExtent *e, double sticky_lo, double sticky_hi,
               double fixed_lo, double fixed_hi)
{
  double lo, hi;

  if (log && fixed_lo <= 0)
    fixed_lo = NAN;
  if (log && fixed_hi <= 0)
    fixed_hi = NAN;
  if (!e->any)
    {
      lo = log ? 1 : 0;
      hi = log ? 10 : 1;
    }
  else if (e->min == e->max)
    {
      double v = e->min;

      if (log)
        {
          lo = v / sqrt (10);
          hi = v * sqrt (10);
        }
      else if (v == 0)
        {
          lo = -1;
          hi = 1;
        }
      else
        {
          lo = v - 0.1 * fabs (v);
          hi = v + 0.1 * fabs (v);
        }
    }
  else
    {
      double tlo = log ? log10 (e->min) : e->min;
      double thi = log ? log10 (e->max) : e->max;
      double margin = MARGIN_FRACTION * (thi - tlo);

      lo = e->min == sticky_lo ? e->min : log ? pow (10, tlo - margin) : tlo - margin;
      hi = e->max == sticky_hi ? e->max : log ? pow (10, thi + margin) : thi + margin;
    }
  if (!isnan (fixed_lo))
    lo = fixed_lo;
  if (!isnan (fixed_hi))
    hi = fixed_hi;
  if (!(hi > lo))
    {
      if (!isnan (fixed_lo))
        hi = log ? lo * 10 : lo + MAX (1, fabs (lo));
      else
        lo = log ? hi / 10 : hi - MAX (1, fabs (hi));
    }
  hr_scale_set (sc, log, lo, hi);
}

static void
hr_panel_ranges (HrPanel *p)
{
  HrAxes *ax = p->ax;
  HrExtent ex = { 0 }, ey = { 0 };
  double sticky_x_lo = NAN, sticky_x_hi = NAN, sticky_y_lo = NAN;

  for (guint i = 0; i < ax->series->len; i++)
    {
      HrSeries *s = g_ptr_array_index (ax->series, i);

      hr_series_ranges (s, ax->log_x, ax->log_y, &ex, &ey);
      if (s->n_valid > 0)
        {
          p->any_data = TRUE;
          if (s->label != NULL)
            g_ptr_array_add (p->legend, s);
        }
      else if (s->kind == HR_SERIES_LINE || s->kind == HR_SERIES_HISTOGRAM)
        {
          char *note;

          if (s->label != NULL)
            /* TRANSLATORS: a note on a plot: the series named %s has nothing to draw */
            note = g_strdup_printf (_ ("%s: no data"), s->label);
          else
            note = g_strdup (_ ("no data"));
          g_ptr_array_add (p->notes, note);
        }
      if (s->kind == HR_SERIES_HISTOGRAM && s->n_valid > 0)
        {
          sticky_x_lo = isnan (sticky_x_lo) ? s->lo : MIN (sticky_x_lo, s->lo);
          sticky_x_hi = isnan (sticky_x_hi) ? s->hi : MAX (sticky_x_hi, s->hi);
          if (!ax->log_y)
            sticky_y_lo = 0;
        }
    }
  /* A sticky edge holds only where it is the extent's edge. */
  hr_axis_range (&p->sx, ax->log_x, &ex, sticky_x_lo, sticky_x_hi, NAN, NAN);
  hr_axis_range (&p->sy, ax->log_y, &ey, sticky_y_lo, NAN, ax->y_lo, ax->y_hi);
}

static GArray *
hr_panel_ticks (HrPanel *p, const HrScale *sc, double pixels, gboolean is_x, char **offset)
{
  int target = is_x ? (int)CLAMP (pixels / 70, 3, 10) : (int)CLAMP (pixels / 45, 3, 9);

  *offset = NULL;
  if (sc->log)
    return hr_log_ticks (sc->tlo, sc->thi, pixels, is_x ? (int)(pixels / 60) : (int)(pixels / 28));
  for (;; target--)
    {
      GArray *ticks = hr_linear_ticks (sc->lo, sc->hi, target, offset);
      gboolean fits = TRUE;

      /* On x, neighbouring labels must not touch: fewer ticks until they do not. */
      if (is_x && target > 2 && ticks->len > 1)
        {
          double gap_px
              = pixels
                * (g_array_index (ticks, HrTick, 1).value - g_array_index (ticks, HrTick, 0).value)
                / (sc->hi - sc->lo);
          for (guint i = 0; i < ticks->len && fits; i++)
            fits = hr_text_width (p->cr, g_array_index (ticks, HrTick, i).label) + 8 < gap_px;
        }
      if (fits)
        return ticks;
      g_array_unref (ticks);
      g_clear_pointer (offset, g_free);
    }
}

/* Whether linear tick labels on @sc will be scaled, with "×10ᵏ" beside the axis. */
static gboolean
hr_needs_offset (const HrScale *sc)
{
  double max_abs = MAX (fabs (sc->lo), fabs (sc->hi));

  return !sc->log && (max_abs >= 1e6 || max_abs < 1e-4);
}

static double
hr_max_label_width (cairo_t *cr, GArray *ticks)
{
  double w = 0;

  for (guint i = 0; i < ticks->len; i++)
    {
      HrTick *t = &g_array_index (ticks, HrTick, i);

      if (t->label != NULL)
        w = MAX (w, hr_text_width (cr, t->label));
    }
  return w;
}

/* Places the plotting area inside the panel: room for the title, tick labels, axis labels
 * and (when outside) the legend; computes both scales' ticks. */
static void
hr_panel_layout (HrPanel *p)
{
  HrAxes *ax = p->ax;
  cairo_t *cr = p->cr;
  double top, bottom, left, right, tick_h, label_h;

  g_clear_pointer (&p->x_ticks, g_array_unref);
  g_clear_pointer (&p->y_ticks, g_array_unref);
  g_clear_pointer (&p->x_offset, g_free);
  g_clear_pointer (&p->y_offset, g_free);

  hr_set_font (cr, FONT_TICK, FALSE);
  tick_h = hr_font_height (cr);
  hr_set_font (cr, FONT_LABEL, FALSE);
  label_h = hr_font_height (cr);

  top = OUTER_PAD + (ax->title != NULL ? p->title_size * 1.2 + 8 : 2)
        + (hr_needs_offset (&p->sy) ? tick_h + 2 : 0);
  top = MAX (top, p->min_top);
  bottom = OUTER_PAD + TICK_MAJOR + TICK_PAD + tick_h
           + (ax->x_label != NULL || hr_needs_offset (&p->sx) ? LABEL_PAD + label_h : 0);
  bottom = MAX (bottom, p->min_bottom);

  /* y: its ticks depend on the height only. */
  p->plot.y = p->panel.y + top;
  p->plot.h = MAX (p->panel.h - top - bottom, 20);
  hr_set_font (cr, FONT_TICK, FALSE);
  p->y_ticks = hr_panel_ticks (p, &p->sy, p->plot.h, FALSE, &p->y_offset);
  left = OUTER_PAD + (ax->y_label != NULL ? label_h + LABEL_PAD : 0)
         + hr_max_label_width (cr, p->y_ticks) + TICK_PAD + TICK_MAJOR;
  left = MAX (left, p->min_left);
  right = OUTER_PAD + 14 + (p->legend_outside ? p->legend_w + LEGEND_INSET : 0);

  p->plot.x = round (p->panel.x + left);
  p->plot.w = MAX (round (p->panel.w - left - right), 20);
  p->plot.y = round (p->plot.y);
  p->plot.h = round (p->plot.h);
  p->x_ticks = hr_panel_ticks (p, &p->sx, p->plot.w, TRUE, &p->x_offset);

  p->sx.p0 = p->plot.x;
  p->sx.p1 = p->plot.x + p->plot.w;
  p->sy.p0 = p->plot.y + p->plot.h;
  p->sy.p1 = p->plot.y;
}

static void
hr_geometry_clear (HrGeometry *g)
{
  g_clear_pointer (&g->points, g_array_unref);
  g_clear_pointer (&g->columns, g_free);
  g->n_columns = 0;
}

/* A line's pixels: its points, or for long series one min / max / mean per pixel column. */
static void
hr_series_geometry (HrPanel *p, HrSeries *s, HrGeometry *g)
{
  gboolean log_x = p->ax->log_x, log_y = p->ax->log_y;

  hr_geometry_clear (g);
  if (s->kind != HR_SERIES_LINE || s->n_valid == 0)
    return;
  g->envelope = s->n > ENVELOPE_POINTS_PER_PIXEL * p->plot.w;
  if (!g->envelope)
    {
      HrPoint gap = { NAN, NAN };

      g->points = g_array_sized_new (FALSE, FALSE, sizeof (HrPoint), s->n);
      for (gsize i = 0; i < s->n; i++)
        {
          double x = s->x != NULL ? s->x[i] : (double)(i + 1);
          double y = s->y != NULL ? s->y[i] : (double)s->y_float[i];

          if (hr_valid (x, log_x) && hr_valid (y, log_y))
            {
              HrPoint pt = { hr_scale_map (&p->sx, x), hr_scale_map (&p->sy, y) };
              g_array_append_val (g->points, pt);
            }
          else
            g_array_append_val (g->points, gap);
        }
      return;
    }

  g->n_columns = (guint)p->plot.w;
  g->columns = g_new0 (HrColumn, g->n_columns);
  {
    HrColumn *cols = g->columns;
    const double col_scale = p->plot.w / (p->sx.thi - p->sx.tlo);
    const double tlo = p->sx.tlo;
    const gint64 n_columns = g->n_columns;

    for (gsize i = 0; i < s->n; i++)
      {
        double x = s->x != NULL ? s->x[i] : (double)(i + 1);
        double y = s->y != NULL ? s->y[i] : (double)s->y_float[i];
        double t;
        gint64 c;

        if (!hr_valid (x, log_x))
          continue;
        t = ((log_x ? log10 (x) : x) - tlo) * col_scale;
        if (!(t >= 0 && t < n_columns + 1e-9))
          continue;
        c = MIN ((gint64)t, n_columns - 1);
        if (!hr_valid (y, log_y))
          {
            cols[c].gap = TRUE;
            continue;
          }
        if (cols[c].count == 0)
          cols[c].min = cols[c].max = y;
        else
          {
            cols[c].min = MIN (cols[c].min, y);
            cols[c].max = MAX (cols[c].max, y);
          }
        cols[c].sum += y;
        cols[c].count++;
      }
    /* To pixels: min and max swap, as y grows downwards. */
    for (guint c = 0; c < g->n_columns; c++)
      if (cols[c].count > 0)
        {
          double lo = cols[c].min, hi = cols[c].max;

          cols[c].sum = hr_scale_map (&p->sy, cols[c].sum / cols[c].count);
          cols[c].min = hr_scale_map (&p->sy, hi);
          cols[c].max = hr_scale_map (&p->sy, lo);
        }
  }
}

/* -- occupancy and placement -------------------------------------------------------------- */

static void
hr_occupy (HrPanel *p, double x, double y)
{
  double gx = (x - p->plot.x) / GRID_CELL, gy = (y - p->plot.y) / GRID_CELL;

  if (gx >= 0 && gy >= 0 && gx < p->grid_w && gy < p->grid_h)
    p->occupied[(guint)gy * p->grid_w + (guint)gx] = 1;
}

static void
hr_occupy_segment (HrPanel *p, double x0, double y0, double x1, double y1)
{
  /* Clipped to the plotting area first (Liang–Barsky), so that a segment far outside a
   * fixed range costs nothing. */
  double dx = x1 - x0, dy = y1 - y0, t0 = 0, t1 = 1, len;
  double edge_p[4] = { -dx, dx, -dy, dy };
  double edge_q[4]
      = { x0 - p->plot.x, p->plot.x + p->plot.w - x0, y0 - p->plot.y, p->plot.y + p->plot.h - y0 };
  guint n;

  for (int e = 0; e < 4; e++)
    {
      if (edge_p[e] == 0)
        {
          if (edge_q[e] < 0)
            return;
          continue;
        }
      if (edge_p[e] < 0)
        t0 = MAX (t0, edge_q[e] / edge_p[e]);
      else
        t1 = MIN (t1, edge_q[e] / edge_p[e]);
    }
  if (t0 > t1)
    return;
  len = hypot (dx, dy) * (t1 - t0);
  n = (guint)(len / (GRID_CELL / 2)) + 1;
  for (guint k = 0; k <= n; k++)
    {
      double t = t0 + (t1 - t0) * k / n;

      hr_occupy (p, x0 + dx * t, y0 + dy * t);
    }
}

static void
hr_occupy_rect (HrPanel *p, double x0, double y0, double x1, double y1)
{
  for (double y = MIN (y0, y1); y <= MAX (y0, y1); y += GRID_CELL / 2)
    hr_occupy_segment (p, x0, y, x1, y);
  hr_occupy_segment (p, x0, MAX (y0, y1), x1, MAX (y0, y1));
}

static void
hr_panel_occupancy (HrPanel *p)
{
  HrAxes *ax = p->ax;

  p->grid_w = (guint)ceil (p->plot.w / GRID_CELL);
  p->grid_h = (guint)ceil (p->plot.h / GRID_CELL);
  g_free (p->occupied);
  p->occupied = g_new0 (guint8, (gsize)p->grid_w * p->grid_h);
  for (guint i = 0; i < ax->series->len; i++)
    {
      HrSeries *s = g_ptr_array_index (ax->series, i);
      HrGeometry *g = &p->geometry[i];

      if (s->n_valid == 0)
        continue;
      switch (s->kind)
        {
          case HR_SERIES_LINE:
            if (g->envelope)
              {
                for (guint c = 0; c < g->n_columns; c++)
                  if (g->columns[c].count > 0)
                    hr_occupy_segment (p, p->plot.x + c + 0.5, g->columns[c].min,
                                       p->plot.x + c + 0.5, g->columns[c].max);
              }
            else
              {
                HrPoint *pts = (HrPoint *)(void *)g->points->data;

                for (guint k = 0; k < g->points->len; k++)
                  {
                    if (isnan (pts[k].x))
                      continue;
                    if (k + 1 < g->points->len && !isnan (pts[k + 1].x))
                      hr_occupy_segment (p, pts[k].x, pts[k].y, pts[k + 1].x, pts[k + 1].y);
                    else
                      hr_occupy (p, pts[k].x, pts[k].y);
                    if (s->markers)
                      hr_occupy_rect (p, pts[k].x - MARKER_RADIUS, pts[k].y - MARKER_RADIUS,
                                      pts[k].x + MARKER_RADIUS, pts[k].y + MARKER_RADIUS);
                  }
              }
            break;
          case HR_SERIES_HISTOGRAM:
            for (guint b = 0; b < s->n_bins; b++)
              {
                double e0 = s->lo + (s->hi - s->lo) * b / s->n_bins;
                double e1 = s->lo + (s->hi - s->lo) * (b + 1) / s->n_bins;

                if (s->counts[b] == 0 || !hr_valid (e0, ax->log_x))
                  continue;
                hr_occupy_rect (p, hr_scale_map (&p->sx, e0), hr_scale_map (&p->sy, s->counts[b]),
                                hr_scale_map (&p->sx, e1), p->plot.y + p->plot.h);
              }
            break;
          case HR_SERIES_HLINE:
            {
              double y = hr_scale_map (&p->sy, s->value);
              hr_occupy_segment (p, p->plot.x, y, p->plot.x + p->plot.w, y);
            }
            break;
          case HR_SERIES_VLINE:
            {
              double x = hr_scale_map (&p->sx, s->value);
              hr_occupy_segment (p, x, p->plot.y, x, p->plot.y + p->plot.h);
            }
            break;
          default:
            g_assert_not_reached ();
        }
    }
}

static guint
hr_occupied_in (HrPanel *p, const HrRect *r)
{
  guint n = 0;
  int gx0 = (int)floor ((r->x - p->plot.x) / GRID_CELL);
  int gy0 = (int)floor ((r->y - p->plot.y) / GRID_CELL);
  int gx1 = (int)floor ((r->x + r->w - p->plot.x) / GRID_CELL);
  int gy1 = (int)floor ((r->y + r->h - p->plot.y) / GRID_CELL);

  for (int gy = MAX (gy0, 0); gy <= MIN (gy1, (int)p->grid_h - 1); gy++)
    for (int gx = MAX (gx0, 0); gx <= MIN (gx1, (int)p->grid_w - 1); gx++)
      n += p->occupied[gy * p->grid_w + gx];
  return n;
}

/* The candidate places of a box of w × h inside the plotting area, in matplotlib's order of
 * preference: upper right, upper left, lower left, lower right, right, left, lower centre,
 * upper centre. */
static HrRect
hr_candidate (HrPanel *p, guint k, double w, double h)
{
  static const double fx[] = { 1, 0, 0, 1, 1, 0, 0.5, 0.5 };
  static const double fy[] = { 0, 0, 1, 1, 0.5, 0.5, 1, 0 };
  HrRect r = { 0, 0, w, h };

  r.x = p->plot.x + LEGEND_INSET + fx[k] * (p->plot.w - 2 * LEGEND_INSET - w);
  r.y = p->plot.y + LEGEND_INSET + fy[k] * (p->plot.h - 2 * LEGEND_INSET - h);
  return r;
}

/* The least covered candidate place; *cost is the number of occupied cells it covers. */
static HrRect
hr_best_place (HrPanel *p, double w, double h, guint n_candidates, guint *cost)
{
  HrRect best = hr_candidate (p, 0, w, h);

  *cost = G_MAXUINT;
  for (guint k = 0; k < n_candidates; k++)
    {
      HrRect r = hr_candidate (p, k, w, h);
      guint c = hr_occupied_in (p, &r);

      if (c < *cost)
        {
          *cost = c;
          best = r;
        }
    }
  return best;
}

/* -- drawing ------------------------------------------------------------------------------ */

static void
hr_set_color (cairo_t *cr, guint color, double alpha)
{
  const guint8 *c = hr_palette[color % HR_PLOT_N_COLORS];

  cairo_set_source_rgba (cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0, alpha);
}

static void
hr_set_line_style (cairo_t *cr, double width, gboolean dashed)
{
  cairo_set_line_width (cr, width);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap (cr, dashed ? CAIRO_LINE_CAP_BUTT : CAIRO_LINE_CAP_ROUND);
  if (dashed)
    {
      double dashes[] = { 3.7 * width, 1.6 * width };
      cairo_set_dash (cr, dashes, 2, 0);
    }
  else
    cairo_set_dash (cr, NULL, 0, 0);
}

static void
hr_draw_envelope (HrPanel *p, HrSeries *s, HrGeometry *g)
{
  cairo_t *cr = p->cr;
  HrColumn *cols = g->columns;
  guint n = g->n_columns;

  /* The band: one polygon per run of columns, a run ending at a column of gaps only. */
  for (guint c0 = 0; c0 < n;)
    {
      guint c1;

      if (cols[c0].count == 0)
        {
          c0++;
          continue;
        }
      for (c1 = c0; c1 < n && !(cols[c1].count == 0 && cols[c1].gap); c1++)
        ;
      cairo_new_path (cr);
      for (guint c = c0; c < c1; c++)
        if (cols[c].count > 0)
          {
            cairo_line_to (cr, p->plot.x + c, cols[c].min);
            cairo_line_to (cr, p->plot.x + c + 1, cols[c].min);
          }
      for (guint c = c1; c-- > c0;)
        if (cols[c].count > 0)
          {
            cairo_line_to (cr, p->plot.x + c + 1, cols[c].max);
            cairo_line_to (cr, p->plot.x + c, cols[c].max);
          }
      cairo_close_path (cr);
      hr_set_color (cr, s->color, 0.28);
      cairo_fill (cr);
      c0 = c1;
    }

  /* The mean. */
  cairo_new_path (cr);
  for (guint c = 0; c < n; c++)
    {
      if (cols[c].count > 0)
        cairo_line_to (cr, p->plot.x + c + 0.5, cols[c].sum);
      else if (cols[c].gap)
        cairo_new_sub_path (cr);
    }
  hr_set_line_style (cr, LINE_WIDTH, s->dashed);
  hr_set_color (cr, s->color, 1.0);
  cairo_stroke (cr);
}

static void
hr_draw_polyline (HrPanel *p, HrSeries *s, HrGeometry *g)
{
  cairo_t *cr = p->cr;
  HrPoint *pts = (HrPoint *)(void *)g->points->data;
  guint n = g->points->len;

  hr_set_color (cr, s->color, 1.0);
  hr_set_line_style (cr, LINE_WIDTH, s->dashed);
  cairo_new_path (cr);
  for (guint k = 0; k < n; k++)
    {
      if (isnan (pts[k].x))
        cairo_new_sub_path (cr);
      else
        cairo_line_to (cr, pts[k].x, pts[k].y);
    }
  cairo_stroke (cr);

  /* Isolated points (a single point, or one between gaps) as dots, markers as discs. */
  cairo_new_path (cr);
  for (guint k = 0; k < n; k++)
    {
      gboolean alone = !isnan (pts[k].x) && (k == 0 || isnan (pts[k - 1].x))
                       && (k + 1 == n || isnan (pts[k + 1].x));
      double r = s->markers ? MARKER_RADIUS : alone ? LINE_WIDTH * 1.6 : 0;

      if (isnan (pts[k].x) || r == 0)
        continue;
      cairo_new_sub_path (cr);
      cairo_arc (cr, pts[k].x, pts[k].y, r, 0, 2 * G_PI);
    }
  cairo_fill (cr);
}

static void
hr_draw_histogram (HrPanel *p, HrSeries *s)
{
  cairo_t *cr = p->cr;
  HrAxes *ax = p->ax;
  double base = p->plot.y + p->plot.h + 1;
  gboolean open = FALSE;

  cairo_new_path (cr);
  for (guint b = 0; b < s->n_bins; b++)
    {
      double e0 = s->lo + (s->hi - s->lo) * b / s->n_bins;
      double e1 = s->lo + (s->hi - s->lo) * (b + 1) / s->n_bins;

      if (s->counts[b] == 0 || !hr_valid (e0, ax->log_x)
          || !hr_valid ((double)s->counts[b], ax->log_y))
        continue;
      cairo_rectangle (cr, hr_scale_map (&p->sx, e0), hr_scale_map (&p->sy, s->counts[b]),
                       hr_scale_map (&p->sx, e1) - hr_scale_map (&p->sx, e0),
                       base - hr_scale_map (&p->sy, s->counts[b]));
    }
  hr_set_color (cr, s->color, 0.55);
  cairo_fill (cr);

  /* The outline as one step line, so that neighbouring bars show no seams. */
  cairo_new_path (cr);
  for (guint b = 0; b < s->n_bins; b++)
    {
      double e0 = s->lo + (s->hi - s->lo) * b / s->n_bins;
      double e1 = s->lo + (s->hi - s->lo) * (b + 1) / s->n_bins;
      double top;

      if (!hr_valid (e0, ax->log_x))
        continue;
      top = s->counts[b] > 0 && hr_valid ((double)s->counts[b], ax->log_y)
                ? hr_scale_map (&p->sy, s->counts[b])
                : base;
      if (!open)
        cairo_move_to (cr, hr_scale_map (&p->sx, e0), base);
      open = TRUE;
      cairo_line_to (cr, hr_scale_map (&p->sx, e0), top);
      cairo_line_to (cr, hr_scale_map (&p->sx, e1), top);
    }
  if (open)
    cairo_line_to (cr, hr_scale_map (&p->sx, s->hi), base);
  hr_set_line_style (cr, 1.2, FALSE);
  hr_set_color (cr, s->color, 1.0);
  cairo_stroke (cr);
}

static void
hr_draw_series (HrPanel *p, HrSeries *s, HrGeometry *g)
{
  cairo_t *cr = p->cr;

  if (s->n_valid == 0)
    return;
  switch (s->kind)
    {
      case HR_SERIES_LINE:
        if (g->envelope)
          hr_draw_envelope (p, s, g);
        else
          hr_draw_polyline (p, s, g);
        break;
      case HR_SERIES_HISTOGRAM:
        hr_draw_histogram (p, s);
        break;
      case HR_SERIES_HLINE:
        {
          double y = hr_scale_map (&p->sy, s->value);

          cairo_new_path (cr);
          cairo_move_to (cr, p->plot.x, y);
          cairo_line_to (cr, p->plot.x + p->plot.w, y);
          hr_set_line_style (cr, LINE_WIDTH, s->dashed);
          hr_set_color (cr, s->color, 1.0);
          cairo_stroke (cr);
        }
        break;
      case HR_SERIES_VLINE:
        {
          double x = hr_scale_map (&p->sx, s->value);

          cairo_new_path (cr);
          cairo_move_to (cr, x, p->plot.y);
          cairo_line_to (cr, x, p->plot.y + p->plot.h);
          hr_set_line_style (cr, LINE_WIDTH, s->dashed);
          hr_set_color (cr, s->color, 1.0);
          cairo_stroke (cr);
        }
        break;
      default:
        g_assert_not_reached ();
    }
}

static gboolean
hr_tick_inside (const HrScale *sc, double v)
{
  double t = sc->log ? log10 (v) : v;
  double eps = 1e-9 * (sc->thi - sc->tlo);

  return t >= sc->tlo - eps && t <= sc->thi + eps;
}

static void
hr_draw_grid (HrPanel *p)
{
  cairo_t *cr = p->cr;

  cairo_new_path (cr);
  for (guint i = 0; i < p->x_ticks->len; i++)
    {
      HrTick *t = &g_array_index (p->x_ticks, HrTick, i);
      double x = round (hr_scale_map (&p->sx, t->value));

      if ((t->major || t->label != NULL) && hr_tick_inside (&p->sx, t->value))
        {
          cairo_move_to (cr, x, p->plot.y);
          cairo_line_to (cr, x, p->plot.y + p->plot.h);
        }
    }
  for (guint i = 0; i < p->y_ticks->len; i++)
    {
      HrTick *t = &g_array_index (p->y_ticks, HrTick, i);
      double y = round (hr_scale_map (&p->sy, t->value));

      if ((t->major || t->label != NULL) && hr_tick_inside (&p->sy, t->value))
        {
          cairo_move_to (cr, p->plot.x, y);
          cairo_line_to (cr, p->plot.x + p->plot.w, y);
        }
    }
  cairo_set_source_rgb (cr, 0.91, 0.91, 0.91);
  hr_set_line_style (cr, 1.0, FALSE);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_BUTT);
  cairo_stroke (cr);
}

static void
hr_draw_axes_frame (HrPanel *p)
{
  cairo_t *cr = p->cr;
  HrAxes *ax = p->ax;
  double bottom = p->plot.y + p->plot.h;
  double tick_h, label_top;

  /* Spines on whole user units: with a width of 1, crisp at device scale 1 and 2. */
  cairo_set_source_rgb (cr, INK);
  hr_set_line_style (cr, 1.0, FALSE);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_SQUARE);
  cairo_rectangle (cr, p->plot.x, p->plot.y, p->plot.w, p->plot.h);
  cairo_stroke (cr);

  cairo_set_line_cap (cr, CAIRO_LINE_CAP_BUTT);
  hr_set_font (cr, FONT_TICK, FALSE);
  tick_h = hr_font_height (cr);
  for (guint i = 0; i < p->x_ticks->len; i++)
    {
      HrTick *t = &g_array_index (p->x_ticks, HrTick, i);
      double x = round (hr_scale_map (&p->sx, t->value));

      if (!hr_tick_inside (&p->sx, t->value))
        continue;
      cairo_move_to (cr, x, bottom);
      cairo_line_to (cr, x, bottom + (t->major ? TICK_MAJOR : TICK_MINOR));
      cairo_stroke (cr);
      if (t->label != NULL)
        hr_draw_text (cr, t->label, x, bottom + TICK_MAJOR + TICK_PAD, 0.5, 0);
    }
  for (guint i = 0; i < p->y_ticks->len; i++)
    {
      HrTick *t = &g_array_index (p->y_ticks, HrTick, i);
      double y = round (hr_scale_map (&p->sy, t->value));

      if (!hr_tick_inside (&p->sy, t->value))
        continue;
      cairo_move_to (cr, p->plot.x, y);
      cairo_line_to (cr, p->plot.x - (t->major ? TICK_MAJOR : TICK_MINOR), y);
      cairo_stroke (cr);
      if (t->label != NULL)
        hr_draw_text (cr, t->label, p->plot.x - TICK_MAJOR - TICK_PAD, y, 1, 0.5);
    }
  label_top = bottom + TICK_MAJOR + TICK_PAD + tick_h + LABEL_PAD;
  if (p->x_offset != NULL)
    hr_draw_text (cr, p->x_offset, p->plot.x + p->plot.w, label_top, 1, 0);
  if (p->y_offset != NULL)
    hr_draw_text (cr, p->y_offset, p->plot.x, p->plot.y - 4, 0, 1);

  hr_set_font (cr, FONT_LABEL, FALSE);
  if (ax->x_label != NULL)
    hr_draw_text (cr, ax->x_label, p->plot.x + p->plot.w / 2, label_top, 0.5, 0);
  if (ax->y_label != NULL)
    {
      cairo_save (cr);
      cairo_translate (cr, p->panel.x + OUTER_PAD, p->plot.y + p->plot.h / 2);
      cairo_rotate (cr, -G_PI / 2);
      hr_draw_text (cr, ax->y_label, 0, 0, 0.5, 0);
      cairo_restore (cr);
    }
  if (ax->title != NULL)
    {
      hr_set_font (cr, p->title_size, p->title_size >= FONT_TITLE);
      hr_draw_text (cr, ax->title, p->plot.x + p->plot.w / 2,
                    p->plot.y - 8 - (p->y_offset != NULL ? tick_h : 0), 0.5, 1);
    }
}

static void
hr_legend_measure (HrPanel *p)
{
  double text_w = 0;

  hr_set_font (p->cr, FONT_LEGEND, FALSE);
  for (guint i = 0; i < p->legend->len; i++)
    {
      HrSeries *s = g_ptr_array_index (p->legend, i);

      text_w = MAX (text_w, hr_text_width (p->cr, s->label));
    }
  p->legend_w = ceil (2 * LEGEND_PAD + LEGEND_HANDLE + 7 + text_w);
  p->legend_h = ceil (2 * LEGEND_PAD + p->legend->len * LEGEND_ROW - 3);
}

static void
hr_draw_legend (HrPanel *p)
{
  cairo_t *cr = p->cr;
  HrRect *b = &p->legend_box;

  if (p->legend->len == 0)
    return;
  cairo_new_path (cr);
  cairo_rectangle (cr, b->x + 0.5, b->y + 0.5, b->w - 1, b->h - 1);
  cairo_set_source_rgba (cr, 1, 1, 1, 0.85);
  cairo_fill_preserve (cr);
  cairo_set_source_rgb (cr, 0.8, 0.8, 0.8);
  hr_set_line_style (cr, 1.0, FALSE);
  cairo_stroke (cr);

  hr_set_font (cr, FONT_LEGEND, FALSE);
  for (guint i = 0; i < p->legend->len; i++)
    {
      HrSeries *s = g_ptr_array_index (p->legend, i);
      HrGeometry *g = NULL;
      double cy = b->y + LEGEND_PAD + i * LEGEND_ROW + (LEGEND_ROW - 3) / 2;
      double hx = b->x + LEGEND_PAD;

      for (guint k = 0; k < p->ax->series->len; k++)
        if (g_ptr_array_index (p->ax->series, k) == s)
          g = &p->geometry[k];

      cairo_new_path (cr);
      if (s->kind == HR_SERIES_HISTOGRAM)
        {
          cairo_rectangle (cr, hx + 5, cy - 5, LEGEND_HANDLE - 10, 10);
          hr_set_color (cr, s->color, 0.55);
          cairo_fill_preserve (cr);
          hr_set_line_style (cr, 1.2, FALSE);
          hr_set_color (cr, s->color, 1.0);
          cairo_stroke (cr);
        }
      else
        {
          if (g != NULL && g->envelope)
            {
              cairo_rectangle (cr, hx, cy - 5, LEGEND_HANDLE, 10);
              hr_set_color (cr, s->color, 0.28);
              cairo_fill (cr);
            }
          cairo_move_to (cr, hx, cy);
          cairo_line_to (cr, hx + LEGEND_HANDLE, cy);
          hr_set_line_style (cr, LINE_WIDTH, s->dashed);
          hr_set_color (cr, s->color, 1.0);
          cairo_stroke (cr);
          if (s->markers && g != NULL && !g->envelope)
            {
              cairo_arc (cr, hx + LEGEND_HANDLE / 2, cy, MARKER_RADIUS, 0, 2 * G_PI);
              cairo_fill (cr);
            }
        }
      cairo_set_source_rgb (cr, INK);
      hr_draw_text (cr, s->label, hx + LEGEND_HANDLE + 7, cy, 0, 0.5);
    }
}

static void
hr_draw_notes (HrPanel *p)
{
  cairo_t *cr = p->cr;
  double w = 0, h, row;
  HrRect box;
  guint cost;

  if (p->notes->len == 0)
    return;
  if (!p->any_data)
    {
      /* Nothing drawn at all: the notes in the middle. */
      hr_set_font (cr, FONT_LABEL, FALSE);
      row = hr_font_height (cr) + 3;
      cairo_set_source_rgb (cr, 0.4, 0.4, 0.4);
      for (guint i = 0; i < p->notes->len; i++)
        hr_draw_text (cr, g_ptr_array_index (p->notes, i), p->plot.x + p->plot.w / 2,
                      p->plot.y + p->plot.h / 2 + (i - (p->notes->len - 1) / 2.0) * row, 0.5, 0.5);
      return;
    }
  hr_set_font (cr, FONT_LEGEND, FALSE);
  row = hr_font_height (cr) + 2;
  for (guint i = 0; i < p->notes->len; i++)
    w = MAX (w, hr_text_width (cr, g_ptr_array_index (p->notes, i)));
  w = ceil (w + 2 * LEGEND_PAD);
  h = ceil (p->notes->len * row + 2 * LEGEND_PAD - 2);
  /* The legend's box counts as occupied. */
  if (p->legend->len > 0 && !p->legend_outside)
    for (double y = p->legend_box.y; y <= p->legend_box.y + p->legend_box.h; y += GRID_CELL / 2)
      hr_occupy_segment (p, p->legend_box.x, y, p->legend_box.x + p->legend_box.w, y);
  box = hr_best_place (p, w, h, 4, &cost);

  cairo_new_path (cr);
  cairo_rectangle (cr, box.x + 0.5, box.y + 0.5, box.w - 1, box.h - 1);
  cairo_set_source_rgba (cr, 0.97, 0.97, 0.97, 0.9);
  cairo_fill_preserve (cr);
  cairo_set_source_rgb (cr, 0.75, 0.75, 0.75);
  hr_set_line_style (cr, 1.0, FALSE);
  cairo_stroke (cr);
  cairo_set_source_rgb (cr, 0.3, 0.3, 0.3);
  for (guint i = 0; i < p->notes->len; i++)
    hr_draw_text (cr, g_ptr_array_index (p->notes, i), box.x + LEGEND_PAD,
                  box.y + LEGEND_PAD + i * row, 0, 0);
}

static void
hr_panel_geometry (HrPanel *p)
{
  for (guint i = 0; i < p->ax->series->len; i++)
    hr_series_geometry (p, g_ptr_array_index (p->ax->series, i), &p->geometry[i]);
  hr_panel_occupancy (p);
}

/* Ranges, notes, legend entries and a first layout. */
static void
hr_panel_init (HrPanel *p, HrAxes *ax, cairo_t *cr, const HrRect *panel, double title_size)
{
  p->ax = ax;
  p->cr = cr;
  p->panel = *panel;
  p->title_size = title_size;
  p->notes = g_ptr_array_new_with_free_func (g_free);
  p->legend = g_ptr_array_new ();
  p->geometry = g_new0 (HrGeometry, MAX (ax->series->len, 1));
  for (guint i = 0; i < ax->notes->len; i++)
    g_ptr_array_add (p->notes, g_strdup (g_ptr_array_index (ax->notes, i)));

  hr_panel_ranges (p);
  if (!p->any_data && p->notes->len == 0)
    g_ptr_array_add (p->notes, g_strdup (_ ("no data")));
  hr_panel_layout (p);
}

static void
hr_panel_draw (HrPanel *p)
{
  cairo_t *cr = p->cr;
  HrAxes *ax = p->ax;

  hr_panel_layout (p);
  hr_panel_geometry (p);

  /* The legend goes where it covers (almost) nothing, else outside on the right. */
  if (p->legend->len > 0)
    {
      guint cost;

      hr_legend_measure (p);
      p->legend_box = hr_best_place (p, p->legend_w, p->legend_h, 8, &cost);
      if (cost > 3)
        {
          p->legend_outside = TRUE;
          hr_panel_layout (p);
          hr_panel_geometry (p);
          p->legend_box.x = p->plot.x + p->plot.w + LEGEND_INSET;
          p->legend_box.y = p->plot.y;
          p->legend_box.w = p->legend_w;
          p->legend_box.h = p->legend_h;
        }
    }

  hr_draw_grid (p);
  cairo_save (cr);
  cairo_rectangle (cr, p->plot.x, p->plot.y, p->plot.w, p->plot.h);
  cairo_clip (cr);
  for (guint i = 0; i < ax->series->len; i++)
    hr_draw_series (p, g_ptr_array_index (ax->series, i), &p->geometry[i]);
  cairo_restore (cr);
  hr_draw_axes_frame (p);
  hr_draw_legend (p);
  hr_draw_notes (p);
}

static void
hr_panel_clear (HrPanel *p)
{
  for (guint i = 0; i < p->ax->series->len; i++)
    hr_geometry_clear (&p->geometry[i]);
  g_free (p->geometry);
  g_free (p->occupied);
  g_clear_pointer (&p->x_ticks, g_array_unref);
  g_clear_pointer (&p->y_ticks, g_array_unref);
  g_free (p->x_offset);
  g_free (p->y_offset);
  g_ptr_array_unref (p->notes);
  g_ptr_array_unref (p->legend);
}

static void
hr_figure_draw (HrFigure *fig, cairo_t *cr)
{
  cairo_font_options_t *options = cairo_font_options_create ();
  guint n_panels = fig->n_rows * fig->n_cols;
  g_autofree HrPanel *panels = g_new0 (HrPanel, n_panels);
  double top = 0, cell_w, cell_h;

  /* Unhinted metrics: the same layout in PNG and SVG. */
  cairo_font_options_set_hint_metrics (options, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_antialias (options, CAIRO_ANTIALIAS_GRAY);
  cairo_set_font_options (cr, options);
  cairo_font_options_destroy (options);

  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);

  cairo_set_source_rgb (cr, INK);
  if (fig->title != NULL)
    {
      hr_set_font (cr, FONT_TITLE, TRUE);
      hr_draw_text (cr, fig->title, fig->width / 2.0, OUTER_PAD + 2, 0.5, 0);
      top = OUTER_PAD + 2 + hr_font_height (cr) + 4;
    }
  cell_w = (double)fig->width / fig->n_cols;
  cell_h = (fig->height - top) / fig->n_rows;
  for (guint r = 0; r < fig->n_rows; r++)
    for (guint c = 0; c < fig->n_cols; c++)
      {
        HrRect rect = { c * cell_w, top + r * cell_h, cell_w, cell_h };

        hr_panel_init (&panels[r * fig->n_cols + c], &fig->axes[r * fig->n_cols + c], cr, &rect,
                       fig->title != NULL ? FONT_PANEL_TITLE : FONT_TITLE);
      }

  /* Panels of a column share their left margin, panels of a row their top and bottom. */
  for (guint i = 0; i < n_panels; i++)
    {
      HrPanel *p = &panels[i];
      guint row = i / fig->n_cols, col = i % fig->n_cols;

      for (guint k = 0; k < n_panels; k++)
        {
          HrPanel *q = &panels[k];

          if (k % fig->n_cols == col)
            p->min_left = MAX (p->min_left, q->plot.x - q->panel.x);
          if (k / fig->n_cols == row)
            {
              p->min_top = MAX (p->min_top, q->plot.y - q->panel.y);
              p->min_bottom
                  = MAX (p->min_bottom, q->panel.y + q->panel.h - (q->plot.y + q->plot.h));
            }
        }
    }
  for (guint i = 0; i < n_panels; i++)
    {
      cairo_set_source_rgb (cr, INK);
      hr_panel_draw (&panels[i]);
      hr_panel_clear (&panels[i]);
    }
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
  g_autofree char *tmp_path = NULL, *target = NULL;
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
  target = hr_output_resolve (path, FALSE, error);
  if (target == NULL)
    return FALSE;
  tmp_path = hr_output_temp_template (target);
  sink.fd = g_mkstemp_full (tmp_path, O_RDWR | O_CLOEXEC, 0666);
  if (sink.fd < 0)
    {
      int saved = errno;
      g_autofree char *dir = g_path_get_dirname (path);

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _ ("%s: cannot create a file in %s: %s"), path, dir, g_strerror (saved));
      return FALSE;
    }

  if (!hr_plot_render (fig, svg, &sink, &status))
    {
      if (sink.saved_errno != 0)
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (sink.saved_errno), "%s: %s", path,
                     g_strerror (sink.saved_errno));
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                     /* TRANSLATORS: the second %s is cairo's message, in English */
                     _ ("%s: cannot draw the figure: %s"), path, cairo_status_to_string (status));
      close (sink.fd);
      g_unlink (tmp_path);
      return FALSE;
    }
  if (fsync (sink.fd) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                   g_strerror (saved));
      close (sink.fd);
      g_unlink (tmp_path);
      return FALSE;
    }
  if (close (sink.fd) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                   g_strerror (saved));
      g_unlink (tmp_path);
      return FALSE;
    }
  if (g_rename (tmp_path, target) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                   g_strerror (saved));
      g_unlink (tmp_path);
      return FALSE;
    }
  return TRUE;
}
