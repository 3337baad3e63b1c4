/* headrank: the analysis: the pass over the stacks through the head, its plan and memory
 * budget, the contrastive pass, the verdict and the error of a stage's values */
#include "hr-private.h"
#include "hr-analysis.h"

#include "hr-analysis-internal.h"
#include "hr-analysis-private.h"
#include "hr-contrastive.h"
#include "hr-error.h"
#include "hr-head-private.h"
#include "hr-head.h"
#include "hr-measures-private.h"
#include "hr-moments.h"
#include "hr-pairs.h"
#include "hr-source.h"
#include "hr-sources-private.h"
#include "hr-spectrum.h"
#include "hr-stack-info.h"
#include "hr-types.h"

#include <gio/gio.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* -- the pass --------------------------------------------------------------------------- */

typedef struct
{
  HrAnalysis *self;
  GPtrArray *stages;  /* HrStage, in the order of the report */
  HrStage **by_layer; /* per layer of the head, or NULL */
  HrStage *features;  /* the features stage */
  HrStage *last;      /* the stage the contrastive measures use */
  float *scratch;     /* chunk × HR_PER_SAMPLE_COLUMNS, from the moments */
  gsize scratch_rows;
  double *products; /* the chunks' float64 products, D × D for the widest stage, shared */

  /* pairs: the rows of the last stage kept for them */
  guint64 *pairs; /* n_pairs × 3, HR_NO_NEGATIVE for none */
  gsize n_pairs;
  gboolean has_negatives;
  guint8 *wanted;    /* bitmap over samples, or NULL */
  guint64 *slots_of; /* sorted stack indices of the wanted samples */
  gsize n_slots;
  float *kept;      /* n_slots × d of the last stage, NaN rows until seen */
  float *positives; /* aligned positives: N × d */

  guint64 memory_limit;  /* bytes the spectra may take */
  guint64 memory_needed; /* what the stages planned so far take */
  guint64 map_bytes;     /* of it, the largest map of cross-moments after the pass */

  HrPool *pool; /* the pass's threads, OpenBLAS single-threaded meanwhile (hr-pool.c) */
} HrPass;

#define HR_NO_NEGATIVE G_MAXUINT64

/* @pool (or NULL) for every accumulator of the pass's stages. */
static void
hr_pass_set_pool (HrPass *pass, HrPool *pool)
{
  for (guint i = 0; pass->stages != NULL && i < pass->stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (pass->stages, i);

      if (stage->moments != NULL)
        hr_moments_set_pool (stage->moments, pool);
      if (stage->normalized != NULL)
        hr_moments_set_pool (stage->normalized, pool);
      if (stage->cross != NULL)
        hr_cross_moments_set_pool (stage->cross, pool);
    }
}

/* The pass's threads for every accumulator (see hr-pool.c): as many as OpenBLAS would use,
 * and OpenBLAS single-threaded until hr_pass_end_threads(). */
static void
hr_pass_start_threads (HrPass *pass)
{
  pass->pool = hr_pool_new_for_blas ();
  if (pass->pool != NULL)
    hr_pass_set_pool (pass, pass->pool);
}

/* Once the rows are in: the threads end, and OpenBLAS has its threads again for the
 * eigensolvers. */
static void
hr_pass_end_threads (HrPass *pass)
{
  if (pass->pool == NULL)
    return;
  hr_pass_set_pool (pass, NULL);
  g_clear_pointer (&pass->pool, hr_pool_free);
}

static void
hr_pass_clear (HrPass *pass)
{
  hr_pass_end_threads (pass);
  /* no accumulator that may outlive the pass keeps its shared products scratch */
  for (guint i = 0; pass->stages != NULL && i < pass->stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (pass->stages, i);

      if (stage->moments != NULL)
        hr_moments_release_scratch (stage->moments);
      if (stage->normalized != NULL)
        hr_moments_release_scratch (stage->normalized);
    }
  g_clear_pointer (&pass->stages, g_ptr_array_unref);
  g_free (pass->by_layer);
  g_free (pass->scratch);
  g_free (pass->products);
  g_free (pass->pairs);
  g_free (pass->wanted);
  g_free (pass->slots_of);
  g_free (pass->kept);
  g_free (pass->positives);
}

static gboolean
hr_pass_reserve (HrPass *pass, gsize n_rows)
{
  if (n_rows <= pass->scratch_rows)
    return TRUE;
  g_free (pass->scratch);
  pass->scratch = g_try_new (float, n_rows *HR_PER_SAMPLE_COLUMNS);
  pass->scratch_rows = pass->scratch != NULL ? n_rows : 0;
  return pass->scratch_rows > 0;
}

/* The position of stack index @sample among the wanted ones, or -1. */
static gssize
hr_pass_slot (HrPass *pass, guint64 sample)
{
  gsize lo = 0, hi = pass->n_slots;

  if (pass->wanted == NULL || !(pass->wanted[sample >> 3] & (1u << (sample & 7))))
    return -1;
  while (lo < hi)
    {
      gsize mid = lo + (hi - lo) / 2;
      if (pass->slots_of[mid] < sample)
        lo = mid + 1;
      else
        hi = mid;
    }
  return (gssize)lo;
}

/* Adds @n rows of one stage; samples[r] is the stack index of row r (NULL: @first + r). */
static gboolean
hr_pass_add (HrPass *pass, HrStage *stage, const float *x, gsize n, const guint64 *samples,
             guint64 first, GError **error)
{
  gsize d = stage->dimension;

  if (!hr_pass_reserve (pass, n))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for chunks of %zu samples"), n);
      return FALSE;
    }
  hr_stage_clipping_before (stage);
  hr_moments_add_with_zeros (stage->moments, x, n, pass->scratch);
  hr_stage_count_clipping (stage, x, n, pass->pool);
  if (stage->normalized != NULL)
    for (gsize r0 = 0; r0 < n; r0 += HR_MOMENTS_CHUNK_ROWS)
      {
        gsize nb = MIN (n - r0, (gsize)HR_MOMENTS_CHUNK_ROWS);

        hr_normalize_rows_pool (pass->pool, x + r0 * d, nb, d, stage->normalized_scratch);
        hr_moments_add (stage->normalized, stage->normalized_scratch, nb, NULL);
      }
  for (gsize r = 0; r < n; r++)
    {
      const float *row = x + r * d;
      guint64 sample = samples != NULL ? samples[r] : first + r;

      /* a wide stage keeps its finite rows (the mean is NaN for the others) */
      if (stage->rows != NULL && !isnan (pass->scratch[r * HR_PER_SAMPLE_COLUMNS])
          && stage->n_rows_kept < stage->n_samples)
        memcpy (stage->rows + (stage->n_rows_kept++) * d, row, d * sizeof (float));

      if (stage->table != NULL
          && !hr_sample_table_put (stage->table, sample, pass->scratch + r * HR_PER_SAMPLE_COLUMNS,
                                   error))
        return FALSE;
      if (stage == pass->last)
        {
          gssize slot = hr_pass_slot (pass, sample);

          if (slot >= 0)
            memcpy (pass->kept + (gsize)slot * d, row, d * sizeof (float));
        }
    }
  return TRUE;
}

/* -- non-finite values (doc/analysis.md, "Non-finite values") ------------------------------- */

/* With %HR_NONFINITE_POLICY_ERROR, an error at the first non-finite value @reader has read. */
static gboolean
hr_check_nonfinite_policy (HrAnalysis *self, HrSource *reader, GError **error)
{
  gsize n_positions;
  const guint64 *positions;
  gsize d = hr_source_get_n_features (reader);
  guint64 sample;
  const char *name;

  if (self->nonfinite_policy != HR_NONFINITE_POLICY_ERROR
      || hr_source_get_n_nonfinite (reader) == 0)
    return TRUE;
  positions = hr_source_get_nonfinite_positions (reader, &n_positions);
  sample = n_positions > 0 ? positions[0] / d : 0;
  name = hr_source_locate_sample (reader, &sample);
  g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NON_FINITE,
               /* TRANSLATORS: %s is a file, %llu a sample and a feature index; “error” and
                  “drop” are the values of --nonfinite, left untranslated */
               _ ("%s: sample %llu, feature %llu is NaN or infinite (non-finite policy “error”; "
                  "“drop” leaves such samples out)"),
               name, (unsigned long long)sample,
               (unsigned long long)(n_positions > 0 ? positions[0] % d : 0));
  return FALSE;
}

/* Fewer than 2 samples of @stage were left after dropping the non-finite ones: an error that
 * says why, naming the columns of @reader that are non-finite in every sample (a second
 * read of the stack, only in this case). */
static gboolean
hr_check_enough_finite (HrAnalysis *self, HrSource *reader, HrStage *stage, GError **error)
{
  guint64 kept = hr_moments_get_n_samples (stage->moments);
  gsize n = hr_source_get_n_samples (reader), d = hr_source_get_n_features (reader);
  gsize chunk = 2048, got;
  g_autofree guint64 *count = NULL;
  g_autofree float *rows = NULL;
  g_autoptr (GString) columns = g_string_new (NULL);
  guint64 total = 0;
  guint n_columns = 0;

  if (kept >= 2 || kept == n)
    return TRUE;
  count = g_new0 (guint64, d);
  rows = g_try_new (float, chunk *d);
  if (rows == NULL || !hr_source_seek (reader, 0, error))
    {
      if (rows == NULL)
        g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                     _ ("not enough memory for chunks of %zu samples"), chunk);
      return FALSE;
    }
  for (gsize done = 0; done < n; done += got)
    {
      if (!hr_source_read_into (reader, rows, chunk, &got, NULL, error))
        return FALSE;
      if (got == 0)
        break;
      for (gsize k = 0; k < got * d; k++)
        if (!isfinite (rows[k]))
          count[k % d]++;
    }
  for (gsize j = 0; j < d; j++)
    {
      total += count[j];
      if (count[j] == n && n > 0)
        {
          if (n_columns < 8)
            g_string_append_printf (columns, "%s%zu", n_columns > 0 ? ", " : "", j);
          else if (n_columns == 8)
            g_string_append (columns, ", …");
          n_columns++;
        }
    }
  if (n_columns > 0)
    g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES,
                 /* TRANSLATORS: %s is a file, %u a number of columns, %s their 0-based
                    indices, %zu the number of samples, %llu values */
                 g_dngettext (GETTEXT_PACKAGE,
                              "%s: %u feature column (%s) is NaN or infinite in all %zu samples "
                              "(%llu non-finite values in all), so every sample was left out; "
                              "remove the column from the stack",
                              "%s: %u feature columns (%s) are NaN or infinite in all %zu samples "
                              "(%llu non-finite values in all), so every sample was left out; "
                              "remove the columns from the stack",
                              n_columns),
                 hr_source_get_name (reader), n_columns, columns->str, n,
                 (unsigned long long)total);
  else
    g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES,
                 /* TRANSLATORS: %s is a file, %llu and %zu numbers of samples, %llu of values */
                 _ ("%s: only %llu of %zu samples are free of NaN and infinite values (%llu "
                    "non-finite values in all); a spectrum needs at least 2"),
                 hr_source_get_name (reader), (unsigned long long)kept, n,
                 (unsigned long long)total);
  return FALSE;
}

static gboolean
hr_pass_chunk (const float *features, gsize n, const guint64 *samples, const float *const *stages,
               gpointer data, GError **error)
{
  HrPass *pass = data;

  if (!hr_check_nonfinite_policy (pass->self, pass->self->features, error))
    return FALSE;

  for (guint i = 0; i < pass->stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (pass->stages, i);
      const float *x = stage->layer < 0 ? features : stages[stage->layer];

      if (!hr_pass_add (pass, stage, x, n, samples, 0, error))
        return FALSE;
      if (stage->cross != NULL && stage->cross_source == NULL)
        {
          const double *cx = NULL, *cz = NULL;
          const double *yx = pass->features->moments != NULL
                                 ? hr_moments_peek_centred (pass->features->moments, n, &cx)
                                 : NULL;
          const double *yz = hr_moments_peek_centred (stage->moments, n, &cz);

          /* the rows both moments have just centred: no second copy, one `dgemm` */
          if (yx != NULL && yz != NULL)
            hr_cross_moments_add_centred (stage->cross, yx, cx, yz, cz, n);
          else
            hr_cross_moments_add (stage->cross, features, x, n);
        }
    }
  return TRUE;
}

static gboolean
hr_analysis_wants_spectrum (HrAnalysis *self, const char *name)
{
  for (guint i = 0; self->spectral_stages != NULL && self->spectral_stages[i] != NULL; i++)
    if (strcmp (self->spectral_stages[i], name) == 0
        || strcmp (self->spectral_stages[i], "all") == 0)
      return TRUE;
  return FALSE;
}

/* Whether the activation layers get their spectrum, as they do unless `none` is named. */
static gboolean
hr_analysis_activation_spectra (HrAnalysis *self)
{
  for (guint i = 0; self->spectral_stages != NULL && self->spectral_stages[i] != NULL; i++)
    if (strcmp (self->spectral_stages[i], "none") == 0)
      return FALSE;
  return TRUE;
}

/* The memory bound of the spectra: the one set, or half the physical memory. */
guint64
hr_analysis_memory_limit (HrAnalysis *self)
{
  long pages = sysconf (_SC_PHYS_PAGES), page_size = sysconf (_SC_PAGESIZE);

  if (self->memory_limit > 0)
    return self->memory_limit;
  if (pages <= 0 || page_size <= 0)
    return G_GUINT64_CONSTANT (4) << 30;
  return (guint64)pages * (guint64)page_size / 2;
}

/* Saturating arithmetic for the memory plan. */
static guint64
hr_bytes_mul (guint64 a, guint64 b)
{
  guint64 r;

  return g_uint64_checked_mul (&r, a, b) ? r : G_MAXUINT64;
}

static guint64
hr_bytes_add (guint64 a, guint64 b)
{
  guint64 r;

  return g_uint64_checked_add (&r, a, b) ? r : G_MAXUINT64;
}

/* What a spectrum from the D × D scatter matrix takes: the scatter matrix (8·D²), the
 * eigensolver's copy (8·D²), the scratch for a chunk's products (8·D²; for float32
 * products 4·D² for each of their parts and 8·D² of partial sums for each but the first, as
 * many parts as the pass's threads up to hr_moments_float32_parts()'s cap), the standardised copy
 * (8·D²) when it is used, a chunk of float64 rows, and the partial products of hr_pool_dsyrk()
 * (which the stages share: counted for each, a bound). */
static guint64
hr_scatter_bytes (HrAnalysis *self, guint64 n, gsize d)
{
  guint64 d2 = hr_bytes_mul (d, d);
  guint threads = hr_pool_get_n_threads_for_blas ();
  guint64 per = 16;

  if (self->standardize)
    per += 8;
  if (self->precision == HR_PRECISION_FLOAT32_PRODUCTS
      || (self->precision == HR_PRECISION_AUTO && hr_moments_float32_is_safe (n, d)))
    {
      guint parts = hr_moments_float32_parts (threads, d);

      per += 4 * (guint64)parts + 8 * (guint64)(parts - 1);
    }
  else
    per += 8;
  return hr_bytes_add (
      hr_bytes_add (hr_bytes_mul (d2, per), hr_bytes_mul (8 * HR_MOMENTS_CHUNK_ROWS, d)),
      hr_bytes_mul (8, hr_pool_dsyrk_partials (threads, d)));
}

/* What a spectrum from the kept rows takes: the rows (4·N·D), the two N × N Gram matrices
 * (16·N²) and two blocks of 1,024 float64 columns (16·1024·N). */
static guint64
hr_rows_bytes (guint64 n, gsize d)
{
  return hr_bytes_add (hr_bytes_add (hr_bytes_mul (4 * n, d), hr_bytes_mul (16 * n, n)),
                       hr_bytes_mul (16 * 1024, n));
}

/* Adds @bytes to the plan, or fails when they pass the bound. */
static gboolean
hr_pass_budget (HrPass *pass, HrStage *stage, guint64 bytes, const char *what, GError **error)
{
  g_autofree char *need = NULL, *limit = NULL, *total = NULL;
  guint64 sum = hr_bytes_add (pass->memory_needed, bytes);

  if (sum <= pass->memory_limit)
    {
      pass->memory_needed = sum;
      return TRUE;
    }
  need = g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
  total = g_format_size_full (sum, G_FORMAT_SIZE_IEC_UNITS);
  limit = g_format_size_full (pass->memory_limit, G_FORMAT_SIZE_IEC_UNITS);
  if (pass->memory_needed == 0)
    g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_MEMORY_LIMIT,
                 /* TRANSLATORS: %s: a stage name; then what needs the memory (e.g. "the
                  * 100000 × 100000 scatter matrix"), then sizes such as "74.5 GiB" */
                 _ ("stage %s: %s needs %s, more than the memory limit of %s"), stage->name, what,
                 need, limit);
  else
    g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_MEMORY_LIMIT,
                 /* TRANSLATORS: %s: a stage name; then what needs the memory (e.g. "the
                  * 100000 × 100000 scatter matrix"), then sizes such as "74.5 GiB" */
                 _ ("stage %s: %s needs %s (%s with the stages before), more than the memory "
                    "limit of %s"),
                 stage->name, what, need, total, limit);
  return FALSE;
}

/* Plans a stage's spectrum before anything is allocated: from the D × D scatter matrix,
 * or, for a wide stage (N < D, N known from the stack's header), from its rows kept in
 * memory and the N × N Gram matrices; refuses when the memory bound would be passed. */
static gboolean
hr_pass_plan_spectrum (HrPass *pass, HrStage *stage, GError **error)
{
  HrAnalysis *self = pass->self;
  guint64 n = stage->n_samples;
  gsize d = stage->dimension;
  g_autofree char *what = NULL;

  if (!stage->wants_spectrum)
    return TRUE;
  /* N = 0 is an empty stack or an unknown length: the scatter matrix, which does not
   * depend on N */
  if (n > 0 && n < (guint64)d && !self->partial)
    {
      what = g_strdup_printf (
          /* TRANSLATORS: the subject of "… needs 2.0 GiB" in the memory-limit error */
          _ ("keeping the %llu × %zu samples for their Gram matrix"), (unsigned long long)n, d);
      if (!hr_pass_budget (pass, stage, hr_rows_bytes (n, d), what, error))
        return FALSE;
      stage->rows = g_try_new (float, (gsize)n *d);
      if (stage->rows == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                       _ ("not enough memory for the samples of stage %s"), stage->name);
          return FALSE;
        }
      return TRUE;
    }
  what = g_strdup_printf (
      /* TRANSLATORS: the subject of "… needs 2.0 GiB" in the memory-limit error */
      _ ("the %zu × %zu scatter matrix"), d, d);
  if (!hr_pass_budget (pass, stage, hr_scatter_bytes (self, n, d), what, error))
    return FALSE;
  if (d > G_MAXINT)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("A dimension of %zu is too large for a scatter matrix"), d);
      return FALSE;
    }
  return TRUE;
}

/* The stage whose cross-moments with the features give those of @stage by the affine map
 * of the layers between (hr_head_layer_is_affine()): the nearest stage before it with
 * cross-moments, or the features themselves (their scatter matrix is XᵀX), reached
 * through affine layers only; or NULL, and @stage's are accumulated in the pass. A
 * product of N·D_x·D_z flops becomes one of D_x·D_t·D_z (doc/analysis.md, "CKA"). */
static HrStage *
hr_pass_cross_source (HrPass *pass, HrStage *stage)
{
  HrAnalysis *self = pass->self;

  if (self->head == NULL || stage->layer < 0)
    return NULL;
  for (int j = stage->layer - 1; j >= -1; j--)
    {
      if (!hr_head_layer_is_affine (self->head, self->mode, (guint)(j + 1)))
        return NULL;
      /* the features' scatter matrix, when its products are float64 like the pass's
       * cross-moments (float32 products would carry their larger error into the CKA) */
      if (j < 0)
        return pass->features->rows == NULL && pass->features->moments != NULL
                       && hr_moments_get_precision (pass->features->moments) == HR_PRECISION_FLOAT64
                   ? pass->features
                   : NULL;
      if (pass->by_layer[j] != NULL && pass->by_layer[j]->cross != NULL)
        return pass->by_layer[j];
    }
  return NULL;
}

/* After the pass: the cross-moments of the stages with a cross_source, in the order of the
 * stages (a source's own may be mapped too), over the source's rows. The stage keeps the
 * same rows: a NaN or an infinity stays one through the layers between, and a finite row
 * they would overflow stops the run (HR_HEAD_ERROR); should the counts differ all the
 * same, hr_stage_compute_cka() gives the stage no CKA, as it gives none to a stage whose
 * rows differ from the features'. */
static gboolean
hr_pass_map_cross (HrPass *pass, GError **error)
{
  HrAnalysis *self = pass->self;

  for (guint i = 0; i < pass->stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (pass->stages, i), *t = stage->cross_source;
      g_autofree double *a = NULL, *c = NULL;

      if (stage->cross == NULL || t == NULL)
        continue;
      a = hr_head_affine_map (self->head, self->mode, (guint)(t->layer + 1), (guint)stage->layer,
                              &c);
      if (a == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                       _ ("not enough memory for the cross-moments of stage %s"), stage->name);
          return FALSE;
        }
      if (t == pass->features)
        hr_cross_moments_set_affine (stage->cross, hr_moments_get_n_samples (t->moments),
                                     hr_moments_peek_mean (t->moments),
                                     hr_moments_peek_scatter (t->moments),
                                     hr_moments_peek_mean (t->moments), t->dimension, a, c);
      else
        {
          HrCrossMomentsState st;

          hr_cross_moments_get_state (t->cross, &st);
          hr_cross_moments_set_affine (stage->cross, *st.n, st.mx, st.c, st.mz, t->dimension, a, c);
        }
    }
  return TRUE;
}

/* The accumulators of the projections' normalised rows, and the cross-moments with the
 * features of the projections and of every hidden stage with a spectrum. */
static gboolean
hr_pass_plan_measures (HrPass *pass, HrStage *stage, GError **error)
{
  HrAnalysis *self = pass->self;
  HrStage *features = pass->features;
  gsize d = stage->dimension;

  if (stage->role == HR_STAGE_ROLE_PROJECTIONS && stage->rows == NULL)
    {
      g_autofree char *what = g_strdup_printf (
          /* TRANSLATORS: the subject of "… needs 2.0 GiB" in the memory-limit error */
          _ ("the %zu × %zu scatter matrix of the normalised projections"), d, d);

      if (!hr_pass_budget (pass, stage,
                           hr_bytes_add (hr_scatter_bytes (self, stage->n_samples, d),
                                         hr_bytes_mul (4 * HR_MOMENTS_CHUNK_ROWS, d)),
                           what, error))
        return FALSE;
      stage->normalized = hr_moments_new (d, stage->n_samples, self->precision);
      stage->normalized_scratch = g_try_new (float, (gsize)HR_MOMENTS_CHUNK_ROWS *d);
      if (stage->normalized_scratch == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                       _ ("not enough memory for chunks of %zu samples"),
                       (gsize)HR_MOMENTS_CHUNK_ROWS);
          return FALSE;
        }
    }
  if (stage != features && stage->wants_spectrum)
    {
      guint64 bytes = hr_cross_moments_bytes (features->dimension, d);
      g_autofree char *what = g_strdup_printf (
          /* TRANSLATORS: the subject of "… needs 2.0 GiB" in the memory-limit error */
          _ ("the %zu × %zu cross-moments with the features"), features->dimension, d);

      /* with the rows of a wide stage kept instead of a scatter matrix, the cross-moments
       * are made only when they fit in the memory limit: a wide run that fitted without them
       * still runs, without CKA (doc/analysis.md) */
      if (stage->rows != NULL || features->rows != NULL)
        {
          if (hr_bytes_add (pass->memory_needed, bytes) > pass->memory_limit)
            return TRUE;
        }
      if (!hr_pass_budget (pass, stage, bytes, what, error))
        return FALSE;
      stage->cross = hr_cross_moments_new (features->dimension, d);
      if (stage->cross == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                       _ ("not enough memory for the cross-moments of stage %s"), stage->name);
          return FALSE;
        }
      stage->cross_source = hr_pass_cross_source (pass, stage);
    }
  return TRUE;
}

/* The maps of cross-moments after the pass (hr_pass_map_cross()), planned once every stage
 * is: one stage at a time, so the plan holds the largest map's scratch; a stage whose map
 * would pass the memory limit has its cross-moments accumulated in the pass instead, which
 * needs nothing more. */
static void
hr_pass_plan_maps (HrPass *pass)
{
  for (guint i = 0; i < pass->stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (pass->stages, i);
      guint64 map;

      if (stage->cross_source == NULL)
        continue;
      map = hr_head_affine_map_bytes (pass->self->head, (guint)(stage->cross_source->layer + 1),
                                      (guint)stage->layer);
      if (map <= pass->map_bytes)
        continue;
      if (hr_bytes_add (pass->memory_needed, map - pass->map_bytes) > pass->memory_limit)
        stage->cross_source = NULL;
      else
        {
          pass->memory_needed += map - pass->map_bytes;
          pass->map_bytes = map;
        }
    }
}

static HrStage *
hr_pass_add_stage (HrPass *pass, HrStage *stage, GError **error)
{
  HrAnalysis *self = pass->self;

  if (!hr_pass_plan_spectrum (pass, stage, error) || !hr_pass_plan_measures (pass, stage, error))
    {
      g_object_unref (stage);
      return NULL;
    }
  /* the stages without a spectrum, and the wide ones, need no D × D scatter matrix */
  stage->moments = stage->wants_spectrum && stage->rows == NULL
                       ? hr_moments_new (stage->dimension, stage->n_samples, self->precision)
                       : hr_moments_new_diagonal (stage->dimension);
  /* a part made for a report without per-sample table leaves the tables out (doc/partial.md) */
  if (!(self->partial && self->per_sample_format == HR_PER_SAMPLE_FORMAT_NONE))
    {
      stage->table = hr_sample_table_new (error);
      if (stage->table == NULL)
        {
          g_object_unref (stage);
          return NULL;
        }
    }
  g_ptr_array_add (pass->stages, stage);
  return stage;
}

/* Decides the stages; checks the names and the shapes. */
static gboolean
hr_pass_plan (HrPass *pass, GError **error)
{
  HrAnalysis *self = pass->self;
  guint64 n = hr_source_get_n_samples (self->features);
  gsize d = hr_source_get_n_features (self->features);
  HrStage *stage;

  if (!hr_source_check_known_length (self->features, error)
      || (self->projections != NULL && !hr_source_check_known_length (self->projections, error))
      || (self->positives != NULL && !hr_source_check_known_length (self->positives, error)))
    return FALSE;
  pass->stages = g_ptr_array_new_with_free_func (g_object_unref);
  pass->memory_limit = hr_analysis_memory_limit (self);
  stage = hr_stage_new ("features", HR_STAGE_ROLE_FEATURES, -1, HR_LAYER_LINEAR, d, n, TRUE);
  pass->features = stage;
  if (hr_pass_add_stage (pass, stage, error) == NULL)
    {
      pass->features = NULL;
      return FALSE;
    }
  pass->last = pass->features;

  for (guint i = 0; self->spectral_stages != NULL && self->spectral_stages[i] != NULL; i++)
    {
      const char *name = self->spectral_stages[i];

      /* the features and the projections always have a spectrum */
      if (strcmp (name, "all") == 0 || strcmp (name, "none") == 0 || strcmp (name, "features") == 0
          || strcmp (name, "projections") == 0)
        continue;
      if (self->head == NULL || hr_head_find_stage (self->head, name) < 0)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                       self->head == NULL ? _ ("there is no head, so no stage %s")
                                          : _ ("the head has no stage %s"),
                       name);
          return FALSE;
        }
    }

  if (self->head != NULL)
    {
      guint L = hr_head_get_n_layers (self->head);

      if (hr_head_get_in_features (self->head) != d)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                       _ ("%s: the head takes %zu features, the stack has %zu"),
                       hr_source_get_name (self->features), hr_head_get_in_features (self->head),
                       d);
          return FALSE;
        }
      pass->by_layer = g_new0 (HrStage *, L);
      for (guint i = 0; i < L; i++)
        {
          HrLayerKind kind = hr_head_get_layer_kind (self->head, i);
          const char *name = hr_head_get_layer_name (self->head, i);
          gboolean last = i + 1 == L;
          gboolean activation = hr_layer_kind_is_activation (kind);
          /* the activations' spectra by default: where a ReLU inflates rank (issue 16) */
          gboolean spectrum = last || hr_analysis_wants_spectrum (self, name)
                              || (activation && hr_analysis_activation_spectra (self));

          if (!last && !activation && !spectrum)
            continue;
          stage = hr_stage_new (last ? "projections" : name,
                                last ? HR_STAGE_ROLE_PROJECTIONS : HR_STAGE_ROLE_HIDDEN, (int)i,
                                kind, hr_head_get_layer_out_features (self->head, i), n, spectrum);
          if ((pass->by_layer[i] = hr_pass_add_stage (pass, stage, error)) == NULL)
            return FALSE;
          pass->last = pass->by_layer[i];
        }
      hr_pass_plan_maps (pass);
    }
  else if (self->projections != NULL)
    {
      if (hr_source_get_n_samples (self->projections) != n)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                       _ ("%s has %zu samples, the features %zu"),
                       hr_source_get_name (self->projections),
                       hr_source_get_n_samples (self->projections), (gsize)n);
          return FALSE;
        }
      stage = hr_stage_new ("projections", HR_STAGE_ROLE_PROJECTIONS, -1, HR_LAYER_LINEAR,
                            hr_source_get_n_features (self->projections), n, TRUE);
      if ((pass->last = hr_pass_add_stage (pass, stage, error)) == NULL)
        return FALSE;
    }
  return TRUE;
}

/* Where the pairs come from, for messages about them: the pair file, or the positives
 * stack. */
static const char *
hr_analysis_pairs_source (HrAnalysis *self)
{
  if (self->positives != NULL)
    return hr_source_get_name (self->positives);
  if (self->pairs != NULL && hr_pairs_get_path (self->pairs) != NULL)
    return hr_pairs_get_path (self->pairs);
  return self->pairs_file != NULL ? self->pairs_file : hr_source_get_name (self->features);
}

/* The pairs of a part: those whose anchor is one of the part's @n samples, numbered from
 * self->first_sample in the list, renumbered from 0; their positive and negative must be
 * the part's too. Notes the list in self->part_pairs. */
static gboolean
hr_pass_take_pairs (HrPass *pass, HrPairs *pairs, const guint64 *indices, gsize n_pairs, guint64 n,
                    GError **error)
{
  HrAnalysis *self = pass->self;
  guint64 first = self->first_sample;
  g_autoptr (GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
  HrPartPairs *pp;

  for (gsize i = 0; i < n_pairs; i++)
    {
      const guint64 *t = indices + 3 * i;
      guint64 le[3];

      for (int c = 0; c < 3; c++)
        le[c] = GUINT64_TO_LE (t[c]);
      g_checksum_update (sha, (const guchar *)le, sizeof le);
      if (t[0] < first || t[0] - first >= n)
        continue; /* another part's */
      for (int c = 1; c < 3; c++)
        if (t[c] != HR_NO_NEGATIVE && (t[c] < first || t[c] - first >= n))
          {
            g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                         c == 1
                             /* TRANSLATORS: %s: the pair file; a pair's number (from 0, as in
                                the other messages about pairs), its anchor and its positive,
                                then the part's first and last sample */
                             ? _ ("%s: pair %zu (anchor %" PRIu64 ", positive %" PRIu64
                                  ") spans parts: the part holds samples %" PRIu64 " to %" PRIu64
                                  "; a pair's samples must lie in the same part")
                             /* TRANSLATORS: %s: the pair file; a pair's number (from 0, as in
                                the other messages about pairs), its anchor and its negative,
                                then the part's first and last sample */
                             : _ ("%s: pair %zu (anchor %" PRIu64 ", negative %" PRIu64
                                  ") spans parts: the part holds samples %" PRIu64 " to %" PRIu64
                                  "; a pair's samples must lie in the same part"),
                         hr_analysis_pairs_source (self), i, t[0], t[c], first, first + n - 1);
            return FALSE;
          }
      for (int c = 0; c < 3; c++)
        pass->pairs[3 * pass->n_pairs + c] = t[c] == HR_NO_NEGATIVE ? t[c] : t[c] - first;
      pass->n_pairs++;
    }
  g_clear_pointer (&self->part_pairs, hr_part_pairs_free);
  pp = self->part_pairs = g_new0 (HrPartPairs, 1);
  pp->checksum = g_strdup (g_checksum_get_string (sha));
  pp->n_listed = n_pairs;
  pp->n_taken = pass->n_pairs;
  pp->origin = hr_pairs_get_origin (pairs);
  pp->source = g_strdup (hr_pairs_get_path (pairs));
  pp->dt = hr_pairs_get_dt (pairs);
  pp->columns = g_strdupv ((char **)hr_pairs_get_columns (pairs));
  pp->n_rows = hr_pairs_get_n_rows (pairs);
  pp->n_rows_missing = hr_pairs_get_n_rows_missing (pairs);
  return TRUE;
}

/* Reads the pairs and marks the samples whose last-stage rows the pass keeps. */
static gboolean
hr_pass_plan_pairs (HrPass *pass, GError **error)
{
  HrAnalysis *self = pass->self;
  guint64 n = hr_source_get_n_samples (self->features);
  gsize d = pass->last->dimension, k = 0;

  if (self->positives != NULL)
    {
      HrSource *ref
          = self->head == NULL && self->projections != NULL ? self->projections : self->features;

      if (hr_source_get_n_samples (self->positives) != n
          || hr_source_get_n_features (self->positives) != hr_source_get_n_features (ref))
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                       _ ("%s holds %zu × %zu values; positives aligned with %s need %zu × %zu"),
                       hr_source_get_name (self->positives),
                       hr_source_get_n_samples (self->positives),
                       hr_source_get_n_features (self->positives), hr_source_get_name (ref),
                       (gsize)n, hr_source_get_n_features (ref));
          return FALSE;
        }
      /* every sample is an anchor */
      pass->n_pairs = (gsize)n;
      pass->pairs = g_try_new (guint64, MAX (pass->n_pairs, 1) * 3);
      if (pass->pairs == NULL)
        goto oom;
      for (gsize i = 0; i < pass->n_pairs; i++)
        {
          pass->pairs[3 * i] = pass->pairs[3 * i + 1] = i;
          pass->pairs[3 * i + 2] = HR_NO_NEGATIVE;
        }
      if (self->partial)
        {
          g_clear_pointer (&self->part_pairs, hr_part_pairs_free);
          self->part_pairs = g_new0 (HrPartPairs, 1);
          self->part_pairs->positives = TRUE;
          self->part_pairs->source = g_strdup (hr_source_get_name (self->positives));
          self->part_pairs->n_taken = pass->n_pairs;
        }
    }
  else if (self->pairs_file != NULL || self->pairs != NULL)
    {
      g_autoptr (HrPairs) pairs
          = self->pairs != NULL
                ? hr_pairs_ref (self->pairs)
                : hr_pairs_new_from_file (self->pairs_file, self->partial ? G_MAXUINT64 : n, error);
      gsize n_pairs = 0;
      const guint64 *indices;

      if (pairs == NULL)
        return FALSE;
      if (!self->partial && !hr_pairs_check (pairs, n, error))
        {
          g_prefix_error (error, "%s: ", hr_analysis_pairs_source (self));
          return FALSE;
        }
      indices = hr_pairs_peek_indices (pairs, &n_pairs);
      pass->has_negatives = hr_pairs_has_negatives (pairs);
      pass->pairs = g_try_new (guint64, MAX (n_pairs, 1) * 3);
      if (pass->pairs == NULL)
        goto oom;
      if (self->partial)
        {
          /* a part takes the pairs whose anchor it holds (doc/partial.md) */
          if (!hr_pass_take_pairs (pass, pairs, indices, n_pairs, n, error))
            return FALSE;
        }
      else
        {
          pass->n_pairs = n_pairs;
          memcpy (pass->pairs, indices, n_pairs * 3 * sizeof (guint64));
        }
      g_clear_pointer (&self->pairs_used, hr_pairs_unref);
      self->pairs_used = g_steal_pointer (&pairs);
    }
  else
    return TRUE;

  pass->wanted = g_try_malloc0 ((gsize)(n / 8 + 1));
  if (pass->wanted == NULL)
    goto oom;
  for (gsize i = 0; i < pass->n_pairs; i++)
    for (int c = 0; c < 3; c++)
      {
        guint64 s = pass->pairs[3 * i + c];

        /* with aligned positives, only the anchors come from this pass */
        if (s == HR_NO_NEGATIVE || (self->positives != NULL && c > 0))
          continue;
        if (!(pass->wanted[s >> 3] & (1u << (s & 7))))
          {
            pass->wanted[s >> 3] |= (guint8)(1u << (s & 7));
            pass->n_slots++;
          }
      }
  pass->slots_of = g_try_new (guint64, MAX (pass->n_slots, 1));
  pass->kept = g_try_new (float, MAX (pass->n_slots, 1) * d);
  if (pass->slots_of == NULL || pass->kept == NULL)
    goto oom;
  for (guint64 s = 0; s < n; s++)
    if (pass->wanted[s >> 3] & (1u << (s & 7)))
      pass->slots_of[k++] = s;
  for (gsize i = 0; i < pass->n_slots * d; i++)
    pass->kept[i] = NAN;
  return TRUE;

oom:
  /* TRANSLATORS: %s is the pair file (or the positives stack) */
  g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
               _ ("%s: not enough memory for the rows of %zu pairs"),
               hr_analysis_pairs_source (self), pass->n_pairs);
  return FALSE;
}

/* Whether every value of a row is finite. */
static gboolean
hr_row_is_finite (const float *row, gsize d)
{
  gboolean finite = TRUE;

  for (gsize j = 0; j < d; j++)
    finite &= isfinite (row[j]) != 0;
  return finite;
}

/* A sample is dropped from every stage or from none: where only one of the two rows of a
 * sample holds a non-finite value, the other is marked (its first value set to NaN) so
 * that its moments leave it out too. Returns the number of values so marked, which are not
 * the input's and are taken off the count of non-finite values. */
static guint64
hr_drop_together (float *rows[2], HrStage *stages[2], gsize n)
{
  guint64 marked = 0;

  for (gsize r = 0; r < n; r++)
    {
      float *a = rows[0] + r * stages[0]->dimension, *b = rows[1] + r * stages[1]->dimension;
      gboolean fa = hr_row_is_finite (a, stages[0]->dimension);
      gboolean fb = hr_row_is_finite (b, stages[1]->dimension);

      if (fa != fb)
        {
          (fa ? a : b)[0] = NAN;
          stages[fa ? 0 : 1]->n_marked++;
          marked++;
        }
    }
  return marked;
}

/* The pass without a head: the features and, alongside, the given projections. */
static gboolean
hr_pass_run_stacks (HrPass *pass, HrProgress *progress, GCancellable *cancellable, GError **error)
{
  HrAnalysis *self = pass->self;
  HrSource *readers[2] = { self->features, self->projections };
  HrStage *stages[2] = { pass->features, self->projections != NULL ? pass->last : NULL };
  gsize n = hr_source_get_n_samples (self->features);
  gsize chunk = CLAMP (hr_source_get_preferred_chunk (self->features), 256, 2048);
  float *rows[2] = { NULL, NULL };
  gsize got[2];
  guint64 marked = 0;
  gboolean ok = FALSE;

  chunk = MAX ((gsize)1, MIN (chunk, n));
  for (int k = 0; k < 2 && stages[k] != NULL; k++)
    {
      if (!hr_source_seek (readers[k], 0, error))
        return FALSE;
      rows[k] = g_try_new (float, chunk *stages[k]->dimension);
      if (rows[k] == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                       _ ("not enough memory for chunks of %zu samples"), chunk);
          return FALSE;
        }
    }
  for (gsize done = 0; done < n; done += got[0])
    {
      for (int k = 0; k < 2 && stages[k] != NULL; k++)
        {
          if (!hr_source_read_into (readers[k], rows[k], chunk, &got[k], cancellable, error)
              || !hr_check_nonfinite_policy (self, readers[k], error))
            goto out;
        }
      if (stages[1] != NULL && stages[1]->cross != NULL && got[1] == got[0])
        hr_cross_moments_add (stages[1]->cross, rows[0], rows[1], got[0]);
      if (got[0] == 0 || (stages[1] != NULL && got[1] != got[0]))
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                       _ ("%s ended after %zu of its %zu samples"),
                       hr_source_get_name (self->features), done, n);
          goto out;
        }
      if (stages[1] != NULL)
        marked += hr_drop_together (rows, stages, got[0]);
      for (int k = 0; k < 2 && stages[k] != NULL; k++)
        if (!hr_pass_add (pass, stages[k], rows[k], got[k], NULL, done, error))
          goto out;
      hr_progress_report ((double)(done + got[0]) / n, progress);
    }
  for (int k = 0; k < 2 && stages[k] != NULL; k++)
    {
      self->n_dropped += hr_moments_get_n_dropped (stages[k]->moments) * (k == 0);
      self->n_nonfinite += hr_moments_get_n_nonfinite (stages[k]->moments);
    }
  self->n_nonfinite -= marked;
  ok = TRUE;

out:
  g_free (rows[0]);
  g_free (rows[1]);
  return ok;
}

typedef struct
{
  float *out;
  gsize d;
  guint last;
} HrPositivesPass;

static gboolean
hr_positives_chunk (const float *features, gsize n, const guint64 *samples,
                    const float *const *stages, gpointer data, GError **error)
{
  HrPositivesPass *pp = data;
  const float *x = stages != NULL ? stages[pp->last] : features;

  for (gsize r = 0; r < n; r++)
    memcpy (pp->out + samples[r] * pp->d, x + r * pp->d, pp->d * sizeof (float));
  return TRUE;
}

/* The positives' rows of the last stage: through the head, or read as they are. */
static gboolean
hr_pass_run_positives (HrPass *pass, HrProgress *progress, GCancellable *cancellable,
                       GError **error)
{
  HrAnalysis *self = pass->self;
  gsize n = hr_source_get_n_samples (self->positives), d = pass->last->dimension;
  HrPositivesPass pp = { NULL, d, 0 };
  guint64 dropped, nonfinite;

  pass->positives = g_try_new (float, MAX (n, 1) * d);
  if (pass->positives == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("%s: not enough memory for the rows of %zu pairs"),
                   hr_analysis_pairs_source (self), n);
      return FALSE;
    }
  for (gsize i = 0; i < n * d; i++)
    pass->positives[i] = NAN;
  pp.out = pass->positives;
  if (self->head != NULL)
    {
      guint L = hr_head_get_n_layers (self->head);
      g_autofree gboolean *keep = g_new0 (gboolean, L);

      keep[L - 1] = TRUE;
      pp.last = L - 1;
      if (!hr_head_stream (self->head, self->positives, self->mode, self->batch_size, keep,
                           pass->pool, hr_positives_chunk, &pp, &dropped, &nonfinite,
                           hr_progress_report, progress, cancellable, error))
        return FALSE;
      self->n_nonfinite += nonfinite;
      return TRUE;
    }
  else
    {
      gsize chunk = CLAMP (hr_source_get_preferred_chunk (self->positives), 256, 2048);
      g_autofree float *rows = g_try_new (float, chunk *d);
      g_autofree guint64 *samples = g_try_new (guint64, chunk);
      gsize got;

      if (rows == NULL || samples == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                       _ ("%s: not enough memory for the rows of %zu pairs"),
                       hr_analysis_pairs_source (self), chunk);
          return FALSE;
        }

      if (!hr_source_seek (self->positives, 0, error))
        return FALSE;
      for (gsize done = 0; done < n; done += got)
        {
          if (!hr_source_read_into (self->positives, rows, chunk, &got, cancellable, error))
            return FALSE;
          if (got == 0)
            break;
          for (gsize r = 0; r < got; r++)
            samples[r] = done + r;
          hr_positives_chunk (rows, got, samples, NULL, &pp, error);
          hr_progress_report ((double)(done + got) / n, progress);
        }
    }
  return TRUE;
}

/* The rows of the pairs whose rows are all finite into @a, @p and @ng (with negatives);
 * counts the others in @skipped. Returns the number of pairs copied. */
static gsize
hr_pass_pair_rows (HrPass *pass, float *a, float *p, float *ng, guint64 *skipped)
{
  HrAnalysis *self = pass->self;
  gsize d = pass->last->dimension, used = 0;

  for (gsize i = 0; i < pass->n_pairs; i++)
    {
      const guint64 *t = pass->pairs + 3 * i;
      const float *ra = pass->kept + (gsize)hr_pass_slot (pass, t[0]) * d;
      const float *rp = self->positives != NULL ? pass->positives + t[1] * d
                                                : pass->kept + (gsize)hr_pass_slot (pass, t[1]) * d;
      const float *rn
          = pass->has_negatives ? pass->kept + (gsize)hr_pass_slot (pass, t[2]) * d : NULL;

      if (!hr_row_is_finite (ra, d) || !hr_row_is_finite (rp, d)
          || (rn != NULL && !hr_row_is_finite (rn, d)))
        {
          (*skipped)++;
          continue;
        }
      memcpy (a + used * d, ra, d * sizeof (float));
      memcpy (p + used * d, rp, d * sizeof (float));
      if (rn != NULL)
        memcpy (ng + used * d, rn, d * sizeof (float));
      used++;
    }
  return used;
}

/* Buffers for the rows of the pairs' anchors, positives and (if explicit) negatives. */
static gboolean
hr_pass_pair_buffers (HrPass *pass, float **a, float **p, float **ng, GError **error)
{
  gsize d = pass->last->dimension, n = MAX (pass->n_pairs, 1);

  *a = g_try_new (float, n *d);
  *p = g_try_new (float, n *d);
  if (pass->has_negatives)
    *ng = g_try_new (float, n *d);
  if (*a == NULL || *p == NULL || (pass->has_negatives && *ng == NULL))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("%s: not enough memory for the rows of %zu pairs"),
                   hr_analysis_pairs_source (pass->self), pass->n_pairs);
      return FALSE;
    }
  return TRUE;
}

/* Whether LiDAR is computed for pairs of dimension @d: when five D × D float64 matrices
 * (40·D² bytes) fit under the memory limit. A threshold, not the peak:
 * hr_lidar_of_sums() holds the sums' two matrices and four of its own, besides dsyevd's
 * workspace. */
static gboolean
hr_pass_lidar_fits (HrAnalysis *self, gsize d)
{
  return hr_bytes_mul (40 * (guint64)d, d) <= hr_analysis_memory_limit (self);
}

/* The contrastive measures over the pairs whose rows are all finite. */
static gboolean
hr_pass_contrastive (HrPass *pass, GError **error)
{
  HrAnalysis *self = pass->self;
  gsize d = pass->last->dimension, used = 0;
  g_autofree float *a = NULL, *p = NULL, *ng = NULL;

  if (!hr_pass_pair_buffers (pass, &a, &p, &ng, error))
    return FALSE;
  used = hr_pass_pair_rows (pass, a, p, ng, &self->n_pairs_skipped);
  self->contrastive = hr_contrastive_new (a, p, ng, used, d, self->pair_batch, self->temperature,
                                          self->margin, error);
  if (self->contrastive == NULL)
    {
      /* "contrastive measures need at least two pairs": about the pairs, so their file */
      g_prefix_error (error, "%s: ", hr_analysis_pairs_source (self));
      return FALSE;
    }
  if (hr_pass_lidar_fits (self, d))
    {
      self->lidar = hr_lidar_of_pairs (a, p, used, d, error);
      if (isnan (self->lidar) && error != NULL && *error != NULL)
        return FALSE;
    }
  return TRUE;
}

/* A part's contrastive accumulators over its pairs whose rows are all finite
 * (hr_pass_contrastive() without the measures): into self->part_pairs. */
static gboolean
hr_pass_part_pairs (HrPass *pass, GError **error)
{
  HrAnalysis *self = pass->self;
  HrPartPairs *pp = self->part_pairs;
  gsize d = pass->last->dimension, used = 0;
  g_autofree float *a = NULL, *p = NULL, *ng = NULL;

  if (!hr_pass_pair_buffers (pass, &a, &p, &ng, error))
    return FALSE;
  used = hr_pass_pair_rows (pass, a, p, ng, &pp->n_skipped);
  pp->batch_size = self->pair_batch;
  pp->temperature = self->temperature;
  pp->margin = self->margin;
  pp->has_negatives = pass->has_negatives;
  if (!hr_contrastive_accumulate (a, p, ng, used, d, self->pair_batch, self->temperature,
                                  self->margin, &pp->sums, error))
    {
      g_prefix_error (error, "%s: ", hr_analysis_pairs_source (self));
      return FALSE;
    }
  /* LiDAR's sums when one pass would compute LiDAR (hr_pass_contrastive()) */
  if (hr_pass_lidar_fits (self, d))
    {
      pp->lidar = hr_lidar_sums_new (d);
      if (!hr_lidar_sums_set (pp->lidar, a, p, used, error))
        return FALSE;
    }
  return TRUE;
}

/* -- the verdict's rules (doc/analysis.md, "The verdict") ------------------------------------ */

/* Effective ranks that differ by at most this fraction of the larger count as equal. */
#define HR_EFFECTIVE_RANK_MARGIN 0.01

static HrVerdictFlags
hr_verdict_of_projections (HrStage *projections)
{
  double healthy = 1.0 / sqrt ((double)projections->dimension);
  guint high;

  hr_spectrum_get_rank_range (projections->spectrum, NULL, &high);
  /* rank ≤ 1 is a collapse only where more was possible: two samples always lie on a line */
  if (hr_moments_get_simsiam_std (projections->moments) < 0.1 * healthy
      || (high <= 1
          && MIN (projections->dimension, hr_moments_get_n_samples (projections->moments) - 1)
                 >= 2))
    return HR_VERDICT_COLLAPSED;
  return HR_VERDICT_NONE;
}

/* The rank rules: only differences larger than the ranks' ranges and the effective ranks'
 * margin count. */
static HrVerdictFlags
hr_verdict_compare (HrSpectrum *f, HrSpectrum *p, gsize projection_dimension)
{
  HrVerdictFlags v = HR_VERDICT_NONE;
  guint fl, fh, pl, ph;
  double ef = hr_spectrum_get_effective_rank (f), ep = hr_spectrum_get_effective_rank (p);
  double margin = HR_EFFECTIVE_RANK_MARGIN * MAX (ef, ep);
  guint64 n = hr_spectrum_get_n_samples (p);
  gsize full = (gsize)MIN ((guint64)projection_dimension, n - 1);

  hr_spectrum_get_rank_range (f, &fl, &fh);
  hr_spectrum_get_rank_range (p, &pl, &ph);
  if (pl > fh)
    v |= HR_VERDICT_INFLATES_RANK;
  else if (ph < fl)
    v |= HR_VERDICT_REDUCES_RANK;
  else
    v |= HR_VERDICT_KEEPS_RANK;
  if (ep > ef + margin)
    v |= HR_VERDICT_INFLATES_EFFECTIVE_RANK;
  else if (ep < ef - margin)
    v |= HR_VERDICT_REDUCES_EFFECTIVE_RANK;
  if (projection_dimension < fl && pl == full)
    v |= HR_VERDICT_USES_ALL_DIMENSIONS;
  return v;
}

void
hr_analysis_judge (HrAnalysis *self)
{
  HrStage *features = NULL, *projections = NULL;
  HrVerdictFlags v = HR_VERDICT_NONE;

  for (guint i = 0; i < self->stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (self->stages, i);
      HrMoments *m = stage->moments;
      gboolean activation = hr_stage_is_activation (stage);

      if (stage->role == HR_STAGE_ROLE_FEATURES)
        features = stage;
      else if (stage->role == HR_STAGE_ROLE_PROJECTIONS)
        projections = stage;
      if (hr_moments_get_n_samples (m) == 0)
        continue;
      if (activation && hr_stage_get_mean_clipped_fraction (stage) > 0.5)
        v |= HR_VERDICT_CLIPPING;
      if ((activation || stage->role == HR_STAGE_ROLE_PROJECTIONS) && hr_moments_get_n_dead (m) > 0)
        v |= HR_VERDICT_DEAD_UNITS;
    }
  if (projections != NULL && projections->spectrum != NULL)
    v |= hr_verdict_of_projections (projections);
  if (features != NULL && projections != NULL && features->spectrum != NULL
      && projections->spectrum != NULL)
    v |= hr_verdict_compare (features->spectrum, projections->spectrum, projections->dimension);
  self->verdict = v;
}

/* -- the error of a stage's values (doc/analysis.md, "The rank tolerance") --------------- */

#define HR_U32 (1.0 / 16777216.0) /* 2⁻²⁴, float32 unit roundoff */
#define HR_A32 0x1p-150           /* half of float32's subnormal spacing 2⁻¹⁴⁹ */

/* The unit roundoff of values stored as @format and read as float32: 0 for integers that
 * float32 holds exactly, 2⁻¹¹ for float16, 2⁻²⁴ for float32 (and for float64 and 32-bit
 * integers, which are rounded to float32 when read). */
double
hr_sample_format_unit_roundoff (HrSampleFormat format)
{
  switch (format)
    {
      case HR_SAMPLE_FORMAT_UINT8:
      case HR_SAMPLE_FORMAT_UINT16:
      case HR_SAMPLE_FORMAT_INT8:
      case HR_SAMPLE_FORMAT_INT16:
        return 0.0;
      case HR_SAMPLE_FORMAT_FLOAT16:
        return 1.0 / 2048.0;
      default:
        return HR_U32;
    }
}

/* The absolute rounding error of a value stored as @format and read as float32: half the
 * spacing of its subnormal numbers, 2⁻¹⁴⁹ for float32 (also for float64 and 32-bit
 * integers, rounded to float32 when read) and 2⁻²⁴ for float16, which bounds the error
 * where the relative bound u·|x| does not (values near or below the smallest normal
 * number); 0 for the integers that float32 holds exactly. */
double
hr_sample_format_absolute_error (HrSampleFormat format)
{
  switch (format)
    {
      case HR_SAMPLE_FORMAT_UINT8:
      case HR_SAMPLE_FORMAT_UINT16:
      case HR_SAMPLE_FORMAT_INT8:
      case HR_SAMPLE_FORMAT_INT16:
        return 0.0;
      case HR_SAMPLE_FORMAT_FLOAT16:
        return 0x1p-25;
      default:
        return HR_A32;
    }
}

static double
hr_reader_absolute_error (HrSource *reader)
{
  return hr_sample_format_absolute_error (
      hr_stack_info_get_sample_format (hr_source_get_info (reader)));
}

static double
hr_reader_unit_roundoff (HrSource *reader)
{
  return hr_sample_format_unit_roundoff (
      hr_stack_info_get_sample_format (hr_source_get_info (reader)));
}

/* The relative error r of the values of layer @layer of @head (−1: its input), with @r0 that
 * of the input: a Linear layer of k inputs adds γ_{k+1} (Higham, Accuracy and Stability of
 * Numerical Algorithms, 2002, §3.5: |fl(Wx + b) − (Wx + b)| ≤ γ_{k+1}(|W||x| + |b|)), a
 * ReLU is exact, and every other layer (BatchNorm, LayerNorm, GELU, SiLU, L2
 * normalisation, and the folding of a BatchNorm into its Linear) adds 4u. The error is
 * taken relative to the stage's own values: a first-order model that assumes the products
 * do not cancel (|W||x| ≈ |Wx|). */
double
hr_head_relative_error (HrHead *head, int layer, double r0)
{
  double r = r0;

  for (int i = 0; i <= layer; i++)
    {
      HrLayerKind kind = hr_head_get_layer_kind (head, (guint)i);

      if (kind == HR_LAYER_LINEAR)
        {
          double k1 = (double)hr_head_get_layer_in_features (head, (guint)i) + 1;

          r += k1 * HR_U32 / (1.0 - k1 * HR_U32);
        }
      else if (kind != HR_LAYER_RELU)
        r += 4 * HR_U32;
    }
  return MAX (r, layer >= 0 ? HR_U32 : 0.0);
}

/* The absolute error a of a value of layer @layer of @head (−1: its input), @a0 that of the
 * input, from float32 underflow: each product that underflows is off by at most 2⁻¹⁵⁰
 * (sums of subnormal numbers are exact), so a Linear layer of k inputs adds k·2⁻¹⁵⁰ to
 * each output, a ReLU nothing and every other layer 2·2⁻¹⁵⁰. The input's error is carried
 * as it is, a first-order model like that of hr_head_relative_error(). */
double
hr_head_absolute_error (HrHead *head, int layer, double a0)
{
  double a = a0;

  for (int i = 0; i <= layer; i++)
    {
      HrLayerKind kind = hr_head_get_layer_kind (head, (guint)i);

      if (kind == HR_LAYER_LINEAR)
        a += (double)hr_head_get_layer_in_features (head, (guint)i) * HR_A32;
      else if (kind != HR_LAYER_RELU)
        a += 2 * HR_A32;
    }
  return a;
}

/* The absolute error a of each of the stage's values. */
double
hr_stage_absolute_error (HrAnalysis *self, HrStage *stage)
{
  double a0 = hr_reader_absolute_error (self->features);

  if (stage->has_errors)
    return stage->absolute_error;
  if (stage->role == HR_STAGE_ROLE_PROJECTIONS && self->head == NULL && self->projections != NULL)
    return hr_reader_absolute_error (self->projections);
  if (self->head == NULL || stage->layer < 0)
    return a0;
  return hr_head_absolute_error (self->head, stage->layer, a0);
}

/* The relative error r of the stage's values. */
double
hr_stage_relative_error (HrAnalysis *self, HrStage *stage)
{
  double r0 = hr_reader_unit_roundoff (self->features);

  if (stage->has_errors)
    return stage->relative_error;
  if (stage->role == HR_STAGE_ROLE_PROJECTIONS && self->head == NULL && self->projections != NULL)
    return hr_reader_unit_roundoff (self->projections);
  if (self->head == NULL || stage->layer < 0)
    return r0;
  return hr_head_relative_error (self->head, stage->layer, r0);
}

/* e = r·‖Y‖_F + a·√(N·D), a bound on ‖E‖₂ ≤ ‖E‖_F of the error of the stage's N × D values,
 * each off by at most r·|y| + a. */
static double
hr_stage_value_error (HrAnalysis *self, HrStage *stage)
{
  HrMoments *m = stage->moments;
  guint64 n = hr_moments_get_n_samples (m);
  double norm = hr_moments_frobenius_norm (n, stage->dimension, hr_moments_peek_mean (m),
                                           hr_moments_peek_scatter (m));

  return hr_stage_relative_error (self, stage) * norm
         + hr_stage_absolute_error (self, stage) * sqrt ((double)n * (double)stage->dimension);
}

/* The relative error that L2-normalising a row in float32 adds: the norm's rounding and
 * the division's. */
#define HR_NORMALIZE_ERROR (2 * HR_U32)

static gboolean hr_stage_compute_moment_spectra (HrAnalysis *self, HrStage *stage,
                                                 gboolean two_threads, GError **error);
static void hr_stage_compute_cka (HrStage *stage, HrStage *features);

/* A stage's spectrum (from the scatter matrix, or from the kept rows of a wide stage;
 * standardised if asked), the spectrum of its normalised rows, and with @wants_norm the
 * norm of its scatter matrix for a CKA; with @two_threads the uncentred values on a second
 * thread. */
static gboolean
hr_stage_compute_spectra (HrAnalysis *self, HrStage *stage, gboolean wants_norm,
                          gboolean two_threads, GError **error)
{
  HrMoments *m = stage->moments;
  gsize d = stage->dimension;

  if (stage->rows != NULL)
    {
      stage->spectrum = hr_spectrum_new_from_rows_with_error (
          stage->n_rows_kept, d, stage->rows, self->standardize,
          hr_stage_relative_error (self, stage), hr_stage_absolute_error (self, stage), error);
      if (stage->spectrum == NULL)
        return FALSE;
      /* the norm of the scatter matrix for CKA, from the rows (before they are normalised):
       * a second N × N product, only when a CKA reads it */
      stage->scatter_n = stage->n_rows_kept;
      if (wants_norm)
        {
          stage->scatter_norm
              = hr_rows_scatter_frobenius (stage->rows, (gsize)stage->n_rows_kept, d, error);
          if (isnan (stage->scatter_norm))
            return FALSE;
        }
      if (stage->role == HR_STAGE_ROLE_PROJECTIONS)
        {
          /* what the loss sees: the same rows, L2-normalised in place */
          hr_normalize_rows (stage->rows, (gsize)stage->n_rows_kept, d, stage->rows);
          stage->normalized_spectrum = hr_spectrum_new_from_rows_with_error (
              stage->n_rows_kept, d, stage->rows, FALSE,
              hr_stage_relative_error (self, stage) + HR_NORMALIZE_ERROR, HR_A32, error);
          if (stage->normalized_spectrum == NULL)
            return FALSE;
        }
      g_clear_pointer (&stage->rows, g_free);
    }
  else
    {
      stage->scatter_n = hr_moments_get_n_samples (m);
      stage->scatter_norm = hr_moments_peek_scatter (m) != NULL
                                ? hr_scatter_frobenius (hr_moments_peek_scatter (m), d)
                                : NAN;
      if (!hr_stage_compute_moment_spectra (self, stage, two_threads, error))
        return FALSE;
    }
  /* the CKA after every stage's spectrum (hr_analysis_compute_stages()): it reads the
   * features' norm, which another thread sets */
  return TRUE;
}

/* A stage's spectrum from its D × D scatter matrix, and that of its normalised rows. */
static gboolean
hr_stage_compute_moment_spectra (HrAnalysis *self, HrStage *stage, gboolean two_threads,
                                 GError **error)
{
  HrMoments *m = stage->moments;
  gsize d = stage->dimension;

  stage->spectrum
      = self->standardize ? hr_spectrum_new_standardized (
            hr_moments_get_n_samples (m), d, hr_moments_peek_mean (m), hr_moments_peek_scatter (m),
            hr_stage_relative_error (self, stage), hr_stage_absolute_error (self, stage),
            hr_moments_get_error_bound (m), two_threads, error)
                          : hr_spectrum_new_with_errors_full (
                              hr_moments_get_n_samples (m), d, hr_moments_peek_mean (m),
                              hr_moments_peek_scatter (m), hr_stage_value_error (self, stage),
                              hr_moments_get_error_bound (m), two_threads, error);
  if (stage->spectrum == NULL)
    return FALSE;
  if (stage->normalized != NULL)
    {
      HrMoments *z = stage->normalized;

      stage->normalized_spectrum = hr_spectrum_new_with_errors (
          hr_moments_get_n_samples (z), d, hr_moments_peek_mean (z), hr_moments_peek_scatter (z),
          (hr_stage_relative_error (self, stage) + HR_NORMALIZE_ERROR)
                  * hr_moments_frobenius_norm (hr_moments_get_n_samples (z), d,
                                               hr_moments_peek_mean (z),
                                               hr_moments_peek_scatter (z))
              + HR_A32 * sqrt ((double)hr_moments_get_n_samples (z) * (double)d),
          hr_moments_get_error_bound (z), error);
      if (stage->normalized_spectrum == NULL)
        return FALSE;
      g_clear_pointer (&stage->normalized_scratch, g_free);
    }
  return TRUE;
}

/* CKA with the features over the same rows only: the cross-moments and the norms of both
 * stages' scatter matrices (from the matrices, or from the kept rows of a wide stage). */
static void
hr_stage_compute_cka (HrStage *stage, HrStage *features)
{
  if (stage->cross != NULL && !isnan (features->scatter_norm) && !isnan (stage->scatter_norm)
      && hr_cross_moments_get_n_samples (stage->cross) == stage->scatter_n
      && hr_cross_moments_get_n_samples (stage->cross) == features->scatter_n)
    stage->cka
        = hr_cross_moments_linear_cka (stage->cross, features->scatter_norm, stage->scatter_norm);
  else if (stage == features)
    stage->cka = 1.0;
  g_clear_pointer (&stage->cross, hr_cross_moments_free);
}

/* The stages' spectra on a pool's threads: a part per stage, the widest first. */
typedef struct
{
  HrAnalysis *self;
  GPtrArray *stages;
  HrStage *features;
  guint *order;    /* the stages' indices, widest first */
  GError **errors; /* per stage */
  GCancellable *cancellable;
  guint n_two_threads; /* the first of them find their uncentred values on a second thread */
  gboolean any_cka;    /* some stage has a CKA with the features: they need their norm */
} HrSpectraJob;

static void
hr_spectra_part (guint part, gpointer data)
{
  HrSpectraJob *job = data;
  guint i = job->order[part];
  HrStage *stage = g_ptr_array_index (job->stages, i);
  /* what hr_stage_compute_cka() reads, decided before the spectra run: stage->cross does
   * not change until then */
  gboolean wants_norm = stage->cross != NULL || (stage == job->features && job->any_cka);

  if (!g_cancellable_set_error_if_cancelled (job->cancellable, &job->errors[i]))
    hr_stage_compute_spectra (job->self, stage, wants_norm, part < job->n_two_threads,
                              &job->errors[i]);
}

/* The widest spectrum alone, in the calling thread (hr_blas_run_threaded()). */
static void
hr_spectra_first (gpointer data, gpointer unused)
{
  hr_spectra_part (0, data);
}

static gint
hr_compare_width (gconstpointer a, gconstpointer b, gpointer data)
{
  GPtrArray *stages = data;
  gsize wa = ((HrStage *)g_ptr_array_index (stages, *(const guint *)a))->dimension;
  gsize wb = ((HrStage *)g_ptr_array_index (stages, *(const guint *)b))->dimension;

  return wa < wb ? 1 : wa > wb ? -1 : 0;
}

/* Spectra at least this wide find their centred and uncentred values (two `dsterf`, after
 * their one reduction) at the same time when a thread is left over for them (at 128 the
 * whole spectrum takes about a millisecond). */
#define HR_TWO_THREADS_WIDTH 256

/* Finishes the stages after the pass (or the merge of parts): their per-sample tables, spectra
 * and CKA. The spectra of the stages are computed at the same time, one stage per thread
 * of a pool as large as OpenBLAS's, OpenBLAS single-threaded meanwhile (see hr-pool.c), as
 * fast as each in turn on all the threads (LAPACK's `dsytrd` at order 2,048: 0.29 s on one
 * thread, 0.15 s on two); one wide spectrum alone gets all the threads. */
gboolean
hr_analysis_compute_stages (HrAnalysis *self, GPtrArray *stages, HrStage *features,
                            HrProgress *progress, GCancellable *cancellable, GError **error)
{
  g_autoptr (HrPool) pool = NULL;
  g_autofree guint *order = g_new (guint, MAX (stages->len, 1));
  g_autofree GError **errors = g_new0 (GError *, MAX (stages->len, 1));
  HrSpectraJob job = { self, stages, features, order, errors, cancellable, 0, FALSE };
  guint n_spectra = 0, n_wide = 0, threads;
  HrStage *widest;
  gboolean ok = TRUE;

  /* the rows are all in: the chunks' scratch makes room for the eigensolvers' copies */
  for (guint i = 0; i < stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (stages, i);

      if (stage->moments != NULL)
        hr_moments_release_scratch (stage->moments);
      if (stage->normalized != NULL)
        hr_moments_release_scratch (stage->normalized);
    }
  for (guint i = 0; i < stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (stages, i);

      if (stage->table != NULL && !hr_sample_table_finish (stage->table, stage->n_samples, error))
        return FALSE;
      if (stage->wants_spectrum)
        {
          order[n_spectra++] = i;
          job.any_cka |= stage->cross != NULL;
          /* mirrored now, not by two threads at once (CKA reads the features') */
          if (stage->moments != NULL)
            hr_moments_peek_scatter (stage->moments);
        }
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  g_qsort_with_data (order, (gint)n_spectra, sizeof (guint), hr_compare_width, stages);
  /* Threads left over by the wide spectra (one each) go to the widest, which then find
   * their centred and uncentred values at the same time. */
  for (guint k = 0; k < n_spectra; k++)
    {
      HrStage *stage = g_ptr_array_index (stages, order[k]);

      n_wide += stage->rows == NULL && stage->dimension >= HR_TWO_THREADS_WIDTH;
    }
  threads = hr_pool_get_n_threads_for_blas ();
  job.n_two_threads = threads > n_wide ? MIN (n_wide, threads - n_wide) : 0;
  widest = n_spectra > 0 ? g_ptr_array_index (stages, order[0]) : NULL;
  if (n_wide == 1 && job.n_two_threads > 0 && widest->rows == NULL
      && widest->dimension >= HR_TWO_THREADS_WIDTH)
    {
      /* One wide spectrum (--stage none): alone first, its reduction to tridiagonal form
       * on all the threads in OpenBLAS (100,000 × 2,048 on 2 threads: `dsytrd` 0.29 →
       * 0.15 s), its two `dsterf` at once; then the narrow ones on the pool. */
      hr_blas_run_threaded (hr_spectra_first, &job);
      job.order++;
      job.n_two_threads = 0;
      n_spectra--;
    }
  if (n_spectra > 1 || job.n_two_threads > 0)
    pool = hr_pool_new_for_blas ();
  hr_pool_run (pool, n_spectra, hr_spectra_part, &job);
  g_clear_pointer (&pool, hr_pool_free);
  for (guint i = 0; i < stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (stages, i);

      if (errors[i] != NULL && ok)
        {
          g_propagate_error (error, g_steal_pointer (&errors[i]));
          if (!g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_prefix_error (error, _ ("stage %s: "), stage->name);
          ok = FALSE;
        }
      g_clear_error (&errors[i]);
    }
  if (!ok)
    return FALSE;
  for (guint i = 0; i < stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (stages, i);

      if (stage->wants_spectrum)
        hr_stage_compute_cka (stage, features);
    }
  progress->from = 0.95;
  progress->to = 1.0;
  hr_progress_report (1.0, progress);
  return TRUE;
}

/* One D × D scratch for the chunks' products of every stage (their accumulators are fed one
 * after the other), not one each: 8·D² bytes less per wide stage (issue 16). */
static void
hr_pass_share_products (HrPass *pass)
{
  gsize d_max = 0;

  for (guint i = 0; i < pass->stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (pass->stages, i);

      if (stage->moments != NULL && stage->wants_spectrum && stage->rows == NULL)
        d_max = MAX (d_max, stage->dimension);
    }
  if (d_max == 0 || (pass->products = g_try_new (double, d_max *d_max)) == NULL)
    return; /* then each allocates its own */
  for (guint i = 0; i < pass->stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (pass->stages, i);

      if (stage->moments != NULL)
        hr_moments_share_products_scratch (stage->moments, pass->products);
      if (stage->normalized != NULL)
        hr_moments_share_products_scratch (stage->normalized, pass->products);
    }
}

gboolean
hr_analysis_run_internal (HrAnalysis *self, HrProgress *progress, GCancellable *cancellable,
                          GError **error)
{
  HrPass pass = { 0 };
  gboolean ok = FALSE;
  double pass_share;

  pass.self = self;
  hr_analysis_clear_results (self);
  if (self->head != NULL && self->projections != NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("give either a head or projections, not both"));
      return FALSE;
    }
  if (!hr_pass_plan (&pass, error) || !hr_pass_plan_pairs (&pass, error))
    goto out;
  hr_pass_share_products (&pass);
  hr_pass_start_threads (&pass);

  pass_share = self->positives != NULL ? 0.47 : 0.95;
  progress->from = 0.0;
  progress->to = pass_share;
  if (self->head != NULL)
    {
      guint L = hr_head_get_n_layers (self->head);
      g_autofree gboolean *keep = g_new0 (gboolean, L);

      for (guint i = 0; i < L; i++)
        keep[i] = pass.by_layer[i] != NULL;
      if (!hr_head_stream (self->head, self->features, self->mode, self->batch_size, keep,
                           pass.pool, hr_pass_chunk, &pass, &self->n_dropped, &self->n_nonfinite,
                           hr_progress_report, progress, cancellable, error))
        goto out;
    }
  else if (!hr_pass_run_stacks (&pass, progress, cancellable, error))
    goto out;

  if (self->positives != NULL)
    {
      progress->from = pass_share;
      progress->to = 0.95;
      if (!hr_pass_run_positives (&pass, progress, cancellable, error))
        goto out;
    }

  hr_pass_end_threads (&pass);
  if (!hr_check_nonfinite_policy (self, self->features, error) || !hr_pass_map_cross (&pass, error))
    goto out;
  if (self->partial)
    {
      /* a part: the accumulators as they are, no spectra (hr-partial.c) */
      ok = (pass.pairs == NULL || hr_pass_part_pairs (&pass, error))
           && hr_analysis_write_part_internal (self, pass.stages, error);
      goto out;
    }
  if (!hr_check_enough_finite (self, self->features, pass.features, error)
      || (self->head == NULL && self->projections != NULL
          && !hr_check_enough_finite (self, self->projections, pass.last, error)))
    goto out;
  if (!hr_analysis_compute_stages (self, pass.stages, pass.features, progress, cancellable, error))
    goto out;
  if (pass.pairs != NULL && !hr_pass_contrastive (&pass, error))
    goto out;

  g_ptr_array_extend_and_steal (self->stages, g_steal_pointer (&pass.stages));
  hr_analysis_judge (self);
  self->done = TRUE;
  ok = TRUE;

out:
  hr_pass_clear (&pass);
  return ok;
}

/**
 * hr_analysis_run:
 * @self: a #HrAnalysis
 * @progress: (nullable) (scope call) (closure progress_data): called with the fraction done
 * @progress_data: data for @progress
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the analysis in the calling thread. Errors come from the stacks (%HR_STACK_ERROR),
 * the head (%HR_HEAD_ERROR) and the measures (%HR_ANALYSIS_ERROR); on cancellation
 * %G_IO_ERROR_CANCELLED. Running again replaces the results.
 *
 * Returns: %TRUE on success
 */
gboolean
hr_analysis_run (HrAnalysis *self, HrProgressFunc progress, gpointer progress_data,
                 GCancellable *cancellable, GError **error)
{
  HrProgress p = { self, progress, progress_data, 0.0, 1.0, NULL };
  gboolean ok;

  g_return_val_if_fail (HR_IS_ANALYSIS (self), FALSE);
  g_return_val_if_fail (!hr_analysis_running (self), FALSE);
  g_atomic_int_set (&self->running, TRUE);
  ok = hr_analysis_run_internal (self, &p, cancellable, error);
  g_atomic_int_set (&self->running, FALSE);
  return ok;
}
