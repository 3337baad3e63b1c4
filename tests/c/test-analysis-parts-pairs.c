/* headrank tests: positive pairs and per-sample tables in parts (doc/partial.md, "Pairs in
 * parts")
 *
 * A stack of features and projections with pairs in global numbering, cut into random parts
 * (empty and one-sample parts among them), each analysed with hr_analysis_run_part() from its
 * first sample: merged in order and as a tree, the contrastive measures equal those of one
 * hr_analysis_run() within 1e-12 relative when the parts cut the pair list at batch
 * boundaries; the measures of single pairs (alignment, positive cosine, the triplet loss
 * with explicit negatives, LiDAR) for any cut. A pair whose samples lie in two parts, parts
 * of other pairs, options or per-sample tables, a gap between parts, and pairs left without
 * a part are refused. Parts made without per-sample tables merge into an analysis without
 * them. Parts resealed after an edit (a NaN in a sum, more pairs taken than listed, alone or
 * by two parts together) are refused as corrupt.
 */
#include <headrank.h>

#include "test-util.h"

#include <math.h>
#include <string.h>

#define N 1800
#define D 12
#define P 6
#define B 64

typedef struct
{
  float *x, *p;
  guint64 *pairs; /* N × 3 */
  gsize n_pairs;
  gboolean negatives;
} Data;

static void
data_clear (Data *d)
{
  g_free (d->x);
  g_free (d->p);
  g_free (d->pairs);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Data, data_clear)

static HrSource *
memory (const float *x, gsize n, gsize d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = g_bytes_new (x, MAX (n, 1) * d * sizeof (float));
  HrSource *s = hr_memory_source_new (bytes, n, d, &error);

  g_assert_no_error (error);
  return s;
}

static HrPairs *
pairs_of (Data *d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autofree guint64 *rows = g_new (guint64, d->n_pairs * 3);
  guint c = d->negatives ? 3 : 2;
  HrPairs *pairs;

  for (gsize i = 0; i < d->n_pairs; i++)
    memcpy (rows + i * c, d->pairs + i * 3, c * sizeof (guint64));
  bytes = g_bytes_new (rows, d->n_pairs * c * sizeof (guint64));
  pairs = hr_pairs_new_from_bytes (bytes, c, &error);
  g_assert_no_error (error);
  return pairs;
}

/* Features and projections of N samples; pairs (anchor, positive[, negative]) with each
 * sample an anchor once, in order, its positive and negative random samples of its own part
 * (cuts[k] to cuts[k + 1] − 1); sample 1790 (in the last part) holds a NaN. */
static void
make_data (Data *d, const gsize *cuts, guint n_cuts, gboolean negatives, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);

  d->x = g_new (float, N *D);
  d->p = g_new (float, N *P);
  d->pairs = g_new (guint64, N * 3);
  d->negatives = negatives;
  for (gsize i = 0; i < N; i++)
    {
      for (gsize j = 0; j < D; j++)
        d->x[i * D + j] = (float)(g_rand_double_range (rand, -1, 1) * (j + 1));
      for (gsize k = 0; k < P; k++)
        d->p[i * P + k] = tanhf (d->x[i * D + k] - 0.5f * d->x[i * D + k + 1] + 0.1f * (float)k);
    }
  d->x[1790 * D + 3] = NAN;
  d->n_pairs = 0;
  for (guint k = 0; k + 1 < n_cuts; k++)
    for (gsize i = cuts[k]; i < cuts[k + 1]; i++)
      {
        gsize n = cuts[k + 1] - cuts[k];

        d->pairs[3 * d->n_pairs] = i;
        d->pairs[3 * d->n_pairs + 1] = cuts[k] + (gsize)g_rand_int_range (rand, 0, (gint32)n);
        d->pairs[3 * d->n_pairs + 2]
            = negatives ? cuts[k] + (gsize)g_rand_int_range (rand, 0, (gint32)n) : G_MAXUINT64;
        d->n_pairs++;
      }
}

static HrAnalysis *
analysis_of (Data *d, gsize first, gsize n, HrPairs *pairs)
{
  g_autoptr (HrSource) all = memory (d->x, N, D);
  g_autoptr (HrSource) all_p = memory (d->p, N, P);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSource) features = hr_range_source_new (all, first, n, &error);
  g_autoptr (HrSource) projections = hr_range_source_new (all_p, first, n, &error);
  HrAnalysis *a;

  g_assert_no_error (error);
  a = hr_analysis_new_for_source (features);
  hr_analysis_set_projections_source (a, projections);
  hr_analysis_set_pairs (a, pairs);
  hr_analysis_set_contrastive_parameters (a, B, 0.5, 0.3);
  hr_analysis_set_first_sample (a, first);
  return a;
}

static GBytes *
part_of (Data *d, gsize first, gsize n, HrPairs *pairs, GError **error)
{
  g_autoptr (HrAnalysis) a = analysis_of (d, first, n, pairs);

  return hr_analysis_run_part (a, NULL, NULL, NULL, error);
}

static void
assert_close (double a, double b, double rel)
{
  g_assert_cmpfloat (fabs (a - b), <=, rel * MAX (fabs (a), 1e-300));
}

/* The contrastive measures of @merged against @single: every one within @rel, or only
 * those of single pairs (@batches FALSE). */
static void
compare_contrastive (HrAnalysis *single, HrAnalysis *merged, gboolean batches, double rel)
{
  HrContrastive *a = hr_analysis_get_contrastive (single);
  HrContrastive *b = hr_analysis_get_contrastive (merged);

  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpuint (hr_contrastive_get_n_pairs (a), ==, hr_contrastive_get_n_pairs (b));
  g_assert_cmpuint (hr_analysis_get_n_pairs_skipped (single), ==,
                    hr_analysis_get_n_pairs_skipped (merged));
  /* the pairs with sample 1790 (a NaN): as anchor, and as the positive of others */
  g_assert_cmpuint (hr_analysis_get_n_pairs_skipped (single), >=, 1);
  assert_close (hr_contrastive_get_alignment (a), hr_contrastive_get_alignment (b), rel);
  assert_close (hr_contrastive_get_positive_cosine (a), hr_contrastive_get_positive_cosine (b),
                rel);
  assert_close (hr_analysis_get_lidar (single), hr_analysis_get_lidar (merged), rel);
  g_assert_cmpint (hr_contrastive_has_negatives (a), ==, hr_contrastive_has_negatives (b));
  if (batches || hr_contrastive_has_negatives (a))
    assert_close (hr_contrastive_get_triplet (a), hr_contrastive_get_triplet (b), rel);
  if (!batches)
    return;
  assert_close (hr_contrastive_get_uniformity (a), hr_contrastive_get_uniformity (b), rel);
  assert_close (hr_contrastive_get_ntxent (a), hr_contrastive_get_ntxent (b), rel);
  assert_close (hr_contrastive_get_negative_cosine (a), hr_contrastive_get_negative_cosine (b),
                rel);
}

/* Random cuts: at multiples of the batch (@aligned) or anywhere; an empty part and a
 * one-sample part among them. */
static guint
random_cuts (GRand *rand, gsize *cuts, gboolean aligned)
{
  guint n = 0;

  cuts[n++] = 0;
  cuts[n++] = 0; /* an empty part */
  /* the last cut a multiple of the batch too, before the NaN of sample 1790 */
  while (cuts[n - 1] < (N - 2 * B) / B * B)
    {
      gsize step = aligned ? B * (gsize)g_rand_int_range (rand, 1, 6)
                           : (gsize)g_rand_int_range (rand, 1, 5 * B);

      cuts[n] = MIN (cuts[n - 1] + step, (gsize)(N - 2 * B) / B * B);
      n++;
    }
  if (!aligned)
    {
      cuts[n] = cuts[n - 1] + 1; /* a part of one sample (one pair) */
      n++;
    }
  cuts[n++] = N;
  return n;
}

static void
test_random_partitions (gconstpointer data)
{
  gboolean negatives = GPOINTER_TO_INT (data) & 1, aligned = GPOINTER_TO_INT (data) & 2;
  g_autoptr (GRand) rand = g_rand_new_with_seed (GPOINTER_TO_UINT (data) + 15);

  for (int round = 0; round < 3; round++)
    {
      gsize cuts[64];
      guint n_cuts = random_cuts (rand, cuts, aligned);
      g_auto (Data) d = { 0 };
      g_autoptr (HrPairs) pairs = NULL;
      g_autoptr (HrAnalysis) single = NULL, merged = NULL, tree = NULL;
      g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
      g_autoptr (GError) error = NULL;
      GBytes *level[64];
      guint n_level;

      make_data (&d, cuts, n_cuts, negatives, (guint32)round);
      pairs = pairs_of (&d);
      single = analysis_of (&d, 0, N, pairs);
      g_assert_true (hr_analysis_run (single, NULL, NULL, NULL, &error));
      g_assert_no_error (error);
      for (guint k = 0; k + 1 < n_cuts; k++)
        {
          GBytes *part = part_of (&d, cuts[k], cuts[k + 1] - cuts[k], pairs, &error);

          g_assert_no_error (error);
          g_ptr_array_add (parts, part);
        }
      merged = hr_analysis_new_from_parts ((GBytes **)parts->pdata, parts->len, NULL, NULL, &error);
      g_assert_no_error (error);
      compare_contrastive (single, merged, aligned, 1e-12);
      g_assert_cmpuint (hr_analysis_get_first_sample (merged), ==, 0);
      g_assert_cmpint (hr_pairs_get_origin (hr_analysis_get_pairs (merged)), ==,
                       HR_PAIRS_ORIGIN_MEMORY);
      g_assert_true (hr_analysis_has_per_sample (merged));

      /* as a binary tree */
      n_level = parts->len;
      for (guint i = 0; i < n_level; i++)
        level[i] = g_bytes_ref (parts->pdata[i]);
      while (n_level > 1)
        {
          guint k = 0;

          for (guint i = 0; i < n_level; i += 2)
            if (i + 1 < n_level)
              {
                GBytes *two[] = { level[i], level[i + 1] };

                level[k] = hr_analysis_merge_parts (two, 2, NULL, &error);
                g_assert_no_error (error);
                g_bytes_unref (two[0]);
                g_bytes_unref (two[1]);
                k++;
              }
            else
              level[k++] = level[i];
          n_level = k;
        }
      tree = hr_analysis_new_from_parts (level, 1, NULL, NULL, &error);
      g_assert_no_error (error);
      g_bytes_unref (level[0]);
      compare_contrastive (single, tree, aligned, 1e-12);
      if (!aligned)
        {
          /* the measures of batches cut within parts: not those of one pass, but finite */
          HrContrastive *c = hr_analysis_get_contrastive (merged);

          g_assert_true (isfinite (hr_contrastive_get_uniformity (c)));
          g_assert_true (isfinite (hr_contrastive_get_ntxent (c)));
        }
    }
}

static void
test_positives (void)
{
  const gsize cuts[] = { 0, 4 * B, 4 * B, 9 * B, N };
  g_auto (Data) d = { 0 };
  g_autoptr (HrSource) all = NULL, all_p = NULL, pos = NULL;
  g_autoptr (HrAnalysis) single = NULL, merged = NULL;
  g_autoptr (GError) error = NULL;
  GBytes *parts[G_N_ELEMENTS (cuts) - 1];
  g_autofree float *shifted = g_new (float, N *P);

  make_data (&d, cuts, G_N_ELEMENTS (cuts), FALSE, 3);
  for (gsize i = 0; i < N * P; i++)
    shifted[i] = d.p[(i + 7 * P) % (N * P)] + 0.25f;
  all = memory (d.x, N, D);
  all_p = memory (d.p, N, P);
  pos = memory (shifted, N, P);
  single = hr_analysis_new_for_source (all);
  hr_analysis_set_projections_source (single, all_p);
  hr_analysis_set_positives_source (single, pos);
  hr_analysis_set_contrastive_parameters (single, B, 0.5, 0.3);
  g_assert_true (hr_analysis_run (single, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  for (guint k = 0; k + 1 < G_N_ELEMENTS (cuts); k++)
    {
      gsize n = cuts[k + 1] - cuts[k];
      g_autoptr (HrSource) f = hr_range_source_new (all, cuts[k], n, &error);
      g_autoptr (HrSource) p = hr_range_source_new (all_p, cuts[k], n, &error);
      g_autoptr (HrSource) q = hr_range_source_new (pos, cuts[k], n, &error);
      g_autoptr (HrAnalysis) a = hr_analysis_new_for_source (f);

      hr_analysis_set_projections_source (a, p);
      hr_analysis_set_positives_source (a, q);
      hr_analysis_set_contrastive_parameters (a, B, 0.5, 0.3);
      parts[k] = hr_analysis_run_part (a, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
    }
  merged = hr_analysis_new_from_parts (parts, G_N_ELEMENTS (parts), NULL, NULL, &error);
  g_assert_no_error (error);
  compare_contrastive (single, merged, TRUE, 1e-12);
  g_assert_null (hr_analysis_get_pairs (merged));
  g_assert_nonnull (hr_analysis_get_positives_source (merged));
  for (guint k = 0; k < G_N_ELEMENTS (parts); k++)
    g_bytes_unref (parts[k]);
}

static void
test_refuse (void)
{
  const gsize cuts[] = { 0, 600, 1200, N };
  g_auto (Data) d = { 0 }, other = { 0 };
  g_autoptr (HrPairs) pairs = NULL, other_pairs = NULL;
  g_autoptr (GBytes) p0 = NULL, p1 = NULL, p2 = NULL, q1 = NULL, r1 = NULL, s1 = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrAnalysis) none = NULL;

  make_data (&d, cuts, G_N_ELEMENTS (cuts), FALSE, 5);
  make_data (&other, cuts, G_N_ELEMENTS (cuts), FALSE, 6);
  pairs = pairs_of (&d);
  other_pairs = pairs_of (&other);
  p0 = part_of (&d, 0, 600, pairs, &error);
  p1 = part_of (&d, 600, 600, pairs, &error);
  p2 = part_of (&d, 1200, N - 1200, pairs, &error);
  q1 = part_of (&d, 600, 600, other_pairs, &error); /* other pairs */
  g_assert_no_error (error);

  /* a pair across the cut at 599/600 */
  g_assert_null (part_of (&d, 0, 599, pairs, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS);
  g_assert_nonnull (strstr (error->message, "spans parts"));
  g_clear_error (&error);
  {
    g_autoptr (HrAnalysis) a = analysis_of (&d, 600, 600, pairs);

    hr_analysis_set_contrastive_parameters (a, B + 1, 0.5, 0.3);
    r1 = hr_analysis_run_part (a, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
  }
  {
    g_autoptr (HrAnalysis) a = analysis_of (&d, 600, 600, NULL);

    s1 = hr_analysis_run_part (a, NULL, NULL, NULL, &error); /* without pairs */
    g_assert_no_error (error);
  }
  {
    GBytes *other_list[] = { p0, q1, p2 }, *other_batch[] = { p0, r1, p2 },
           *without[] = { p0, s1, p2 }, *gap[] = { p0, p2 }, *swapped[] = { p1, p0, p2 },
           *missing[] = { p0, p1 }, *ok[] = { p0, p1, p2 };
    struct
    {
      GBytes **parts;
      guint n;
      GQuark domain;
      int code;
      const char *says;
    } cases[] = {
      { other_list, 3, HR_PART_ERROR, HR_PART_ERROR_MISMATCH, "the positive pairs" },
      { other_batch, 3, HR_PART_ERROR, HR_PART_ERROR_MISMATCH, "contrastive" },
      { without, 3, HR_PART_ERROR, HR_PART_ERROR_MISMATCH, "positive pairs were given" },
      { gap, 2, HR_PART_ERROR, HR_PART_ERROR_MISMATCH, "starts at sample 1200" },
      { swapped, 3, HR_PART_ERROR, HR_PART_ERROR_MISMATCH, "starts at sample 0" },
      { missing, 2, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS, "600 of the 1800 pairs" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        none = hr_analysis_new_from_parts (cases[i].parts, cases[i].n, NULL, NULL, &error);
        g_assert_null (none);
        g_assert_error (error, cases[i].domain, cases[i].code);
        if (strstr (error->message, cases[i].says) == NULL)
          g_error ("case %u: “%s” does not say “%s”", i, error->message, cases[i].says);
        g_clear_error (&error);
      }
    /* merged by pairs as a tree, the missing pairs are found at the end only */
    {
      g_autoptr (GBytes) m01 = hr_analysis_merge_parts (missing, 2, NULL, &error);

      g_assert_no_error (error);
      none = hr_analysis_new_from_parts (&m01, 1, NULL, NULL, &error);
      g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS);
      g_clear_error (&error);
    }
    none = hr_analysis_new_from_parts (ok, 3, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_nonnull (none);
  }
}

static void
put_u64 (guint8 *b, gsize at, guint64 v)
{
  v = GUINT64_TO_LE (v);
  memcpy (b + at, &v, sizeof v);
}

/* Where a part's pairs' counts start (doc/partial.md, "The format"): the pairs listed, taken
 * and skipped, the batch, the temperature and the margin, found by their values. */
static gsize
pairs_offset (const guint8 *b, gsize size, guint64 n_listed, guint64 n_taken)
{
  guint8 pattern[48];
  double temperature = 0.5, margin = 0.3;
  gsize at = G_MAXSIZE;

  put_u64 (pattern, 0, n_listed);
  put_u64 (pattern, 8, n_taken);
  put_u64 (pattern, 16, 0); /* skipped */
  put_u64 (pattern, 24, B);
  memcpy (pattern + 32, &temperature, 8);
  memcpy (pattern + 40, &margin, 8);
  for (gsize i = 0; i + sizeof pattern <= size; i++)
    if (memcmp (b + i, pattern, sizeof pattern) == 0)
      {
        g_assert_cmpuint (at, ==, G_MAXSIZE); /* once only */
        at = i;
      }
  g_assert_cmpuint (at, !=, G_MAXSIZE);
  return at;
}

/* Offsets from pairs_offset(): after the options and has_negatives (u32), the sums' counts
 * and values, has_lidar (u32), then LiDAR's dimension, count and mean. */
#define AT_N_TAKEN 8
#define AT_N_PAIRS 52
#define AT_ALIGNMENT 68
#define AT_HAS_LIDAR 148
#define AT_LIDAR_N 160
#define AT_LIDAR_MEAN 168

/* The first two of three parts of 1800 pairs (600 each), and where the second's pairs'
 * counts start. */
static void
two_parts (GBytes **p0, GBytes **p1, gsize *at)
{
  const gsize cuts[] = { 0, 600, 1200, N };
  g_auto (Data) d = { 0 };
  g_autoptr (HrPairs) pairs = NULL;
  g_autoptr (GError) error = NULL;
  const guint8 *b;
  gsize size;
  guint32 has_lidar;

  make_data (&d, cuts, G_N_ELEMENTS (cuts), FALSE, 5);
  pairs = pairs_of (&d);
  *p0 = part_of (&d, 0, 600, pairs, &error);
  *p1 = part_of (&d, 600, 600, pairs, &error);
  g_assert_no_error (error);
  b = g_bytes_get_data (*p1, &size);
  *at = pairs_offset (b, size, N, 600);
  memcpy (&has_lidar, b + *at + AT_HAS_LIDAR, 4);
  g_assert_cmpuint (GUINT32_FROM_LE (has_lidar), ==, 1);
}

/* A part resealed after an edit that one pass cannot produce is refused as corrupt, never
 * merged: sums that are not finite, more pairs taken than listed, LiDAR's count not the
 * pairs'. */
static void
test_corrupt (void)
{
  g_autoptr (GBytes) p0 = NULL, p1 = NULL;
  g_autoptr (GError) error = NULL;
  const guint8 *good;
  gsize size, at;

  two_parts (&p0, &p1, &at);
  good = g_bytes_get_data (p1, &size);
  /* each edit: what, the value, where (from pairs_offset()), and what the error says */
  for (guint k = 0; k < 4; k++)
    {
      g_autofree guint8 *b = g_memdup2 (good, size);
      g_autoptr (GBytes) bad = NULL;
      g_autoptr (HrAnalysis) none = NULL;
      double nan = NAN;
      const char *says;

      switch (k)
        {
          case 0: /* a NaN in the sums of the contrastive measures */
            memcpy (b + at + AT_ALIGNMENT, &nan, 8);
            says = "its pairs' sums are not finite";
            break;
          case 1: /* a NaN in LiDAR's mean */
            memcpy (b + at + AT_LIDAR_MEAN + 8, &nan, 8);
            says = "its pairs' sums are not finite";
            break;
          case 2: /* more pairs taken than listed, counted as used pairs */
            put_u64 (b, at + AT_N_TAKEN, N + 1);
            put_u64 (b, at + AT_N_PAIRS, N + 1);
            put_u64 (b, at + AT_LIDAR_N, N + 1);
            says = "its pairs are not those of an analysis";
            break;
          default: /* LiDAR's count not that of the pairs */
            put_u64 (b, at + AT_LIDAR_N, 599);
            says = "its pairs are not those of an analysis";
            break;
        }
      hr_test_reseal (b, size);
      bad = g_bytes_new (b, size);
      none = hr_analysis_new_from_parts (&bad, 1, NULL, NULL, &error);
      g_assert_null (none);
      g_assert_error (error, HR_PART_ERROR, HR_PART_ERROR_CORRUPT);
      if (strstr (error->message, says) == NULL)
        g_error ("edit %u: “%s” does not say “%s”", k, error->message, says);
      g_clear_error (&error);
    }
}

/* Parts that each take at most the pairs listed but together more are refused as corrupt
 * (the sum is checked, not only each part): part 2 takes all 1800 pairs, part 1 600 of
 * them; alone each is read. */
static void
test_too_many_taken (void)
{
  g_autoptr (GBytes) p0 = NULL, p1 = NULL, all = NULL, merged = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrAnalysis) none = NULL;
  g_autofree guint8 *b = NULL;
  gsize size, at;

  two_parts (&p0, &p1, &at);
  g_bytes_get_data (p1, &size);
  b = g_memdup2 (g_bytes_get_data (p1, NULL), size);
  put_u64 (b, at + AT_N_TAKEN, N);
  put_u64 (b, at + AT_N_PAIRS, N);
  put_u64 (b, at + AT_LIDAR_N, N);
  hr_test_reseal (b, size);
  all = g_bytes_new (b, size);
  merged = hr_analysis_merge_parts (&all, 1, NULL, &error);
  g_assert_no_error (error);
  {
    GBytes *both[] = { p0, all };

    none = hr_analysis_new_from_parts (both, 2, NULL, NULL, &error);
    g_assert_null (none);
    g_assert_error (error, HR_PART_ERROR, HR_PART_ERROR_CORRUPT);
    g_assert_nonnull (strstr (error->message, "part 2: "));
    g_assert_nonnull (strstr (error->message, "its pairs are not those of an analysis"));
    g_clear_error (&error);
    g_clear_pointer (&merged, g_bytes_unref);
    merged = hr_analysis_merge_parts (both, 2, NULL, &error);
    g_assert_null (merged);
    g_assert_error (error, HR_PART_ERROR, HR_PART_ERROR_CORRUPT);
  }
}

static void
test_no_tables (void)
{
  const gsize cuts[] = { 0, 700, N };
  g_auto (Data) d = { 0 };
  g_autoptr (HrAnalysis) single = NULL, merged = NULL, none = NULL;
  g_autoptr (GBytes) a0 = NULL, a1 = NULL, t1 = NULL, tree = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *json = NULL;
  float row[HR_PER_SAMPLE_COLUMNS];

  make_data (&d, cuts, G_N_ELEMENTS (cuts), FALSE, 7);
  single = analysis_of (&d, 0, N, NULL);
  g_assert_true (hr_analysis_run (single, NULL, NULL, NULL, &error));
  for (guint k = 0; k < 2; k++)
    {
      g_autoptr (HrAnalysis) a = analysis_of (&d, cuts[k], cuts[k + 1] - cuts[k], NULL);
      g_autoptr (HrAnalysis) t = analysis_of (&d, cuts[k], cuts[k + 1] - cuts[k], NULL);

      hr_analysis_set_per_sample_format (a, HR_PER_SAMPLE_FORMAT_NONE);
      *(k == 0 ? &a0 : &a1) = hr_analysis_run_part (a, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      if (k == 1)
        t1 = hr_analysis_run_part (t, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
    }
  /* without the tables a part holds its moments only: smaller by 16 bytes a sample and stage */
  g_assert_cmpuint (g_bytes_get_size (t1) - g_bytes_get_size (a1), ==,
                    (N - 700) * 2 * HR_PER_SAMPLE_COLUMNS * sizeof (float));
  {
    GBytes *both[] = { a0, a1 }, *mixed[] = { a0, t1 };

    none = hr_analysis_new_from_parts (mixed, 2, NULL, NULL, &error);
    g_assert_null (none);
    g_assert_error (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH);
    g_assert_nonnull (strstr (error->message, "per-sample tables"));
    g_clear_error (&error);
    tree = hr_analysis_merge_parts (both, 2, NULL, &error);
    g_assert_no_error (error);
    merged = hr_analysis_new_from_parts (&tree, 1, NULL, NULL, &error);
    g_assert_no_error (error);
  }
  g_assert_false (hr_analysis_has_per_sample (merged));
  g_assert_true (hr_analysis_has_per_sample (single));
  for (guint s = 0; s < 2; s++)
    {
      HrStage *a = hr_analysis_get_stage (single, s), *b = hr_analysis_get_stage (merged, s);

      g_assert_cmpuint (hr_spectrum_get_rank (hr_stage_get_spectrum (a)), ==,
                        hr_spectrum_get_rank (hr_stage_get_spectrum (b)));
      assert_close (hr_spectrum_get_effective_rank (hr_stage_get_spectrum (a)),
                    hr_spectrum_get_effective_rank (hr_stage_get_spectrum (b)), 1e-12);
      g_assert_false (hr_stage_get_per_sample_into (b, 0, 1, row, &error));
      g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID);
      g_clear_error (&error);
    }
  hr_analysis_set_per_sample_format (merged, HR_PER_SAMPLE_FORMAT_CSV);
  json = hr_analysis_to_json (merged, FALSE);
  g_assert_nonnull (strstr (json, "\"statistics_held\":false"));
  g_assert_nonnull (strstr (json, "\"format\":\"none\""));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/analysis-parts-pairs/random-partitions/aligned", GINT_TO_POINTER (2),
                        test_random_partitions);
  g_test_add_data_func ("/analysis-parts-pairs/random-partitions/aligned-negatives",
                        GINT_TO_POINTER (3), test_random_partitions);
  g_test_add_data_func ("/analysis-parts-pairs/random-partitions/any", GINT_TO_POINTER (0),
                        test_random_partitions);
  g_test_add_data_func ("/analysis-parts-pairs/random-partitions/any-negatives",
                        GINT_TO_POINTER (1), test_random_partitions);
  g_test_add_func ("/analysis-parts-pairs/positives", test_positives);
  g_test_add_func ("/analysis-parts-pairs/refuse", test_refuse);
  g_test_add_func ("/analysis-parts-pairs/no-tables", test_no_tables);
  g_test_add_func ("/analysis-parts-pairs/corrupt", test_corrupt);
  g_test_add_func ("/analysis-parts-pairs/too-many-taken", test_too_many_taken);
  return g_test_run ();
}
