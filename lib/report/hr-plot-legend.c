/* headrank: figures: the legend and notes, placed on a coarse occupancy grid where the data
 * are not */
#include "hr-private.h"
#include "hr-plot.h"

#include "hr-plot-private.h"

#include <cairo.h>
#include <math.h>

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
HrRect
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

/* Whether the polyline @g joins two points somewhere (else it is drawn as dots). */
static gboolean
hr_geometry_has_segments (const HrGeometry *g)
{
  const HrPoint *pts = (const HrPoint *)(const void *)g->points->data;

  for (guint k = 0; k + 1 < g->points->len; k++)
    if (!isnan (pts[k].x) && !isnan (pts[k + 1].x))
      return TRUE;
  return FALSE;
}

void
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
          /* A series drawn as points alone (each between gaps) shows a point, not a line
           * that the plot does not have. */
          gboolean points_only
              = g != NULL && g->points != NULL && !g->envelope && !hr_geometry_has_segments (g);

          hr_set_color (cr, s->color, 1.0);
          if (!points_only)
            {
              cairo_move_to (cr, hx, cy);
              cairo_line_to (cr, hx + LEGEND_HANDLE, cy);
              hr_set_line_style (cr, LINE_WIDTH, s->dashed);
              cairo_stroke (cr);
            }
          if ((s->markers || points_only) && g != NULL && !g->envelope)
            {
              cairo_arc (cr, hx + LEGEND_HANDLE / 2, cy,
                         s->markers ? MARKER_RADIUS : LINE_WIDTH * 1.6, 0, 2 * G_PI);
              cairo_fill (cr);
            }
        }
      cairo_set_source_rgb (cr, INK);
      hr_draw_text (cr, s->label, hx + LEGEND_HANDLE + 7, cy, 0, 0.5);
    }
}

void
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

void
hr_panel_geometry (HrPanel *p)
{
  for (guint i = 0; i < p->ax->series->len; i++)
    hr_series_geometry (p, g_ptr_array_index (p->ax->series, i), &p->geometry[i]);
  hr_panel_occupancy (p);
}
