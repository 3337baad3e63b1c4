/* headrank command: SIGINT, SIGTERM and SIGHUP as cancellation
 *
 * Ctrl-C (SIGINT), `timeout` and SLURM (SIGTERM) and a closed terminal (SIGHUP) all stop a
 * run the same way: the command's GCancellable is cancelled, whatever it is doing, the
 * library removes its temporary files and folders and keeps the previous output, and the
 * command exits with 128 + the signal's number.
 *
 * The handler only records the signal and writes a byte to a pipe (both async-signal-safe);
 * a thread that waits on the pipe cancels the GCancellable. The handlers are installed
 * without SA_RESTART, so a blocking call returns EINTR and the code notices the
 * cancellation at its next check.
 */
#include "config.h"

#include "headrank-signals.h"

#include <glib-unix.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

static const int watched[] = { SIGINT, SIGTERM, SIGHUP };

static volatile sig_atomic_t caught;
static int wake[2] = { -1, -1 };
static GCancellable *watched_cancellable; /* set once, before the handlers */

static void
hr_signals_on_signal (int signum)
{
  int saved = errno;
  char byte = (char)signum;

  if (caught == 0)
    caught = signum;
  if (write (wake[1], &byte, 1) < 0)
    {
      /* the pipe is full: a wake-up is pending already */
    }
  errno = saved;
}

static gpointer
hr_signals_thread (gpointer data)
{
  char byte;

  for (;;)
    {
      ssize_t n = read (wake[0], &byte, 1);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return NULL;
      g_cancellable_cancel (watched_cancellable);
    }
}

/* From now on SIGINT, SIGTERM and SIGHUP cancel @cancellable. Once per process. */
void
hr_signals_watch (GCancellable *cancellable)
{
  struct sigaction action = { 0 };

  g_return_if_fail (watched_cancellable == NULL);
  if (!g_unix_open_pipe (wake, FD_CLOEXEC, NULL))
    return; /* then the signals keep their default action: the run stops at once */
  fcntl (wake[1], F_SETFL, O_NONBLOCK);
  watched_cancellable = g_object_ref (cancellable);
  g_thread_unref (g_thread_new ("headrank-signals", hr_signals_thread, NULL));

  action.sa_handler = hr_signals_on_signal;
  sigemptyset (&action.sa_mask);
  for (gsize i = 0; i < G_N_ELEMENTS (watched); i++)
    sigaddset (&action.sa_mask, watched[i]);
  for (gsize i = 0; i < G_N_ELEMENTS (watched); i++)
    sigaction (watched[i], &action, NULL);
}

/* The first signal caught, or 0. */
int
hr_signals_caught (void)
{
  return caught;
}
