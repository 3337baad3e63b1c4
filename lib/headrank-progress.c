/* headrank command: a progress bar on a terminal, and Ctrl-C as cancellation
 *
 * The bar is drawn on standard error, only when it is a terminal and only once the work has
 * taken longer than a moment, so quick runs and pipes stay clean. SIGINT cancels the
 * GCancellable (from the main thread, at the next update: cancelling from the signal
 * handler itself would not be async-signal-safe).
 */
#include "config.h"

#include "headrank-progress.h"

#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define HR_PROGRESS_DELAY_US (300 * 1000)
#define HR_PROGRESS_WIDTH 30

struct _HrProgress
{
  char *label;
  GCancellable *cancellable;
  gint64 start;
  gint64 last_draw;
  gboolean tty;
  gboolean drawn;
  struct sigaction old_action;
};

static volatile sig_atomic_t interrupted;

static void
hr_progress_on_sigint (int signum)
{
  interrupted = 1;
}

HrProgress *
hr_progress_new (const char *label, GCancellable *cancellable)
{
  HrProgress *progress = g_new0 (HrProgress, 1);
  struct sigaction action = { 0 };

  progress->label = g_strdup (label);
  progress->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  progress->start = g_get_monotonic_time ();
  progress->tty = isatty (STDERR_FILENO) && g_getenv ("HEADRANK_NO_PROGRESS") == NULL;

  interrupted = 0;
  action.sa_handler = hr_progress_on_sigint;
  sigemptyset (&action.sa_mask);
  sigaction (SIGINT, &action, &progress->old_action);
  return progress;
}

void
hr_progress_update (HrProgress *progress, double fraction)
{
  gint64 now = g_get_monotonic_time ();
  int filled;

  if (interrupted && progress->cancellable != NULL)
    g_cancellable_cancel (progress->cancellable);
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
  sigaction (SIGINT, &progress->old_action, NULL);
  g_clear_object (&progress->cancellable);
  g_free (progress->label);
  g_free (progress);
}
