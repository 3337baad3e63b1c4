/* headrank: one-pass, bounded-memory moments of a stream of samples */
#include "hr-private.h"
#include "hr-moments.h"

#include "hr-enum-types.h"
#include "hr-error.h"
#include "hr-measures-private.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/**
 * HrMoments:
 *
 * Everything the rank diagnostics need from one stage of a projection head, gathered in a
 * single pass over its N samples (rows) of D float32 values, with memory O(D²) plus a
 * chunk: the mean, the centred scatter matrix S = Σ (x − mean)(x − mean)ᵀ in float64, the
 * per-dimension standard deviation and fraction of exact zeros (ReLU clipping), the number
 * of dead dimensions, the SimSiam collapse measure (the standard deviation of the
 * L2-normalised rows), and per row its mean, standard deviation and L2 norm.
 *
 * Rows holding a NaN or an infinity are not accumulated: they are counted
 * (hr_moments_get_n_dropped(), hr_moments_get_n_nonfinite()) and get NaN statistics.
 *
 * ## How the scatter matrix is formed
 *
 * Rows arrive in chunks (a call to hr_moments_add() is split into chunks of at most
 * %HR_MOMENTS_CHUNK_ROWS rows). Each chunk is centred on its own mean m_b, a float64 sum of
 * its float32 rows divided by its n_b finite rows, so the products stay as small as the
 * spread of the data, whatever the common offset (no catastrophic cancellation, unlike
 * XᵀX − N·mmᵀ). The chunk's centred scatter S_b is merged into the running one with the
 * pairwise update of Chan, Golub and LeVeque, in float64:
 * S ← S + S_b + (n_a·n_b/n)·δδᵀ with δ = m_b − m_a (`dsyr`), and the mean moves by
 * δ·n_b/n. Only the upper triangle is accumulated; hr_moments_peek_scatter() mirrors it
 * when asked.
 *
 * - %HR_PRECISION_FLOAT64: Y = x − m_b in float64 (a reused n_b × D scratch), then `dsyrk`
 *   forms P = YᵀY with β = 0 in a reused float64 D × D scratch, which one pass adds into S.
 *   (Not `dsyrk` with β = 1 into S: BLAS splits the n_b rows into panels of a few hundred
 *   and adds each panel's partial product into its output, so the running S would be
 *   rounded once per panel, not once per chunk as the bound below assumes.)
 * - %HR_PRECISION_FLOAT32_PRODUCTS: the chunk is centred on c = fl32(m_b). Blocks of at
 *   most %HR_MOMENTS_F32_BLOCK rows are rounded once to float32 as
 *   Y = fl32(2^k·(x − c)), the subtraction done in float64 and 2^k a power of two per
 *   block that brings ‖Y‖_F² into [¼, 1), so that float32 products neither overflow nor
 *   underflow whatever the scale of the data; `ssyrk` forms YᵀY in a float32 scratch, which
 *   is added into the float64 S times 2^−2k (exact). The chunk's mean is taken from the
 *   very float32 values that entered the products: m_b = c + d with
 *   d = Σ_rows 2^−k·Y / n_b, and the chunk's scatter about its mean is
 *   S_b = Σ_blocks 2^−2k·YᵀY − n_b·ddᵀ (a second `dsyr`). Its rounding error is bounded as
 *   below; it is chosen automatically only where that bound cannot matter to the rank.
 *   It is not always faster: on one core, for N = 100,000 rows added in chunks of 2,048,
 *   it took 0.058 s against 0.072 s for float64 at D = 128, but 10.5 s against 8.7 s at
 *   D = 2048, where adding each block's D × D product into S is bound by memory.
 *
 * The float64 path costs little beyond `dsyrk` itself (8.2 s of the 8.7 s above; numpy's
 * `x.T @ x` on the same float64 data took 8.1 s): the per-row pass (statistics, zero
 * counts, SimSiam sums) and the centring are vectorised, and scratch memory is reused.
 * An #HrMoments is not thread-safe: feed it from one thread.
 *
 * ## Rounding-error bound
 *
 * With u the unit roundoff of the products (u = 2⁻²⁴ for float32, 2⁻⁵³ for float64) and
 * b the number of rows of a block (at most %HR_MOMENTS_F32_BLOCK for float32; the chunk,
 * at most %HR_MOMENTS_CHUNK_ROWS, for float64), the error E_b of a block's product
 * satisfies, elementwise, |E_b| ≤ γ_b·|Y|ᵀ|Y| with γ_b = (b+2)·u/(1 − (b+2)·u) (b products
 * summed, plus the centring and the conversion), and so ‖E_b‖₂ ≤ γ_b·‖Y‖_F² =
 * γ_b·trace(YᵀY). This holds for any order and blocking of the sums inside `dsyrk` or
 * `ssyrk` (a sum of b terms in any order is off by at most γ_b times the sum of their
 * magnitudes, Higham 2002, §3.1), because the product goes to a scratch matrix of its own
 * (β = 0). It is then added into S in one float64 pass, element by element: the running
 * S is rounded once per chunk (float32: once per block), whatever BLAS does inside. (With
 * β = 1 into S the only order-free bound would be γ_{b+1}·(|S| + |Y|ᵀ|Y|), the whole of S
 * so far charged γ_b per chunk.) hr_moments_get_error_bound() returns
 * Σ_blocks γ_b·‖Y_b‖_F², which is at most γ·trace(S), plus the float64 rounding of the
 * merges: of the terms added, each element once (each term bounded by 3·u₆₄/(1 − 3·u₆₄)
 * times its trace, as ‖|A|‖₂ ≤ trace(A) for a positive semidefinite A; for float32 blocks
 * u₆₄ times the trace of S so far per block added), and of the means: a bound e on the 2-norm of
 * the rounding error of the chunk's and of the running mean, carried along, adds w·(2‖δ‖·e + e²)
 * per merge (w = n_a·n_b/n). The result is an absolute bound on ‖S_computed − S‖₂ in the units of
 * S, S being the exact scatter matrix of the float32 rows. The mean term is the one that dominates
 * a float64 run fed a few rows at a time with a large common offset (then the bound is loose,
 * though below 10⁻⁹·trace(S) in the tests); otherwise γ·Σ‖Y_b‖_F² does. On the test data the bound
 * was 80 to 480 times the measured error for float32 products. The merges are a sequential sum:
 * each adds 3·u₆₄·trace(S so far), so after M = N/b merges their part is about 1.5·u₆₄·M·trace(S)
 * and grows as N², against N for the products'; doc/analysis.md ("How each part scales") gives the
 * measured growth and where it would matter.
 *
 * ## When float32 products are safe
 *
 * The rank is counted above a tolerance that does not grow with N (see
 * hr_spectrum_get_tolerance()): for float32 values it is about 2⁻²⁴·‖X‖_F, while the bound of
 * float32 products is γ·trace(S) with γ = 66·u/(1 − 66·u) = 3.93·10⁻⁶ (b = 64, u = 2⁻²⁴),
 * a noise floor of √γ·‖X − 1mᵀ‖_F ≈ 2·10⁻³·‖X − 1mᵀ‖_F on the singular values, four orders
 * of magnitude above what the values resolve. So hr_moments_float32_is_safe() is %FALSE for
 * every N and D, %HR_PRECISION_AUTO always resolves to %HR_PRECISION_FLOAT64, and a run
 * that asks for float32 products gets a tolerance raised to their bound
 * (hr_spectrum_is_tolerance_raised()), which the report and the command state.
 */

enum
{
  PROP_0,
  PROP_DIMENSION,
  PROP_EXPECTED_SAMPLES,
  PROP_PRECISION,
  PROP_SCATTER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _HrMoments
{
  GObject parent_instance;

  gsize dimension;
  guint64 expected_samples;
  HrPrecision precision; /* as asked for until constructed, then resolved */

  guint64 n_samples;
  guint64 n_dropped;
  guint64 n_nonfinite;

  gboolean full;   /* the D × D scatter matrix, or only its diagonal */
  double *mean;    /* D */
  double *scatter; /* D × D row-major; the upper triangle (j ≥ i) is accumulated; or D */
  gboolean lower_valid;
  double scatter_trace;
  double error_bound;
  double mean_error; /* a bound on the 2-norm of the running mean's rounding error */

  guint64 *zero_count; /* D: samples with exactly ±0.0 */
  /* SimSiam: sums of z − z₀ and (z − z₀)² in float64, z the L2-normalised row and z₀ the
   * first accumulated one (a shift, so that a collapsed stage gives exactly 0). */
  gboolean has_z_shift;
  double *z_shift;
  double *z_sum;
  double *z_sq_sum;

  /* scratch, allocated on first use and reused */
  gsize scratch_rows;
  gsize *finite_rows;  /* chunk rows that are finite */
  double *chunk_sum;   /* D */
  double *chunk_sq;    /* D, diagonal only: the chunk's Σ (x − diag_shift)² */
  double *diag_shift;  /* D, diagonal only: the running mean, or the first finite row */
  gint32 *chunk_zeros; /* D: zeros in the chunk */
  double *center;      /* D: the chunk's centre */
  double *delta;       /* D */
  double *y64;         /* float64: scratch_rows × D */
  double *s64;         /* float64: D × D, a chunk's products */
  double *s64_shared;  /* or a caller's, shared by accumulators fed from one thread */
  float *y32;          /* float32: per part, HR_MOMENTS_F32_BLOCK × D */
  float *s32;          /* float32: per part, D × D */
  double *f32_partial; /* float32 products split over parts: per part after the first, D × D */
  double *f32_sums;    /* and D column sums */
  guint f32_parts;     /* the parts the four above are allocated for */
  gsize centred_rows;  /* rows of y64 centred on center by the last add, all of it finite */

  /* the threads a chunk's work is spread over (hr_moments_set_pool()), or NULL */
  HrPool *pool;
  double *part_sums;  /* per part of a chunk: column sums, SimSiam sums and squares (and for
                       * a diagonal, Σ (x − diag_shift)²), 3·D or 4·D */
  gint32 *part_zeros; /* per part of a chunk: D zero counts */
};

G_DEFINE_FINAL_TYPE (HrMoments, hr_moments, G_TYPE_OBJECT)

#define HR_U32 (1.0 / 16777216.0)         /* 2⁻²⁴, float32 unit roundoff */
#define HR_U64 (1.0 / 9007199254740992.0) /* 2⁻⁵³, float64 unit roundoff */
#define HR_NORMALIZE_EPS 1e-12            /* torch.nn.functional.normalize */

/* γ_n = n·u / (1 − n·u) */
static double
hr_gamma (double n, double u)
{
  return n * u / (1.0 - n * u);
}

static void
hr_moments_finalize (GObject *object)
{
  HrMoments *self = HR_MOMENTS (object);

  g_free (self->mean);
  g_free (self->scatter);
  g_free (self->zero_count);
  g_free (self->z_shift);
  g_free (self->z_sum);
  g_free (self->z_sq_sum);
  g_free (self->finite_rows);
  g_free (self->chunk_sum);
  g_free (self->chunk_sq);
  g_free (self->diag_shift);
  g_free (self->chunk_zeros);
  g_free (self->center);
  g_free (self->delta);
  g_free (self->y64);
  g_free (self->s64);
  g_free (self->y32);
  g_free (self->s32);
  g_free (self->f32_partial);
  g_free (self->f32_sums);
  g_free (self->part_sums);
  g_free (self->part_zeros);

  G_OBJECT_CLASS (hr_moments_parent_class)->finalize (object);
}

/* Zeroes the upper triangle (j ≥ i) of the D × D row-major @s, the part that is accumulated,
 * by a write (see hr_zeroed()); the lower one is left untouched. */
static void
hr_zero_upper (double *s, gsize d)
{
  for (gsize i = 0; i < d; i++)
    memset (s + i * d + i, 0, (d - i) * sizeof (double));
}

static void
hr_moments_constructed (GObject *object)
{
  HrMoments *self = HR_MOMENTS (object);
  gsize d = self->dimension;

  G_OBJECT_CLASS (hr_moments_parent_class)->constructed (object);

  if (!self->full)
    self->precision = HR_PRECISION_FLOAT64;
  if (self->precision == HR_PRECISION_AUTO)
    self->precision = hr_moments_float32_is_safe (self->expected_samples, d)
                          ? HR_PRECISION_FLOAT32_PRODUCTS
                          : HR_PRECISION_FLOAT64;
  self->mean = g_new0 (double, d);
  if (self->full)
    {
      /* the pages of the lower triangle are not touched until hr_moments_peek_scatter()
       * mirrors it (at D = 2,048, 16 MiB of resident memory less during the pass) */
      self->scatter = g_new (double, d *d);
      hr_zero_upper (self->scatter, d);
      self->lower_valid = FALSE;
    }
  else
    {
      self->scatter = hr_zeroed (d, sizeof (double));
      self->lower_valid = TRUE;
      self->chunk_sq = g_new0 (double, d);
      self->diag_shift = g_new0 (double, d);
    }
  self->zero_count = g_new0 (guint64, d);
  self->z_shift = g_new0 (double, d);
  self->z_sum = g_new0 (double, d);
  self->z_sq_sum = g_new0 (double, d);
  self->chunk_sum = g_new0 (double, d);
  self->chunk_zeros = g_new0 (gint32, d);
  self->center = g_new0 (double, d);
  self->delta = g_new0 (double, d);
}

static void
hr_moments_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HrMoments *self = HR_MOMENTS (object);

  switch (prop_id)
    {
      case PROP_DIMENSION:
        g_value_set_uint64 (value, self->dimension);
        break;
      case PROP_EXPECTED_SAMPLES:
        g_value_set_uint64 (value, self->expected_samples);
        break;
      case PROP_PRECISION:
        g_value_set_enum (value, self->precision);
        break;
      case PROP_SCATTER:
        g_value_set_boolean (value, self->full);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hr_moments_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  HrMoments *self = HR_MOMENTS (object);

  switch (prop_id)
    {
      case PROP_DIMENSION:
        self->dimension = g_value_get_uint64 (value);
        break;
      case PROP_EXPECTED_SAMPLES:
        self->expected_samples = g_value_get_uint64 (value);
        break;
      case PROP_PRECISION:
        self->precision = g_value_get_enum (value);
        break;
      case PROP_SCATTER:
        self->full = g_value_get_boolean (value);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hr_moments_class_init (HrMomentsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = hr_moments_finalize;
  object_class->constructed = hr_moments_constructed;
  object_class->get_property = hr_moments_get_property;
  object_class->set_property = hr_moments_set_property;

  /**
   * HrMoments:dimension:
   *
   * The number of values D of every row.
   */
  properties[PROP_DIMENSION]
      = g_param_spec_uint64 ("dimension", NULL, NULL, 1, G_MAXINT, 1,
                             G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HrMoments:expected-samples:
   *
   * The number of samples expected, from which %HR_PRECISION_AUTO decides (0: unknown,
   * which means float64).
   */
  properties[PROP_EXPECTED_SAMPLES]
      = g_param_spec_uint64 ("expected-samples", NULL, NULL, 0, G_MAXUINT64, 0,
                             G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HrMoments:precision:
   *
   * The precision of the products; %HR_PRECISION_AUTO when constructing, and once
   * constructed the precision it was resolved to.
   */
  properties[PROP_PRECISION]
      = g_param_spec_enum ("precision", NULL, NULL, HR_TYPE_PRECISION, HR_PRECISION_AUTO,
                           G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HrMoments:scatter:
   *
   * Whether the D × D scatter matrix is accumulated. Without it (hr_moments_new_diagonal())
   * only its diagonal is, the per-dimension variances: everything but the spectrum, at
   * O(D) memory and O(N·D) time.
   */
  properties[PROP_SCATTER]
      = g_param_spec_boolean ("scatter", NULL, NULL, TRUE,
                              G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hr_moments_init (HrMoments *self)
{
  self->dimension = 1;
  self->full = TRUE;
}

/**
 * hr_moments_new:
 * @dimension: the number of values D of every row, at least 1 (and at most %G_MAXINT,
 *   BLAS's limit)
 * @expected_samples: how many samples will be added, for %HR_PRECISION_AUTO (0: unknown)
 * @precision: how to form the products of the scatter matrix
 *
 * Makes an empty accumulator of rows of @dimension float32 values. It holds the float64
 * scatter matrix (8·D² bytes), a few vectors of D values, and scratch memory: for
 * %HR_PRECISION_FLOAT32_PRODUCTS a float32 D × D matrix and %HR_MOMENTS_F32_BLOCK float32
 * rows (and with a pool of threads, for each further part of the products as much and a
 * float64 D × D partial sum, the parts capped so that these take at most 64 MiB), for
 * %HR_PRECISION_FLOAT64 a float64 D × D matrix and up to %HR_MOMENTS_CHUNK_ROWS float64 rows.
 *
 * Returns: (transfer full): a new #HrMoments
 */
HrMoments *
hr_moments_new (gsize dimension, guint64 expected_samples, HrPrecision precision)
{
  g_return_val_if_fail (dimension > 0 && dimension <= G_MAXINT, NULL);
  g_return_val_if_fail (
      precision >= HR_PRECISION_AUTO && precision <= HR_PRECISION_FLOAT32_PRODUCTS, NULL);

  return g_object_new (HR_TYPE_MOMENTS, "dimension", (guint64)dimension, "expected-samples",
                       expected_samples, "precision", precision, NULL);
}

/**
 * hr_moments_new_diagonal:
 * @dimension: the number of values D of every row, at least 1
 *
 * Makes an accumulator without the D × D scatter matrix (#HrMoments:scatter is %FALSE): the
 * mean, the per-dimension standard deviations and zero fractions, the dead dimensions, the
 * SimSiam measure and the per-row statistics, at O(D) memory. hr_moments_peek_scatter(),
 * hr_moments_get_scatter() and hr_moments_get_gram() return %NULL.
 *
 * Returns: (transfer full): a new #HrMoments
 */
HrMoments *
hr_moments_new_diagonal (gsize dimension)
{
  g_return_val_if_fail (dimension > 0 && dimension <= G_MAXINT, NULL);

  return g_object_new (HR_TYPE_MOMENTS, "dimension", (guint64)dimension, "scatter", FALSE, NULL);
}

/**
 * hr_moments_float32_is_safe:
 * @n_samples: the number of samples N
 * @dimension: the dimension D
 *
 * Whether the rounding error of %HR_PRECISION_FLOAT32_PRODUCTS is, a priori, below the
 * rounding of float32 values, so that the rank would not change: the worst-case noise floor
 * √(γ·trace(S)), γ = (b+2)·u/(1 − (b+2)·u) for b = %HR_MOMENTS_F32_BLOCK and u = 2⁻²⁴,
 * against u·‖X‖_F ≥ u·√trace(S). Since 0.2, with a tolerance that no longer grows with N
 * (see #HrMoments), this holds for no N and D (√γ ≈ 2·10⁻³ ≫ u), so it returns %FALSE;
 * the arguments are kept for compatibility.
 *
 * Returns: %TRUE if %HR_PRECISION_AUTO chooses float32 products for @n_samples and
 *   @dimension (since 0.2: never)
 */
gboolean
hr_moments_float32_is_safe (guint64 n_samples, gsize dimension)
{
  double gamma = hr_gamma (HR_MOMENTS_F32_BLOCK + 2, HR_U32);

  (void)n_samples;
  (void)dimension;
  /* the squared noise floor per unit of trace(S) against the squared value rounding */
  return gamma <= HR_U32 * HR_U32;
}

/* -- the per-row pass --------------------------------------------------------------------- */

/* Vectors of SSE2's width, the x86-64 baseline: two float64, four float32. */
typedef double hr_v2d __attribute__ ((vector_size (16)));
typedef float hr_v2f __attribute__ ((vector_size (8)));
typedef float hr_v4f __attribute__ ((vector_size (16)));
typedef gint32 hr_v4i __attribute__ ((vector_size (16)));

/* two float32 converted to float64 */
static inline hr_v2d
hr_load2 (const float *x)
{
  hr_v2f v;

  memcpy (&v, x, sizeof v);
  return __builtin_convertvector(v, hr_v2d);
}

static inline hr_v2d
hr_get2 (const double *x)
{
  hr_v2d v;

  memcpy (&v, x, sizeof v);
  return v;
}

static inline void
hr_put2 (double *x, hr_v2d v)
{
  memcpy (x, &v, sizeof v);
}

/* Four float64, AVX2's width: code written with them runs two SSE2 instructions for one in
 * the baseline copy and one AVX2 instruction in the other (HR_AVX2_CLONES). Moved in and out
 * of memory with memcpy, not returned from functions (their ABI differs between the two). */
typedef double hr_v4d __attribute__ ((vector_size (32)));

/* Σx and Σx² of one row in float64, in eight interleaved partial sums. Σx² is finite iff
 * every value is (a float32 squared cannot overflow float64), so it doubles as the
 * non-finite test. */
static inline void
hr_row_sums (const float *restrict x, gsize d, double *sum, double *sum_sq)
{
  hr_v4d s0 = { 0 }, s1 = { 0 }, q0 = { 0 }, q1 = { 0 };
  double st = 0, qt = 0;
  gsize j = 0;

  for (; j + 8 <= d; j += 8)
    {
      hr_v4f a4, b4;
      hr_v4d a, b;

      memcpy (&a4, x + j, sizeof a4);
      memcpy (&b4, x + j + 4, sizeof b4);
      a = __builtin_convertvector(a4, hr_v4d);
      b = __builtin_convertvector(b4, hr_v4d);
      s0 += a;
      s1 += b;
      q0 += a * a;
      q1 += b * b;
    }
  for (; j < d; j++)
    {
      st += x[j];
      qt += (double)x[j] * x[j];
    }
  s0 += s1;
  q0 += q1;
  *sum = (s0[0] + s0[2]) + (s0[1] + s0[3]) + st;
  *sum_sq = (q0[0] + q0[2]) + (q0[1] + q0[3]) + qt;
}

/* Where a range of a chunk's rows is accumulated: the moments' own sums, or, when the rows
 * are split over threads, one thread's, added up after. */
typedef struct
{
  double *colsum;  /* D: the chunk's column sums */
  gint32 *zeros;   /* D: the chunk's zero counts */
  double *zs, *zq; /* D: SimSiam sums and squares */
  double *sq;      /* D: Σ (x − diag_shift)², or NULL (a full scatter matrix) */
  guint64 dropped; /* rows with a non-finite value */
  guint64 nonfinite;
  gsize n_finite; /* finite rows, listed in finite_rows from the range's first row on */
} HrRowSums;

/* The rows the per-row pass accumulates together (HR_ROW_BLOCK at a time): each column's
 * running sums are loaded and stored once for the block, and still take its rows one after
 * the other, in their order, as one row at a time would. */
#define HR_ROW_BLOCK 4

/* Accumulates @n_rows (1 … HR_ROW_BLOCK) finite rows @x[k] into the chunk's column sums and
 * zero counts, into the SimSiam sums and, when @diagonal, into the Σ (x − diag_shift)² of a
 * diagonal accumulator; sets, per row, Σ (x − row_mean)² (the second pass of its own
 * variance) and its number of zeros. Inlined where @n_rows and @diagonal are constants, so
 * that a whole block's loop over its rows unrolls with their sums in registers. */
static inline __attribute__ ((always_inline)) void
hr_row_accumulate (HrMoments *self, HrRowSums *acc, const float *const *x, guint n_rows,
                   const double *row_mean, const double *inv_norm, double *centred_sq,
                   gsize *row_zeros, gboolean diagonal)
{
  gsize d = self->dimension, j = 0;
  double *restrict colsum = acc->colsum;
  double *restrict zs = acc->zs;
  double *restrict zq = acc->zq;
  double *restrict sq = acc->sq;
  const double *restrict s0 = self->diag_shift;
  const double *restrict z0 = self->z_shift;
  gint32 *restrict zc = acc->zeros;
  const hr_v4f zero = { 0 };
  hr_v4i rz[HR_ROW_BLOCK] = { { 0 } };
  hr_v4d cs[HR_ROW_BLOCK] = { { 0 } };

  for (; j + 4 <= d; j += 4)
    {
      hr_v4i n;
      hr_v4d col, zsum, zsq, shift, dsq = { 0 }, dshift = { 0 };

      memcpy (&n, zc + j, sizeof n);
      memcpy (&shift, z0 + j, sizeof shift);
      memcpy (&col, colsum + j, sizeof col);
      memcpy (&zsum, zs + j, sizeof zsum);
      memcpy (&zsq, zq + j, sizeof zsq);
      if (diagonal)
        {
          memcpy (&dsq, sq + j, sizeof dsq);
          memcpy (&dshift, s0 + j, sizeof dshift);
        }
#pragma GCC unroll 4
      for (guint k = 0; k < n_rows; k++)
        {
          hr_v4f v4;
          hr_v4i eq;
          hr_v4d v, z, c;

          memcpy (&v4, x[k] + j, sizeof v4);
          /* exact zeros (+0.0 == −0.0): the mask is −1 where equal */
          eq = (hr_v4i)(v4 == zero);
          n -= eq;
          rz[k] -= eq;
          v = __builtin_convertvector(v4, hr_v4d);
          z = v * inv_norm[k] - shift;
          c = v - row_mean[k];
          col += v;
          zsum += z;
          zsq += z * z;
          cs[k] += c * c;
          if (diagonal)
            {
              hr_v4d e = v - dshift;

              dsq += e * e;
            }
        }
      memcpy (zc + j, &n, sizeof n);
      if (diagonal)
        memcpy (sq + j, &dsq, sizeof dsq);
      memcpy (colsum + j, &col, sizeof col);
      memcpy (zs + j, &zsum, sizeof zsum);
      memcpy (zq + j, &zsq, sizeof zsq);
    }
  for (guint k = 0; k < n_rows; k++)
    {
      double ct = 0;
      gsize zt = 0;

      for (gsize i = j; i < d; i++)
        {
          double v = x[k][i], z = v * inv_norm[k] - z0[i], c = v - row_mean[k];

          zc[i] += x[k][i] == 0.0f;
          zt += x[k][i] == 0.0f;
          colsum[i] += v;
          zs[i] += z;
          zq[i] += z * z;
          ct += c * c;
          if (diagonal)
            sq[i] += (v - s0[i]) * (v - s0[i]);
        }
      row_zeros[k] = zt + (gsize)rz[k][0] + (gsize)rz[k][1] + (gsize)rz[k][2] + (gsize)rz[k][3];
      centred_sq[k] = (cs[k][0] + cs[k][2]) + (cs[k][1] + cs[k][3]) + ct;
    }
}

static guint64
hr_count_nonfinite (const float *x, gsize d)
{
  guint64 n = 0;

  for (gsize j = 0; j < d; j++)
    n += !isfinite (x[j]);
  return n;
}

static void
hr_moments_release_f32 (HrMoments *self)
{
  g_clear_pointer (&self->y32, g_free);
  g_clear_pointer (&self->s32, g_free);
  g_clear_pointer (&self->f32_partial, g_free);
  g_clear_pointer (&self->f32_sums, g_free);
  self->f32_parts = 0;
}

/* The scratch the float32 products' parts after the first may take together, in bytes:
 * this much, or twice the scatter matrix (16·D²) when that is more, so that two threads
 * share the blocks at any D. */
#define HR_MOMENTS_F32_EXTRA_MAX ((guint64)64 << 20) /* 64 MiB */

/* The number of parts float32 products of dimension @d are split into on @n_threads
 * threads (hr_moments_chunk_float32()), at least 1: each part after the first takes a
 * float32 D × D product, a float64 D × D partial sum, %HR_MOMENTS_F32_BLOCK float32 rows and
 * D float64 sums, 12·D² + 264·D bytes, and together they stay within
 * HR_MOMENTS_F32_EXTRA_MAX or 16·D², so that the products' scratch does not grow with the
 * threads (at D = 4,096 each part takes 192 MiB: 2 parts, whatever the threads). */
guint
hr_moments_float32_parts (guint n_threads, gsize d)
{
  guint64 per_part, fit;

  if (n_threads < 2)
    return 1;
  if (d >= 65536) /* 12·D² alone is 48 GiB */
    return 1;
  per_part = (guint64)d * (12 * (guint64)d + 4 * HR_MOMENTS_F32_BLOCK + 8);
  fit = per_part == 0 ? n_threads : MAX (HR_MOMENTS_F32_EXTRA_MAX, 16 * (guint64)d * d) / per_part;
  return 1 + (guint)MIN (fit, (guint64)n_threads - 1);
}

static void
hr_moments_ensure_scratch (HrMoments *self, gsize n_rows)
{
  gsize d = self->dimension;
  guint parts = hr_moments_float32_parts (hr_pool_get_n_threads (self->pool), d);

  /* float32 products: per part (hr_moments_chunk_float32()) */
  if (self->precision != HR_PRECISION_FLOAT64 && (self->y32 == NULL || self->f32_parts != parts))
    {
      hr_moments_release_f32 (self);
      self->f32_parts = parts;
      self->y32 = g_new (float, parts *(gsize)HR_MOMENTS_F32_BLOCK *d);
      self->s32 = g_new (float, parts *d *d);
      if (parts > 1)
        {
          self->f32_partial = g_new (double, (parts - 1) * d * d);
          self->f32_sums = g_new (double, (parts - 1) * d);
        }
    }
  if (n_rows <= self->scratch_rows)
    return;
  self->scratch_rows = n_rows;
  g_free (self->finite_rows);
  self->finite_rows = g_new (gsize, n_rows);
  if (self->precision == HR_PRECISION_FLOAT64)
    {
      g_free (self->y64);
      self->y64 = g_new (double, n_rows *d);
      if (self->full && self->s64 == NULL && self->s64_shared == NULL)
        self->s64 = g_new (double, d *d);
    }
}

/* -- merging a chunk ---------------------------------------------------------------------- */

static double
hr_diagonal_sum (const double *s, gsize d)
{
  double t = 0;

  for (gsize i = 0; i < d; i++)
    t += s[i * d + i];
  return t;
}

/* S already holds S_a plus the chunk's products about self->center (`products_trace` is
 * their trace); @d (NULL: 0) is the chunk's mean minus its centre. Applies −n_b·ddᵀ and
 * (n_a·n_b/n)·δδᵀ, moves the mean and the counts, and adds the merge's float64 rounding
 * to the error bound. */
static void
hr_moments_merge (HrMoments *self, gsize n_b, const double *d_offset, double products_trace,
                  double trace_before, gboolean delta_applied)
{
  gsize d = self->dimension;
  double n_a = (double)self->n_samples, n = n_a + (double)n_b;
  double w = n_a * (double)n_b / n, step = (double)n_b / n;
  double delta_sq = 0, d_sq = 0, m_b_sq = 0, m_sq = 0, e_b, e, delta_norm;

  for (gsize j = 0; j < d; j++)
    {
      double m_b = self->center[j] + (d_offset != NULL ? d_offset[j] : 0.0);

      self->delta[j] = m_b - self->mean[j];
      delta_sq += self->delta[j] * self->delta[j];
      m_b_sq += m_b * m_b;
      if (d_offset != NULL)
        d_sq += d_offset[j] * d_offset[j];
    }
  if (d_offset != NULL && d_sq > 0)
    cblas_dsyr (CblasRowMajor, CblasUpper, (int)d, -(double)n_b, d_offset, 1, self->scatter,
                (int)d);
  if (self->n_samples > 0 && delta_sq > 0 && !delta_applied)
    cblas_dsyr (CblasRowMajor, CblasUpper, (int)d, w, self->delta, 1, self->scatter, (int)d);
  for (gsize j = 0; j < d; j++)
    {
      self->mean[j] += self->delta[j] * step;
      m_sq += self->mean[j] * self->mean[j];
    }

  /* The float64 rounding of the merge itself: each element of the three terms added. */
  self->error_bound
      += hr_gamma (3, HR_U64) * (trace_before + products_trace + (double)n_b * d_sq + w * delta_sq);
  /* The means are float64 too: the chunk's (a sum of n_b values, ‖Σ|x|/n_b‖ ≤ ‖m_b‖ +
   * √(trace/n_b)) and the running one are off by e_b and e_a (2-norm bounds); the scatter
   * about the chunk's computed mean is off by n_b·e_b², and δ by e_a + e_b, which moves
   * w·δδᵀ by at most w·(2‖δ‖·e + e²). */
  delta_norm = sqrt (delta_sq);
  e_b = hr_gamma ((double)n_b + 2, HR_U64) * (sqrt (m_b_sq) + sqrt (products_trace / (double)n_b));
  e = self->mean_error + e_b;
  self->error_bound += w * (2 * delta_norm * e + e * e) + (double)n_b * e_b * e_b;
  self->mean_error = (1 - step) * self->mean_error + step * e_b
                     + hr_gamma (3, HR_U64) * (sqrt (m_sq) + 2 * delta_norm);
  self->n_samples += n_b;
  self->scatter_trace = hr_diagonal_sum (self->scatter, d);
}

/* Rows [@first, @end) of the chunk's finite rows centred: Y = x − c in float64; returns
 * their Σ y². */
HR_AVX2_CLONES static double
hr_moments_centre_rows (HrMoments *self, const float *rows, gsize first, gsize end)
{
  gsize d = self->dimension;
  const double *restrict c = self->center;
  double *restrict y = self->y64;
  hr_v4d t = { 0 };
  double tt = 0;

  for (gsize k = first; k < end; k++)
    {
      const float *restrict x = rows + self->finite_rows[k] * d;
      double *restrict yk = y + k * d;
      gsize j = 0;

      for (; j + 4 <= d; j += 4)
        {
          hr_v4f x4;
          hr_v4d v, c4;

          memcpy (&x4, x + j, sizeof x4);
          memcpy (&c4, c + j, sizeof c4);
          v = __builtin_convertvector(x4, hr_v4d) - c4;
          t += v * v;
          memcpy (yk + j, &v, sizeof v);
        }
      for (; j < d; j++)
        {
          yk[j] = x[j] - c[j];
          tt += yk[j] * yk[j];
        }
    }
  return tt + (t[0] + t[2]) + (t[1] + t[3]);
}

/* A float64 chunk's work on the pool's threads: its rows, and then its products. */
typedef struct
{
  HrMoments *self;
  const float *rows;
  double *traces; /* per part */
  const double *p;
  double w; /* n_a·n_b/n: the merge's w·δδᵀ goes in with the products, or 0 */
} HrChunkJob;

static void
hr_moments_centre_range (gsize first, gsize end, guint part, gpointer data)
{
  HrChunkJob *job = data;

  job->traces[part] = hr_moments_centre_rows (job->self, job->rows, first, end);
}

/* S += P over rows [@first, @end) of the upper triangle, and the merge's w·δδᵀ there too
 * when it goes in with the products: t = w·δ_i, then S_ij += t·δ_j, the terms `dsyr` adds
 * (whose kernel may fuse the multiply and the add: the bound covers either). */
static void
hr_moments_add_products (gsize first, gsize end, gpointer data)
{
  HrChunkJob *job = data;
  HrMoments *self = job->self;
  gsize d = self->dimension;
  const double *restrict delta = self->delta;

  for (gsize i = first; i < end; i++)
    {
      double *restrict srow = self->scatter + i * d;
      const double *restrict prow = job->p + i * d;
      gsize j = i;

      for (; j + 2 <= d; j += 2)
        hr_put2 (srow + j, hr_get2 (srow + j) + hr_get2 (prow + j));
      for (; j < d; j++)
        srow[j] += prow[j];
      if (job->w != 0)
        {
          double t = job->w * delta[i];

          for (j = i; j < d; j++)
            srow[j] += t * delta[j];
        }
    }
}

/* Float64: Y = x − m_b, P = YᵀY (dsyrk into a scratch, β = 0), S += P in one pass. With a
 * pool, the rows are centred in parts, the product is split into bands of rows
 * (hr_pool_dsyrk()), and each band is added into S, with the merge's w·δδᵀ, by the thread
 * that made it. */
static void
hr_moments_chunk_float64 (HrMoments *self, const float *rows, gsize n_b)
{
  gsize d = self->dimension;
  guint n_parts = hr_pool_get_n_parts (self->pool);
  double *traces = g_newa (double, n_parts);
  double tt = 0, trace_before = self->scatter_trace, delta_sq = 0;
  HrChunkJob job = { self, rows, traces, NULL, 0.0 };

  hr_pool_run_ranges (self->pool, n_b, n_parts, hr_moments_centre_range, &job);
  for (guint t = 0; t < n_parts; t++)
    tt += traces[t];

  /* Not β = 1 into S: BLAS splits the n_b rows into panels and adds each panel's partial
   * product into its output, which would round S several times per chunk. */
  job.p = self->s64_shared != NULL ? self->s64_shared : self->s64;
  if (self->pool != NULL && self->n_samples > 0)
    {
      /* δ as hr_moments_merge() computes it (m_b = the centre) */
      for (gsize j = 0; j < d; j++)
        {
          self->delta[j] = self->center[j] - self->mean[j];
          delta_sq += self->delta[j] * self->delta[j];
        }
      if (delta_sq > 0)
        job.w = (double)self->n_samples * (double)n_b / ((double)self->n_samples + (double)n_b);
    }
  hr_pool_dsyrk (self->pool, d, n_b, self->y64, (double *)job.p, hr_moments_add_products, &job);
  self->error_bound += hr_gamma ((double)n_b + 2, HR_U64) * tt;
  hr_moments_merge (self, n_b, NULL, tt, trace_before, job.w != 0);
  self->centred_rows = n_b;
}

/* Without the scatter matrix: its diagonal, merged as the full scatter matrix is. The per-row
 * pass has summed (x_j − s_j)² over the chunk's finite rows, s the running mean (the first
 * finite row before there is one: then (s_j − c_j)² is at most the column's Σ (x_j − c_j)²);
 * the chunk's Σ (x_j − c_j)² about its mean c is that minus n_b·(c_j − s_j)². */
static void
hr_moments_chunk_diagonal (HrMoments *self, gsize n_b)
{
  gsize d = self->dimension;
  const double *restrict c = self->center;
  double *restrict diag = self->scatter;
  double n_a = (double)self->n_samples, n = n_a + (double)n_b;
  double w = n_a * (double)n_b / n, step = (double)n_b / n, tt = 0;

  for (gsize j = 0; j < d; j++)
    {
      double delta = c[j] - self->mean[j], shift = c[j] - self->diag_shift[j];

      diag[j] += MAX (self->chunk_sq[j] - (double)n_b * shift * shift, 0.0) + w * delta * delta;
      self->mean[j] += delta * step;
      tt += diag[j];
    }
  self->n_samples += n_b;
  self->scatter_trace = tt;
}

/* Σ over the rows of a block of (x − c)², in float64. */
static double
hr_block_frobenius_sq (HrMoments *self, const float *rows, const gsize *idx, gsize n)
{
  gsize d = self->dimension;
  const double *restrict c = self->center;
  hr_v2d t = { 0 };
  double tt = 0;

  for (gsize k = 0; k < n; k++)
    {
      const float *restrict x = rows + idx[k] * d;
      gsize j = 0;

      for (; j + 2 <= d; j += 2)
        {
          hr_v2d v = hr_load2 (x + j) - hr_get2 (c + j);

          t += v * v;
        }
      for (; j < d; j++)
        {
          double v = x[j] - c[j];

          tt += v * v;
        }
    }
  return t[0] + t[1] + tt;
}

/* A float32 chunk's blocks split over the pool's parts in order, each part a range of
 * blocks: part 0 adds its blocks' products into S and their column sums into chunk_sum
 * itself, part t > 0 into a float64 partial sum of its own, added in after, in the order
 * of the parts (so the result does not depend on which thread ran which part). */
typedef struct
{
  HrMoments *self;
  const float *rows;
  gsize n_b;
  guint n_parts;
  double *f2; /* per block: ‖Y_block‖²_F before scaling, 0 for a block of zeros */
} HrF32Job;

/* Blocks [@first, @end) of the chunk, as part @part. */
static void
hr_moments_f32_blocks (gsize first, gsize end, guint part, gpointer data)
{
  HrF32Job *job = data;
  HrMoments *self = job->self;
  gsize d = self->dimension;
  const double *restrict c = self->center;
  float *y32 = self->y32 + part * (gsize)HR_MOMENTS_F32_BLOCK * d;
  float *s32 = self->s32 + part * d * d;
  double *scatter = part == 0 ? self->scatter : self->f32_partial + (part - 1) * d * d;
  double *restrict ysum = part == 0 ? self->chunk_sum : self->f32_sums + (part - 1) * d;

  if (part > 0)
    {
      hr_zero_upper (scatter, d);
      memset (ysum, 0, d * sizeof (double));
    }
  for (gsize b = first; b < end; b++)
    {
      gsize row0 = b * HR_MOMENTS_F32_BLOCK,
            nb = MIN ((gsize)HR_MOMENTS_F32_BLOCK, job->n_b - row0);
      const gsize *idx = self->finite_rows + row0;
      double f2 = hr_block_frobenius_sq (self, job->rows, idx, nb);
      double scale, unscale, unscale_sq;
      int e, h;

      job->f2[b] = f2;
      if (f2 == 0)
        continue; /* every row is c: Y = 0 */
      frexp (f2, &e);
      h = (e + (e > 0)) / 2; /* ⌈e/2⌉: f2·2^−2h ∈ [¼, 1) */
      scale = ldexp (1.0, -h);
      unscale = ldexp (1.0, h);
      unscale_sq = ldexp (1.0, 2 * h);

      for (gsize k = 0; k < nb; k++)
        {
          const float *restrict x = job->rows + idx[k] * d;
          float *restrict yk = y32 + k * d;
          gsize j = 0;

          for (; j + 2 <= d; j += 2)
            {
              hr_v2f r
                  = __builtin_convertvector((hr_load2 (x + j) - hr_get2 (c + j)) * scale, hr_v2f);

              memcpy (yk + j, &r, sizeof r);
              hr_put2 (ysum + j, hr_get2 (ysum + j) + hr_load2 (yk + j) * unscale);
            }
          for (; j < d; j++)
            {
              yk[j] = (float)(((double)x[j] - c[j]) * scale);
              ysum[j] += (double)yk[j] * unscale;
            }
        }

      cblas_ssyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0f, y32, (int)d, 0.0f,
                   s32, (int)d);
      for (gsize i = 0; i < d; i++)
        {
          double *restrict srow = scatter + i * d;
          const float *restrict prow = s32 + i * d;
          gsize j = i;

          for (; j + 2 <= d; j += 2)
            hr_put2 (srow + j, hr_get2 (srow + j) + hr_load2 (prow + j) * unscale_sq);
          for (; j < d; j++)
            srow[j] += prow[j] * unscale_sq;
        }
    }
}

/* Float32 products: blocks of Y = fl32(2^k (x − c)), c = fl32(m_b), S += 2^−2k·YᵀY. The
 * float64 column sums of 2^−k·Y go to self->chunk_sum, for the chunk's mean. With a pool,
 * the blocks are split over its threads (hr_moments_f32_blocks()). */
static void
hr_moments_chunk_float32 (HrMoments *self, const float *rows, gsize n_b)
{
  gsize d = self->dimension;
  double *restrict c = self->center;
  double *restrict ysum = self->chunk_sum;
  double products_trace = 0, trace_before = self->scatter_trace;
  double gamma_add = hr_gamma (1, HR_U64);
  gsize n_blocks = (n_b + HR_MOMENTS_F32_BLOCK - 1) / HR_MOMENTS_F32_BLOCK;
  g_autofree double *f2 = g_new (double, n_blocks);
  HrF32Job job = { self, rows, n_b, MIN (self->f32_parts, (guint)n_blocks), f2 };

  for (gsize j = 0; j < d; j++)
    {
      c[j] = (float)c[j];
      ysum[j] = 0;
    }
  hr_pool_run_ranges (job.n_parts > 1 ? self->pool : NULL, n_blocks, job.n_parts,
                      hr_moments_f32_blocks, &job);
  if (job.n_parts > 1)
    {
      hr_pool_add_partials (self->pool, d, self->f32_partial, job.n_parts - 1, self->scatter, NULL,
                            NULL);
      for (guint t = 1; t < job.n_parts; t++)
        for (gsize j = 0; j < d; j++)
          ysum[j] += self->f32_sums[(t - 1) * d + j];
    }

  /* The bound of adding the blocks into S one after the other; a part's adds into its own
   * partial sum are bounded by the same terms (its traces are smaller), and each of the
   * n_parts − 1 partial sums added into S after by one more. */
  for (gsize b = 0; b < n_blocks; b++)
    {
      gsize nb = MIN ((gsize)HR_MOMENTS_F32_BLOCK, n_b - b * HR_MOMENTS_F32_BLOCK);

      if (f2[b] == 0)
        continue;
      products_trace += f2[b];
      self->error_bound
          += hr_gamma (nb + 2, HR_U32) * f2[b] + gamma_add * (trace_before + products_trace);
    }
  if (job.n_parts > 1)
    self->error_bound += (job.n_parts - 1) * gamma_add * (trace_before + products_trace);

  for (gsize j = 0; j < d; j++)
    ysum[j] /= (double)n_b;
  hr_moments_merge (self, n_b, ysum, products_trace, trace_before, FALSE);
}

/* The per-row pass over rows [@first, @end) of a chunk: per row its statistics, and into
 * @acc the column sums, zero counts and SimSiam sums of its finite rows, whose indices go
 * to finite_rows from @first on. */
HR_FMA_CLONES static void
hr_moments_row_pass (HrMoments *self, const float *rows, gsize first, gsize end, float *per_sample,
                     guint columns, HrRowSums *acc)
{
  gsize d = self->dimension;
  const float *x[HR_ROW_BLOCK];
  gsize index[HR_ROW_BLOCK], zeros[HR_ROW_BLOCK];
  double norm[HR_ROW_BLOCK], row_mean[HR_ROW_BLOCK], inv_norm[HR_ROW_BLOCK];
  double centred_sq[HR_ROW_BLOCK];
  guint n_block = 0;

  for (gsize r = first; r < end || n_block > 0; r++)
    {
      if (r < end)
        {
          double sum, sum_sq;

          x[n_block] = rows + r * d;
          hr_row_sums (x[n_block], d, &sum, &sum_sq);
          if (!isfinite (sum_sq))
            {
              acc->dropped++;
              acc->nonfinite += hr_count_nonfinite (x[n_block], d);
              if (per_sample != NULL)
                for (guint c = 0; c < columns; c++)
                  per_sample[columns * r + c] = NAN;
              continue;
            }
          index[n_block] = r;
          norm[n_block] = sqrt (sum_sq);
          row_mean[n_block] = sum / (double)d;
          inv_norm[n_block] = 1.0 / MAX (norm[n_block], HR_NORMALIZE_EPS);
          if (++n_block < HR_ROW_BLOCK)
            continue;
        }
      /* a full block, or the last rows */
      if (n_block == HR_ROW_BLOCK && acc->sq != NULL)
        hr_row_accumulate (self, acc, x, HR_ROW_BLOCK, row_mean, inv_norm, centred_sq, zeros, TRUE);
      else if (n_block == HR_ROW_BLOCK)
        hr_row_accumulate (self, acc, x, HR_ROW_BLOCK, row_mean, inv_norm, centred_sq, zeros,
                           FALSE);
      else if (acc->sq != NULL)
        hr_row_accumulate (self, acc, x, n_block, row_mean, inv_norm, centred_sq, zeros, TRUE);
      else
        hr_row_accumulate (self, acc, x, n_block, row_mean, inv_norm, centred_sq, zeros, FALSE);
      for (guint k = 0; k < n_block; k++)
        {
          float *out = per_sample != NULL ? per_sample + columns * index[k] : NULL;

          if (out != NULL)
            {
              out[0] = (float)row_mean[k];
              out[1] = (float)sqrt (centred_sq[k] / (double)d);
              out[2] = (float)norm[k];
              if (columns > 3)
                out[3] = (float)((double)zeros[k] / (double)d);
            }
          self->finite_rows[first + acc->n_finite++] = index[k];
        }
      n_block = 0;
      if (r >= end)
        break;
    }
}

typedef struct
{
  HrMoments *self;
  const float *rows;
  float *per_sample;
  guint columns;
  HrRowSums *parts;
} HrRowJob;

static void
hr_moments_row_range (gsize first, gsize end, guint part, gpointer data)
{
  HrRowJob *job = data;
  HrMoments *self = job->self;
  gsize d = self->dimension;
  HrRowSums *acc = job->parts + part;

  acc->colsum = self->part_sums + (self->full ? 3 : 4) * d * part;
  acc->zs = acc->colsum + d;
  acc->zq = acc->colsum + 2 * d;
  acc->sq = self->full ? NULL : acc->colsum + 3 * d;
  acc->zeros = self->part_zeros + d * part;
  memset (acc->colsum, 0, (self->full ? 3 : 4) * d * sizeof (double));
  memset (acc->zeros, 0, d * sizeof (gint32));
  hr_moments_row_pass (self, job->rows, first, end, job->per_sample, job->columns, acc);
}

/* The per-row pass split into hr_pool_get_n_parts() ranges of rows over the pool's threads,
 * each range into sums of its own, added up after in the order of the rows; the finite
 * rows' indices are made contiguous. Returns the number of finite rows. */
static gsize
hr_moments_row_pass_parallel (HrMoments *self, const float *rows, gsize n_rows, float *per_sample,
                              guint columns)
{
  guint n_parts = hr_pool_get_n_parts (self->pool);
  HrRowSums *parts = g_newa (HrRowSums, n_parts);
  HrRowJob job = { self, rows, per_sample, columns, parts };
  gsize d = self->dimension, n_b = 0;

  memset (parts, 0, n_parts * sizeof (HrRowSums));
  hr_pool_run_ranges (self->pool, n_rows, n_parts, hr_moments_row_range, &job);
  for (guint t = 0; t < n_parts; t++)
    {
      HrRowSums *acc = parts + t;

      n_b = hr_pool_gather (self->finite_rows, n_rows, n_parts, t, acc->n_finite, n_b);
      self->n_dropped += acc->dropped;
      self->n_nonfinite += acc->nonfinite;
      for (gsize j = 0; j < d; j++)
        {
          self->chunk_sum[j] += acc->colsum[j];
          self->chunk_zeros[j] += acc->zeros[j];
          self->z_sum[j] += acc->zs[j];
          self->z_sq_sum[j] += acc->zq[j];
        }
      if (acc->sq != NULL)
        for (gsize j = 0; j < d; j++)
          self->chunk_sq[j] += acc->sq[j];
    }
  return n_b;
}

/* Up to HR_MOMENTS_CHUNK_ROWS rows. */
static void
hr_moments_add_chunk (HrMoments *self, const float *rows, gsize n_rows, float *per_sample,
                      guint columns)
{
  gsize d = self->dimension, n_b = 0;

  hr_moments_ensure_scratch (self, n_rows);
  memset (self->chunk_sum, 0, d * sizeof (double));
  memset (self->chunk_zeros, 0, d * sizeof (gint32));

  /* the SimSiam shift: the first finite row, L2-normalised; a diagonal's shift: the running
   * mean, or before there is one, the chunk's first finite row */
  for (gsize r = 0; r < n_rows && (!self->has_z_shift || (!self->full && self->n_samples == 0));
       r++)
    {
      const float *x = rows + r * d;
      double sum, sum_sq, inv_norm;

      hr_row_sums (x, d, &sum, &sum_sq);
      if (!isfinite (sum_sq))
        continue;
      inv_norm = 1.0 / MAX (sqrt (sum_sq), HR_NORMALIZE_EPS);
      for (gsize j = 0; !self->has_z_shift && j < d; j++)
        self->z_shift[j] = x[j] * inv_norm;
      self->has_z_shift = TRUE;
      for (gsize j = 0; !self->full && j < d; j++)
        self->diag_shift[j] = x[j];
      break;
    }
  if (!self->full)
    {
      memset (self->chunk_sq, 0, d * sizeof (double));
      if (self->n_samples > 0)
        memcpy (self->diag_shift, self->mean, d * sizeof (double));
    }
  if (self->pool != NULL && n_rows >= 2 * hr_pool_get_n_parts (self->pool))
    n_b = hr_moments_row_pass_parallel (self, rows, n_rows, per_sample, columns);
  else
    {
      HrRowSums acc
          = { self->chunk_sum, self->chunk_zeros, self->z_sum, self->z_sq_sum, self->chunk_sq };

      hr_moments_row_pass (self, rows, 0, n_rows, per_sample, columns, &acc);
      self->n_dropped += acc.dropped;
      self->n_nonfinite += acc.nonfinite;
      n_b = acc.n_finite;
    }
  if (n_b == 0)
    return;
  for (gsize j = 0; j < d; j++)
    self->zero_count[j] += (guint64)self->chunk_zeros[j];

  for (gsize j = 0; j < d; j++)
    self->center[j] = self->chunk_sum[j] / (double)n_b;
  if (!self->full)
    hr_moments_chunk_diagonal (self, n_b);
  else if (self->precision == HR_PRECISION_FLOAT64)
    hr_moments_chunk_float64 (self, rows, n_b);
  else
    hr_moments_chunk_float32 (self, rows, n_b);
  self->lower_valid = FALSE;
}

/**
 * hr_moments_add: (skip)
 * @self: a #HrMoments
 * @rows: (array) (nullable): @n_rows × D float32 values, row-major
 * @n_rows: the number of rows
 * @per_sample: (nullable): where to store, for each row, its mean across the D values, its
 *   standard deviation across them (ddof 0, numpy's default) and its L2 norm (3 × @n_rows
 *   floats, computed in float64); NaN for rows holding a NaN or an infinity
 *
 * Accumulates the finite rows of @rows; rows holding a NaN or an infinity are counted
 * instead. The C fast path: the data are read in place.
 */
static void
hr_moments_add_columns (HrMoments *self, const float *rows, gsize n_rows, float *per_sample,
                        guint columns)
{
  gsize d;

  g_return_if_fail (HR_IS_MOMENTS (self));
  g_return_if_fail (rows != NULL || n_rows == 0);

  d = self->dimension;
  self->centred_rows = 0;
  for (gsize first = 0; first < n_rows; first += HR_MOMENTS_CHUNK_ROWS)
    hr_moments_add_chunk (self, rows + first * d, MIN (n_rows - first, HR_MOMENTS_CHUNK_ROWS),
                          per_sample != NULL ? per_sample + columns * first : NULL, columns);
  /* one chunk, every row finite: y64 holds exactly @rows, centred */
  if (n_rows > HR_MOMENTS_CHUNK_ROWS || self->centred_rows != n_rows)
    self->centred_rows = 0;
}

/* Makes the float64 products of each chunk go to @scratch (at least D × D doubles, owned
 * by the caller, who keeps it until the last row is added) instead of a D × D matrix of
 * the accumulator's own: accumulators fed one after the other from one thread can share
 * one. No effect on float32 products or a diagonal accumulator. */
void
hr_moments_share_products_scratch (HrMoments *self, double *scratch)
{
  if (!self->full || self->precision != HR_PRECISION_FLOAT64)
    return;
  self->s64_shared = scratch;
  g_clear_pointer (&self->s64, g_free);
}

void
hr_moments_set_pool (HrMoments *self, HrPool *pool)
{
  guint n_parts = hr_pool_get_n_parts (pool);

  self->pool = pool;
  g_clear_pointer (&self->part_sums, g_free);
  g_clear_pointer (&self->part_zeros, g_free);
  if (n_parts > 1)
    {
      self->part_sums = g_new (double, (self->full ? 3 : 4) * self->dimension * n_parts);
      self->part_zeros = g_new (gint32, self->dimension * n_parts);
    }
}

/* Frees the scratch memory (the chunk's rows and products, up to 8·D² + 8·%HR_MOMENTS_CHUNK_ROWS·D
 * bytes) once no more rows will come, before the eigensolver needs its own; adding rows
 * again allocates it again. */
void
hr_moments_release_scratch (HrMoments *self)
{
  g_clear_pointer (&self->finite_rows, g_free);
  g_clear_pointer (&self->y64, g_free);
  g_clear_pointer (&self->s64, g_free);
  self->s64_shared = NULL;
  hr_moments_release_f32 (self);
  self->scratch_rows = 0;
  self->centred_rows = 0;
}

/* The rows of the last hr_moments_add() (or _with_zeros()) call in float64, centred on the
 * chunk's mean (@center, D values), n_rows × D, row-major; NULL unless that call added
 * exactly @n_rows rows, all finite, as one chunk with float64 products. Valid until the
 * next call that adds rows. */
const double *
hr_moments_peek_centred (HrMoments *self, gsize n_rows, const double **center)
{
  if (n_rows == 0 || self->centred_rows != n_rows)
    return NULL;
  *center = self->center;
  return self->y64;
}

void
hr_moments_add (HrMoments *self, const float *rows, gsize n_rows, float *per_sample)
{
  hr_moments_add_columns (self, rows, n_rows, per_sample, 3);
}

/* hr_moments_add() with a fourth statistic per row, its fraction of exact zeros, counted in
 * the same pass (for the analysis' per-sample table). */
void
hr_moments_add_with_zeros (HrMoments *self, const float *rows, gsize n_rows, float *per_sample)
{
  hr_moments_add_columns (self, rows, n_rows, per_sample, 4);
}

/**
 * hr_moments_add_bytes:
 * @self: a #HrMoments
 * @rows: a whole number of rows of D float32 values, row-major, in the machine's byte order
 * @per_sample: (out) (optional) (transfer full): per row its mean, standard deviation (ddof
 *   0) and L2 norm, 3 float32 values a row; NaN for rows holding a NaN or an infinity
 * @error: return location for a #GError
 *
 * Accumulates the finite rows of @rows, as hr_moments_add() does, for bindings: from
 * Python, `moments.add_bytes(GLib.Bytes(x.astype(numpy.float32).tobytes()))` and
 * `numpy.frombuffer(per_sample.get_data(), numpy.float32).reshape(-1, 3)`.
 *
 * Returns: %TRUE on success; %FALSE with %HR_ANALYSIS_ERROR_SHAPE if @rows is not a whole
 *   number of rows
 */
gboolean
hr_moments_add_bytes (HrMoments *self, GBytes *rows, GBytes **per_sample, GError **error)
{
  g_autofree float *aligned = NULL;
  const float *data;
  gsize size, row_size, n_rows;
  float *stats = NULL;

  g_return_val_if_fail (HR_IS_MOMENTS (self), FALSE);
  g_return_val_if_fail (rows != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  data = g_bytes_get_data (rows, &size);
  row_size = self->dimension * sizeof (float);
  if (size % row_size != 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("%zu bytes are not a whole number of rows of %zu float32 values"), size,
                   self->dimension);
      return FALSE;
    }
  n_rows = size / row_size;
  if (n_rows > 0 && (guintptr)data % G_ALIGNOF (float) != 0)
    data = aligned = g_memdup2 (data, size);
  if (per_sample != NULL)
    stats = g_new (float, 3 * n_rows);
  hr_moments_add (self, data, n_rows, stats);
  if (per_sample != NULL)
    *per_sample = g_bytes_new_take (stats, 3 * n_rows * sizeof (float));
  return TRUE;
}

/* -- results ------------------------------------------------------------------------------ */

/**
 * hr_moments_get_dimension:
 * @self: a #HrMoments
 *
 * Gets the number of values D of every row.
 *
 * Returns: the number of values D of every row
 */
gsize
hr_moments_get_dimension (HrMoments *self)
{
  g_return_val_if_fail (HR_IS_MOMENTS (self), 0);
  return self->dimension;
}

/**
 * hr_moments_get_n_samples:
 * @self: a #HrMoments
 *
 * Gets the number of finite rows accumulated, N.
 *
 * Returns: the number of finite rows accumulated, N
 */
guint64
hr_moments_get_n_samples (HrMoments *self)
{
  g_return_val_if_fail (HR_IS_MOMENTS (self), 0);
  return self->n_samples;
}

/**
 * hr_moments_get_n_dropped:
 * @self: a #HrMoments
 *
 * Counts the rows skipped because they hold a NaN or an infinity.
 *
 * Returns: the number of rows skipped because they hold a NaN or an infinity
 */
guint64
hr_moments_get_n_dropped (HrMoments *self)
{
  g_return_val_if_fail (HR_IS_MOMENTS (self), 0);
  return self->n_dropped;
}

/**
 * hr_moments_get_n_nonfinite:
 * @self: a #HrMoments
 *
 * Counts the NaN and infinite values seen.
 *
 * Returns: the number of NaN and infinite values seen (all in dropped rows)
 */
guint64
hr_moments_get_n_nonfinite (HrMoments *self)
{
  g_return_val_if_fail (HR_IS_MOMENTS (self), 0);
  return self->n_nonfinite;
}

/**
 * hr_moments_get_precision:
 * @self: a #HrMoments
 *
 * Gets the precision of the products as resolved.
 *
 * Returns: the precision of the products as resolved: never %HR_PRECISION_AUTO
 */
HrPrecision
hr_moments_get_precision (HrMoments *self)
{
  g_return_val_if_fail (HR_IS_MOMENTS (self), HR_PRECISION_FLOAT64);
  return self->precision;
}

/**
 * hr_moments_get_error_bound:
 * @self: a #HrMoments
 *
 * A worst-case bound on the rounding error of the scatter matrix so far, in its units (an
 * absolute bound on the spectral norm of the error): Σ_blocks γ_b·‖Y_b‖_F² plus the
 * float64 rounding of the merges; see #HrMoments. For float32 products it is close to
 * 3.9·10⁻⁶·trace(S); for float64 in chunks of n_b rows, close to (n_b + 2)·2⁻⁵³·trace(S).
 *
 * Returns: the bound, 0 before any sample
 */
double
hr_moments_get_error_bound (HrMoments *self)
{
  g_return_val_if_fail (HR_IS_MOMENTS (self), 0);
  return self->error_bound;
}

/**
 * hr_moments_peek_mean: (skip)
 * @self: a #HrMoments
 *
 * Borrows the means without a copy, for C callers (bindings use hr_moments_get_mean()).
 *
 * Returns: (transfer none) (array): the D float64 means of the accumulated samples (zeros
 *   before any), valid until the next addition
 */
const double *
hr_moments_peek_mean (HrMoments *self)
{
  g_return_val_if_fail (HR_IS_MOMENTS (self), NULL);
  return self->mean;
}

/**
 * hr_moments_peek_scatter: (skip)
 * @self: a #HrMoments
 *
 * The centred scatter matrix S = Σ (x − mean)(x − mean)ᵀ, full and symmetric (the
 * accumulated upper triangle is mirrored into the lower one when asked), D × D float64
 * row-major; zeros before any sample. Divide by N for the biased covariance, by N − 1 for
 * the unbiased one.
 *
 * Returns: (transfer none) (array) (nullable): the scatter matrix, valid until the next
 *   addition; %NULL without it (hr_moments_new_diagonal())
 */
const double *
hr_moments_peek_scatter (HrMoments *self)
{
  gsize d;

  g_return_val_if_fail (HR_IS_MOMENTS (self), NULL);

  if (!self->full)
    return NULL;
  d = self->dimension;
  if (!self->lower_valid)
    {
      for (gsize i = 1; i < d; i++)
        for (gsize j = 0; j < i; j++)
          self->scatter[i * d + j] = self->scatter[j * d + i];
      self->lower_valid = TRUE;
    }
  return self->scatter;
}

/**
 * hr_moments_get_mean:
 * @self: a #HrMoments
 *
 * Gets the D per-dimension means, float64, as bytes.
 *
 * Returns: (transfer full): the D float64 means (zeros before any sample)
 */
GBytes *
hr_moments_get_mean (HrMoments *self)
{
  g_return_val_if_fail (HR_IS_MOMENTS (self), NULL);
  return g_bytes_new (self->mean, self->dimension * sizeof (double));
}

/**
 * hr_moments_get_scatter:
 * @self: a #HrMoments
 *
 * Gets the centred scatter matrix, D × D float64, as bytes.
 *
 * Returns: (transfer full) (nullable): the centred scatter matrix Σ (x − mean)(x − mean)ᵀ,
 *   D × D float64, full and symmetric (see hr_moments_peek_scatter()); %NULL without it
 */
GBytes *
hr_moments_get_scatter (HrMoments *self)
{
  g_return_val_if_fail (HR_IS_MOMENTS (self), NULL);
  if (!self->full)
    return NULL;
  return g_bytes_new (hr_moments_peek_scatter (self),
                      self->dimension * self->dimension * sizeof (double));
}

/**
 * hr_moments_get_gram:
 * @self: a #HrMoments
 *
 * Gets the uncentred Gram matrix XᵀX, D × D float64, as bytes.
 *
 * Returns: (transfer full) (nullable): the uncentred Gram matrix XᵀX = S + N·mean·meanᵀ,
 *   D × D float64; %NULL without the scatter matrix
 */
GBytes *
hr_moments_get_gram (HrMoments *self)
{
  gsize d;
  const double *s;
  double *gram, n;

  g_return_val_if_fail (HR_IS_MOMENTS (self), NULL);
  if (!self->full)
    return NULL;

  d = self->dimension;
  s = hr_moments_peek_scatter (self);
  n = (double)self->n_samples;
  gram = g_new (double, d *d);
  for (gsize i = 0; i < d; i++)
    for (gsize j = 0; j < d; j++)
      gram[i * d + j] = s[i * d + j] + n * self->mean[i] * self->mean[j];
  return g_bytes_new_take (gram, d * d * sizeof (double));
}

/**
 * hr_moments_get_std:
 * @self: a #HrMoments
 *
 * Gets the D per-dimension standard deviations (ddof 0), float64, as bytes.
 *
 * Returns: (transfer full): the D float64 per-dimension standard deviations, ddof 0
 *   (√(S_jj / N)); NaN before any sample
 */
GBytes *
hr_moments_get_std (HrMoments *self)
{
  gsize d;
  double *std;

  g_return_val_if_fail (HR_IS_MOMENTS (self), NULL);

  d = self->dimension;
  std = g_new (double, d);
  for (gsize j = 0; j < d; j++)
    std[j] = self->n_samples > 0 ? sqrt (MAX (self->scatter[self->full ? j * d + j : j], 0.0)
                                         / (double)self->n_samples)
                                 : NAN;
  return g_bytes_new_take (std, d * sizeof (double));
}

/**
 * hr_moments_get_zero_fraction:
 * @self: a #HrMoments
 *
 * Gets, per dimension, the fraction of the accumulated samples whose value is exactly 0, as D
 * float64 values in bytes.
 *
 * Returns: (transfer full): per dimension, the D float64 fractions of the accumulated
 *   samples whose value is exactly 0 (+0.0 or −0.0; ReLU clipping); NaN before any sample
 */
GBytes *
hr_moments_get_zero_fraction (HrMoments *self)
{
  gsize d;
  double *fraction;

  g_return_val_if_fail (HR_IS_MOMENTS (self), NULL);

  d = self->dimension;
  fraction = g_new (double, d);
  for (gsize j = 0; j < d; j++)
    fraction[j] = self->n_samples > 0 ? (double)self->zero_count[j] / (double)self->n_samples : NAN;
  return g_bytes_new_take (fraction, d * sizeof (double));
}

double
hr_moments_get_mean_zero_fraction (HrMoments *self)
{
  double sum = 0;

  g_return_val_if_fail (HR_IS_MOMENTS (self), NAN);
  if (self->n_samples == 0)
    return NAN;
  for (gsize j = 0; j < self->dimension; j++)
    sum += (double)self->zero_count[j] / (double)self->n_samples;
  return sum / (double)self->dimension;
}

/**
 * hr_moments_get_n_dead:
 * @self: a #HrMoments
 *
 * Counts the dimensions that are exactly 0 in every accumulated sample.
 *
 * Returns: the number of dimensions that are exactly 0 in every accumulated sample; 0
 *   before any sample
 */
guint
hr_moments_get_n_dead (HrMoments *self)
{
  guint n = 0;

  g_return_val_if_fail (HR_IS_MOMENTS (self), 0);

  if (self->n_samples == 0)
    return 0;
  for (gsize j = 0; j < self->dimension; j++)
    n += self->zero_count[j] == self->n_samples;
  return n;
}

/**
 * hr_moments_get_simsiam_std:
 * @self: a #HrMoments
 *
 * The collapse measure of SimSiam (Chen and He, 2021): the mean over the dimensions of the
 * standard deviation (ddof 0) of the L2-normalised rows z = x / max(‖x‖₂, 10⁻¹²), as
 * `torch.nn.functional.normalize` normalises, computed in float64. About 1/√D for a
 * healthy representation, 0 for a collapsed one.
 *
 * Returns: the mean per-dimension standard deviation of the normalised rows; NaN before
 *   any sample
 */
double
hr_moments_get_simsiam_std (HrMoments *self)
{
  double n, total = 0;

  g_return_val_if_fail (HR_IS_MOMENTS (self), NAN);

  if (self->n_samples == 0)
    return NAN;
  n = (double)self->n_samples;
  for (gsize j = 0; j < self->dimension; j++)
    {
      double m = self->z_sum[j] / n;

      total += sqrt (MAX (self->z_sq_sum[j] / n - m * m, 0.0));
    }
  return total / (double)self->dimension;
}

/**
 * hr_moments_get_lightly_std:
 * @self: a #HrMoments
 *
 * lightly's collapse measure, `lightly.utils.debug.std_of_l2_normalized (z)`:
 * `torch.std (torch.nn.functional.normalize (z, dim=1), dim=0).mean ()`, the mean over the
 * dimensions of the unbiased (ddof 1) standard deviation of the L2-normalised rows. It is
 * hr_moments_get_simsiam_std() with Bessel's correction per dimension; about 1/√D for an
 * isotropic Gaussian, 0 at full collapse.
 *
 * Returns: the measure; NaN with fewer than 2 samples
 *
 * Since: 0.2
 */
double
hr_moments_get_lightly_std (HrMoments *self)
{
  double n, total = 0;

  g_return_val_if_fail (HR_IS_MOMENTS (self), NAN);

  if (self->n_samples < 2)
    return NAN;
  n = (double)self->n_samples;
  for (gsize j = 0; j < self->dimension; j++)
    {
      double m = self->z_sum[j] / n;

      total += sqrt (MAX (self->z_sq_sum[j] - n * m * m, 0.0) / (n - 1));
    }
  return total / (double)self->dimension;
}

/* -- the state, for serialising and merging (hr-moments-merge.c) ------------------------- */

void
hr_moments_get_state (HrMoments *self, HrMomentsState *state)
{
  state->dimension = self->dimension;
  state->full = self->full;
  state->precision = self->precision;
  state->n_samples = &self->n_samples;
  state->n_dropped = &self->n_dropped;
  state->n_nonfinite = &self->n_nonfinite;
  state->mean = self->mean;
  state->scatter = self->scatter;
  state->lower_valid = &self->lower_valid;
  state->scatter_trace = &self->scatter_trace;
  state->error_bound = &self->error_bound;
  state->mean_error = &self->mean_error;
  state->zero_count = self->zero_count;
  state->has_z_shift = &self->has_z_shift;
  state->z_shift = self->z_shift;
  state->z_sum = self->z_sum;
  state->z_sq_sum = self->z_sq_sum;
}
