/* headrank: contrastive measures on positive pairs */
#include "hr-private.h"
#include "hr-contrastive.h"

#include "hr-error.h"
#include "hr-measures-private.h"
#include "hr-pool.h"

#include <cblas.h>
#include <float.h>
#include <gio/gio.h>
#include <math.h>
#include <string.h>

/**
 * HrContrastive:
 *
 * An immutable, reference-counted set of contrastive measures of P positive pairs:
 * anchors and positives, two row-aligned P × D float32 matrices of projections, with
 * optional explicit negatives (a third P × D matrix). Every sum is accumulated in float64
 * over the float32 inputs; the similarity matrices of a batch come from one OpenBLAS
 * `dgemm` per block of rows, so the cost is O(P · B · D) for batches of B pairs, and the
 * memory a batch needs is bounded (2B × D rows plus at most 2²⁰ similarities).
 *
 * Rows are L2-normalised as `torch.nn.functional.normalize (x, p=2, dim=1, eps=1e-12)`
 * does, x / max(‖x‖₂, 1e-12), for every measure but the triplet loss; a row of zeros
 * stays zero, and its cosine similarity with anything is 0.
 *
 * Batching: the pairs are cut into consecutive batches of B = batch_size pairs; the last
 * batch may be smaller, and a last batch of a single pair is merged into the batch before
 * it (which then holds B + 1 pairs). When P ≤ B, all pairs make one batch.
 *
 * The measures:
 *
 * - alignment (Wang & Isola, ICML 2020, `align_loss` with α = 2): the mean over the P
 *   pairs of ‖â − p̂‖₂², with â, p̂ the normalised rows; it does not depend on batching.
 * - uniformity (Wang & Isola, `uniform_loss` with t = 2): in each batch b of m pairs,
 *   u(X) = log (mean over the m(m − 1)/2 pairs i < j of exp (−2 ‖x̂ᵢ − x̂ⱼ‖₂²)) on the
 *   normalised anchors and on the normalised positives, u_b = (u(anchors) + u(positives)) / 2;
 *   the value is the mean of the u_b weighted by m(m − 1)/2, the number of distinct-sample
 *   pairs in each batch.
 * - NT-Xent with temperature τ, as `pytorch_metric_learning.losses.NTXentLoss (temperature=τ)`
 *   computes `loss (torch.cat ([za, zp]), torch.cat ([arange (m), arange (m)]))` on each
 *   batch: with s the cosine similarity over the 2m rows, for each of the 2m positive pairs
 *   (i, i + m) and (i + m, i), ℓ = −log (e^(s₊/τ − c) / (e^(s₊/τ − c) + Σ e^(s₋/τ − c)) +
 *   FLT_MIN), the sum over the 2m − 2 samples of the batch with another label, c the largest
 *   of s₊/τ and those s₋/τ, FLT_MIN = 1.175494e−38 (pytorch-metric-learning's
 *   `small_val` for float32 projections, which caps ℓ at −log FLT_MIN ≈ 87.34 as PyTorch
 *   does at small temperatures); the value is the mean of ℓ over all 2P positive pairs, that
 *   is the batch losses weighted by their 2m positive pairs.
 * - triplet loss: `torch.nn.TripletMarginLoss (margin, p=2, eps=1e-6)` on the raw rows,
 *   the mean over the P triplets of max (d(a, p) − d(a, n) + margin, 0) with
 *   d(x, y) = ‖x − y + 10⁻⁶‖₂ (`pairwise_distance` adds eps to the difference). The negative
 *   n of pair i is the explicit negative row i when negatives are given; otherwise, within
 *   each batch of m pairs, the positive of pair (i + 1) mod m of that batch.
 * - positive cosine: the mean over the P pairs of the cosine similarity â · p̂, VisCy's
 *   `metrics/cosine_similarity_positive` (VisCy uses `F.cosine_similarity`, whose eps differs
 *   from F.normalize's only for rows of norm below 10⁻⁴).
 * - negative cosine: the mean cosine similarity over all in-batch negatives of NT-Xent, the
 *   2m(2m − 2) ordered pairs of distinct samples of a batch with different labels, over
 *   all batches (each batch weighted by its number of negatives). Explicit negatives do not
 *   enter it; VisCy's `metrics/cosine_similarity_negative`, logged with triplet losses only,
 *   is instead the mean of â · n̂ over the explicit negatives.
 */

struct _HrContrastive
{
  gatomicrefcount ref_count;
  gsize n_pairs;
  gsize batch_size;
  double temperature;
  double margin;
  gboolean has_negatives;

  double alignment;
  double uniformity;
  double ntxent;
  double triplet;
  double positive_cosine;
  double negative_cosine;
};

G_DEFINE_BOXED_TYPE (HrContrastive, hr_contrastive, hr_contrastive_ref, hr_contrastive_unref)

/* Wang & Isola's t, torch's pairwise_distance eps, F.normalize's eps. */
#define HR_UNIFORMITY_T 2.0
#define HR_TRIPLET_EPS 1e-6
#define HR_NORMALIZE_EPS 1e-12
/* The most similarities computed by one dgemm (8 MiB of doubles). */
#define HR_SIMILARITY_BLOCK ((gsize)1 << 20)

static void
hr_normalize_row (const float *x, gsize d, double *out, double *squared_norm)
{
  double ss = 0.0, norm, sq = 0.0;

  for (gsize k = 0; k < d; k++)
    ss += (double)x[k] * (double)x[k];
  norm = MAX (sqrt (ss), HR_NORMALIZE_EPS);
  for (gsize k = 0; k < d; k++)
    {
      out[k] = (double)x[k] / norm;
      sq += out[k] * out[k];
    }
  *squared_norm = sq;
}

/* ‖x − y + eps‖₂, as torch.nn.functional.pairwise_distance computes it. */
static double
hr_pairwise_distance (const float *x, const float *y, gsize d)
{
  double ss = 0.0;

  for (gsize k = 0; k < d; k++)
    {
      double v = (double)x[k] - (double)y[k] + HR_TRIPLET_EPS;
      ss += v * v;
    }
  return sqrt (ss);
}

static double
hr_sum_range (const double *x, gsize begin, gsize end)
{
  double total = 0.0;

  for (gsize j = begin; j < end; j++)
    total += x[j];
  return total;
}

static double
hr_max_range (const double *x, gsize begin, gsize end, double top)
{
  for (gsize j = begin; j < end; j++)
    top = MAX (top, x[j]);
  return top;
}

static double
hr_sum_exp_range (const double *x, gsize begin, gsize end, double shift)
{
  double total = 0.0;

  for (gsize j = begin; j < end; j++)
    total += exp (x[j] - shift);
  return total;
}

/* One batch of @m pairs starting at pair @first. @z holds room for 2m × d doubles,
 * @squared_norms for 2m, @sim for HR_SIMILARITY_BLOCK or 2m × 2m doubles, whichever is
 * fewer, but at least one row of 2m. */
static void
hr_contrastive_batch (double tau, double margin, const float *anchors, const float *positives,
                      const float *negatives, gsize first, gsize m, gsize d, double *z,
                      double *squared_norms, double *sim, gsize sim_capacity,
                      HrContrastiveSums *sums)
{
  gsize n = 2 * m;
  gsize block_rows = MAX ((gsize)1, MIN (n, sim_capacity / n));
  double sum_exp_anchors = 0.0, sum_exp_positives = 0.0;
  double n_distinct = (double)m * (double)(m - 1) / 2.0;

  for (gsize i = 0; i < m; i++)
    {
      gsize row = first + i;
      const float *a = anchors + row * d;
      const float *p = positives + row * d;
      const float *neg;
      double *za = z + i * d, *zp = z + (i + m) * d;
      double align = 0.0, d_ap, d_an;

      hr_normalize_row (a, d, za, &squared_norms[i]);
      hr_normalize_row (p, d, zp, &squared_norms[i + m]);
      for (gsize k = 0; k < d; k++)
        {
          double v = za[k] - zp[k];
          align += v * v;
        }
      sums->alignment += align;

      neg = negatives != NULL ? negatives + row * d : positives + (first + (i + 1) % m) * d;
      d_ap = hr_pairwise_distance (a, p, d);
      d_an = hr_pairwise_distance (a, neg, d);
      sums->triplet += MAX (d_ap - d_an + margin, 0.0);
    }

  for (gsize r0 = 0; r0 < n; r0 += block_rows)
    {
      gsize rows = MIN (block_rows, n - r0);

      /* sim[r][j] = ẑ_(r0 + r) · ẑ_j */
      cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)rows, (blasint)n, (blasint)d,
                   1.0, z + r0 * d, (blasint)d, z, (blasint)d, 0.0, sim, (blasint)n);

      for (gsize r = 0; r < rows; r++)
        {
          gsize i = r0 + r;
          gsize partner = i < m ? i + m : i - m;
          gsize lo = MIN (i, partner), hi = MAX (i, partner);
          double *s = sim + r * n;
          double top, denominator, numerator, sum_exp = 0.0;

          /* cosines: the positive pair, the in-batch negatives (all but i and partner) */
          if (i < m)
            sums->positive_cosine += s[partner];
          sums->negative_cosine += hr_sum_range (s, 0, lo) + hr_sum_range (s, lo + 1, hi)
                                   + hr_sum_range (s, hi + 1, n);

          /* pdist within the anchors (i < m) or within the positives (i ≥ m) */
          for (gsize j = i + 1, end = i < m ? m : n; j < end; j++)
            {
              double d2 = squared_norms[i] + squared_norms[j] - 2.0 * s[j];
              sum_exp += exp (-HR_UNIFORMITY_T * MAX (d2, 0.0));
            }
          if (i < m)
            sum_exp_anchors += sum_exp;
          else
            sum_exp_positives += sum_exp;

          /* NT-Xent: the row's logits, shifted by their largest as pml does */
          for (gsize j = 0; j < n; j++)
            s[j] /= tau;
          top = hr_max_range (s, 0, lo, s[partner]);
          top = hr_max_range (s, lo + 1, hi, top);
          top = hr_max_range (s, hi + 1, n, top);
          numerator = exp (s[partner] - top);
          denominator = numerator + hr_sum_exp_range (s, 0, lo, top)
                        + hr_sum_exp_range (s, lo + 1, hi, top)
                        + hr_sum_exp_range (s, hi + 1, n, top);
          sums->ntxent += -log (numerator / denominator + FLT_MIN);
        }
    }

  sums->ntxent_n += n;
  sums->negative_n += (double)n * (double)(n - 2);
  sums->uniformity += n_distinct * 0.5
                      * (log (sum_exp_anchors / n_distinct) + log (sum_exp_positives / n_distinct));
  sums->uniformity_w += n_distinct;
  sums->n_pairs += m;
  sums->triplet_n += m;
  sums->n_batches++;
}

/* A part's single pair, which makes no batch (doc/partial.md): only the measures of one pair,
 * the triplet loss only with an explicit negative. */
static void
hr_contrastive_single (double margin, const float *a, const float *p, const float *negative,
                       gsize d, double *z, HrContrastiveSums *sums)
{
  double sa, sp, align = 0.0, cosine = 0.0;

  hr_normalize_row (a, d, z, &sa);
  hr_normalize_row (p, d, z + d, &sp);
  for (gsize k = 0; k < d; k++)
    {
      double v = z[k] - z[d + k];

      align += v * v;
      cosine += z[k] * z[d + k];
    }
  sums->alignment += align;
  sums->positive_cosine += cosine;
  sums->n_pairs++;
  if (negative != NULL)
    {
      sums->triplet += MAX (
          hr_pairwise_distance (a, p, d) - hr_pairwise_distance (a, negative, d) + margin, 0.0);
      sums->triplet_n++;
    }
}

static gboolean
hr_contrastive_check_finite (const float *data, gsize n_pairs, gsize dimension, const char *what,
                             GError **error)
{
  for (gsize i = 0; i < n_pairs * dimension; i++)
    if (!isfinite (data[i]))
      {
        /* TRANSLATORS: the first %s is "anchors", "positives" or "negatives" */
        g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                     _ ("the %s hold a non-finite value at row %zu, column %zu"), _ (what),
                     i / dimension, i % dimension);
        return FALSE;
      }
  return TRUE;
}

static gboolean
hr_contrastive_check_parameters (gsize dimension, gsize batch_size, double temperature,
                                 double margin, GError **error)
{
  if (dimension == 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("the projections have no dimension"));
      return FALSE;
    }
  if (batch_size < 2)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("a contrastive batch needs at least two pairs, not %zu"), batch_size);
      return FALSE;
    }
  if (!isfinite (temperature) || temperature <= 0.0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("the temperature must be positive and finite, not %g"), temperature);
      return FALSE;
    }
  if (!isfinite (margin) || margin < 0.0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("the triplet margin must be finite and not negative, not %g"), margin);
      return FALSE;
    }
  return TRUE;
}

/**
 * hr_contrastive_new: (skip)
 * @anchors: (array): @n_pairs × @dimension float32 values, row-major: the anchors'
 *   projections
 * @positives: (array): @n_pairs × @dimension float32 values, row i the positive of anchor i
 * @negatives: (nullable) (array): @n_pairs × @dimension float32 values, row i the negative
 *   of pair i for the triplet loss, or %NULL to take in-batch negatives
 * @n_pairs: the number of pairs P, at least 2
 * @dimension: the width D of the projections, at least 1
 * @batch_size: the number of pairs in a batch, at least 2
 * @temperature: the NT-Xent temperature τ, positive
 * @margin: the triplet margin, not negative
 * @error: return location for a #GError
 *
 * Computes the contrastive measures described for #HrContrastive. The matrices are only
 * read during the call.
 *
 * Returns: (transfer full): a new #HrContrastive, or %NULL with @error set in the
 *   %HR_ANALYSIS_ERROR domain: %HR_ANALYSIS_ERROR_INVALID for a parameter out of range,
 *   %HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES for fewer than two pairs,
 *   %HR_ANALYSIS_ERROR_SHAPE when P × D values cannot be addressed,
 *   %HR_ANALYSIS_ERROR_NUMERIC for a NaN or infinite input value
 */
HrContrastive *
hr_contrastive_new (const float *anchors, const float *positives, const float *negatives,
                    gsize n_pairs, gsize dimension, gsize batch_size, double temperature,
                    double margin, GError **error)
{
  HrContrastiveSums sums = { 0 };

  g_return_val_if_fail (anchors != NULL || n_pairs == 0, NULL);
  g_return_val_if_fail (positives != NULL || n_pairs == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!hr_contrastive_check_parameters (dimension, batch_size, temperature, margin, error))
    return NULL;
  if (n_pairs < 2)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES,
                   _ ("contrastive measures need at least two pairs, not %zu"), n_pairs);
      return NULL;
    }
  if (!hr_contrastive_accumulate (anchors, positives, negatives, n_pairs, dimension, batch_size,
                                  temperature, margin, &sums, error))
    return NULL;
  return hr_contrastive_new_from_sums (&sums, batch_size, temperature, margin, negatives != NULL,
                                       error);
}

static gboolean
hr_contrastive_no_memory (gsize max_batch, gsize dimension, GError **error)
{
  g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
               _ ("not enough memory for contrastive batches of %zu pairs of dimension %zu"),
               max_batch, dimension);
  return FALSE;
}

/* One thread's scratch for the batches it computes (see hr_contrastive_batch()). */
typedef struct
{
  double *z, *squared_norms, *sim;
} HrBatchScratch;

/* The batches whose sums are held at once: their sums are added into the total after each
 * round, so that memory does not grow with the number of pairs. */
#define HR_CONTRASTIVE_ROUND 1024

typedef struct
{
  const float *anchors, *positives, *negatives;
  gsize n_pairs, d, batch_size, n_batches;
  double tau, margin;
  HrBatchScratch *scratch; /* per part */
  gsize sim_capacity;
  gsize round_first;             /* the round's first batch */
  HrContrastiveSums *batch_sums; /* per batch of the round */
} HrBatchJob;

/* Batches [@first, @end) of the round: batch b holds the pairs from b·batch_size on, the last
 * one up to the last pair. */
static void
hr_contrastive_batch_range (gsize first, gsize end, guint part, gpointer data)
{
  HrBatchJob *job = data;
  HrBatchScratch *t = job->scratch + part;

  for (gsize i = first; i < end; i++)
    {
      gsize b = job->round_first + i, start = b * job->batch_size;
      gsize stop = b + 1 == job->n_batches ? job->n_pairs : start + job->batch_size;

      memset (job->batch_sums + i, 0, sizeof (HrContrastiveSums));
      hr_contrastive_batch (job->tau, job->margin, job->anchors, job->positives, job->negatives,
                            start, stop - start, job->d, t->z, t->squared_norms, t->sim,
                            job->sim_capacity, job->batch_sums + i);
    }
}

/* At least two pairs, cut into batches of batch_size pairs (the last one takes what is left,
 * and a last single pair joins the batch before it); each batch's sums are formed on their
 * own, on as many threads as the analyses use (hr_pool_new_for_blas(): consecutive batches a
 * thread, each with its own scratch), and added into @sums in the order of the batches, so
 * the sums are the same for any number of threads. */
static gboolean
hr_contrastive_batches (const float *anchors, const float *positives, const float *negatives,
                        gsize n_pairs, gsize dimension, gsize batch_size, double temperature,
                        double margin, HrContrastiveSums *sums, GError **error)
{
  g_autoptr (HrPool) pool = NULL;
  g_autofree HrContrastiveSums *batch_sums = NULL;
  g_autofree HrBatchScratch *scratch = NULL;
  gsize q = n_pairs / batch_size, r = n_pairs % batch_size;
  gsize n_batches = q == 0 || r >= 2 ? q + 1 : q;
  /* at most batch_size + 1 pairs a batch */
  gsize max_batch = MIN (batch_size + 1, n_pairs), sim_capacity;
  guint n_parts;
  gboolean ok;

  if (n_batches >= 2)
    pool = hr_pool_new_for_blas ();
  n_parts = (guint)MIN ((gsize)hr_pool_get_n_threads (pool), n_batches);
  sim_capacity = max_batch >= HR_SIMILARITY_BLOCK
                     ? 2 * max_batch
                     : MAX (2 * max_batch, MIN (HR_SIMILARITY_BLOCK, 4 * max_batch * max_batch));
  /* sizes from the batch option and the projections' width: allocated fallibly */
  batch_sums = g_try_new (HrContrastiveSums, MIN (n_batches, HR_CONTRASTIVE_ROUND));
  scratch = g_new0 (HrBatchScratch, n_parts);
  ok = batch_sums != NULL;
  for (guint t = 0; t < n_parts && ok; t++)
    {
      scratch[t].z = g_try_new (double, 2 * max_batch * dimension);
      scratch[t].squared_norms = g_try_new (double, 2 * max_batch);
      scratch[t].sim = g_try_new (double, sim_capacity);
      ok = scratch[t].z != NULL && scratch[t].squared_norms != NULL && scratch[t].sim != NULL;
    }
  if (ok)
    {
      HrBatchJob job
          = { anchors,     positives, negatives, n_pairs,      dimension, batch_size, n_batches,
              temperature, margin,    scratch,   sim_capacity, 0,         batch_sums };

      for (; job.round_first < n_batches; job.round_first += HR_CONTRASTIVE_ROUND)
        {
          gsize n = MIN (n_batches - job.round_first, (gsize)HR_CONTRASTIVE_ROUND);

          hr_pool_run_ranges (pool, n, (guint)MIN ((gsize)n_parts, n), hr_contrastive_batch_range,
                              &job);
          for (gsize i = 0; i < n; i++)
            hr_contrastive_sums_add (sums, batch_sums + i);
        }
    }
  for (guint t = 0; t < n_parts; t++)
    {
      g_free (scratch[t].z);
      g_free (scratch[t].squared_norms);
      g_free (scratch[t].sim);
    }
  return ok || hr_contrastive_no_memory (max_batch, dimension, error);
}

/* Adds the sums of @n_pairs pairs (any number, 0 and 1 too: a single pair makes no batch) cut
 * into batches as #HrContrastive says. */
gboolean
hr_contrastive_accumulate (const float *anchors, const float *positives, const float *negatives,
                           gsize n_pairs, gsize dimension, gsize batch_size, double temperature,
                           double margin, HrContrastiveSums *sums, GError **error)
{
  if (!hr_contrastive_check_parameters (dimension, batch_size, temperature, margin, error))
    return FALSE;
  if (n_pairs == 0)
    return TRUE;
  if (n_pairs > G_MAXSIZE / 2 / sizeof (double) / dimension || batch_size > G_MAXSIZE / 4)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("%zu pairs of dimension %zu are too many"), n_pairs, dimension);
      return FALSE;
    }
  if (!hr_contrastive_check_finite (anchors, n_pairs, dimension, N_ ("anchors"), error)
      || !hr_contrastive_check_finite (positives, n_pairs, dimension, N_ ("positives"), error)
      || (negatives != NULL
          && !hr_contrastive_check_finite (negatives, n_pairs, dimension, N_ ("negatives"), error)))
    return FALSE;

  if (n_pairs == 1)
    {
      g_autofree double *z = g_try_new (double, 2 * dimension);

      if (z == NULL)
        return hr_contrastive_no_memory (1, dimension, error);
      hr_contrastive_single (margin, anchors, positives, negatives, dimension, z, sums);
      return TRUE;
    }
  return hr_contrastive_batches (anchors, positives, negatives, n_pairs, dimension, batch_size,
                                 temperature, margin, sums, error);
}

/* Adds the sums @b to @a (the merge of parts). */
void
hr_contrastive_sums_add (HrContrastiveSums *a, const HrContrastiveSums *b)
{
  a->n_pairs += b->n_pairs;
  a->n_batches += b->n_batches;
  a->alignment += b->alignment;
  a->positive_cosine += b->positive_cosine;
  a->triplet += b->triplet;
  a->triplet_n += b->triplet_n;
  a->uniformity += b->uniformity;
  a->uniformity_w += b->uniformity_w;
  a->ntxent += b->ntxent;
  a->ntxent_n += b->ntxent_n;
  a->negative_cosine += b->negative_cosine;
  a->negative_n += b->negative_n;
}

/* The measures of the sums; at least two pairs. The measures of batches are NaN when the
 * sums hold none (parts of single pairs). */
HrContrastive *
hr_contrastive_new_from_sums (const HrContrastiveSums *sums, gsize batch_size, double temperature,
                              double margin, gboolean has_negatives, GError **error)
{
  g_autoptr (HrContrastive) self = NULL;

  if (sums->n_pairs < 2)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES,
                   _ ("contrastive measures need at least two pairs, not %zu"),
                   (gsize)sums->n_pairs);
      return NULL;
    }
  self = g_new0 (HrContrastive, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->n_pairs = (gsize)sums->n_pairs;
  self->batch_size = batch_size;
  self->temperature = temperature;
  self->margin = margin;
  self->has_negatives = has_negatives;

  self->alignment = sums->alignment / (double)sums->n_pairs;
  self->positive_cosine = sums->positive_cosine / (double)sums->n_pairs;
  self->uniformity = sums->uniformity_w > 0 ? sums->uniformity / sums->uniformity_w : NAN;
  self->ntxent = sums->ntxent_n > 0 ? sums->ntxent / (double)sums->ntxent_n : NAN;
  self->triplet = sums->triplet_n > 0 ? sums->triplet / (double)sums->triplet_n : NAN;
  self->negative_cosine = sums->negative_n > 0 ? sums->negative_cosine / sums->negative_n : NAN;

  if (!isfinite (self->alignment)
      || (sums->n_batches > 0
          && (!isfinite (self->uniformity) || !isfinite (self->ntxent)
              || !isfinite (self->triplet))))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                   _ ("the contrastive measures overflowed"));
      return NULL;
    }
  return g_steal_pointer (&self);
}

/* The float32 data of @bytes, suitably aligned: borrowed, or copied into @copy. */
static const float *
hr_bytes_floats (GBytes *bytes, float **copy)
{
  gsize size;
  const void *data = g_bytes_get_data (bytes, &size);

  if (((guintptr)data % G_ALIGNOF (float)) == 0)
    return data;
  *copy = g_memdup2 (data, size);
  return *copy;
}

/**
 * hr_contrastive_new_from_bytes: (constructor)
 * @anchors: P × @dimension float32 values in native byte order, row-major
 * @positives: as many values as @anchors, row i the positive of anchor i
 * @negatives: (nullable): as many values as @anchors, row i the negative of pair i for the
 *   triplet loss, or %NULL to take in-batch negatives
 * @dimension: the width D of the projections, at least 1
 * @batch_size: the number of pairs in a batch, at least 2
 * @temperature: the NT-Xent temperature τ, positive
 * @margin: the triplet margin, not negative
 * @error: return location for a #GError
 *
 * Computes the contrastive measures described for #HrContrastive, from byte buffers (for
 * bindings: pass `numpy.float32` arrays as bytes). P is the size of @anchors divided by
 * 4 · @dimension.
 *
 * Returns: (transfer full): a new #HrContrastive, or %NULL with @error set as by
 *   hr_contrastive_new(), and %HR_ANALYSIS_ERROR_SHAPE when a buffer is not a whole number
 *   of rows or the buffers differ in size
 */
HrContrastive *
hr_contrastive_new_from_bytes (GBytes *anchors, GBytes *positives, GBytes *negatives,
                               gsize dimension, gsize batch_size, double temperature, double margin,
                               GError **error)
{
  g_autofree float *a_copy = NULL, *p_copy = NULL, *n_copy = NULL;
  gsize size, row_bytes;

  g_return_val_if_fail (anchors != NULL, NULL);
  g_return_val_if_fail (positives != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!hr_contrastive_check_parameters (dimension, batch_size, temperature, margin, error))
    return NULL;
  if (dimension > G_MAXSIZE / sizeof (float))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("a dimension of %zu is too large"), dimension);
      return NULL;
    }
  row_bytes = dimension * sizeof (float);
  size = g_bytes_get_size (anchors);
  if (size % row_bytes != 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("the anchors hold %zu bytes, not a whole number of rows of %zu float32 "
                      "values"),
                   size, dimension);
      return NULL;
    }
  if (g_bytes_get_size (positives) != size
      || (negatives != NULL && g_bytes_get_size (negatives) != size))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("the anchors hold %zu bytes but the positives %zu and the negatives %zu"),
                   size, g_bytes_get_size (positives),
                   negatives != NULL ? g_bytes_get_size (negatives) : size);
      return NULL;
    }

  return hr_contrastive_new (hr_bytes_floats (anchors, &a_copy),
                             hr_bytes_floats (positives, &p_copy),
                             negatives != NULL ? hr_bytes_floats (negatives, &n_copy) : NULL,
                             size / row_bytes, dimension, batch_size, temperature, margin, error);
}

/**
 * hr_contrastive_ref:
 * @self: a #HrContrastive
 *
 * Acquires a reference on @self.
 *
 * Returns: (transfer full): @self, with one more reference
 */
HrContrastive *
hr_contrastive_ref (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/**
 * hr_contrastive_unref:
 * @self: (transfer full): a #HrContrastive
 *
 * Drops a reference; frees @self when it was the last.
 */
void
hr_contrastive_unref (HrContrastive *self)
{
  g_return_if_fail (self != NULL);
  if (g_atomic_ref_count_dec (&self->ref_count))
    g_free (self);
}

/**
 * hr_contrastive_get_n_pairs:
 * @self: a #HrContrastive
 *
 * Gets the number of pairs P.
 *
 * Returns: the number of pairs P
 */
gsize
hr_contrastive_get_n_pairs (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_pairs;
}

/**
 * hr_contrastive_get_batch_size:
 * @self: a #HrContrastive
 *
 * Gets the batch size B asked for.
 *
 * Returns: the batch size B asked for (a last batch may be smaller, or hold B + 1 pairs;
 *   see #HrContrastive)
 */
gsize
hr_contrastive_get_batch_size (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->batch_size;
}

/**
 * hr_contrastive_get_temperature:
 * @self: a #HrContrastive
 *
 * Gets the NT-Xent temperature τ.
 *
 * Returns: the NT-Xent temperature τ
 */
double
hr_contrastive_get_temperature (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->temperature;
}

/**
 * hr_contrastive_get_margin:
 * @self: a #HrContrastive
 *
 * Gets the triplet margin.
 *
 * Returns: the triplet margin
 */
double
hr_contrastive_get_margin (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->margin;
}

/**
 * hr_contrastive_has_negatives:
 * @self: a #HrContrastive
 *
 * Tells whether explicit negatives were given for the triplet loss.
 *
 * Returns: %TRUE when explicit negatives were given for the triplet loss, %FALSE when it
 *   took in-batch negatives
 */
gboolean
hr_contrastive_has_negatives (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->has_negatives;
}

/**
 * hr_contrastive_get_alignment:
 * @self: a #HrContrastive
 *
 * The alignment of Wang & Isola (α = 2): the mean over the pairs of the squared Euclidean
 * distance between the L2-normalised anchor and positive. 0 is perfect alignment; at most 4.
 *
 * Returns: the alignment
 */
double
hr_contrastive_get_alignment (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->alignment;
}

/**
 * hr_contrastive_get_uniformity:
 * @self: a #HrContrastive
 *
 * The uniformity of Wang & Isola (t = 2), per batch on the normalised anchors and positives
 * and averaged over the batches weighted by their number of distinct-sample pairs (see
 * #HrContrastive). Lower is more uniform; at most 0 (all rows equal).
 *
 * Returns: the uniformity
 */
double
hr_contrastive_get_uniformity (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->uniformity;
}

/**
 * hr_contrastive_get_ntxent:
 * @self: a #HrContrastive
 *
 * The NT-Xent loss of pytorch-metric-learning's `NTXentLoss` at the temperature of @self,
 * per batch with in-batch negatives, averaged over all positive pairs (see #HrContrastive).
 *
 * Returns: the NT-Xent loss
 */
double
hr_contrastive_get_ntxent (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->ntxent;
}

/**
 * hr_contrastive_get_triplet:
 * @self: a #HrContrastive
 *
 * The triplet margin loss of `torch.nn.TripletMarginLoss (margin, p=2, eps=1e-6)` on the raw
 * rows, with the explicit negatives or the in-batch negatives (see #HrContrastive).
 *
 * Returns: the mean triplet loss
 */
double
hr_contrastive_get_triplet (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->triplet;
}

/**
 * hr_contrastive_get_positive_cosine:
 * @self: a #HrContrastive
 *
 * Gets the mean cosine similarity of anchor and positive over the pairs.
 *
 * Returns: the mean cosine similarity of anchor and positive over the pairs
 */
double
hr_contrastive_get_positive_cosine (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->positive_cosine;
}

/**
 * hr_contrastive_get_negative_cosine:
 * @self: a #HrContrastive
 *
 * Gets the mean cosine similarity over all in-batch negatives of NT-Xent.
 *
 * Returns: the mean cosine similarity over all in-batch negatives of NT-Xent (pairs of
 *   distinct samples of a batch that are not a positive pair; see #HrContrastive)
 */
double
hr_contrastive_get_negative_cosine (HrContrastive *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->negative_cosine;
}

/* -- pair files --------------------------------------------------------------------------- */

/* Splits @line in place into at most 4 fields: on commas when it has one (fields trimmed,
 * possibly empty), else on runs of blanks. Returns the number of fields (4: too many). */
static guint
hr_pairs_split (char *line, char *fields[4])
{
  guint n = 0;

  if (strchr (line, ',') != NULL)
    {
      char *start = line;

      while (n < 4)
        {
          char *comma = strchr (start, ',');

          if (comma != NULL)
            *comma = '\0';
          fields[n++] = g_strstrip (start);
          if (comma == NULL)
            break;
          start = comma + 1;
        }
      return n;
    }
  for (char *s = line; *s != '\0' && n < 4;)
    {
      while (g_ascii_isspace (*s))
        s++;
      if (*s == '\0')
        break;
      fields[n++] = s;
      while (*s != '\0' && !g_ascii_isspace (*s))
        s++;
      if (*s != '\0')
        *s++ = '\0';
    }
  return n;
}

static gboolean
hr_pairs_looks_integer (const char *field)
{
  if (*field == '+' || *field == '-')
    field++;
  if (*field == '\0')
    return FALSE;
  for (; *field != '\0'; field++)
    if (!g_ascii_isdigit (*field))
      return FALSE;
  return TRUE;
}

/* A field for a message: valid UTF-8, at most 40 characters. */
static char *
hr_pairs_quote (const char *field)
{
  g_autofree char *valid = g_utf8_make_valid (field, -1);

  if (g_utf8_strlen (valid, -1) > 40)
    {
      g_autofree char *cut = g_utf8_substring (valid, 0, 40);
      return g_strconcat (cut, "…", NULL);
    }
  return g_steal_pointer (&valid);
}

/* The longest line of a pair file: three indices of 20 digits need 62 bytes. */
#define HR_PAIRS_MAX_LINE 65536

static gboolean
hr_pairs_parse_line (const char *path, gsize line_number, guint n_fields, char **fields,
                     guint64 n_samples, guint64 out[3], GError **error)
{
  static const char *const names[] = { N_ ("anchor"), N_ ("positive"), N_ ("negative") };

  for (guint f = 0; f < n_fields; f++)
    {
      guint64 value;
      g_autofree char *quoted = hr_pairs_quote (fields[f]);

      if (!hr_pairs_looks_integer (fields[f]))
        {
          /* TRANSLATORS: "%s, line %zu": a file name and a line number; the next %s is
           * "anchor", "positive" or "negative" */
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                       _ ("%s, line %zu: the %s index “%s” is not an integer"), path, line_number,
                       _ (names[f]), quoted);
          return FALSE;
        }
      if (fields[f][0] == '-')
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                       _ ("%s, line %zu: the %s index %s is negative"), path, line_number,
                       _ (names[f]), quoted);
          return FALSE;
        }
      /* "+0" is 0, as Python's int() and numpy read it */
      if (!g_ascii_string_to_unsigned (fields[f] + (fields[f][0] == '+'), 10, 0, G_MAXUINT64 - 1,
                                       &value, NULL)
          || value >= n_samples)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                       _ ("%s, line %zu: the %s index %s is outside the %llu samples"), path,
                       line_number, _ (names[f]), quoted, (unsigned long long)n_samples);
          return FALSE;
        }
      out[f] = value;
    }
  if (n_fields == 2)
    out[2] = HR_PAIRS_NO_NEGATIVE;
  return TRUE;
}

/**
 * hr_pairs_read: (skip)
 * @path: (type filename): a pair file
 * @n_samples: the number of samples the indices refer to; every index must be smaller
 * @indices: (out) (transfer full) (array length=n_pairs): return location for the
 *   n_pairs × 3 indices, row-major: anchor, positive, negative (%HR_PAIRS_NO_NEGATIVE in a
 *   two-column file); free with g_free()
 * @n_pairs: (out): return location for the number of pairs
 * @has_negatives: (out) (optional): return location for whether the file has a negative
 *   column
 * @error: return location for a #GError
 *
 * Reads a file of positive pairs: two columns (anchor, positive) or three (anchor,
 * positive, negative) of 0-based sample indices per line, separated by commas (CSV,
 * blanks around fields allowed) or by blanks (spaces or tabs). Empty lines are skipped,
 * `#` starts a comment that runs to the end of its line, and the first line with fields may
 * be a header when none of its fields is an integer. Every line must have as many
 * columns as the first line (the header, if there is one). Line ends may be `\n`, `\r\n` or `\r`;
 * a line is at most 65,536 bytes long. An index may carry a `+` sign (`+0` is 0).
 *
 * Returns: %TRUE, or %FALSE with @error set: %HR_ANALYSIS_ERROR_PAIRS, with the file and
 *   line, for a field that is not a non-negative integer, a line with other than two or
 *   three columns or with another number of columns than the lines before, an index not
 *   below @n_samples, or a file without pairs; a %G_IO_ERROR for a file that cannot be
 *   read (%G_IO_ERROR_NOT_FOUND when it is missing); %HR_ANALYSIS_ERROR_NO_MEMORY when
 *   the pairs do not fit in memory
 */
gboolean
hr_pairs_read (const char *path, guint64 n_samples, guint64 **indices, gsize *n_pairs,
               gboolean *has_negatives, GError **error)
{
  g_autoptr (GFile) file = NULL;
  g_autoptr (GFileInputStream) file_stream = NULL;
  g_autoptr (GDataInputStream) data = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree guint64 *array = NULL; /* n_values indices, room for capacity */
  gsize n_values = 0, capacity = 0;
  guint n_columns = 0;
  gsize line_number = 0;
  gboolean seen_fields = FALSE;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (indices != NULL, FALSE);
  g_return_val_if_fail (n_pairs != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  file = g_file_new_for_path (path);
  file_stream = g_file_read (file, NULL, &local_error);
  if (file_stream == NULL)
    {
      /* g_file_read()'s own code: G_IO_ERROR_NOT_FOUND for a missing file, … */
      g_set_error (error, local_error->domain, local_error->code,
                   _ ("cannot read the pair file %s: %s"), path, local_error->message);
      return FALSE;
    }
  data = g_data_input_stream_new (G_INPUT_STREAM (file_stream));
  g_data_input_stream_set_newline_type (data, G_DATA_STREAM_NEWLINE_TYPE_ANY);
  g_buffered_input_stream_set_buffer_size (G_BUFFERED_INPUT_STREAM (data), HR_PAIRS_MAX_LINE);

  for (;;)
    {
      g_autofree char *line = NULL;
      char *content, *hash, *fields[4];
      guint n_fields;
      guint64 triple[3];
      gssize filled;
      gsize available;
      const char *buffered;

      /* GDataInputStream grows its buffer (and aborts when it cannot) until a line ends: a
       * pair line is short, so a full buffer without a line end is an error. */
      filled
          = g_buffered_input_stream_fill (G_BUFFERED_INPUT_STREAM (data), -1, NULL, &local_error);
      buffered = g_buffered_input_stream_peek_buffer (G_BUFFERED_INPUT_STREAM (data), &available);
      if (filled >= 0 && available >= HR_PAIRS_MAX_LINE
          && memchr (buffered, '\n', available) == NULL
          && memchr (buffered, '\r', available) == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                       _ ("%s, line %zu: the line is longer than %d bytes"), path, line_number + 1,
                       HR_PAIRS_MAX_LINE);
          return FALSE;
        }
      g_clear_error (&local_error); /* read_line() reports it again */
      line = g_data_input_stream_read_line (data, NULL, NULL, &local_error);
      if (line == NULL)
        {
          if (local_error != NULL)
            {
              g_set_error (error, local_error->domain, local_error->code,
                           _ ("%s, line %zu: cannot read the pair file: %s"), path, line_number + 1,
                           local_error->message);
              return FALSE;
            }
          break;
        }
      line_number++;
      content = line;
      if (line_number == 1 && g_str_has_prefix (content, "\xEF\xBB\xBF"))
        content += 3; /* a UTF-8 byte-order mark */
      hash = strchr (content, '#');
      if (hash != NULL)
        *hash = '\0';
      g_strstrip (content);
      if (*content == '\0')
        continue;

      n_fields = hr_pairs_split (content, fields);
      if (n_fields < 2)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                       _ ("%s, line %zu: one column, but a pair needs an anchor and a positive"),
                       path, line_number);
          return FALSE;
        }
      if (n_fields > 3)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                       _ ("%s, line %zu: more than three columns (anchor, positive, negative)"),
                       path, line_number);
          return FALSE;
        }
      if (!seen_fields)
        {
          gboolean any_integer = FALSE;

          seen_fields = TRUE;
          for (guint f = 0; f < n_fields; f++)
            any_integer |= hr_pairs_looks_integer (fields[f]);
          if (!any_integer)
            {
              n_columns = n_fields; /* a header */
              continue;
            }
        }
      if (n_columns == 0)
        n_columns = n_fields;
      else if (n_fields != n_columns)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                       _ ("%s, line %zu: %u columns, but the lines before have %u"), path,
                       line_number, n_fields, n_columns);
          return FALSE;
        }
      if (!hr_pairs_parse_line (path, line_number, n_fields, fields, n_samples, triple, error))
        return FALSE;
      if (n_values + 3 > capacity)
        {
          gsize new_capacity = MAX (capacity * 2, (gsize)3 * 1024);
          guint64 *grown = g_try_realloc_n (array, new_capacity, sizeof (guint64));

          if (grown == NULL)
            {
              g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                           _ ("%s, line %zu: not enough memory for %zu pairs (%zu bytes)"), path,
                           line_number, new_capacity / 3, new_capacity * sizeof (guint64));
              return FALSE;
            }
          array = grown;
          capacity = new_capacity;
        }
      memcpy (array + n_values, triple, sizeof triple);
      n_values += 3;
    }

  if (n_values == 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                   _ ("%s, line %zu: the pair file holds no pairs"), path, line_number);
      return FALSE;
    }
  *n_pairs = n_values / 3;
  if (has_negatives != NULL)
    *has_negatives = n_columns == 3;
  *indices = g_steal_pointer (&array);
  return TRUE;
}

/**
 * hr_pairs_read_bytes:
 * @path: (type filename): a pair file
 * @n_samples: the number of samples the indices refer to; every index must be smaller
 * @n_pairs: (out) (optional): return location for the number of pairs
 * @has_negatives: (out) (optional): return location for whether the file has a negative
 *   column
 * @error: return location for a #GError
 *
 * Reads a pair file as hr_pairs_read() does, for bindings (read the result with
 * `numpy.frombuffer (bytes.get_data (), numpy.uint64).reshape (-1, 3)`).
 *
 * Returns: (transfer full): n_pairs × 3 #guint64 in native byte order, row-major: anchor,
 *   positive, negative (%HR_PAIRS_NO_NEGATIVE in a two-column file); or %NULL with @error
 *   set as by hr_pairs_read()
 */
GBytes *
hr_pairs_read_bytes (const char *path, guint64 n_samples, gsize *n_pairs, gboolean *has_negatives,
                     GError **error)
{
  guint64 *indices = NULL;
  gsize n = 0;

  if (!hr_pairs_read (path, n_samples, &indices, &n, has_negatives, error))
    return NULL;
  if (n_pairs != NULL)
    *n_pairs = n;
  return g_bytes_new_take (indices, n * 3 * sizeof (guint64));
}
