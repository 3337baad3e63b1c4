/* headrank: the figures' internals shared by hr-plot*.c: the constants of their look, the
 * series, axes and figures, scales and ticks, and a panel being drawn */
#pragma once

#include "hr-plot.h"

#include <cairo.h>
#include <glib.h>
#include <math.h>

G_BEGIN_DECLS

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
  gboolean integer_x; /* x ticks at whole numbers only */
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

/* hr-plot.c */
extern const guint8 hr_palette[HR_PLOT_N_COLORS][3];

/* hr-plot-ticks.c */
void hr_scale_set (HrScale *sc, gboolean log, double lo, double hi);
/* Linear ticks at the smallest 1-2-5 step that makes at most @target intervals (and at
 * least 3 ticks where a smaller step allows it); labels share one number of decimals,
 * and values of 10⁶ and over (or under 10⁻⁴, as matplotlib) are scaled, with "×10ᵏ" in @offset. */
GArray *hr_linear_ticks (double lo, double hi, int target, gboolean integer, char **offset);

/* Log ticks: decades 10ᵏ (every stride-th labelled when there are many), minor ticks at
 * 2..9 × 10ᵏ when a decade is wide enough to show them, labelled when the axis spans
 * less than two labelled decades. */
GArray *hr_log_ticks (double tlo, double thi, double pixels, int max_labels);

/* hr-plot-layout.c */
void hr_set_font (cairo_t *cr, double size, gboolean bold);
double hr_text_width (cairo_t *cr, const char *text);
/* Draws @text with its left / centre / right (halign 0, 0.5, 1) at @x, and its top / middle
 * / bottom (valign 0, 0.5, 1: of the font's ascent and descent) at @y. */
void hr_draw_text (cairo_t *cr, const char *text, double x, double y, double halign, double valign);

double hr_font_height (cairo_t *cr);
void hr_panel_ranges (HrPanel *p);
/* Places the plotting area inside the panel: room for the title, tick labels, axis labels
 * and (when outside) the legend; computes both scales' ticks. */
void hr_panel_layout (HrPanel *p);

void hr_geometry_clear (HrGeometry *g);
/* A line's pixels: its points, or for long series one min / max / mean per pixel column. */
void hr_series_geometry (HrPanel *p, HrSeries *s, HrGeometry *g);

/* hr-plot-legend.c */
/* The least covered candidate place; *cost is the number of occupied cells it covers. */
HrRect hr_best_place (HrPanel *p, double w, double h, guint n_candidates, guint *cost);

void hr_draw_legend (HrPanel *p);
void hr_draw_notes (HrPanel *p);
void hr_panel_geometry (HrPanel *p);

/* hr-plot-draw.c */
void hr_set_color (cairo_t *cr, guint color, double alpha);
void hr_set_line_style (cairo_t *cr, double width, gboolean dashed);
void hr_figure_draw (HrFigure *fig, cairo_t *cr);

G_END_DECLS
