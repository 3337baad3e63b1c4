/* headrank: figures of the rank diagnostics, drawn with cairo (private, not installed)
 *
 * A figure is a grid of panels (axes); each panel holds lines, histograms and reference
 * lines, and is drawn with ticks at 1-2-5 steps (decades on log axes), axis labels, a
 * title and a legend placed where it covers the least data. hr_figure_write() writes PNG
 * (800 × 500 user units at device scale 2) or SVG, chosen by the file's extension, under a
 * temporary name beside the target and renamed into place.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _HrFigure HrFigure;
typedef struct _HrAxes HrAxes; /* owned by the figure */

/* The palette: the 8 colours of Okabe & Ito (2008), safe for colour-blind readers, in the
 * order they are handed out to series whose color is -1. */
#define HR_PLOT_N_COLORS 8

/* Size of a figure with one panel, in user units (CSS pixels). */
#define HR_PLOT_WIDTH 800
#define HR_PLOT_HEIGHT 500

HrFigure *hr_figure_new (const char *title, guint n_rows, guint n_cols);
void hr_figure_free (HrFigure *fig);
HrAxes *hr_figure_get_axes (HrFigure *fig, guint row, guint col);
/* Overrides the default size (800 × 500 for one panel, more for a grid). */
void hr_figure_set_size (HrFigure *fig, guint width, guint height);
void hr_figure_get_size (HrFigure *fig, guint *width, guint *height);

void hr_axes_set_title (HrAxes *ax, const char *title);
void hr_axes_set_labels (HrAxes *ax, const char *x_label, const char *y_label);
void hr_axes_set_log_x (HrAxes *ax, gboolean log);
/* Ticks on x at whole numbers only (numbered items, counts): never 1.5. */
void hr_axes_set_integer_x (HrAxes *ax, gboolean integer);
/* Non-positive values are skipped on log axes. */
void hr_axes_set_log_y (HrAxes *ax, gboolean log);
/* A fixed range for y; NAN for either end means automatic. */
void hr_axes_set_y_range (HrAxes *ax, double lo, double hi);

/* A line through (x[i], y[i]); x may be NULL (then x = 1..n). Copies the data. When n is
 * larger than twice the plot's width in pixels, the line is drawn as a per-pixel-column
 * min–max envelope (a light band) with the column mean as the line. Non-finite values are
 * gaps. color: index into the palette, or -1 for the panel's next colour. */
void hr_axes_add_line (HrAxes *ax, const char *label, const double *x, const double *y, gsize n,
                       int color, gboolean dashed, gboolean markers);
/* The same from float samples with a stride: y[i] = values[i × stride], x = 1..n. */
void hr_axes_add_line_float (HrAxes *ax, const char *label, const float *values, gsize n,
                             gsize stride, int color, gboolean dashed);
/* A histogram of the values in [lo, hi] (hi included in the last bin) in n_bins bars;
 * values outside the range and non-finite values are not counted. */
void hr_axes_add_histogram (HrAxes *ax, const char *label, const double *values, gsize n, double lo,
                            double hi, guint n_bins, int color);
/* The same from counts already binned (@n_bins equal bins over [lo, hi]), for values
 * streamed a block at a time. Copies the counts. */
void hr_axes_add_histogram_counts (HrAxes *ax, const char *label, const guint64 *counts,
                                   guint n_bins, double lo, double hi, int color);
void hr_axes_add_hline (HrAxes *ax, double y, const char *label, int color, gboolean dashed);
void hr_axes_add_vline (HrAxes *ax, double x, const char *label, int color, gboolean dashed);
/* A short text box in a corner of the panel (e.g. "no data"). */
void hr_axes_add_note (HrAxes *ax, const char *text);

/* Writes the figure as PNG or SVG by the extension of @path (.png / .svg, any case),
 * atomically: to "<path>.XXXXXX" in the same folder, then renamed over @path. On failure
 * the temporary file is removed, @path is untouched and @error is set (G_IO_ERROR). */
gboolean hr_figure_write (HrFigure *fig, const char *path, GError **error);

/* The palette colour @index (taken modulo HR_PLOT_N_COLORS) as 8-bit sRGB. */
void hr_plot_palette_rgb (guint index, guint8 *r, guint8 *g, guint8 *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrFigure, hr_figure_free)

G_END_DECLS
