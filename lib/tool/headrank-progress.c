/* headrank command: a progress bar on a terminal
 *
 * The bar is drawn on standard error, only when it is a terminal and only once the work has
 * taken longer than a moment, so quick runs and pipes stay clean. It shows the rate (items a
 * second, when the command says what the items are) and the time left, estimated from the
 * fraction done so far; after the measured part it says what the run is doing instead
 * (hr_progress_set_phase()). (Signals are handled in headrank-signals.c.)
 */
#include "config.h"

#include "headrank-progress.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <unistd.h>

#define HR_PROGRESS_DELAY_US (300 * 1000)
#define HR_PROGRESS_WIDTH 30

struct _HrProgress
{
  char *label;
  char *unit;
  guint64 n_items;
  double share;
  double fraction;
  gint64 start;
  gint64 last_draw;
  gint64 delay;
  gboolean tty;
  gboolean drawn;
};

/* The bar waits HR_PROGRESS_DELAY_US before it shows, so that quick runs print nothing;
 * HEADRANK_PROGRESS_DELAY (seconds, 0 to 60) sets another wait, e.g. 0 for a test that must
 * see the bar whatever the machine's speed. */
static gint64
hr_progress_delay (void)
{
  const char *value = g_getenv ("HEADRANK_PROGRESS_DELAY");
  char *end = NULL;
  double seconds;

  if (value == NULL || *value == '\0')
    return HR_PROGRESS_DELAY_US;
  seconds = g_ascii_strtod (value, &end);
  if (end == value || *end != '\0' || !(seconds >= 0.0 && seconds <= 60.0))
    return HR_PROGRESS_DELAY_US;
  return (gint64)(seconds * 1e6);
}

HrProgress *
hr_progress_new (const char *label)
{
  HrProgress *progress = g_new0 (HrProgress, 1);

  progress->label = g_strdup (label);
  progress->start = g_get_monotonic_time ();
  progress->tty = isatty (STDERR_FILENO) && g_getenv ("HEADRANK_NO_PROGRESS") == NULL;
  progress->delay = hr_progress_delay ();
  return progress;
}

void
hr_progress_set_items (HrProgress *progress, guint64 n_items, double share, const char *unit)
{
  progress->n_items = n_items;
  progress->share = share;
  g_free (progress->unit);
  progress->unit = g_strdup (unit);
}

/* "12.3 k", "4.56 M": @rate with an SI prefix, three significant digits */
static char *
hr_format_rate (double rate)
{
  const char *prefixes[] = { "", " k", " M", " G" };
  guint p = 0;

  while (rate >= 1000 && p + 1 < G_N_ELEMENTS (prefixes))
    {
      rate /= 1000;
      p++;
    }
  return g_strdup_printf (rate < 10    ? "%.2f%s"
                          : rate < 100 ? "%.1f%s"
                                       : "%.0f%s",
                          rate, prefixes[p]);
}

/* "0:42", "1:02:03" */
static char *
hr_format_duration (double seconds)
{
  guint64 s = (guint64)(seconds + 0.5);

  if (s >= 3600)
    return g_strdup_printf ("%" G_GUINT64_FORMAT ":%02u:%02u", s / 3600, (guint)(s / 60 % 60),
                            (guint)(s % 60));
  return g_strdup_printf ("%u:%02u", (guint)(s / 60), (guint)(s % 60));
}

void
hr_progress_update (HrProgress *progress, double fraction)
{
  gint64 now = g_get_monotonic_time ();
  double elapsed = (now - progress->start) / 1e6;
  int filled;

  fraction = CLAMP (fraction, 0.0, 1.0);
  progress->fraction = fraction;
  if (!progress->tty || now - progress->start < progress->delay
      || (progress->drawn && now - progress->last_draw < 100 * 1000 && fraction < 1.0))
    return;

  filled = (int)(fraction * HR_PROGRESS_WIDTH + 0.5);
  fprintf (stderr, "\r%s [", progress->label);
  for (int i = 0; i < HR_PROGRESS_WIDTH; i++)
    fputc (i < filled ? '#' : ' ', stderr);
  fprintf (stderr, "] %3d%%", (int)(fraction * 100.0 + 0.5));
  if (progress->n_items > 0 && progress->share > 0 && elapsed > 0)
    {
      double done = MIN (fraction / progress->share, 1.0) * progress->n_items;
      g_autofree char *rate = hr_format_rate (done / elapsed);

      /* TRANSLATORS: the rate in the progress bar: "12.3 k samples/s"; %s: the number,
         %s: the unit ("samples") */
      fprintf (stderr, _ ("  %s %s/s"), rate, progress->unit);
    }
  if (fraction > 0.01 && fraction < 1.0 && elapsed >= 1.0)
    {
      g_autofree char *eta = hr_format_duration (elapsed * (1.0 - fraction) / fraction);

      /* TRANSLATORS: the time left in the progress bar, "ETA 0:42" (minutes:seconds) */
      fprintf (stderr, _ ("  ETA %s"), eta);
    }
  fprintf (stderr, "\033[K");
  fflush (stderr);
  progress->drawn = TRUE;
  progress->last_draw = now;
}

void
hr_progress_set_phase (HrProgress *progress, const char *phase)
{
  gint64 now = g_get_monotonic_time ();

  /* as the bar: on a terminal once the run has taken more than a moment */
  if (!progress->tty || now - progress->start < progress->delay)
    return;
  /* TRANSLATORS: the progress line after the measured part: the label ("Analysing"), then
     what the run does ("writing the report…") */
  fprintf (stderr, _ ("\r%s: %s"), progress->label, phase);
  fprintf (stderr, "\033[K");
  fflush (stderr);
  progress->drawn = TRUE;
  progress->last_draw = now;
}

void
hr_progress_free (HrProgress *progress)
{
  if (progress == NULL)
    return;
  if (progress->drawn)
    {
      /* clear the line */
      fprintf (stderr, "\r\033[K");
      fflush (stderr);
    }
  g_free (progress->label);
  g_free (progress->unit);
  g_free (progress);
}
