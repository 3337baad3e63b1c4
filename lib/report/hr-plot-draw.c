/* headrank: figures: drawing a panel (series, grid, axes) and a figure */
#include "hr-private.h"
#include "hr-plot.h"

#include "hr-plot-private.h"

#include <cairo.h>
#include <math.h>

/* -- drawing ------------------------------------------------------------------------------ */

void
hr_set_color (cairo_t *cr, guint color, double alpha)
{
  const guint8 *c = hr_palette[color % HR_PLOT_N_COLORS];

  cairo_set_source_rgba (cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0, alpha);
}

void
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

void
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
