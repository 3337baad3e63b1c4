/* headrank: a small pool of threads that runs a job's parts in parallel, and the BLAS
 * products of the analysis' pass split over it (private) */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _HrPool HrPool;

/* One part of a job: called once for each @part in [0, n_parts), by any thread. */
typedef void (*HrPoolFunc) (guint part, gpointer data);

HrPool *hr_pool_new (guint n_threads);
HrPool *hr_pool_new_for_blas (void);
guint hr_pool_get_n_threads_for_blas (void);
void hr_blas_run_threaded (GFunc func, gpointer data);
void hr_pool_free (HrPool *pool);
guint hr_pool_get_n_threads (HrPool *pool);

/* Parts per thread of the jobs that split finely (hr_pool_get_n_parts()). */
#define HR_POOL_PARTS_PER_THREAD 4

guint hr_pool_get_n_parts (HrPool *pool);
void hr_pool_run (HrPool *pool, guint n_parts, HrPoolFunc func, gpointer data);
void hr_pool_split (gsize n, guint n_parts, guint part, gsize *first, gsize *end);
gsize hr_pool_gather (gsize *list, gsize n, guint n_parts, guint part, gsize count, gsize so_far);

/* One part of a job over rows: rows [@first, @end) of [0, n), as part @part. */
typedef void (*HrPoolRangeFunc) (gsize first, gsize end, guint part, gpointer data);

void hr_pool_run_ranges (HrPool *pool, gsize n, guint n_parts, HrPoolRangeFunc func, gpointer data);

/* Called by hr_pool_dsyrk() once rows [@first, @end) of the product are done, in the
 * thread that made them. */
typedef void (*HrPoolRowsFunc) (gsize first, gsize end, gpointer data);

void hr_pool_dsyrk (HrPool *pool, gsize d, gsize n, const double *y, double *p, HrPoolRowsFunc done,
                    gpointer data);
gsize hr_pool_dsyrk_partials (guint n_threads, gsize d);
void hr_pool_add_partials (HrPool *pool, gsize d, const double *partials, guint n_partials,
                           double *p, HrPoolRowsFunc done, gpointer data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrPool, hr_pool_free)

G_END_DECLS
