/* headrank: how many threads the library's computations run on */
#include "hr-private.h"
#include "hr-threads.h"

#include <cblas.h>

static gint hr_n_threads; /* atomic; 0: OpenBLAS's number */

/**
 * hr_get_n_threads:
 *
 * Gets the number of threads an analysis, a head's forward pass and the spectra run on:
 * the number given to hr_set_n_threads(), or by default the number of threads OpenBLAS
 * uses (`openblas_get_num_threads()`, which follows the environment variable
 * `OPENBLAS_NUM_THREADS`, else the number of processors). While such a computation runs
 * on more than one thread, OpenBLAS runs single-threaded on each of them (see
 * doc/threads.md).
 *
 * Returns: the number of threads, at least 1
 *
 * Since: 0.2
 */
guint
hr_get_n_threads (void)
{
  gint n = g_atomic_int_get (&hr_n_threads);

  return (guint)(n > 0 ? n : MAX (openblas_get_num_threads (), 1));
}

/**
 * hr_set_n_threads:
 * @n_threads: the number of threads, or 0 for OpenBLAS's number
 *
 * Sets the number of threads the computations that start from now on run on (see
 * hr_get_n_threads()), whatever OpenBLAS's own number is; 1 runs them in the calling thread
 * alone. The `headrank` command sets it to OpenBLAS's number when it starts, makes
 * OpenBLAS single-threaded and stops OpenBLAS's threads, which would otherwise spin for
 * about 0.1 s after being started when the library is loaded.
 *
 * Since: 0.2
 */
void
hr_set_n_threads (guint n_threads)
{
  g_atomic_int_set (&hr_n_threads, (gint)MIN (n_threads, (guint)G_MAXINT));
}
