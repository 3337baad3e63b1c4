/* headrank command: a progress bar on a terminal
 *
 * The bar is drawn on standard error, only when it is a terminal and only once the work has
 * taken longer than a moment, so quick runs and pipes stay clean. (Signals are handled in
 * headrank-signals.c.)
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
  gint64 start;
  gint64 last_draw;
  gboolean tty;
  gboolean drawn;
};

HrProgress *
hr_progress_new (const char *label)
{
  HrProgress *progress = g_new0 (HrProgress, 1);

  progress->label = g_strdup (label);
  progress->start = g_get_monotonic_time ();
  progress->tty = isatty (STDERR_FILENO) && g_getenv ("HEADRANK_NO_PROGRESS") == NULL;
  return progress;
}

void
hr_progress_update (HrProgress *progress, double fraction)
{
  gint64 now = g_get_monotonic_time ();
  int filled;

  if (!progress->tty || now - progress->start < HR_PROGRESS_DELAY_US
      || (progress->drawn && now - progress->last_draw < 100 * 1000 && fraction < 1.0))
    return;

  fraction = CLAMP (fraction, 0.0, 1.0);
  filled = (int)(fraction * HR_PROGRESS_WIDTH + 0.5);
  fprintf (stderr, "\r%s [", progress->label);
  for (int i = 0; i < HR_PROGRESS_WIDTH; i++)
    fputc (i < filled ? '#' : ' ', stderr);
  fprintf (stderr, "] %3d%%", (int)(fraction * 100.0 + 0.5));
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
  g_free (progress);
}
