/* headrank: figures: scales and ticks, linear and logarithmic, and their labels */
#include "hr-private.h"
#include "hr-plot.h"

#include "hr-plot-private.h"

#include <math.h>

/* -- scales and ticks --------------------------------------------------------------------- */

void
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
 * least 3 ticks where a smaller step allows it; never a step below 1 when @integer, for
 * axes of counts or numbered items); labels share one number of decimals,
 * and values of 10⁶ and over (or under 10⁻⁴, as matplotlib) are scaled, with "×10ᵏ" in @offset. */
GArray *
hr_linear_ticks (double lo, double hi, int target, gboolean integer, char **offset)
{
  GArray *ticks = hr_ticks_new ();
  double raw = (hi - lo) / MAX (target, 1);
  double mag = pow (10, floor (log10 (raw)));
  double f = raw / mag;
  double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  double k0, k1, max_abs;

  if (integer && step < 1)
    step = 1;
  int exponent = 0, decimals;

  for (int smaller = 0;; smaller++)
    {
      double m = step / pow (10, floor (log10 (step) + 1e-9));

      k0 = ceil (lo / step - 1e-9);
      k1 = floor (hi / step + 1e-9);
      if (k1 - k0 + 1 >= 3 || smaller == 3 || (integer && step <= 1))
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
GArray *
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
