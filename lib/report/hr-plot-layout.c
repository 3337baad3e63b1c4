/* headrank: figures: text, the data ranges, margins and geometry of a panel */
#include "hr-private.h"
#include "hr-plot.h"

#include "hr-plot-private.h"

#include <cairo.h>
#include <math.h>

/* -- text --------------------------------------------------------------------------------- */

void
hr_set_font (cairo_t *cr, double size, gboolean bold)
{
  cairo_select_font_face (cr, HR_PLOT_FONT, CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
}

double
hr_text_width (cairo_t *cr, const char *text)
{
  cairo_text_extents_t ext;

  cairo_text_extents (cr, text, &ext);
  return ext.x_advance;
}

/* Draws @text with its left / centre / right (halign 0, 0.5, 1) at @x, and its top / middle
 * / bottom (valign 0, 0.5, 1: of the font's ascent and descent) at @y. */
void
hr_draw_text (cairo_t *cr, const char *text, double x, double y, double halign, double valign)
{
  cairo_font_extents_t fe;
  double w = hr_text_width (cr, text);

  cairo_font_extents (cr, &fe);
  cairo_move_to (cr, x - halign * w, y + fe.ascent - valign * (fe.ascent + fe.descent));
  cairo_show_text (cr, text);
}

double
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

void
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
      GArray *ticks = hr_linear_ticks (sc->lo, sc->hi, target, is_x && p->ax->integer_x, offset);
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
void
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

void
hr_geometry_clear (HrGeometry *g)
{
  g_clear_pointer (&g->points, g_array_unref);
  g_clear_pointer (&g->columns, g_free);
  g->n_columns = 0;
}

/* A line's pixels: its points, or for long series one min / max / mean per pixel column. */
void
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
