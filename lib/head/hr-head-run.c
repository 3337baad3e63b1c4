/* headrank: projection heads: the kernels and the forward pass on a feature stack, in float32
 * as PyTorch runs them */
#include "hr-private.h"
#include "hr-head.h"

#include "hr-feature-stack.h"
#include "hr-head-internal.h"
#include "hr-head-private.h"
#include "hr-sources-private.h"
#include "hr-stack-info.h"

#include <cblas.h>
#include <gio/gio.h>
#include <math.h>
#include <string.h>

/* -- running ----------------------------------------------------------------------------- */

void
hr_run_clear_folds (HrRun *run)
{
  for (guint i = 0; i < run->head->layers->len; i++)
    {
      g_clear_pointer (&run->folded_weight[i], g_free);
      g_clear_pointer (&run->folded_bias[i], g_free);
    }
}

void
hr_run_free (HrRun *run)
{
  for (guint i = 0; i < run->head->layers->len; i++)
    {
      g_free (run->stats_mean[i]);
      g_free (run->stats_var[i]);
    }
  hr_run_clear_folds (run);
  g_free (run->stats_mean);
  g_free (run->stats_var);
  g_free (run->folded_weight);
  g_free (run->folded_bias);
  g_free (run);
}

HrRun *
hr_run_new (HrHead *head, HrNormMode mode, guint last, gboolean keep_stages)
{
  HrRun *run = g_new0 (HrRun, 1);
  guint n = head->layers->len;

  run->head = head;
  run->mode = mode;
  run->last = last;
  run->keep_stages = keep_stages;
  run->stats_mean = g_new0 (double *, n);
  run->stats_var = g_new0 (double *, n);
  run->folded_weight = g_new0 (float *, n);
  run->folded_bias = g_new0 (float *, n);
  run->max_width = hr_head_get_in_features (head);
  for (guint i = 0; i < n; i++)
    {
      HrLayer *l = hr_head_layer (head, i);

      run->max_width = MAX (run->max_width, l->out);
      if (l->kind == HR_LAYER_BATCH_NORM && mode == HR_NORM_MODE_RUNNING)
        {
          run->stats_mean[i] = g_new (double, l->out);
          run->stats_var[i] = g_new (double, l->out);
          for (gsize j = 0; j < l->out; j++)
            {
              run->stats_mean[i][j] = l->running_mean[j];
              run->stats_var[i][j] = l->running_var[j];
            }
        }
    }
  return run;
}

/* Whether Linear @i and the BatchNorm after it run as one folded Linear. */
static gboolean
hr_run_folds (HrRun *run, guint i)
{
  HrHead *head = run->head;

  return !run->keep_stages && i + 1 <= run->last && i + 1 < head->layers->len
         && hr_head_layer (head, i)->kind == HR_LAYER_LINEAR
         && hr_head_layer (head, i + 1)->kind == HR_LAYER_BATCH_NORM
         && run->stats_mean[i + 1] != NULL;
}

/* W' = diag(s) W, b' = s (b − mean) + β with s = γ / √(var + eps), in float64 once. */
static void
hr_run_fold (HrRun *run, guint i)
{
  HrLayer *lin = hr_head_layer (run->head, i), *bn = hr_head_layer (run->head, i + 1);
  float *w, *b;

  if (run->folded_weight[i] != NULL)
    return;
  w = g_new (float, lin->out * lin->in);
  b = g_new (float, lin->out);
  for (gsize o = 0; o < lin->out; o++)
    {
      double gamma = bn->weight != NULL ? bn->weight[o] : 1.0;
      double beta = bn->bias != NULL ? bn->bias[o] : 0.0;
      double s = gamma / sqrt (run->stats_var[i + 1][o] + bn->eps);
      double bias = lin->bias != NULL ? lin->bias[o] : 0.0;

      for (gsize j = 0; j < lin->in; j++)
        w[o * lin->in + j] = (float)(s * lin->weight[o * lin->in + j]);
      b[o] = (float)(s * (bias - run->stats_mean[i + 1][o]) + beta);
    }
  run->folded_weight[i] = w;
  run->folded_bias[i] = b;
}

/* The activations, in float64 and rounded once, as close to PyTorch's float32 kernels as
 * float32 allows: GELU 0.5 x (1 + erf(x/√2)) or with tanh(√(2/π)(x + 0.044715 x³)), SiLU
 * x / (1 + e^−x), LeakyReLU x > 0 ? x : slope · x (in float, as PyTorch), Tanh. */
static inline float
hr_activate (HrLayerKind kind, double slope, float x)
{
  switch (kind)
    {
      case HR_LAYER_RELU:
        return x < 0.0f ? 0.0f : x;
      case HR_LAYER_GELU:
        return (float)(0.5 * x * (1.0 + erf (x * G_SQRT2 / 2.0)));
      case HR_LAYER_GELU_TANH:
        {
          const double beta = 0.79788456080286535588 /* √(2/π) */, kappa = 0.044715;
          double v = x;

          return (float)(0.5 * v * (1.0 + tanh (beta * (v + kappa * v * v * v))));
        }
      case HR_LAYER_SILU:
        return (float)(x / (1.0 + exp (-(double)x)));
      case HR_LAYER_LEAKY_RELU:
        return x > 0.0f ? x : x * (float)slope;
      case HR_LAYER_TANH:
        return (float)tanh ((double)x);
      default:
        return x;
    }
}

gboolean
hr_layer_kind_is_activation (HrLayerKind kind)
{
  return kind == HR_LAYER_RELU || kind == HR_LAYER_GELU || kind == HR_LAYER_SILU
         || kind == HR_LAYER_GELU_TANH || kind == HR_LAYER_LEAKY_RELU || kind == HR_LAYER_TANH;
}

/* Whether layer @index maps its input by an affine map the same for every sample: a
 * Linear, a BatchNorm with its running statistics (not the batch's), an Identity or a
 * Dropout (the identity at inference). */
gboolean
hr_head_layer_is_affine (HrHead *head, HrNormMode mode, guint index)
{
  switch (hr_head_layer (head, index)->kind)
    {
      case HR_LAYER_LINEAR:
      case HR_LAYER_IDENTITY:
      case HR_LAYER_DROPOUT:
        return TRUE;
      case HR_LAYER_BATCH_NORM:
        return mode == HR_NORM_MODE_RUNNING;
      default:
        return FALSE;
    }
}

/* The most memory hr_head_affine_map() holds at once for layers @first … @last, its result
 * included: the step by step allocations of that function. */
guint64
hr_head_affine_map_bytes (HrHead *head, guint first, guint last)
{
  guint64 in = hr_head_layer (head, first)->in, w = in, a = 0, peak = in;

  for (guint i = first; i <= last; i++)
    {
      HrLayer *l = hr_head_layer (head, i);

      if (l->kind == HR_LAYER_LINEAR)
        {
          /* Wᵀ and the new c beside A and c, and the product A Wᵀ when A is not I */
          guint64 live = a + w + w * l->out + l->out + (a != 0 ? in * l->out : 0);

          peak = MAX (peak, live);
          a = in * l->out;
          w = l->out;
        }
      else if (l->kind == HR_LAYER_BATCH_NORM && a == 0)
        {
          a = in * w;
          peak = MAX (peak, a + w);
        }
    }
  if (a == 0)
    peak = MAX (peak, in * w + w);
  return 8 * peak;
}

/* The n × n identity in float64, or NULL when memory runs out. */
static double *
hr_identity (gsize n)
{
  double *a = g_try_new0 (double, n *n);

  for (gsize j = 0; a != NULL && j < n; j++)
    a[j * n + j] = 1.0;
  return a;
}

/* The affine map y = x A + c of layers @first … @last (each affine in @mode:
 * hr_head_layer_is_affine()) in float64, the exact arithmetic the head's float32 run
 * rounds: A (in × out, row-major, in the input width of layer @first) and c (out). NULL
 * when memory runs out. */
double *
hr_head_affine_map (HrHead *head, HrNormMode mode, guint first, guint last, double **c)
{
  gsize in = hr_head_layer (head, first)->in, w = in;
  g_autofree double *a = NULL, *v = g_try_new0 (double, w);

  g_return_val_if_fail (first <= last && last < head->layers->len, NULL);
  if (v == NULL)
    return NULL;
  for (guint i = first; i <= last; i++)
    {
      HrLayer *l = hr_head_layer (head, i);

      g_return_val_if_fail (hr_head_layer_is_affine (head, mode, i), NULL);
      if (l->kind == HR_LAYER_LINEAR)
        {
          /* A ← A Wᵀ (A = I before: Wᵀ itself), c ← c Wᵀ + b */
          g_autofree double *wt = g_try_new (double, w * l->out);
          g_autofree double *nv = g_try_new (double, l->out);

          if (wt == NULL || nv == NULL)
            return NULL;
          for (gsize o = 0; o < l->out; o++)
            {
              double s = l->bias != NULL ? l->bias[o] : 0.0;

              for (gsize j = 0; j < w; j++)
                {
                  wt[j * l->out + o] = l->weight[o * w + j];
                  s += v[j] * l->weight[o * w + j];
                }
              nv[o] = s;
            }
          if (a == NULL)
            a = g_steal_pointer (&wt);
          else
            {
              double *na = g_try_new (double, in * l->out);

              if (na == NULL)
                return NULL;
              cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)in, (int)l->out, (int)w,
                           1.0, a, (int)w, wt, (int)l->out, 0.0, na, (int)l->out);
              g_free (a);
              a = na;
            }
          g_free (v);
          v = g_steal_pointer (&nv);
          w = l->out;
        }
      else if (l->kind == HR_LAYER_BATCH_NORM)
        {
          /* each column j scaled by s_j = γ_j / √(var_j + eps), c_j ← (c_j − mean_j) s_j + β_j */
          if (a == NULL && (a = hr_identity (in)) == NULL) /* no Linear yet: w = in */
            return NULL;
          for (gsize j = 0; j < w; j++)
            {
              double s = (l->weight != NULL ? l->weight[j] : 1.0)
                         / sqrt ((double)l->running_var[j] + l->eps);

              for (gsize r = 0; r < in; r++)
                a[r * w + j] *= s;
              v[j] = (v[j] - l->running_mean[j]) * s + (l->bias != NULL ? l->bias[j] : 0.0);
            }
        }
    }
  if (a == NULL && (a = hr_identity (in)) == NULL) /* Identity and Dropout only */
    return NULL;
  *c = g_steal_pointer (&v);
  return g_steal_pointer (&a);
}

/* Batch statistics of the columns of x (n × d): mean and biased variance, in float64,
 * shifted by the first row against cancellation. */
static void
hr_column_stats (const float *x, gsize n, gsize d, double *mean, double *var)
{
  g_autofree double *sum = g_new0 (double, d), *sum2 = g_new0 (double, d);

  for (gsize r = 0; r < n; r++)
    {
      const float *row = x + r * d;
      for (gsize j = 0; j < d; j++)
        {
          double v = (double)row[j] - x[j];
          sum[j] += v;
          sum2[j] += v * v;
        }
    }
  for (gsize j = 0; j < d; j++)
    {
      double m = sum[j] / n;
      mean[j] = m + x[j];
      var[j] = MAX (0.0, sum2[j] / n - m * m);
    }
}

typedef float hr_v4f __attribute__ ((vector_size (16)));
typedef gint32 hr_v4i __attribute__ ((vector_size (16)));

/* y = x · scale + shift, then relu (y) when @relu, column by column (@scale NULL: x + shift,
 * a Linear's bias; @shift NULL too: x), in one pass (@x may be @y) rounded as the scalar
 * expression (a product, then a sum: C11, no contraction), four columns at a time and
 * without branches on the values: a scalar `x < 0 ? 0 : x` compiles (at -O2) to a compare
 * and a jump that is mispredicted about every other value on the signs of a fresh sgemm
 * output. NaN stays NaN, as in PyTorch. Returns the number of NaN or infinite values
 * written, counted in the same pass. */
static guint64
hr_scale_shift_relu (float *y, const float *x, const float *restrict scale,
                     const float *restrict shift, gsize n, gsize d, gboolean relu)
{
  const hr_v4f zero = { 0 };
  guint64 bad = 0;

  for (gsize r = 0; r < n; r++)
    {
      const float *row = x + r * d;
      float *out = y + r * d;
      hr_v4i nb = { 0 };
      gsize j = 0;

      for (; j + 4 <= d; j += 4)
        {
          hr_v4f v, a, b;

          memcpy (&v, row + j, sizeof v);
          if (scale != NULL)
            {
              memcpy (&a, scale + j, sizeof a);
              v *= a;
            }
          if (shift != NULL)
            {
              memcpy (&b, shift + j, sizeof b);
              v += b;
            }
          if (relu)
            v = (hr_v4f)((hr_v4i)v & ~(v < zero));
          /* v − v is 0 for a finite v, NaN for a NaN or an infinity */
          nb -= (hr_v4i)((v - v) != zero);
          memcpy (out + j, &v, sizeof v);
        }
      for (; j < d; j++)
        {
          float v = scale != NULL ? row[j] * scale[j] : row[j];

          v = shift != NULL ? v + shift[j] : v;
          out[j] = relu && v < 0.0f ? 0.0f : v;
          bad += !isfinite (out[j]);
        }
      bad += (guint64)nb[0] + (guint64)nb[1] + (guint64)nb[2] + (guint64)nb[3];
    }
  return bad;
}

/* Rows of a chunk a thread runs through the head: a multiple of this (a multiple of every
 * register block of OpenBLAS's sgemm kernels). */
#define HR_RUN_ROW_BLOCK 96

/* Rows [first, end) of part @part of @n rows split over @n_parts, in whole blocks of
 * HR_RUN_ROW_BLOCK rows: the products' kernels then treat every row as one call over all
 * the rows would (the same register blocks, the same edges). */
static void
hr_run_split (gsize n, guint n_parts, guint part, gsize *first, gsize *end)
{
  hr_pool_split ((n + HR_RUN_ROW_BLOCK - 1) / HR_RUN_ROW_BLOCK, n_parts, part, first, end);
  *first = MIN (*first * HR_RUN_ROW_BLOCK, n);
  *end = MIN (*end * HR_RUN_ROW_BLOCK, n);
}

typedef struct
{
  const float *x, *w;
  gsize n, in, out;
  float *y;
  guint n_parts;
} HrSgemmJob;

static void
hr_run_sgemm_part (guint part, gpointer data)
{
  HrSgemmJob *job = data;
  gsize first, end;

  hr_run_split (job->n, job->n_parts, part, &first, &end);
  if (end > first)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)(end - first), (blasint)job->out,
                 (blasint)job->in, 1.0f, job->x + first * job->in, (blasint)job->in, job->w,
                 (blasint)job->in, 0.0f, job->y + first * job->out, (blasint)job->out);
}

/* y = x wᵀ for @n rows, over run->pool's threads by rows when it is set. */
static void
hr_run_sgemm (HrRun *run, const float *x, gsize n, gsize in, const float *w, gsize out, float *y)
{
  HrSgemmJob job = { x, w, n, in, out, y, hr_pool_get_n_threads (run->pool) };

  hr_pool_run (run->pool, job.n_parts, hr_run_sgemm_part, &job);
}

/* The last layer hr_run_layer() runs from layer @i: a Linear runs with the BatchNorm after
 * it folded in (hr_run_folds()), and, unless the stages are kept, with the activation
 * after those fused; any other layer alone. */
static guint
hr_run_layer_last (HrRun *run, guint i)
{
  HrHead *head = run->head;
  guint last = i;

  if (hr_head_layer (head, i)->kind != HR_LAYER_LINEAR)
    return i;
  if (hr_run_folds (run, i))
    last = i + 1;
  if (!run->keep_stages && last + 1 <= run->last
      && hr_layer_kind_is_activation (hr_head_layer (head, last + 1)->kind))
    last++;
  return last;
}

/* Runs layer @i (and, when folded or fused, the ones after it, up to hr_run_layer_last())
 * on @n rows of @x into @y; returns the index of the last layer it ran. Sets @n_bad to the
 * number of NaN or infinite outputs when it counted them in its own pass over them, else
 * to G_MAXUINT64. */
static guint
hr_run_layer (HrRun *run, guint i, const float *x, gsize n, float *y, guint64 *n_bad)
{
  HrHead *head = run->head;
  HrLayer *l = hr_head_layer (head, i);
  guint last = hr_run_layer_last (run, i);

  *n_bad = G_MAXUINT64;
  switch (l->kind)
    {
      case HR_LAYER_LINEAR:
        {
          const float *w = l->weight, *b = l->bias;
          HrLayerKind act = HR_LAYER_LINEAR; /* none */
          double slope = 0.0;

          if (hr_run_folds (run, i))
            {
              hr_run_fold (run, i);
              w = run->folded_weight[i];
              b = run->folded_bias[i];
            }
          if (hr_layer_kind_is_activation (hr_head_layer (head, last)->kind))
            {
              act = hr_head_layer (head, last)->kind;
              slope = hr_head_layer (head, last)->slope;
            }

          hr_run_sgemm (run, x, n, l->in, w, l->out, y);
          if (act == HR_LAYER_RELU || act == HR_LAYER_LINEAR)
            *n_bad = hr_scale_shift_relu (y, y, NULL, b, n, l->out, act == HR_LAYER_RELU);
          else
            for (gsize r = 0; r < n; r++)
              {
                float *row = y + r * l->out;

                for (gsize j = 0; j < l->out; j++)
                  row[j] = hr_activate (act, slope, b != NULL ? row[j] + b[j] : row[j]);
              }
          break;
        }

      case HR_LAYER_BATCH_NORM:
        {
          g_autofree double *mean = NULL, *var = NULL;
          g_autofree float *scale = g_new (float, l->out), *shift = g_new (float, l->out);
          const double *m = run->stats_mean[i], *v = run->stats_var[i];

          if (m == NULL)
            {
              mean = g_new (double, l->out);
              var = g_new (double, l->out);
              hr_column_stats (x, n, l->out, mean, var);
              m = mean;
              v = var;
            }
          for (gsize j = 0; j < l->out; j++)
            {
              double s = (l->weight != NULL ? l->weight[j] : 1.0) / sqrt (v[j] + l->eps);
              scale[j] = (float)s;
              shift[j] = (float)((l->bias != NULL ? l->bias[j] : 0.0) - m[j] * s);
            }
          *n_bad = hr_scale_shift_relu (y, x, scale, shift, n, l->out, FALSE);
          break;
        }

      case HR_LAYER_LAYER_NORM:
        for (gsize r = 0; r < n; r++)
          {
            const float *row = x + r * l->out;
            double sum = 0, sum2 = 0, mean, inv;

            for (gsize j = 0; j < l->out; j++)
              sum += row[j];
            mean = sum / l->out;
            for (gsize j = 0; j < l->out; j++)
              sum2 += (row[j] - mean) * (row[j] - mean);
            inv = 1.0 / sqrt (sum2 / l->out + l->eps);
            for (gsize j = 0; j < l->out; j++)
              y[r * l->out + j] = (float)((row[j] - mean) * inv * (l->weight ? l->weight[j] : 1.0)
                                          + (l->bias ? l->bias[j] : 0.0));
          }
        break;

      case HR_LAYER_RELU:
        *n_bad = hr_scale_shift_relu (y, x, NULL, NULL, n, l->out, TRUE);
        break;

      case HR_LAYER_GELU:
      case HR_LAYER_GELU_TANH:
      case HR_LAYER_SILU:
      case HR_LAYER_LEAKY_RELU:
      case HR_LAYER_TANH:
        for (gsize k = 0; k < n * l->out; k++)
          y[k] = hr_activate (l->kind, l->slope, x[k]);
        break;

      case HR_LAYER_IDENTITY:
      case HR_LAYER_DROPOUT:
        memcpy (y, x, n * l->out * sizeof (float));
        break;

      case HR_LAYER_L2_NORMALIZE:
        for (gsize r = 0; r < n; r++)
          {
            const float *row = x + r * l->out;
            double sum2 = 0;
            float denominator;

            for (gsize j = 0; j < l->out; j++)
              sum2 += (double)row[j] * row[j];
            denominator = (float)MAX (sqrt (sum2), 1e-12);
            for (gsize j = 0; j < l->out; j++)
              y[r * l->out + j] = row[j] / denominator;
          }
        break;

      default:
        g_assert_not_reached ();
    }
  return last;
}

/* The NaN or infinite values among the @n rows of layer @layer's outputs @out. */
static guint64
hr_run_count_nonfinite (HrRun *run, guint layer, const float *out, gsize n)
{
  gsize width = hr_head_layer (run->head, layer)->out;
  guint64 bad = 0;

  for (gsize k = 0; k < n * width; k++)
    bad += isfinite (out[k]) == 0;
  return bad;
}

/* Layers @first … @last ran as one group (a Linear with the BatchNorm folded into it and
 * the activation fused after it) and computed non-finite values from the finite inputs @in.
 * Folding can overflow where the separate layers do not (huge folded weights and bias that
 * cancel), so the group is run again one layer at a time, as PyTorch runs it. When every
 * layer stays finite, their output goes to @out and the run goes on; otherwise the error names
 * the layer that first computes non-finite values, with its own count (the activation at the
 * end of the group is not the culprit). */
static gboolean
hr_run_group_unfolded (HrRun *run, guint first, guint last, const float *in, gsize n, float *out,
                       GError **error)
{
  HrHead *head = run->head;
  gboolean keep = run->keep_stages;
  g_autofree float *a = g_new (float, n * run->max_width);
  g_autofree float *b = g_new (float, n * run->max_width);
  const float *x = in;
  float *y = a;
  HrLayer *l;

  run->keep_stages = TRUE; /* no folding, no fused activation */
  for (guint i = first; i <= last; i++)
    {
      guint64 bad;

      hr_run_layer (run, i, x, n, y, &bad);
      if (bad == G_MAXUINT64)
        bad = hr_run_count_nonfinite (run, i, y, n);
      if (bad > 0)
        {
          run->keep_stages = keep;
          l = hr_head_layer (head, i);
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NON_FINITE,
                       /* TRANSLATORS: %s is a layer name, %s its kind (linear, bn, …), %llu a
                          count of values, %zu of samples */
                       _ ("layer %s (%s) computes %llu NaN or infinite values from finite "
                          "inputs, in a batch of %zu samples: its weights or its inputs are too "
                          "large for float32"),
                       l->name, hr_layer_kind_name (l->kind), (unsigned long long)bad, n);
          return FALSE;
        }
      x = y;
      y = y == a ? b : a;
    }
  run->keep_stages = keep;
  memcpy (out, x, n * hr_head_layer (head, last)->out * sizeof (float));
  return TRUE;
}

/* Runs layers 0 … run->last on @n rows of @x. With @stages, stages[i] (when not NULL)
 * receives layer i's output; a layer that runs folded or fused into the one before it has
 * none, so whoever wants every layer sets keep_stages. Returns the output of the last layer
 * (in stages[run->last] when that is set, else in one of the two work buffers), or NULL with @error
 * set when a layer's outputs are not finite: the error names the layer that first computes them
 * (see hr_run_group_unfolded()). */
static float *
hr_run_rows_internal (HrRun *run, const float *x, gsize n, float *work[2], float **stages,
                      gboolean unfold, GError **error)
{
  const float *in = x;
  float *out = NULL;
  int which = 0;

  for (guint i = 0; i <= run->last;)
    {
      guint done = hr_run_layer_last (run, i);
      gboolean to_stage = stages != NULL && stages[done] != NULL;
      guint64 bad;

      /* a kept stage's output goes straight to its buffer, which the next layer reads */
      out = to_stage ? stages[done] : work[which];
      hr_run_layer (run, i, in, n, out, &bad);
      if (bad == G_MAXUINT64)
        bad = hr_run_count_nonfinite (run, done, out, n);
      if (bad > 0 && !unfold)
        return NULL;
      if (bad > 0 && !hr_run_group_unfolded (run, i, done, in, n, out, error))
        return NULL;
      in = out;
      if (!to_stage)
        which ^= 1;
      i = done + 1;
    }
  return out;
}

float *
hr_run_rows (HrRun *run, const float *x, gsize n, float *work[2], float **stages, GError **error)
{
  return hr_run_rows_internal (run, x, n, work, stages, TRUE, error);
}

/* Whether every row runs through the layers on its own: no BatchNorm normalises with the
 * statistics of the batch being run. */
gboolean
hr_run_rows_independent (HrRun *run)
{
  for (guint i = 0; i <= run->last; i++)
    if (hr_head_layer (run->head, i)->kind == HR_LAYER_BATCH_NORM && run->stats_mean[i] == NULL)
      return FALSE;
  return TRUE;
}

typedef struct
{
  HrRun *run;
  HrPool *pool;
  const float *x;
  gsize n;
  float **work;
  float **stages;
  float *out;  /* n × the last layer's width, or NULL */
  gint failed; /* atomic: a part computed non-finite values */
} HrRowsJob;

static void
hr_run_rows_part (guint part, gpointer data)
{
  HrRowsJob *job = data;
  HrRun *run = job->run;
  guint n_layers = run->head->layers->len;
  gsize first, end, w = run->max_width, in = hr_head_get_in_features (run->head);
  float *work[2], *y;
  float **stages = job->stages != NULL ? g_newa (float *, n_layers) : NULL;

  hr_run_split (job->n, hr_pool_get_n_threads (job->pool), part, &first, &end);
  if (end <= first)
    return;
  work[0] = job->work[0] + first * w;
  work[1] = job->work[1] + first * w;
  for (guint i = 0; stages != NULL && i < n_layers; i++)
    stages[i] = job->stages[i] != NULL ? job->stages[i] + first * hr_head_layer (run->head, i)->out
                                       : NULL;
  y = hr_run_rows_internal (run, job->x + first * in, end - first, work, stages, FALSE, NULL);
  if (y == NULL)
    g_atomic_int_set (&job->failed, TRUE);
  else if (job->out != NULL)
    {
      gsize width = hr_head_layer (run->head, run->last)->out;

      memcpy (job->out + first * width, y, (end - first) * width * sizeof (float));
    }
}

/* hr_run_rows() into @out (when not NULL), as one call. */
static gboolean
hr_run_rows_into (HrRun *run, const float *x, gsize n, float *work[2], float **stages, float *out,
                  GError **error)
{
  float *y = hr_run_rows (run, x, n, work, stages, error);

  if (y != NULL && out != NULL)
    memcpy (out, y, n * hr_head_layer (run->head, run->last)->out * sizeof (float));
  return y != NULL;
}

/* hr_run_rows() with @pool's threads: when the rows run on their own, each thread runs a
 * part of them through all the layers (BLAS single-threaded, see hr-pool.c); else the head
 * runs as one. The output goes to @stages and to @out (n × the last layer's width, when not
 * NULL), not to the work buffers (each part's last layer is in its own part of them). A
 * part that computes non-finite values has the chunk run again as one, for the error of
 * hr_run_rows(). Every run of a head on more than one thread goes through here (the
 * analysis, hr_head_forward(), hr_head_forward_stages()), so that the same rows give the
 * same values bit for bit whichever runs them. */
gboolean
hr_run_rows_pool (HrRun *run, HrPool *pool, const float *x, gsize n, float *work[2], float **stages,
                  float *out, GError **error)
{
  HrRowsJob job = { run, pool, x, n, work, stages, out, FALSE };

  if (pool != NULL && !hr_run_rows_independent (run))
    {
      gboolean ok;

      /* statistics over the rows: the layers one by one, each product split by rows */
      run->pool = pool;
      ok = hr_run_rows_into (run, x, n, work, stages, out, error);
      run->pool = NULL;
      return ok;
    }
  if (pool == NULL || n < 2 * hr_pool_get_n_threads (pool))
    return hr_run_rows_into (run, x, n, work, stages, out, error);
  /* fold every Linear+BatchNorm now, not lazily in the threads */
  for (guint i = 0; i <= run->last; i++)
    if (hr_run_folds (run, i))
      hr_run_fold (run, i);
  hr_pool_run (pool, hr_pool_get_n_threads (pool), hr_run_rows_part, &job);
  if (!g_atomic_int_get (&job.failed))
    return TRUE;
  return hr_run_rows_into (run, x, n, work, stages, out, error);
}

static gboolean
hr_head_check_stack (HrHead *head, HrFeatureStack *input, GError **error)
{
  const char *path = hr_stack_info_get_path (hr_feature_stack_get_info (input));
  gsize n_positions;
  const guint64 *positions;

  if (head->layers->len == 0)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE, _ ("the head has no layers"));
      return FALSE;
    }
  if (hr_feature_stack_get_n_features (input) != hr_head_get_in_features (head))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE,
                   _ ("%s: the head takes %zu features, the stack has %zu"),
                   path != NULL ? path : _ ("stack"), hr_head_get_in_features (head),
                   hr_feature_stack_get_n_features (input));
      return FALSE;
    }
  positions = hr_feature_stack_get_nonfinite_positions (input, &n_positions);
  if (n_positions > 0)
    {
      gsize d = hr_feature_stack_get_n_features (input);
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NON_FINITE,
                   _ ("%s: %llu non-finite values, the first at sample %llu, feature %llu"),
                   path != NULL ? path : _ ("stack"),
                   (unsigned long long)hr_feature_stack_get_n_nonfinite (input),
                   (unsigned long long)(positions[0] / d), (unsigned long long)(positions[0] % d));
      return FALSE;
    }
  return TRUE;
}

/* Output stacks keep the input's per-pixel geometry, so that they can be shown as images. */
static HrFeatureStack *
hr_stack_like (float *data, gsize n, gsize d, HrFeatureStack *input)
{
  HrStackInfo *from = hr_feature_stack_get_info (input);
  HrStackInfo *info = from->per_pixel ? hr_stack_info_new_pixels (from->width, from->height,
                                                                  from->depth, from->frames)
                                      : hr_stack_info_new_internal ();

  return hr_feature_stack_new_take (data, n, d, info, NULL);
}

/* PyTorch refuses batch statistics of a single sample ("Expected more than 1 value per
 * channel when training"): the output would be β for every sample. */
gboolean
hr_head_check_batches (HrHead *head, HrNormMode mode, guint last, gsize n, gsize batch,
                       GError **error)
{
  gboolean has_batch_norm = FALSE;

  for (guint i = 0; i <= last && i < head->layers->len; i++)
    has_batch_norm |= hr_head_layer (head, i)->kind == HR_LAYER_BATCH_NORM;
  if (mode != HR_NORM_MODE_BATCH || !has_batch_norm)
    return TRUE;
  if (batch == 0 || batch > n)
    batch = n;
  if (batch < 2 || n % batch == 1)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE,
                   _ ("batch statistics need at least two samples in every batch (%zu samples "
                      "in batches of %zu)"),
                   n, batch);
      return FALSE;
    }
  return TRUE;
}

/**
 * hr_head_forward_stages:
 * @head: a #HrHead
 * @input: the features, N × the head's input width
 * @mode: how BatchNorm layers normalise (with %HR_NORM_MODE_BATCH the whole stack is the
 *   batch)
 * @n_stages: (out): return location for the number of stages (the number of layers)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the head layer by layer and keeps the output of every layer. With more than one
 * OpenBLAS thread the rows are split over as many threads of headrank's own, OpenBLAS
 * single-threaded meanwhile, as the analysis runs them (`doc/threads.md`).
 *
 * Returns: (transfer full) (array length=n_stages) (nullable): one stack per layer, the
 *   last being the projections; %NULL with @error set on failure
 */
HrFeatureStack **
hr_head_forward_stages (HrHead *head, HrFeatureStack *input, HrNormMode mode, guint *n_stages,
                        GCancellable *cancellable, GError **error)
{
  g_autoptr (HrRun) run = NULL;
  g_autoptr (HrPool) pool = NULL;
  HrFeatureStack **result;
  float **stages;
  gboolean finite;
  float *work[2];
  gsize n;
  gboolean ok;
  guint L;

  g_return_val_if_fail (HR_IS_HEAD (head), NULL);
  g_return_val_if_fail (HR_IS_FEATURE_STACK (input), NULL);
  g_return_val_if_fail (n_stages != NULL, NULL);

  *n_stages = 0;
  if (!hr_head_check_stack (head, input, error)
      || !hr_head_check_batches (head, mode, head->layers->len - 1,
                                 hr_feature_stack_get_n_samples (input), 0, error)
      || g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  L = head->layers->len;
  n = hr_feature_stack_get_n_samples (input);
  run = hr_run_new (head, mode, L - 1, TRUE);
  /* N rows of every layer: sizes that come from the input, allocated fallibly */
  stages = g_new0 (float *, L);
  ok = TRUE;
  for (guint i = 0; i < L; i++)
    ok &= (stages[i] = g_try_new (float, n *hr_head_layer (head, i)->out)) != NULL;
  work[0] = g_try_new (float, n * run->max_width);
  work[1] = g_try_new (float, n * run->max_width);
  if (!ok || work[0] == NULL || work[1] == NULL)
    {
      for (guint i = 0; i < L; i++)
        g_free (stages[i]);
      g_free (stages);
      g_free (work[0]);
      g_free (work[1]);
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NO_MEMORY,
                   _ ("not enough memory for the %u stages of %zu samples"), L, n);
      return NULL;
    }
  pool = hr_pool_new_for_blas ();
  finite = hr_run_rows_pool (run, pool, hr_feature_stack_peek_data (input), n, work, stages, NULL,
                             error);
  g_free (work[0]);
  g_free (work[1]);
  if (!finite)
    {
      for (guint i = 0; i < L; i++)
        g_free (stages[i]);
      g_free (stages);
      return NULL;
    }

  result = g_new (HrFeatureStack *, L);
  for (guint i = 0; i < L; i++)
    result[i] = hr_stack_like (stages[i], n, hr_head_layer (head, i)->out, input);
  g_free (stages);
  *n_stages = L;
  return result;
}

/**
 * hr_head_forward:
 * @head: a #HrHead
 * @input: the features, N × the head's input width
 * @mode: how BatchNorm layers normalise (with %HR_NORM_MODE_BATCH the whole stack is the
 *   batch)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the head on every sample of @input, on as many threads as OpenBLAS would use, as
 * hr_head_forward_stages() does.
 *
 * Returns: (transfer full): the projections, N × the head's output width, or %NULL with
 *   @error set (%HR_HEAD_ERROR_SHAPE when the widths differ, %HR_HEAD_ERROR_NON_FINITE when
 *   the input holds NaN or Inf)
 */
HrFeatureStack *
hr_head_forward (HrHead *head, HrFeatureStack *input, HrNormMode mode, GCancellable *cancellable,
                 GError **error)
{
  g_autoptr (HrRun) run = NULL;
  g_autoptr (HrPool) pool = NULL;
  float *work[2];
  gsize n, chunk;
  float *result;
  const float *x;
  gsize d_in, d_out;

  g_return_val_if_fail (HR_IS_HEAD (head), NULL);
  g_return_val_if_fail (HR_IS_FEATURE_STACK (input), NULL);

  if (!hr_head_check_stack (head, input, error)
      || !hr_head_check_batches (head, mode, head->layers->len - 1,
                                 hr_feature_stack_get_n_samples (input), 0, error))
    return NULL;

  n = hr_feature_stack_get_n_samples (input);
  d_in = hr_head_get_in_features (head);
  d_out = hr_head_get_out_features (head);
  x = hr_feature_stack_peek_data (input);
  run = hr_run_new (head, mode, head->layers->len - 1, FALSE);
  result = g_try_new (float, n *d_out);
  /* running statistics: chunks that stay in cache; batch statistics: the whole stack */
  chunk = mode == HR_NORM_MODE_RUNNING
              ? CLAMP (((gsize)16 << 20) / (run->max_width * 4), (gsize)256, (gsize)2048)
              : n;
  chunk = MIN (chunk, n);
  work[0] = g_try_new (float, chunk * run->max_width);
  work[1] = g_try_new (float, chunk * run->max_width);
  if (result == NULL || work[0] == NULL || work[1] == NULL)
    {
      g_free (result);
      g_free (work[0]);
      g_free (work[1]);
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NO_MEMORY,
                   _ ("not enough memory to run the head on %zu samples"), n);
      return NULL;
    }
  /* as the analysis runs it: on a pool of OpenBLAS's size (see hr_run_rows_pool()) */
  pool = hr_pool_new_for_blas ();
  for (gsize first = 0; first < n; first += chunk)
    {
      gsize count = MIN (chunk, n - first);

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          g_free (result);
          g_free (work[0]);
          g_free (work[1]);
          return NULL;
        }
      if (!hr_run_rows_pool (run, pool, x + first * d_in, count, work, NULL, result + first * d_out,
                             error))
        {
          g_free (result);
          g_free (work[0]);
          g_free (work[1]);
          return NULL;
        }
    }
  g_free (work[0]);
  g_free (work[1]);
  return hr_stack_like (result, n, d_out, input);
}
