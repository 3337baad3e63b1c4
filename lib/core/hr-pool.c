/* headrank: a small pool of threads for the analysis' pass, and BLAS products split over it
 *
 * OpenBLAS's own threads are woken for every call and, between calls, spin in
 * sched_yield() while the caller does the per-row work of a chunk alone (issue 16: 12 % of
 * a profile at 60,000 × 768). During the pass the analysis instead makes OpenBLAS single-
 * threaded and runs every part of the work, per-row passes and products alike, on a pool of
 * hr_get_n_threads() threads (by default as many as OpenBLAS would have used,
 * openblas_get_num_threads(), which follows OPENBLAS_NUM_THREADS): each product is split into
 * independent pieces of about equal flops, each piece a single-threaded BLAS call, and the threads
 * sleep on a condition variable between jobs instead of spinning in sched_yield().
 *
 * A chunk of the pass is some twenty jobs, most of them a millisecond or less, one after the
 * other. Waking a thread from a condition variable took about 50 µs on this project's
 * machine, and a job's parts differ in time by as much (a core's cache, the other core's
 * interrupts): over a 60,000 × 768 analysis the caller waited 60–75 ms for the other thread
 * at the end of jobs, 3 % of the run (instrumented, 2026-12-06). So a thread waiting for the
 * next job, and the caller waiting for the end of one, first spin for up to
 * HR_POOL_SPIN_US (reading an atomic, with the CPU's pause instruction; never
 * sched_yield()) and only then sleep; and the jobs whose parts cost nothing to split more
 * finely (per-row passes, and the sums of the partial products) are split into
 * HR_POOL_PARTS_PER_THREAD parts per thread, which the threads take as they come free.
 * Together they took that analysis from 2.010 to 1.970 s (medians of 20 alternating runs;
 * doc/threads.md), for 0.5 % more CPU time.
 *
 * openblas_set_num_threads() is global to the process: hr_pool_new_for_blas() sets it to 1
 * for as long as a pool made by it lives (counted, so that passes running at the same time
 * in several threads restore the number only when the last ends) and then restores the
 * number it found. Other BLAS users of the process (a Python host that shares this
 * libopenblas, which numpy's and torch's wheels do not: they bring their own) run single-
 * threaded meanwhile. With one thread (OPENBLAS_NUM_THREADS=1, or a single core) no pool is
 * made and nothing changes. OpenBLAS runs a call on the calling thread when its thread
 * count is 1 (num_cpu_avail() in common_thread.h, 0.3.21), and such calls may come from
 * several threads at once. */
#include "hr-private.h"
#include "hr-pool.h"
#include "hr-threads.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

struct _HrPool
{
  guint n_threads; /* the caller included */
  GThread **threads;
  GMutex lock;
  GCond start, done;
  gint generation; /* bumped for every job (atomic; written with the lock held) */
  gboolean quit;
  gboolean blas; /* made by hr_pool_new_for_blas() */

  /* the current job */
  HrPoolFunc func;
  gpointer data;
  guint n_parts;
  gint next_part; /* atomic */
  gint busy;      /* workers still in the job (atomic; written with the lock held) */

  /* the row split of hr_pool_dsyrk(): the products of parts 1 … n_threads − 1 */
  double *partials;
  gsize partials_size; /* in doubles */
};

static void
hr_pool_work (HrPool *pool)
{
  guint part;

  while ((part = (guint)g_atomic_int_add (&pool->next_part, 1)) < pool->n_parts)
    pool->func (part, pool->data);
}

/* How long a thread spins before it sleeps on a condition variable (see above). */
#define HR_POOL_SPIN_US 100

static inline void
hr_pool_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Spins until *@value is no longer @value_was, for at most HR_POOL_SPIN_US; the caller
 * then checks again with the lock held, and sleeps if it must. */
static void
hr_pool_spin_while (gint *value, gint value_was)
{
  gint64 end = g_get_monotonic_time () + HR_POOL_SPIN_US;

  while (g_atomic_int_get (value) == value_was)
    {
      for (int i = 0; i < 16; i++)
        hr_pool_relax ();
      if (g_get_monotonic_time () > end)
        break;
    }
}

static gpointer
hr_pool_thread (gpointer data)
{
  HrPool *pool = data;
  gint seen = 0;

  for (;;)
    {
      hr_pool_spin_while (&pool->generation, seen);
      g_mutex_lock (&pool->lock);
      while (!pool->quit && g_atomic_int_get (&pool->generation) == seen)
        g_cond_wait (&pool->start, &pool->lock);
      if (pool->quit)
        break;
      seen = g_atomic_int_get (&pool->generation);
      g_mutex_unlock (&pool->lock);
      hr_pool_work (pool);
      g_mutex_lock (&pool->lock);
      if (g_atomic_int_dec_and_test (&pool->busy))
        g_cond_signal (&pool->done);
      g_mutex_unlock (&pool->lock);
    }
  g_mutex_unlock (&pool->lock);
  return NULL;
}

/* A pool of @n_threads threads, the caller of hr_pool_run() being one of them (so @n_threads
 * − 1 are started); NULL for fewer than 2, or when a thread cannot be started. */
HrPool *
hr_pool_new (guint n_threads)
{
  HrPool *pool;

  if (n_threads < 2)
    return NULL;
  pool = g_new0 (HrPool, 1);
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->start);
  g_cond_init (&pool->done);
  pool->threads = g_new0 (GThread *, n_threads - 1);
  pool->n_threads = 1;
  for (guint i = 0; i + 1 < n_threads; i++)
    {
      pool->threads[i] = g_thread_try_new ("headrank-pool", hr_pool_thread, pool, NULL);
      if (pool->threads[i] == NULL)
        break;
      pool->n_threads++;
    }
  if (pool->n_threads < 2)
    {
      hr_pool_free (pool);
      return NULL;
    }
  return pool;
}

/* -- OpenBLAS single-threaded while a pool for it lives ----------------------------------- */

static GMutex hr_blas_lock;
static guint hr_blas_users;
static guint hr_blas_threads; /* the pools' threads while any lives */
static int hr_blas_restore;   /* OpenBLAS's number before the first, back after the last */

/* The threads a pool made now by hr_pool_new_for_blas() would have (1: no pool). */
guint
hr_pool_get_n_threads_for_blas (void)
{
  guint threads;

  g_mutex_lock (&hr_blas_lock);
  threads = hr_blas_users > 0 ? hr_blas_threads : hr_get_n_threads ();
  g_mutex_unlock (&hr_blas_lock);
  return MAX (threads, 1);
}

/* A pool with hr_get_n_threads() threads, OpenBLAS being single-threaded until it is freed;
 * NULL (and OpenBLAS left alone) when that is one thread. OpenBLAS's number is set only
 * when it is not 1 already: setting it starts OpenBLAS's threads again when they were
 * stopped (0.3.21 as Debian builds it), and they would spin for 0.1 s beside the pool's
 * (hr_set_n_threads()). */
HrPool *
hr_pool_new_for_blas (void)
{
  HrPool *pool;
  guint threads;

  g_mutex_lock (&hr_blas_lock);
  threads = hr_blas_users > 0 ? hr_blas_threads : hr_get_n_threads ();
  pool = threads > 1 ? hr_pool_new (threads) : NULL;
  if (pool != NULL)
    {
      pool->blas = TRUE;
      if (hr_blas_users++ == 0)
        {
          hr_blas_threads = threads;
          hr_blas_restore = openblas_get_num_threads ();
          if (hr_blas_restore != 1)
            openblas_set_num_threads (1);
        }
    }
  g_mutex_unlock (&hr_blas_lock);
  return pool;
}

/* Calls @func (@data, NULL) in the calling thread with OpenBLAS at hr_get_n_threads()
 * threads, for work that only OpenBLAS's threads can split (LAPACK's reduction to
 * tridiagonal form: its matrix-vector products and rank-2k updates), and sets OpenBLAS's
 * number back after; as it is while a pool made by hr_pool_new_for_blas() lives (that
 * needs OpenBLAS single-threaded), which waits for the call to end before it starts.
 * OpenBLAS's threads, started again where they were stopped (the command), spin for a
 * while after the call, yielding to the process's other threads. @func runs with the lock
 * of the BLAS pools held: it may not make one (hr_pool_new_for_blas() would wait for it). */
void
hr_blas_run_threaded (GFunc func, gpointer data)
{
  guint threads;
  int was;

  g_mutex_lock (&hr_blas_lock);
  threads = hr_get_n_threads ();
  was = openblas_get_num_threads ();
  if (hr_blas_users > 0 || threads < 2 || was == (int)threads)
    {
      g_mutex_unlock (&hr_blas_lock);
      func (data, NULL);
      return;
    }
  openblas_set_num_threads ((int)threads);
  func (data, NULL);
  openblas_set_num_threads (was);
  g_mutex_unlock (&hr_blas_lock);
}

void
hr_pool_free (HrPool *pool)
{
  if (pool == NULL)
    return;
  g_mutex_lock (&pool->lock);
  pool->quit = TRUE;
  g_atomic_int_inc (&pool->generation); /* ends the spinning */
  g_cond_broadcast (&pool->start);
  g_mutex_unlock (&pool->lock);
  for (guint i = 0; i + 1 < pool->n_threads; i++)
    g_thread_join (pool->threads[i]);
  if (pool->blas)
    {
      g_mutex_lock (&hr_blas_lock);
      if (--hr_blas_users == 0 && hr_blas_restore != 1)
        openblas_set_num_threads (hr_blas_restore);
      g_mutex_unlock (&hr_blas_lock);
    }
  g_free (pool->threads);
  g_free (pool->partials);
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->start);
  g_cond_clear (&pool->done);
  g_free (pool);
}

/* The number of threads, the caller's included: 1 for no pool. */
guint
hr_pool_get_n_threads (HrPool *pool)
{
  return pool != NULL ? pool->n_threads : 1;
}

/* The number of parts to split a job into when its parts cost nothing to split more finely
 * than by thread: HR_POOL_PARTS_PER_THREAD per thread (1 for no pool), taken by the threads
 * as they come free, so that a thread that starts late or runs slow does fewer. */
guint
hr_pool_get_n_parts (HrPool *pool)
{
  return pool != NULL ? pool->n_threads * HR_POOL_PARTS_PER_THREAD : 1;
}

/* Calls @func for each part in [0, @n_parts), spread over the pool's threads and the
 * caller's, and returns when all are done; without a pool, in order in the calling thread.
 * Not reentrant: @func may not run a job on the same pool. */
void
hr_pool_run (HrPool *pool, guint n_parts, HrPoolFunc func, gpointer data)
{
  if (pool == NULL || n_parts < 2)
    {
      for (guint part = 0; part < n_parts; part++)
        func (part, data);
      return;
    }
  g_mutex_lock (&pool->lock);
  pool->func = func;
  pool->data = data;
  pool->n_parts = n_parts;
  g_atomic_int_set (&pool->next_part, 0);
  g_atomic_int_set (&pool->busy, (gint)pool->n_threads - 1);
  g_atomic_int_inc (&pool->generation);
  g_cond_broadcast (&pool->start);
  g_mutex_unlock (&pool->lock);

  hr_pool_work (pool);

  /* spin while the other threads end their parts, as long as each ends within
   * HR_POOL_SPIN_US of the last; then sleep */
  for (gint busy; (busy = g_atomic_int_get (&pool->busy)) > 0;)
    {
      hr_pool_spin_while (&pool->busy, busy);
      if (g_atomic_int_get (&pool->busy) == busy)
        break;
    }
  g_mutex_lock (&pool->lock);
  while (g_atomic_int_get (&pool->busy) > 0)
    g_cond_wait (&pool->done, &pool->lock);
  g_mutex_unlock (&pool->lock);
}

/* After a job over the @n_parts ranges of [0, @n) (hr_pool_split()) in which part @part
 * listed its @count chosen rows at the start of its own range of @list: moves them to
 * @list[@so_far …], after the parts before it, and returns @so_far + @count. Called for the
 * parts in order, it makes the lists of all the parts one contiguous list, in row order. */
gsize
hr_pool_gather (gsize *list, gsize n, guint n_parts, guint part, gsize count, gsize so_far)
{
  gsize first, end;

  hr_pool_split (n, n_parts, part, &first, &end);
  if (so_far != first && count > 0)
    memmove (list + so_far, list + first, count * sizeof (gsize));
  return so_far + count;
}

/* Part @part of [0, @n) split into @n_parts ranges of sizes differing by at most one. */
void
hr_pool_split (gsize n, guint n_parts, guint part, gsize *first, gsize *end)
{
  *first = n / n_parts * part + MIN (part, n % n_parts);
  *end = *first + n / n_parts + (part < n % n_parts);
}

typedef struct
{
  gsize n;
  guint n_parts;
  HrPoolRangeFunc func;
  gpointer data;
} HrRangeJob;

static void
hr_pool_range_part (guint part, gpointer data)
{
  HrRangeJob *job = data;
  gsize first, end;

  hr_pool_split (job->n, job->n_parts, part, &first, &end);
  job->func (first, end, part, job->data);
}

/* Calls @func with each of @n_parts ranges of [0, @n) (hr_pool_split()), on the pool's
 * threads as hr_pool_run() does. */
void
hr_pool_run_ranges (HrPool *pool, gsize n, guint n_parts, HrPoolRangeFunc func, gpointer data)
{
  HrRangeJob job = { n, n_parts, func, data };

  hr_pool_run (pool, n_parts, hr_pool_range_part, &job);
}

/* -- products ----------------------------------------------------------------------------- */

/* Boundaries of the row bands of a product are multiples of this, the width of the
 * kernels' register blocks, where the matrix allows. */
#define HR_POOL_ALIGN 8

typedef struct
{
  gsize d, n;
  const double *y;
  double *p;
  gsize *bands; /* n_parts + 1 row boundaries */
  HrPoolRowsFunc done;
  gpointer data;
  double *partials; /* the row split's products of parts 1 … n_threads − 1 */
} HrSyrkJob;

static void
hr_pool_syrk_part (guint part, gpointer data)
{
  HrSyrkJob *job = data;
  gsize d = job->d, r0 = job->bands[part], r1 = job->bands[part + 1];

  if (r1 <= r0)
    return;
  /* the band's diagonal block, then the block right of it */
  cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)(r1 - r0), (int)job->n, 1.0, job->y + r0,
               (int)d, 0.0, job->p + r0 * d + r0, (int)d);
  if (r1 < d)
    cblas_dgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int)(r1 - r0), (int)(d - r1),
                 (int)job->n, 1.0, job->y + r0, (int)d, job->y + r1, (int)d, 0.0,
                 job->p + r0 * d + r1, (int)d);
  if (job->done != NULL)
    job->done (r0, r1, job->data);
}

typedef double hr_pool_v2d __attribute__ ((vector_size (16)));

/* The row split: part t forms the upper triangle of the product of its own rows, into P
 * for part 0 and into a partial product of the pool's for the others. */
static void
hr_pool_syrk_rows_part (gsize first, gsize end, guint part, gpointer data)
{
  HrSyrkJob *job = data;
  gsize d = job->d;
  double *out = part == 0 ? job->p : job->partials + (part - 1) * d * d;

  cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)(end - first), 1.0,
               job->y + first * d, (int)d, 0.0, out, (int)d);
}

/* …then each thread adds the partial products, in order, into a band of P's rows, a few
 * rows at a time, and hands each few rows to @done while they are in that core's cache
 * (hr_pool_add_partials()). */
#define HR_POOL_SUM_ROWS 8

typedef struct
{
  gsize d;
  const double *partials;
  guint n_partials;
  double *p;
  const gsize *bands; /* n_parts + 1 row boundaries */
  HrPoolRowsFunc done;
  gpointer data;
} HrAddJob;

static void
hr_pool_add_part (guint part, gpointer data)
{
  HrAddJob *job = data;
  gsize d = job->d;

  for (gsize r0 = job->bands[part]; r0 < job->bands[part + 1]; r0 += HR_POOL_SUM_ROWS)
    {
      gsize r1 = MIN (r0 + HR_POOL_SUM_ROWS, job->bands[part + 1]);

      for (gsize i = r0; i < r1; i++)
        for (guint t = 0; t < job->n_partials; t++)
          {
            double *restrict prow = job->p + i * d;
            const double *restrict qrow = job->partials + t * d * d + i * d;
            gsize j = i;

            for (; j + 2 <= d; j += 2)
              {
                hr_pool_v2d a, b;

                memcpy (&a, prow + j, sizeof a);
                memcpy (&b, qrow + j, sizeof b);
                a += b;
                memcpy (prow + j, &a, sizeof a);
              }
            for (; j < d; j++)
              prow[j] += qrow[j];
          }
      if (job->done != NULL)
        job->done (r0, r1, job->data);
    }
}

/* Splits the rows [0, @d) of an upper triangle into @n_parts bands of about the same number
 * of elements, at multiples of HR_POOL_ALIGN where the matrix allows. */
static void
hr_pool_triangle_bands (gsize d, guint n_parts, gsize *bands)
{
  double total = (double)d * (double)(d + 1) / 2;

  bands[0] = 0;
  for (guint t = 1; t < n_parts; t++)
    {
      /* rows [0, r) hold r·d − r(r − 1)/2 ≈ r·d − r²/2 elements: t/n_parts of the total */
      double e = total * t / n_parts;
      double r = (double)d - sqrt (MAX ((double)d * d - 2 * e, 0.0));
      gsize ri = (gsize)((r + HR_POOL_ALIGN / 2.0) / HR_POOL_ALIGN) * HR_POOL_ALIGN;

      bands[t] = CLAMP (ri, bands[t - 1], d);
    }
  bands[n_parts] = d;
}

/* @n_wanted bands of rows of a D-wide matrix, or fewer where it has fewer than
 * HR_POOL_ALIGN rows a band. */
static guint
hr_pool_n_bands (guint n_wanted, gsize d)
{
  return (guint)MIN ((gsize)n_wanted, MAX (d / HR_POOL_ALIGN, 1));
}

/* Adds the @n_partials D × D row-major matrices of @partials, one after the other, into
 * the upper triangle of @p, on the pool's threads: each element gets the partials added in
 * their order, whatever the split. The rows are split into bands with about the same
 * number of elements (hr_pool_triangle_bands()), hr_pool_get_n_parts() of them, which the
 * threads take as they come free, a few rows at a time, and hand to @done, if not NULL,
 * once they are done. */
void
hr_pool_add_partials (HrPool *pool, gsize d, const double *partials, guint n_partials, double *p,
                      HrPoolRowsFunc done, gpointer data)
{
  guint n_bands = hr_pool_n_bands (hr_pool_get_n_parts (pool), d);
  g_autofree gsize *bands = g_new (gsize, n_bands + 1);
  HrAddJob job = { d, partials, n_partials, p, bands, done, data };

  hr_pool_triangle_bands (d, n_bands, bands);
  hr_pool_run (pool, n_bands, hr_pool_add_part, &job);
}

/* Whether hr_pool_dsyrk() splits the rows of Y rather than the columns: when the partial
 * products fit in HR_POOL_PARTIALS_MAX doubles and each part has HR_POOL_MIN_ROWS rows. */
#define HR_POOL_PARTIALS_MAX ((gsize)2 << 20) /* 16 MiB */
#define HR_POOL_MIN_ROWS 256

/* The doubles of partial products hr_pool_dsyrk() splits a D-wide product into on
 * @n_threads threads when it splits the rows: 0 when it does not. */
gsize
hr_pool_dsyrk_partials (guint n_threads, gsize d)
{
  if (n_threads < 2 || d * d > HR_POOL_PARTIALS_MAX / (n_threads - 1))
    return 0;
  return (n_threads - 1) * d * d;
}

static gboolean
hr_pool_split_rows (HrPool *pool, gsize d, gsize n)
{
  guint n_threads = hr_pool_get_n_threads (pool);
  gsize size = hr_pool_dsyrk_partials (n_threads, d);

  if (size == 0 || n < (gsize)n_threads * HR_POOL_MIN_ROWS)
    return FALSE;
  if (pool->partials_size < size)
    {
      double *partials = g_try_new (double, size);

      if (partials == NULL)
        return FALSE;
      g_free (pool->partials);
      pool->partials = partials;
      pool->partials_size = size;
    }
  return TRUE;
}

/* The upper triangle of P = YᵀY (D × D, row-major) for the @n × @d row-major @y, as
 * `cblas_dsyrk` with β = 0 forms it, split over the pool's threads in one of two ways.
 *
 * For D up to 1,448 on 2 threads (the partial products in at most 16 MiB), the rows of Y: each
 * thread forms the whole triangle of its share of the rows with one `dsyrk`, and then each
 * adds those partial products, in order, into one band of P. Every element is then the sum
 * of the same n products in another order (the partial sums of consecutive rows, added
 * after), which the rounding bound of a sum of n products, γ_n·Σ|products|, covers for any
 * order. Each thread packs only its own rows, once: at D = 768 and 2,048 rows on 2 threads
 * this formed the product about 4 % faster than the split below, whose `dgemm` packs the
 * columns right of each band again (112–117 against 108–115 GFLOP/s, 30 products after 3
 * to warm up, 2026-12-06); at D = 2,048 both gave 123–124 GFLOP/s, so wider products keep
 * the split below, which needs no memory of its own.
 *
 * Otherwise, one band of P's rows per thread with about the same number of elements (so
 * flops) each: the band's diagonal block by `dsyrk`, the block right of it by `dgemm`.
 * Every element is the same sum of the same n products, formed by the same kernels; only
 * the blocking of the columns differs.
 *
 * @done, if not NULL, is called with every row once it is done (with a band of rows, or a
 * few rows at a time), in the thread that made it (so that the caller can use the rows
 * while they are in that core's cache). */
void
hr_pool_dsyrk (HrPool *pool, gsize d, gsize n, const double *y, double *p, HrPoolRowsFunc done,
               gpointer data)
{
  guint n_threads = hr_pool_get_n_threads (pool), n_bands;
  g_autofree gsize *bands = NULL;
  HrSyrkJob job = { d, n, y, p, NULL, done, data, NULL };

  if (hr_pool_split_rows (pool, d, n))
    {
      job.partials = pool->partials;
      hr_pool_run_ranges (pool, n, n_threads, hr_pool_syrk_rows_part, &job);
      hr_pool_add_partials (pool, d, pool->partials, n_threads - 1, p, done, data);
      return;
    }
  n_bands = hr_pool_n_bands (hr_pool_get_n_threads (pool), d);
  job.bands = bands = g_new (gsize, n_bands + 1);
  hr_pool_triangle_bands (d, n_bands, bands);
  hr_pool_run (pool, n_bands, hr_pool_syrk_part, &job);
}
