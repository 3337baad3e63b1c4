/* headrank: a projection head, run on feature stacks as PyTorch runs it */
#include "hr-private.h"
#include "hr-head.h"

#include "hr-enum-types.h"
#include "hr-feature-stack.h"
#include "hr-head-prefixes.h"
#include "hr-head-private.h"
#include "hr-source.h"
#include "hr-sources-private.h"
#include "hr-stack-info.h"
#include "hr-stack-reader.h"
#include "hr-stack-writer.h"
#include "hr-tensor-file.h"

#include <cblas.h>
#include <gio/gio.h>
#include <math.h>
#include <string.h>

/**
 * HrHead:
 *
 * An ordered stack of layers — Linear, BatchNorm1d, LayerNorm, ReLU, GELU (exact and tanh),
 * SiLU, LeakyReLU, Tanh, Identity, Dropout and L2 normalisation — that computes what the
 * projection head of a contrastive model computes, in float32 as PyTorch does, on the rows
 * of a feature stack.
 *
 * A head comes from a safetensors file of a PyTorch state dict
 * (hr_head_new_from_file()), with its architecture given as a preset (see
 * hr_head_list_presets()), as a spec such as `linear:2048,bn,relu,linear:128,bn,l2`, read
 * from the file's `__metadata__` (key `arch`, written by tools/extract-head.py), or
 * inferred from the tensors — in which case what tensors cannot tell (the activation, an
 * L2 normalisation at the end) is either given (hr_head_new_from_file_full()) or assumed,
 * and the head says so (hr_head_get_activation_assumed(), hr_head_get_assumption()). A head
 * can also be built layer by layer with the `append` functions.
 *
 * In %HR_NORM_MODE_RUNNING (eval) each BatchNorm is folded into the Linear before it, and
 * bias, normalisation and activation are applied in one pass over the output of each
 * matrix product (OpenBLAS `sgemm`). Every intermediate stage — the output of each layer —
 * is available from hr_head_forward_stages() and, for a file, hr_head_project().
 */

/**
 * hr_head_error_quark:
 *
 * The error domain of projection heads.
 *
 * Returns: the #GQuark of %HR_HEAD_ERROR
 */
/* clang-format off */
G_DEFINE_QUARK (hr-head-error-quark, hr_head_error)
/* clang-format on */

typedef struct
{
  HrLayerKind kind;
  char *name;
  gsize in;
  gsize out;
  float *weight;       /* linear: out × in, row-major; norms: n (NULL: 1) */
  float *bias;         /* NULL: 0 */
  float *running_mean; /* batch norm */
  float *running_var;
  double eps;
  double slope; /* leaky relu: the negative slope */
} HrLayer;

struct _HrHead
{
  GObject parent_instance;

  GPtrArray *layers;
  char *source;
  char *prefix;
  HrArchSource arch_source;
  gboolean activation_assumed; /* inferred, and an activation was put where none is known */
  gboolean activation_given;   /* inferred with the activation given */
  GHashTable *metadata;        /* the weights file's __metadata__, or NULL */
};

G_DEFINE_FINAL_TYPE (HrHead, hr_head, G_TYPE_OBJECT)

static void
hr_layer_free (gpointer data)
{
  HrLayer *layer = data;

  g_free (layer->name);
  g_free (layer->weight);
  g_free (layer->bias);
  g_free (layer->running_mean);
  g_free (layer->running_var);
  g_free (layer);
}

static void
hr_head_finalize (GObject *object)
{
  HrHead *self = HR_HEAD (object);

  g_ptr_array_unref (self->layers);
  g_free (self->source);
  g_free (self->prefix);
  g_clear_pointer (&self->metadata, g_hash_table_unref);

  G_OBJECT_CLASS (hr_head_parent_class)->finalize (object);
}

static void
hr_head_class_init (HrHeadClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = hr_head_finalize;
}

static void
hr_head_init (HrHead *self)
{
  self->layers = g_ptr_array_new_with_free_func (hr_layer_free);
}

/**
 * hr_layer_kind_to_string:
 * @kind: a #HrLayerKind
 *
 * The name of a kind of layer, as architecture specs, `headrank head describe` (text and
 * JSON) and report.json write it: `linear`, `bn`, `ln`, `relu`, `gelu`, `gelu-tanh`,
 * `silu`, `leaky-relu`, `tanh`, `identity`, `dropout`, `l2`. It is the enum value's nick.
 *
 * Returns: (transfer none): the name, or "?" for a value that is not a #HrLayerKind
 *
 * Since: 0.2
 */
const char *
hr_layer_kind_to_string (HrLayerKind kind)
{
  switch (kind)
    {
      case HR_LAYER_LINEAR:
        return "linear";
      case HR_LAYER_BATCH_NORM:
        return "bn";
      case HR_LAYER_LAYER_NORM:
        return "ln";
      case HR_LAYER_RELU:
        return "relu";
      case HR_LAYER_GELU:
        return "gelu";
      case HR_LAYER_SILU:
        return "silu";
      case HR_LAYER_L2_NORMALIZE:
        return "l2";
      case HR_LAYER_GELU_TANH:
        return "gelu-tanh";
      case HR_LAYER_LEAKY_RELU:
        return "leaky-relu";
      case HR_LAYER_TANH:
        return "tanh";
      case HR_LAYER_IDENTITY:
        return "identity";
      case HR_LAYER_DROPOUT:
        return "dropout";
      default:
        return "?";
    }
}

#define hr_layer_kind_name hr_layer_kind_to_string

static gboolean
hr_layer_has_parameters (HrLayerKind kind)
{
  return kind == HR_LAYER_LINEAR || kind == HR_LAYER_BATCH_NORM || kind == HR_LAYER_LAYER_NORM;
}

/**
 * hr_head_new:
 *
 * Makes an empty head, to be built with hr_head_append_linear() and the other `append`
 * functions.
 *
 * Returns: (transfer full): a new #HrHead without layers
 */
HrHead *
hr_head_new (void)
{
  return g_object_new (HR_TYPE_HEAD, NULL);
}

/* -- building ---------------------------------------------------------------------------- */

static HrLayer *hr_head_layer (HrHead *head, guint index);
static gboolean hr_is_integer (const char *s);

static float *
hr_copy_parameter (GBytes *bytes, gsize n, const char *layer, const char *what, gboolean required,
                   GError **error)
{
  gsize size;
  const float *data;
  float *copy;

  if (bytes == NULL)
    {
      if (required)
        g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS, _ ("layer %s has no %s"), layer,
                     what);
      return NULL;
    }
  data = g_bytes_get_data (bytes, &size);
  if (size != n * sizeof (float))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                   _ ("the %s of layer %s has %zu values, not %zu"), what, layer,
                   size / sizeof (float), n);
      return NULL;
    }
  copy = g_memdup2 (data, size);
  for (gsize i = 0; i < n; i++)
    if (!isfinite (copy[i]))
      {
        g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NON_FINITE,
                     _ ("the %s of layer %s holds a non-finite value at index %zu"), what, layer,
                     i);
        g_free (copy);
        return NULL;
      }
  return copy;
}

static gboolean
hr_head_check_input (HrHead *head, const char *name, gsize in_features, GError **error)
{
  gsize previous = hr_head_get_out_features (head);

  if (head->layers->len > 0 && previous != in_features)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE,
                   _ ("layer %s takes %zu features, but the layer before it gives %zu"), name,
                   in_features, previous);
      return FALSE;
    }
  if (in_features == 0)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE, _ ("layer %s has no features"), name);
      return FALSE;
    }
  return TRUE;
}

static HrLayer *
hr_head_add (HrHead *head, HrLayerKind kind, const char *name, gsize in, gsize out)
{
  HrLayer *layer = g_new0 (HrLayer, 1);

  layer->kind = kind;
  layer->name = name != NULL ? g_strdup (name) : g_strdup_printf ("%u", head->layers->len);
  layer->in = in;
  layer->out = out;
  g_ptr_array_add (head->layers, layer);
  return layer;
}

/**
 * hr_head_append_linear:
 * @head: a #HrHead
 * @name: (nullable): the layer's name (its module name in the state dict), or %NULL for its
 *   index
 * @in_features: the input width
 * @out_features: the output width
 * @weight: @out_features × @in_features float32 values, row-major (PyTorch's [out, in])
 * @bias: (nullable): @out_features float32 values, or %NULL for a Linear without bias
 * @error: return location for a #GError
 *
 * Appends a `torch.nn.Linear`: y = x Wᵀ + b.
 *
 * Returns: %TRUE, or %FALSE with @error set (%HR_HEAD_ERROR_SHAPE when @in_features is not
 *   the width of the layer before; %HR_HEAD_ERROR_WEIGHTS for a wrong size;
 *   %HR_HEAD_ERROR_NON_FINITE)
 */
gboolean
hr_head_append_linear (HrHead *head, const char *name, gsize in_features, gsize out_features,
                       GBytes *weight, GBytes *bias, GError **error)
{
  g_autofree float *w = NULL, *b = NULL;
  g_autofree char *label = NULL;
  HrLayer *layer;
  gsize n;

  g_return_val_if_fail (HR_IS_HEAD (head), FALSE);
  g_return_val_if_fail (weight != NULL, FALSE);

  label = name != NULL ? g_strdup (name) : g_strdup_printf ("%u", head->layers->len);
  if (!hr_head_check_input (head, label, in_features, error))
    return FALSE;
  if (out_features == 0 || !g_size_checked_mul (&n, in_features, out_features))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE, _ ("layer %s has no features"),
                   label);
      return FALSE;
    }
  w = hr_copy_parameter (weight, n, label, "weight", TRUE, error);
  if (w == NULL)
    return FALSE;
  if (bias != NULL
      && (b = hr_copy_parameter (bias, out_features, label, "bias", FALSE, error)) == NULL)
    return FALSE;
  layer = hr_head_add (head, HR_LAYER_LINEAR, label, in_features, out_features);
  layer->weight = g_steal_pointer (&w);
  layer->bias = g_steal_pointer (&b);
  return TRUE;
}

/**
 * hr_head_append_batch_norm:
 * @head: a #HrHead
 * @name: (nullable): the layer's name, or %NULL for its index
 * @n_features: the width
 * @weight: (nullable): the scale γ (%NULL: 1, as `affine=False`)
 * @bias: (nullable): the shift β (%NULL: 0, as a bias that is absent or frozen at zero)
 * @running_mean: the running mean
 * @running_var: the running variance (PyTorch keeps the unbiased estimate)
 * @eps: the epsilon added to the variance (PyTorch's default is 1e-5)
 * @error: return location for a #GError
 *
 * Appends a `torch.nn.BatchNorm1d`.
 *
 * Returns: %TRUE, or %FALSE with @error set
 */
gboolean
hr_head_append_batch_norm (HrHead *head, const char *name, gsize n_features, GBytes *weight,
                           GBytes *bias, GBytes *running_mean, GBytes *running_var, double eps,
                           GError **error)
{
  g_autofree float *w = NULL, *b = NULL, *m = NULL, *v = NULL;
  g_autofree char *label = NULL;
  HrLayer *layer;

  g_return_val_if_fail (HR_IS_HEAD (head), FALSE);

  label = name != NULL ? g_strdup (name) : g_strdup_printf ("%u", head->layers->len);
  if (!hr_head_check_input (head, label, n_features, error))
    return FALSE;
  if ((weight != NULL
       && (w = hr_copy_parameter (weight, n_features, label, "weight", FALSE, error)) == NULL)
      || (bias != NULL
          && (b = hr_copy_parameter (bias, n_features, label, "bias", FALSE, error)) == NULL)
      || (m = hr_copy_parameter (running_mean, n_features, label, "running_mean", TRUE, error))
             == NULL
      || (v = hr_copy_parameter (running_var, n_features, label, "running_var", TRUE, error))
             == NULL)
    return FALSE;
  for (gsize i = 0; i < n_features; i++)
    if (v[i] < 0)
      {
        g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                     _ ("the running_var of layer %s is negative at index %zu"), label, i);
        return FALSE;
      }
  if (!(eps >= 0) || !isfinite (eps))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS, _ ("layer %s has an invalid eps"),
                   label);
      return FALSE;
    }
  layer = hr_head_add (head, HR_LAYER_BATCH_NORM, label, n_features, n_features);
  layer->weight = g_steal_pointer (&w);
  layer->bias = g_steal_pointer (&b);
  layer->running_mean = g_steal_pointer (&m);
  layer->running_var = g_steal_pointer (&v);
  layer->eps = eps;
  return TRUE;
}

/**
 * hr_head_append_layer_norm:
 * @head: a #HrHead
 * @name: (nullable): the layer's name, or %NULL for its index
 * @n_features: the width
 * @weight: (nullable): the scale (%NULL: 1)
 * @bias: (nullable): the shift (%NULL: 0)
 * @eps: the epsilon added to the variance (PyTorch's default is 1e-5)
 * @error: return location for a #GError
 *
 * Appends a `torch.nn.LayerNorm` over the features of each sample (biased variance).
 *
 * Returns: %TRUE, or %FALSE with @error set
 */
gboolean
hr_head_append_layer_norm (HrHead *head, const char *name, gsize n_features, GBytes *weight,
                           GBytes *bias, double eps, GError **error)
{
  g_autofree float *w = NULL, *b = NULL;
  g_autofree char *label = NULL;
  HrLayer *layer;

  g_return_val_if_fail (HR_IS_HEAD (head), FALSE);

  label = name != NULL ? g_strdup (name) : g_strdup_printf ("%u", head->layers->len);
  if (!hr_head_check_input (head, label, n_features, error))
    return FALSE;
  if ((weight != NULL
       && (w = hr_copy_parameter (weight, n_features, label, "weight", FALSE, error)) == NULL)
      || (bias != NULL
          && (b = hr_copy_parameter (bias, n_features, label, "bias", FALSE, error)) == NULL))
    return FALSE;
  if (!(eps >= 0) || !isfinite (eps))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS, _ ("layer %s has an invalid eps"),
                   label);
      return FALSE;
    }
  layer = hr_head_add (head, HR_LAYER_LAYER_NORM, label, n_features, n_features);
  layer->weight = g_steal_pointer (&w);
  layer->bias = g_steal_pointer (&b);
  layer->eps = eps;
  return TRUE;
}

/**
 * hr_head_append_activation:
 * @head: a #HrHead with at least one layer
 * @name: (nullable): the layer's name, or %NULL for its index
 * @kind: a layer without parameters: %HR_LAYER_RELU, %HR_LAYER_GELU,
 *   %HR_LAYER_GELU_TANH, %HR_LAYER_SILU, %HR_LAYER_LEAKY_RELU (slope 0.01, PyTorch's default;
 *   see hr_head_append_leaky_relu()), %HR_LAYER_TANH, %HR_LAYER_IDENTITY,
 *   %HR_LAYER_DROPOUT (the identity at inference) or %HR_LAYER_L2_NORMALIZE
 * @error: return location for a #GError
 *
 * Appends a layer without parameters.
 *
 * Returns: %TRUE, or %FALSE with %HR_HEAD_ERROR_SPEC when @kind has parameters or the
 *   head is empty
 */
gboolean
hr_head_append_activation (HrHead *head, const char *name, HrLayerKind kind, GError **error)
{
  gsize width;

  g_return_val_if_fail (HR_IS_HEAD (head), FALSE);

  if (hr_layer_has_parameters (kind) || (guint)kind > HR_LAYER_DROPOUT)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
                   _ ("a %s layer has parameters: append it with its own function"),
                   hr_layer_kind_name (kind));
      return FALSE;
    }
  if (head->layers->len == 0)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
                   _ ("a head cannot start with a %s layer: its width is not known"),
                   hr_layer_kind_name (kind));
      return FALSE;
    }
  width = hr_head_get_out_features (head);
  hr_head_add (head, kind, name, width, width)->slope = 0.01;
  return TRUE;
}

/**
 * hr_head_append_leaky_relu:
 * @head: a #HrHead with at least one layer
 * @name: (nullable): the layer's name, or %NULL for its index
 * @negative_slope: the slope below zero (`torch.nn.LeakyReLU (negative_slope)`; PyTorch's
 *   default is 0.01), finite
 * @error: return location for a #GError
 *
 * Appends a `torch.nn.LeakyReLU`: x for x > 0, @negative_slope · x otherwise.
 *
 * Returns: %TRUE, or %FALSE with %HR_HEAD_ERROR_SPEC when the head is empty or the slope
 *   is not finite
 *
 * Since: 0.2
 */
gboolean
hr_head_append_leaky_relu (HrHead *head, const char *name, double negative_slope, GError **error)
{
  g_return_val_if_fail (HR_IS_HEAD (head), FALSE);

  if (!isfinite (negative_slope))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
                   _ ("the negative slope of a leaky-relu layer must be a finite number"));
      return FALSE;
    }
  if (!hr_head_append_activation (head, name, HR_LAYER_LEAKY_RELU, error))
    return FALSE;
  hr_head_layer (head, head->layers->len - 1)->slope = negative_slope;
  return TRUE;
}

/* -- accessors --------------------------------------------------------------------------- */

static HrLayer *
hr_head_layer (HrHead *head, guint index)
{
  return g_ptr_array_index (head->layers, index);
}

/**
 * hr_head_get_n_layers:
 * @head: a #HrHead
 *
 * Gets the number of layers.
 *
 * Returns: the number of layers (and of stages)
 */
guint
hr_head_get_n_layers (HrHead *head)
{
  g_return_val_if_fail (HR_IS_HEAD (head), 0);
  return head->layers->len;
}

/**
 * hr_head_get_layer_kind:
 * @head: a #HrHead
 * @index: a layer index
 *
 * Gets the kind of layer @index.
 *
 * Returns: what layer @index is
 */
HrLayerKind
hr_head_get_layer_kind (HrHead *head, guint index)
{
  g_return_val_if_fail (HR_IS_HEAD (head), HR_LAYER_LINEAR);
  g_return_val_if_fail (index < head->layers->len, HR_LAYER_LINEAR);
  return hr_head_layer (head, index)->kind;
}

/**
 * hr_head_get_layer_name:
 * @head: a #HrHead
 * @index: a layer index
 *
 * Gets the name of layer @index, which is also the name of its stage.
 *
 * Returns: the name of layer @index: its module name in the state dict ("0", "fc1", …),
 *   which is also the name of its stage
 */
const char *
hr_head_get_layer_name (HrHead *head, guint index)
{
  g_return_val_if_fail (HR_IS_HEAD (head), NULL);
  g_return_val_if_fail (index < head->layers->len, NULL);
  return hr_head_layer (head, index)->name;
}

/**
 * hr_head_get_layer_in_features:
 * @head: a #HrHead
 * @index: a layer index
 *
 * Gets the input width of layer @index.
 *
 * Returns: the input width of layer @index
 */
gsize
hr_head_get_layer_in_features (HrHead *head, guint index)
{
  g_return_val_if_fail (HR_IS_HEAD (head), 0);
  g_return_val_if_fail (index < head->layers->len, 0);
  return hr_head_layer (head, index)->in;
}

/**
 * hr_head_get_layer_out_features:
 * @head: a #HrHead
 * @index: a layer index
 *
 * Gets the output width of layer @index.
 *
 * Returns: the output width of layer @index
 */
gsize
hr_head_get_layer_out_features (HrHead *head, guint index)
{
  g_return_val_if_fail (HR_IS_HEAD (head), 0);
  g_return_val_if_fail (index < head->layers->len, 0);
  return hr_head_layer (head, index)->out;
}

/**
 * hr_head_get_layer_has_bias:
 * @head: a #HrHead
 * @index: a layer index
 *
 * Tells whether layer @index (a Linear or a norm) has a bias.
 *
 * Returns: whether layer @index (a Linear or a norm) has a bias
 */
gboolean
hr_head_get_layer_has_bias (HrHead *head, guint index)
{
  g_return_val_if_fail (HR_IS_HEAD (head), FALSE);
  g_return_val_if_fail (index < head->layers->len, FALSE);
  return hr_head_layer (head, index)->bias != NULL;
}

/**
 * hr_head_find_stage:
 * @head: a #HrHead
 * @name: a layer name, or "projections" for the last layer
 *
 * Finds the layer whose output is the stage @name.
 *
 * Returns: the index of the layer whose output is the stage @name, or -1
 */
int
hr_head_find_stage (HrHead *head, const char *name)
{
  g_return_val_if_fail (HR_IS_HEAD (head), -1);
  g_return_val_if_fail (name != NULL, -1);

  if (strcmp (name, "projections") == 0)
    return (int)head->layers->len - 1;
  for (guint i = 0; i < head->layers->len; i++)
    if (strcmp (hr_head_layer (head, i)->name, name) == 0)
      return (int)i;
  return -1;
}

/**
 * hr_head_get_in_features:
 * @head: a #HrHead
 *
 * Gets the width of the features the head takes.
 *
 * Returns: the width of the features the head takes (0 for an empty head)
 */
gsize
hr_head_get_in_features (HrHead *head)
{
  g_return_val_if_fail (HR_IS_HEAD (head), 0);
  return head->layers->len > 0 ? hr_head_layer (head, 0)->in : 0;
}

/**
 * hr_head_get_out_features:
 * @head: a #HrHead
 *
 * Gets the width of the projections.
 *
 * Returns: the width of the projections (0 for an empty head)
 */
gsize
hr_head_get_out_features (HrHead *head)
{
  g_return_val_if_fail (HR_IS_HEAD (head), 0);
  return head->layers->len > 0 ? hr_head_layer (head, head->layers->len - 1)->out : 0;
}

/**
 * hr_head_get_source:
 * @head: a #HrHead
 *
 * Gets where the head came from (file, prefix and architecture).
 *
 * Returns: (nullable): where the head came from (file, prefix and architecture), or %NULL
 *   for a head built by hand
 */
const char *
hr_head_get_source (HrHead *head)
{
  g_return_val_if_fail (HR_IS_HEAD (head), NULL);
  return head->source;
}

/**
 * hr_head_get_layer_negative_slope:
 * @head: a #HrHead
 * @index: a layer index
 *
 * Gets the negative slope of a %HR_LAYER_LEAKY_RELU layer.
 *
 * Returns: the negative slope of layer @index, or 0 for a layer that is not a LeakyReLU
 *
 * Since: 0.2
 */
double
hr_head_get_layer_negative_slope (HrHead *head, guint index)
{
  HrLayer *l;

  g_return_val_if_fail (HR_IS_HEAD (head), 0.0);
  g_return_val_if_fail (index < head->layers->len, 0.0);
  l = hr_head_layer (head, index);
  return l->kind == HR_LAYER_LEAKY_RELU ? l->slope : 0.0;
}

/**
 * hr_head_get_arch_source:
 * @head: a #HrHead
 *
 * Tells where the head's architecture came from: given, read from the weights file's
 * metadata, inferred from the tensors, or built by hand.
 *
 * Returns: where the architecture came from
 *
 * Since: 0.2
 */
HrArchSource
hr_head_get_arch_source (HrHead *head)
{
  g_return_val_if_fail (HR_IS_HEAD (head), HR_ARCH_SOURCE_BUILT);
  return head->arch_source;
}

/**
 * hr_head_get_prefix:
 * @head: a #HrHead
 *
 * Gets the prefix of the head's tensors in its weights file.
 *
 * Returns: (nullable): the prefix of the head's tensors ("" for a bare state dict), or
 *   %NULL for a head built by hand
 *
 * Since: 0.2
 */
const char *
hr_head_get_prefix (HrHead *head)
{
  g_return_val_if_fail (HR_IS_HEAD (head), NULL);
  return head->prefix;
}

/**
 * hr_head_get_metadata:
 * @head: a #HrHead
 * @key: a key of the weights file's `__metadata__`: `arch`, `arch_from`, `source` (the
 *   checkpoint the head was extracted from), `viscy_version`, …
 *
 * Looks up a value of the weights file's `__metadata__` map, where tools/extract-head.py
 * records what the checkpoint told about the head.
 *
 * Returns: (nullable): the value, or %NULL
 *
 * Since: 0.2
 */
const char *
hr_head_get_metadata (HrHead *head, const char *key)
{
  g_return_val_if_fail (HR_IS_HEAD (head), NULL);
  g_return_val_if_fail (key != NULL, NULL);
  return head->metadata != NULL ? g_hash_table_lookup (head->metadata, key) : NULL;
}

/**
 * hr_head_get_activation_assumed:
 * @head: a #HrHead
 *
 * Tells whether the head's activation was assumed: the architecture was inferred from the
 * tensors, which cannot tell ReLU from GELU or SiLU, no activation was given, and an
 * activation (ReLU) was put where the tensors leave room for one.
 *
 * Returns: %TRUE when the activation was assumed
 *
 * Since: 0.2
 */
gboolean
hr_head_get_activation_assumed (HrHead *head)
{
  g_return_val_if_fail (HR_IS_HEAD (head), FALSE);
  return head->activation_assumed;
}

/**
 * hr_head_get_assumption:
 * @head: a #HrHead
 *
 * For a head whose architecture was inferred from its tensors, says in words what was
 * assumed (the activation, and that the output is not L2-normalised, which no tensor shows)
 * and how to state it instead.
 *
 * Returns: (transfer full) (nullable): the sentences, or %NULL when nothing was assumed (the
 *   architecture was given, read from the file, or the head built by hand)
 *
 * Since: 0.2
 */
char *
hr_head_get_assumption (HrHead *head)
{
  const char *activation = NULL;

  g_return_val_if_fail (HR_IS_HEAD (head), NULL);

  if (head->arch_source != HR_ARCH_SOURCE_INFERRED)
    return NULL;
  for (guint i = 0; i < head->layers->len; i++)
    if (hr_layer_kind_is_activation (hr_head_layer (head, i)->kind))
      activation = hr_layer_kind_name (hr_head_layer (head, i)->kind);
  if (head->activation_assumed)
    return g_strdup_printf (
        /* TRANSLATORS: %s is an activation name (relu); keep --arch and --activation */
        _ ("The architecture was inferred from the tensors, and its activation assumed to be "
           "%s: no tensor and nothing in the file tells ReLU from GELU or SiLU (VisCy's MLP "
           "takes all three). Nor do the tensors show whether the head L2-normalises its "
           "output; no normalisation was assumed. State the architecture with --arch (a "
           "preset or a spec) or the activation with --activation."),
        activation != NULL ? activation : "relu");
  return g_strdup (_ ("The architecture was inferred from the tensors, which do not show "
                      "whether the head L2-normalises its output; no normalisation was "
                      "assumed. State the architecture with --arch (a preset or a spec) if it "
                      "does."));
}

/* The shortest of %.15g and %.17g that reads back as @v. */
static const char *
hr_format_double (char *buffer, gsize size, double v)
{
  g_ascii_formatd (buffer, size, "%.15g", v);
  if (g_ascii_strtod (buffer, NULL) != v)
    g_ascii_formatd (buffer, size, "%.17g", v);
  return buffer;
}

/* The spec of one layer ("linear:128", "bn:eps=0.001", "leaky-relu:0.2"). */
static void
hr_append_layer_spec (GString *s, HrLayer *l)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append (s, hr_layer_kind_name (l->kind));
  if (l->kind == HR_LAYER_LINEAR)
    g_string_append_printf (s, ":%zu", l->out);
  else if ((l->kind == HR_LAYER_BATCH_NORM || l->kind == HR_LAYER_LAYER_NORM) && l->eps != 1e-5)
    g_string_append_printf (s, ":eps=%s", hr_format_double (buffer, sizeof buffer, l->eps));
  else if (l->kind == HR_LAYER_LEAKY_RELU && l->slope != 0.01)
    g_string_append_printf (s, ":%s", hr_format_double (buffer, sizeof buffer, l->slope));
}

/**
 * hr_head_get_spec:
 * @head: a #HrHead
 *
 * The head's architecture as a spec that `--arch` and hr_head_new_from_file() take, such as
 * `linear:768,bn,relu,dropout,linear:32,bn`.
 *
 * Returns: (transfer full): the spec ("" for an empty head)
 *
 * Since: 0.2
 */
char *
hr_head_get_spec (HrHead *head)
{
  GString *s;

  g_return_val_if_fail (HR_IS_HEAD (head), NULL);

  s = g_string_new (NULL);
  for (guint i = 0; i < head->layers->len; i++)
    {
      if (i > 0)
        g_string_append_c (s, ',');
      hr_append_layer_spec (s, hr_head_layer (head, i));
    }
  return g_string_free (s, FALSE);
}

/* What the text and JSON of `head describe` say about the architecture's origin. */
static const char *
hr_arch_source_phrase (HrHead *head)
{
  switch (head->arch_source)
    {
      case HR_ARCH_SOURCE_GIVEN:
        return _ ("given");
      case HR_ARCH_SOURCE_METADATA:
        return _ ("read from the file's metadata");
      case HR_ARCH_SOURCE_INFERRED:
        return head->activation_assumed ? _ ("inferred from the tensors, activation assumed")
               : head->activation_given ? _ ("inferred from the tensors, activation given")
                                        : _ ("inferred from the tensors");
      case HR_ARCH_SOURCE_BUILT:
      default:
        return _ ("built layer by layer");
    }
}

/**
 * hr_head_describe:
 * @head: a #HrHead
 *
 * A text listing the layers that will run, one a line, with their shapes, after lines that
 * say where the head and its architecture came from, which presets it matches, and what
 * was assumed.
 *
 * Returns: (transfer full): the description
 */
char *
hr_head_describe (HrHead *head)
{
  g_auto (GStrv) matches = NULL;
  g_autofree char *spec = NULL, *assumption = NULL;
  GString *s;

  g_return_val_if_fail (HR_IS_HEAD (head), NULL);

  s = g_string_new (NULL);
  if (head->source != NULL)
    g_string_append_printf (s, "%s\n", head->source);
  spec = hr_head_get_spec (head);
  /* TRANSLATORS: %s is an architecture spec, the second how it was known ("given", ...) */
  g_string_append_printf (s, _ ("Architecture: %s (%s)\n"), spec, hr_arch_source_phrase (head));
  if (head->arch_source == HR_ARCH_SOURCE_METADATA)
    {
      const char *from = hr_head_get_metadata (head, "arch_from");
      const char *checkpoint = hr_head_get_metadata (head, "source");
      const char *viscy = hr_head_get_metadata (head, "viscy_version");

      /* TRANSLATORS: how tools/extract-head.py knew the architecture; then the checkpoint and
       * the VisCy version ("unknown" where the file does not say) */
      g_string_append_printf (
          s, _ ("  known from %s, checkpoint %s, VisCy %s\n"), from != NULL ? from : _ ("unknown"),
          checkpoint != NULL ? checkpoint : _ ("unknown"), viscy != NULL ? viscy : _ ("unknown"));
    }
  matches = hr_head_match_presets (head);
  if (matches[0] != NULL)
    {
      g_autofree char *list = g_strjoinv (", ", matches);
      const char *assumed = NULL;

      /* a match through an assumed activation holds only if the assumption does */
      for (guint i = 0; head->activation_assumed && i < head->layers->len; i++)
        if (hr_layer_kind_is_activation (hr_head_layer (head, i)->kind))
          assumed = hr_layer_kind_to_string (hr_head_layer (head, i)->kind);
      if (assumed != NULL)
        /* TRANSLATORS: %s are a list of preset names and the assumed activation ("relu") */
        g_string_append_printf (s, _ ("Preset: %s (if the activation is %s, as assumed)\n"), list,
                                assumed);
      else
        /* TRANSLATORS: %s is a list of preset names */
        g_string_append_printf (s, _ ("Preset: %s\n"), list);
    }
  else
    g_string_append (s, _ ("Preset: none matches\n"));
  assumption = hr_head_get_assumption (head);
  if (assumption != NULL)
    /* TRANSLATORS: %s is the sentence of hr_head_get_assumption() */
    g_string_append_printf (s, _ ("Assumed: %s\n"), assumption);
  for (guint i = 0; i < head->layers->len; i++)
    {
      HrLayer *l = hr_head_layer (head, i);

      g_string_append_printf (s, "  %-10s %-10s", l->name, hr_layer_kind_name (l->kind));
      switch (l->kind)
        {
          case HR_LAYER_LINEAR:
            g_string_append_printf (s, " %zu → %zu%s", l->in, l->out,
                                    l->bias != NULL ? _ (", bias") : _ (", no bias"));
            break;
          case HR_LAYER_BATCH_NORM:
          case HR_LAYER_LAYER_NORM:
            g_string_append_printf (s, " %zu, eps %g%s%s", l->out, l->eps,
                                    l->weight != NULL ? "" : _ (", no weight"),
                                    l->bias != NULL ? "" : _ (", no bias"));
            break;
          case HR_LAYER_LEAKY_RELU:
            /* TRANSLATORS: %g is the negative slope of a LeakyReLU */
            g_string_append_printf (s, _ (" %zu, negative slope %g"), l->out, l->slope);
            break;
          case HR_LAYER_DROPOUT:
            /* TRANSLATORS: after the width of a dropout layer */
            g_string_append_printf (s, _ (" %zu, the identity at inference"), l->out);
            break;
          default:
            g_string_append_printf (s, " %zu", l->out);
            break;
        }
      g_string_append_c (s, '\n');
    }
  return g_string_free (s, FALSE);
}

/* -- presets and specs ------------------------------------------------------------------- */

typedef struct
{
  const char *name;
  const char *spec;
  const char *names; /* the module names, one per layer; NULL: sequential indices, with
                      * dropout accepted in gaps after an activation */
  const char *description;
} HrPreset;

static const HrPreset presets[] = {
  { "viscy-v0", "linear,relu,linear,l2", "0,1,2,normalize",
    N_ ("VisCy before its issue 139 (2024): Linear → ReLU → Linear, then forward's "
        "F.normalize") },
  { "issue139", "linear,bn,relu,linear,bn", "fc1,bn1,relu1,fc2,bn2",
    N_ ("dynacontrast's EncodeProject, proposed in VisCy's issue 139: fc1 (no bias) → bn1 → "
        "relu1 → fc2 (no bias) → bn2") },
  { "viscy-v2", "linear,bn,relu,linear,bn", NULL,
    N_ ("VisCy's ContrastiveEncoder head and projection_mlp() (since 2024-08): Linear → "
        "BatchNorm → ReLU → Linear → BatchNorm") },
  { "viscy-resnet3d", "linear,bn,relu,linear,bn", NULL,
    N_ ("VisCy's ResNet3dEncoder head (projection_mlp()): the same layers as viscy-v2") },
  { "viscy-mlp-ln", "linear,ln,relu,linear,ln", NULL,
    N_ ("VisCy's MLP(norm=\"ln\"): the same as viscy-mlp-ln-relu") },
  { "viscy-mlp-bn-relu", "linear,bn,relu,linear,bn", NULL,
    N_ ("VisCy's MLP(norm=\"bn\", activation=\"relu\"), dropout accepted") },
  { "viscy-mlp-bn-gelu", "linear,bn,gelu,linear,bn", NULL,
    N_ ("VisCy's MLP(norm=\"bn\", activation=\"gelu\"), dropout accepted") },
  { "viscy-mlp-bn-silu", "linear,bn,silu,linear,bn", NULL,
    N_ ("VisCy's MLP(norm=\"bn\", activation=\"silu\"), dropout accepted") },
  { "viscy-mlp-ln-relu", "linear,ln,relu,linear,ln", NULL,
    N_ ("VisCy's MLP(norm=\"ln\", activation=\"relu\"), dropout accepted") },
  { "viscy-mlp-ln-gelu", "linear,ln,gelu,linear,ln", NULL,
    N_ ("VisCy's MLP(norm=\"ln\", activation=\"gelu\"), dropout accepted") },
  { "viscy-mlp-ln-silu", "linear,ln,silu,linear,ln", NULL,
    N_ ("VisCy's MLP(norm=\"ln\", activation=\"silu\"), dropout accepted") },
  { "viscy-cross-modal", "linear,ln,relu,linear,ln,l2", NULL,
    N_ ("VisCy's CrossModalContrastiveHead: image_proj (an MLP with LayerNorm and ReLU), "
        "then F.normalize") },
};

/**
 * hr_head_list_presets:
 *
 * The named heads: `viscy-v0` (VisCy before its issue 139: Linear → ReLU → Linear, then L2
 * normalisation), `issue139` (Linear without bias → BatchNorm → ReLU → Linear without bias
 * → BatchNorm, modules fc1, bn1, relu1, fc2, bn2), `viscy-v2` (VisCy's head today: Linear →
 * BatchNorm → ReLU → Linear → BatchNorm), `viscy-resnet3d` (the same, for the ResNet3d
 * encoder), `viscy-mlp-ln` (VisCy's MLP with LayerNorm), `viscy-mlp-NORM-ACT` for VisCy's
 * MLP with each norm (bn, ln) and activation (relu, gelu, silu), and `viscy-cross-modal`
 * (the cross-modal head: MLP with LayerNorm, then L2 normalisation). Presets whose modules
 * are sequential indices accept Dropout layers in gaps of the indices after an activation;
 * see hr_head_get_preset_description().
 *
 * Returns: (transfer none) (array zero-terminated=1): the preset names
 */
const char *const *
hr_head_list_presets (void)
{
  /* in the order of presets[] (checked by hr_find_preset's callers' tests) */
  static const char *const names[] = { "viscy-v0",
                                       "issue139",
                                       "viscy-v2",
                                       "viscy-resnet3d",
                                       "viscy-mlp-ln",
                                       "viscy-mlp-bn-relu",
                                       "viscy-mlp-bn-gelu",
                                       "viscy-mlp-bn-silu",
                                       "viscy-mlp-ln-relu",
                                       "viscy-mlp-ln-gelu",
                                       "viscy-mlp-ln-silu",
                                       "viscy-cross-modal",
                                       NULL };

  G_STATIC_ASSERT (G_N_ELEMENTS (names) == G_N_ELEMENTS (presets) + 1);
  return names;
}

static const HrPreset *
hr_find_preset (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (presets); i++)
    if (strcmp (presets[i].name, name) == 0)
      return &presets[i];
  return NULL;
}

/**
 * hr_head_get_preset_spec:
 * @preset: a preset name
 *
 * Looks up the architecture spec of a preset.
 *
 * Returns: (nullable): the architecture spec of @preset, or %NULL if there is no such preset
 */
const char *
hr_head_get_preset_spec (const char *preset)
{
  const HrPreset *p;

  g_return_val_if_fail (preset != NULL, NULL);
  p = hr_find_preset (preset);
  return p != NULL ? p->spec : NULL;
}

/**
 * hr_head_get_preset_description:
 * @preset: a preset name
 *
 * Looks up what a preset is, in words (translated).
 *
 * Returns: (nullable): the description of @preset, or %NULL if there is no such preset
 *
 * Since: 0.2
 */
const char *
hr_head_get_preset_description (const char *preset)
{
  const HrPreset *p;

  g_return_val_if_fail (preset != NULL, NULL);
  p = hr_find_preset (preset);
  return p != NULL ? _ (p->description) : NULL;
}

typedef struct
{
  HrLayerKind kind;
  gsize out; /* linear:OUT, 0 when not given */
  double eps;
  double slope;
  char *name; /* from a preset, or NULL */
} HrSpecLayer;

static void
hr_spec_layer_clear (gpointer data)
{
  g_free (((HrSpecLayer *)data)->name);
}

/* The kind a spec token names: the nicks of HrLayerKind, and a few aliases. */
static gboolean
hr_kind_from_token (const char *token, HrLayerKind *kind)
{
  static const struct
  {
    const char *alias;
    HrLayerKind kind;
  } aliases[] = {
    { "batchnorm", HR_LAYER_BATCH_NORM },
    { "layernorm", HR_LAYER_LAYER_NORM },
    { "normalize", HR_LAYER_L2_NORMALIZE },
    { "leakyrelu", HR_LAYER_LEAKY_RELU },
  };
  GEnumClass *klass = g_type_class_ref (HR_TYPE_LAYER_KIND);
  g_autofree char *lower = g_ascii_strdown (token, -1);
  GEnumValue *value = g_enum_get_value_by_nick (klass, lower);

  g_type_class_unref (klass);
  if (value != NULL)
    {
      *kind = value->value;
      return TRUE;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (aliases); i++)
    if (strcmp (lower, aliases[i].alias) == 0)
      {
        *kind = aliases[i].kind;
        return TRUE;
      }
  return FALSE;
}

/* Parses a spec such as "linear:2048,bn,relu,linear:128,bn,l2". */
static GArray *
hr_parse_spec (const char *spec, const char *names, GError **error)
{
  g_autoptr (GArray) layers = g_array_new (FALSE, TRUE, sizeof (HrSpecLayer));
  g_auto (GStrv) tokens = g_strsplit (spec, ",", -1);
  g_auto (GStrv) name_list = names != NULL ? g_strsplit (names, ",", -1) : NULL;

  g_array_set_clear_func (layers, hr_spec_layer_clear);
  for (guint i = 0; tokens[i] != NULL; i++)
    {
      char *token = g_strstrip (tokens[i]);
      char *arg = strchr (token, ':');
      HrSpecLayer layer = { 0 };

      if (arg != NULL)
        *arg++ = '\0';
      if (g_ascii_strcasecmp (token, "gelu") == 0 && arg != NULL
          && g_ascii_strcasecmp (arg, "tanh") == 0)
        {
          token = (char *)"gelu-tanh";
          arg = NULL;
        }
      if (!hr_kind_from_token (token, &layer.kind))
        {
          /* TRANSLATORS: %u is the position of the token (1 = first), %s the token */
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
                       _ ("token %u “%s” of the architecture is not a layer (linear:OUT, bn, ln, "
                          "relu, gelu, gelu-tanh, silu, leaky-relu[:SLOPE], tanh, identity, "
                          "dropout, l2)"),
                       i + 1, token);
          return NULL;
        }
      layer.eps = 1e-5;
      layer.slope = 0.01;
      if (arg != NULL)
        {
          char *end = NULL;
          guint64 value;
          double number;

          if (layer.kind == HR_LAYER_LINEAR && g_ascii_isdigit (*arg)
              && (value = g_ascii_strtoull (arg, &end, 10)) > 0 && *end == '\0'
              && value < G_MAXUINT32)
            layer.out = (gsize)value;
          else if ((layer.kind == HR_LAYER_BATCH_NORM || layer.kind == HR_LAYER_LAYER_NORM)
                   && g_str_has_prefix (arg, "eps=")
                   && ((layer.eps = g_ascii_strtod (arg + 4, &end)), *end == '\0') && layer.eps >= 0
                   && isfinite (layer.eps))
            ;
          else if (layer.kind == HR_LAYER_LEAKY_RELU && *arg != '\0'
                   && ((number
                        = g_ascii_strtod (g_str_has_prefix (arg, "slope=") ? arg + 6 : arg, &end)),
                       *end == '\0')
                   && isfinite (number))
            layer.slope = number;
          else if (layer.kind == HR_LAYER_DROPOUT && *arg != '\0'
                   && ((number
                        = g_ascii_strtod (g_str_has_prefix (arg, "p=") ? arg + 2 : arg, &end)),
                       *end == '\0')
                   && number >= 0 && number < 1)
            ; /* the rate does not matter at inference */
          else
            {
              g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
                           _ ("token %u “%s:%s” of the architecture has a bad argument"), i + 1,
                           token, arg);
              return NULL;
            }
        }
      if (name_list != NULL && i < g_strv_length (name_list))
        layer.name = g_strdup (name_list[i]);
      g_array_append_val (layers, layer);
    }
  if (layers->len == 0 || (layers->len == 1 && *tokens[0] == '\0'))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC, _ ("the architecture is empty"));
      return NULL;
    }
  return g_steal_pointer (&layers);
}

/* Whether the layers of @head (dropout left out) are those of @preset. */
static gboolean
hr_head_matches_preset (HrHead *head, const HrPreset *preset)
{
  g_autoptr (GArray) spec = hr_parse_spec (preset->spec, preset->names, NULL);
  guint k = 0;

  g_assert (spec != NULL);
  for (guint i = 0; i < head->layers->len; i++)
    {
      HrLayer *l = hr_head_layer (head, i);
      const HrSpecLayer *s;

      if (l->kind == HR_LAYER_DROPOUT && preset->names == NULL)
        continue;
      if (k >= spec->len)
        return FALSE;
      s = &g_array_index (spec, HrSpecLayer, k++);
      if (s->kind != l->kind)
        return FALSE;
      if (hr_layer_has_parameters (l->kind)
          && (s->name != NULL ? strcmp (s->name, l->name) != 0 : !hr_is_integer (l->name)))
        return FALSE;
    }
  return k == spec->len;
}

/**
 * hr_head_match_presets:
 * @head: a #HrHead
 *
 * Finds the presets whose layers the head has (Dropout layers aside, for the presets that
 * accept them; module names where a preset fixes them). Widths and epsilons are not compared.
 *
 * Returns: (transfer full) (array zero-terminated=1): the names of the matching presets, in
 *   the order of hr_head_list_presets(); empty when none matches
 *
 * Since: 0.2
 */
char **
hr_head_match_presets (HrHead *head)
{
  GPtrArray *names;

  g_return_val_if_fail (HR_IS_HEAD (head), NULL);

  names = g_ptr_array_new ();
  for (gsize i = 0; i < G_N_ELEMENTS (presets); i++)
    if (hr_head_matches_preset (head, &presets[i]))
      g_ptr_array_add (names, g_strdup (presets[i].name));
  g_ptr_array_add (names, NULL);
  return (char **)g_ptr_array_free (names, FALSE);
}

/* -- loading from a state dict ----------------------------------------------------------- */

typedef struct
{
  char *name; /* module name under the prefix */
  HrLayerKind kind;
  char *weight, *bias, *running_mean, *running_var; /* tensor names, NULL when absent */
} HrModule;

static void
hr_module_free (gpointer data)
{
  HrModule *m = data;

  g_free (m->name);
  g_free (m->weight);
  g_free (m->bias);
  g_free (m->running_mean);
  g_free (m->running_var);
  g_free (m);
}

/* Whether a module name is a sequential index ("0", "12"); at most 9 digits, so that
 * index + 1 cannot overflow. */
static gboolean
hr_is_integer (const char *s)
{
  gsize n = 0;

  if (*s == '\0')
    return FALSE;
  for (; *s != '\0'; s++, n++)
    if (!g_ascii_isdigit (*s) || n >= 9)
      return FALSE;
  return TRUE;
}

/* The trailing number of a module name ("fc12" → 12), or -1. */
static gint64
hr_trailing_number (const char *s)
{
  const char *end = s + strlen (s), *p = end;

  while (p > s && g_ascii_isdigit (p[-1]))
    p--;
  return p < end ? g_ascii_strtoll (p, NULL, 10) : -1;
}

static int
hr_module_compare (gconstpointer a, gconstpointer b)
{
  const HrModule *ma = *(HrModule *const *)a, *mb = *(HrModule *const *)b;
  gint64 na = hr_trailing_number (ma->name), nb = hr_trailing_number (mb->name);
  gboolean ia = hr_is_integer (ma->name), ib = hr_is_integer (mb->name);

  if (ia && ib)
    return na < nb ? -1 : na > nb;
  if (na != nb)
    return na < nb ? -1 : 1;
  /* fc1 before bn1: the Linear comes first in a block */
  if ((ma->kind == HR_LAYER_LINEAR) != (mb->kind == HR_LAYER_LINEAR))
    return ma->kind == HR_LAYER_LINEAR ? -1 : 1;
  return strcmp (ma->name, mb->name);
}

/* The modules of the tensors under @prefix, classified and in order; NULL (and no error)
 * when the prefix holds no tensor, NULL with @error when it holds something else. */
static GPtrArray *
hr_collect_modules (HrTensorFile *tf, const char *prefix, GError **error)
{
  g_auto (GStrv) names = hr_tensor_file_get_names (tf);
  g_autoptr (GHashTable) by_name = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) modules = g_ptr_array_new_with_free_func (hr_module_free);
  gsize prefix_len = strlen (prefix);
  const char *path = hr_tensor_file_get_path (tf);

  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *rest, *dot, *param;
      g_autofree char *module_name = NULL;
      HrModule *m;

      if (!g_str_has_prefix (names[i], prefix))
        continue;
      rest = names[i] + prefix_len;
      dot = strrchr (rest, '.');
      if (dot == NULL || dot == rest)
        {
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                       _ ("%s: tensor %s is not a parameter of a module under “%s”"), path,
                       names[i], prefix);
          return NULL;
        }
      module_name = g_strndup (rest, dot - rest);
      if (strchr (module_name, '.') != NULL)
        {
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                       _ ("%s: tensor %s lies deeper than the modules of a head under “%s”"), path,
                       names[i], prefix);
          return NULL;
        }
      param = dot + 1;
      m = g_hash_table_lookup (by_name, module_name);
      if (m == NULL)
        {
          m = g_new0 (HrModule, 1);
          m->name = g_steal_pointer (&module_name);
          g_ptr_array_add (modules, m);
          g_hash_table_insert (by_name, m->name, m);
        }
      if (strcmp (param, "weight") == 0)
        m->weight = g_strdup (names[i]);
      else if (strcmp (param, "bias") == 0)
        m->bias = g_strdup (names[i]);
      else if (strcmp (param, "running_mean") == 0)
        m->running_mean = g_strdup (names[i]);
      else if (strcmp (param, "running_var") == 0)
        m->running_var = g_strdup (names[i]);
      else if (strcmp (param, "num_batches_tracked") == 0)
        ;
      else
        {
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                       _ ("%s: tensor %s is not a parameter of a Linear or a norm layer"), path,
                       names[i]);
          return NULL;
        }
    }
  if (modules->len == 0)
    return NULL;

  for (guint i = 0; i < modules->len; i++)
    {
      HrModule *m = g_ptr_array_index (modules, i);
      gsize n_dims = 0;

      if (m->weight != NULL)
        hr_tensor_file_get_shape (tf, m->weight, &n_dims);
      if (m->running_mean != NULL || m->running_var != NULL)
        m->kind = HR_LAYER_BATCH_NORM;
      else if (m->weight != NULL && n_dims == 2)
        m->kind = HR_LAYER_LINEAR;
      else if (m->weight != NULL && n_dims == 1)
        m->kind = HR_LAYER_LAYER_NORM;
      else
        {
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                       _ ("%s: module %s%s is neither a Linear (2-D weight) nor a norm layer"),
                       path, prefix, m->name);
          return NULL;
        }
    }
  g_ptr_array_sort (modules, hr_module_compare);
  return g_steal_pointer (&modules);
}

/**
 * hr_head_list_known_prefixes:
 *
 * The prefixes under which a head's tensors are looked for first, in order
 * (`model.projection.backbone.`, `projection.backbone.`, `model.projection.`, `projection.`,
 * `backbone.`). The list is data/head-prefixes.txt of the source tree, compiled in; that
 * file, which tools/extract-head.py reads too, says how heads elsewhere are found (see
 * hr_head_find_prefixes()).
 *
 * Returns: (transfer none) (array zero-terminated=1): the known prefixes
 *
 * Since: 0.2
 */
const char *const *
hr_head_list_known_prefixes (void)
{
  return hr_known_prefixes;
}

/* Whether the modules of a candidate prefix form a head: Linear and norm layers, starting
 * with a Linear, whose widths chain, with at least @min_linear Linear layers. */
static gboolean
hr_modules_chain (HrTensorFile *tf, GPtrArray *modules, guint min_linear)
{
  guint n_linear = 0;
  gint64 width = -1;

  for (guint i = 0; i < modules->len; i++)
    {
      const HrModule *m = g_ptr_array_index (modules, i);
      gsize n_dims = 0;
      const gint64 *shape;

      if (m->kind == HR_LAYER_LINEAR)
        {
          shape = hr_tensor_file_get_shape (tf, m->weight, &n_dims);
          if (n_dims != 2 || (width >= 0 && shape[1] != width))
            return FALSE;
          width = shape[0];
          n_linear++;
        }
      else
        {
          const char *t = m->running_mean != NULL ? m->running_mean : m->weight;

          if (i == 0 || t == NULL)
            return FALSE;
          if ((gint64)hr_tensor_file_get_n_elements (tf, t) != width)
            return FALSE;
        }
    }
  return n_linear >= min_linear;
}

static int
hr_compare_prefixes (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* Whether a path has a component that is a number ("blocks.3.mlp."). */
static gboolean
hr_prefix_has_index (const char *prefix)
{
  g_auto (GStrv) parts = g_strsplit (prefix, ".", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    if (hr_is_integer (parts[i]))
      return TRUE;
  return FALSE;
}

/**
 * hr_head_find_prefixes:
 * @weights: the tensors of a state dict
 *
 * Finds the projection heads in a state dict: the known prefixes
 * (hr_head_list_known_prefixes()) under which Linear and norm modules lie, at least one of
 * them a Linear; then any other parent of modules that are all Linear or norm layers, at
 * least two of them Linear layers whose widths chain, with no deeper tensors under it and
 * no number in its path (which marks one block of an encoder's repeated stack) —
 * `image_proj.backbone.`, `auxiliary_heads.NAME.` —; and "" (the top level) when the file
 * holds such modules there.
 *
 * Returns: (transfer full) (array zero-terminated=1): the prefixes of the heads found,
 *   known ones first, then the others sorted; empty when there is none
 *
 * Since: 0.2
 */
char **
hr_head_find_prefixes (HrTensorFile *weights)
{
  g_auto (GStrv) names = NULL;
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) others = NULL;
  g_autoptr (GHashTable) parents = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  g_return_val_if_fail (HR_IS_TENSOR_FILE (weights), NULL);

  for (guint i = 0; hr_known_prefixes[i] != NULL; i++)
    {
      g_autoptr (GError) local = NULL;
      g_autoptr (GPtrArray) modules = hr_collect_modules (weights, hr_known_prefixes[i], &local);

      if (modules != NULL && hr_modules_chain (weights, modules, 1))
        g_ptr_array_add (found, g_strdup (hr_known_prefixes[i]));
    }

  /* every parent of a MODULE.PARAMETER */
  names = hr_tensor_file_get_names (weights);
  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *end = strrchr (names[i], '.'), *start;

      if (end == NULL)
        continue;
      start = end;
      while (start > names[i] && start[-1] != '.')
        start--;
      g_hash_table_add (parents, g_strndup (names[i], start - names[i]));
    }
  {
    GHashTableIter iter;
    gpointer key;

    others = g_ptr_array_new ();
    g_hash_table_iter_init (&iter, parents);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (others, key);
    g_ptr_array_sort (others, hr_compare_prefixes);
  }
  for (guint i = 0; i < others->len; i++)
    {
      const char *parent = g_ptr_array_index (others, i);
      g_autoptr (GError) local = NULL;
      g_autoptr (GPtrArray) modules = NULL;
      gboolean known = FALSE;

      for (guint j = 0; j < found->len; j++)
        known |= strcmp (g_ptr_array_index (found, j), parent) == 0;
      if (known || hr_prefix_has_index (parent))
        continue;
      modules = hr_collect_modules (weights, parent, &local);
      if (modules != NULL && hr_modules_chain (weights, modules, *parent == '\0' ? 1 : 2))
        g_ptr_array_add (found, g_strdup (parent));
    }
  g_ptr_array_add (found, NULL);
  return (char **)g_ptr_array_steal (found, NULL);
}

/* Finds the modules of the head's tensors under @prefix, or, when the caller gave none,
 * under the one prefix hr_head_find_prefixes() finds. */
static GPtrArray *
hr_find_modules (HrTensorFile *tf, const char *prefix, char **found_prefix, GError **error)
{
  g_autofree char *given = NULL;
  g_auto (GStrv) candidates = NULL;
  guint n;

  if (prefix != NULL)
    {
      GPtrArray *modules;

      given = *prefix == '\0' || g_str_has_suffix (prefix, ".") ? g_strdup (prefix)
                                                                : g_strconcat (prefix, ".", NULL);
      modules = hr_collect_modules (tf, given, error);
      if (modules == NULL && (error == NULL || *error == NULL))
        g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                     _ ("%s: no tensor starts with “%s”"), hr_tensor_file_get_path (tf), given);
      if (modules != NULL)
        *found_prefix = g_steal_pointer (&given);
      return modules;
    }

  candidates = hr_head_find_prefixes (tf);
  n = g_strv_length (candidates);
  if (n == 1)
    {
      *found_prefix = g_strdup (candidates[0]);
      return hr_collect_modules (tf, candidates[0], error);
    }
  if (n > 1)
    {
      GString *list = g_string_new (NULL);

      for (guint i = 0; i < n; i++)
        g_string_append_printf (list, "%s“%s”", i > 0 ? ", " : "", candidates[i]);
      /* TRANSLATORS: %u is a number (at least 2), %s a list of prefixes */
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                   _ ("%s holds %u projection heads, under %s: choose one with the prefix "
                      "(--prefix)"),
                   hr_tensor_file_get_path (tf), n, list->str);
      g_string_free (list, TRUE);
      return NULL;
    }
  g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
               _ ("%s: no projection head among the tensors (looked under projection., "
                  "model.projection., projection.backbone., backbone., at the top, and for "
                  "Linear layers whose widths chain anywhere); give the prefix (--prefix)"),
               hr_tensor_file_get_path (tf));
  return NULL;
}

static GBytes *
hr_read_tensor (HrTensorFile *tf, const char *name, gsize expected, GError **error)
{
  gsize n_dims;
  const gint64 *shape;
  gsize n;

  if (name == NULL)
    return NULL;
  shape = hr_tensor_file_get_shape (tf, name, &n_dims);
  n = hr_tensor_file_get_n_elements (tf, name);
  if (n != expected || (n_dims > 2))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                   _ ("%s: tensor %s has %zu values (shape of %zu dimensions, first %lld), the "
                      "layer needs %zu"),
                   hr_tensor_file_get_path (tf), name, n, n_dims,
                   n_dims > 0 ? (long long)shape[0] : 0LL, expected);
      return NULL;
    }
  {
    GError *local = NULL;
    GBytes *bytes = hr_tensor_file_read_float (tf, name, &local);

    /* NaN or Inf in a weight is the head's problem to report: HR_HEAD_ERROR_NON_FINITE,
     * with the tensor file's message (which names the file and the tensor). */
    if (local != NULL && g_error_matches (local, HR_TENSOR_ERROR, HR_TENSOR_ERROR_NON_FINITE))
      {
        g_set_error_literal (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NON_FINITE, local->message);
        g_error_free (local);
      }
    else if (local != NULL)
      g_propagate_error (error, local);
    return bytes;
  }
}

/* Prefixes an error from building a layer with the file and tensor it came from. */
static void
hr_prefix_error (GError **error, const char *path, const char *prefix, const char *module)
{
  if (error != NULL && *error != NULL && (*error)->domain == HR_HEAD_ERROR
      && !g_str_has_prefix ((*error)->message, path))
    g_prefix_error (error, "%s: %s%s: ", path, prefix, module);
}

static gboolean
hr_head_load_module (HrHead *head, HrTensorFile *tf, const char *prefix, const HrModule *m,
                     const HrSpecLayer *spec, GError **error)
{
  const char *path = hr_tensor_file_get_path (tf);
  g_autoptr (GBytes) weight = NULL, bias = NULL, mean = NULL, var = NULL;
  gboolean ok;
  gsize n;

  if (spec != NULL && spec->kind != m->kind)
    {
      if (spec->kind == HR_LAYER_BATCH_NORM && m->kind == HR_LAYER_LAYER_NORM)
        g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                     _ ("%s: BatchNorm %s%s has no running statistics (running_mean, running_var)"),
                     path, prefix, m->name);
      else
        g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                     _ ("%s: the architecture wants a %s layer where module %s%s is a %s"), path,
                     hr_layer_kind_name (spec->kind), prefix, m->name,
                     hr_layer_kind_name (m->kind));
      return FALSE;
    }

  switch (m->kind)
    {
      case HR_LAYER_LINEAR:
        {
          gsize n_dims;
          const gint64 *shape = hr_tensor_file_get_shape (tf, m->weight, &n_dims);
          gsize out = (gsize)shape[0], in = (gsize)shape[1];

          if (spec != NULL && spec->out != 0 && spec->out != out)
            {
              g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                           _ ("%s: Linear %s%s has %zu outputs, the architecture says %zu"), path,
                           prefix, m->name, out, spec->out);
              return FALSE;
            }
          if ((weight = hr_read_tensor (tf, m->weight, out * in, error)) == NULL)
            return FALSE;
          if (m->bias != NULL && (bias = hr_read_tensor (tf, m->bias, out, error)) == NULL)
            return FALSE;
          ok = hr_head_append_linear (head, m->name, in, out, weight, bias, error);
          break;
        }
      case HR_LAYER_BATCH_NORM:
        if (m->running_mean == NULL || m->running_var == NULL)
          {
            g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                         _ ("%s: BatchNorm %s%s lacks its %s"), path, prefix, m->name,
                         m->running_mean == NULL ? "running_mean" : "running_var");
            return FALSE;
          }
        n = hr_tensor_file_get_n_elements (tf, m->running_mean);
        if ((mean = hr_read_tensor (tf, m->running_mean, n, error)) == NULL
            || (var = hr_read_tensor (tf, m->running_var, n, error)) == NULL
            || (m->weight != NULL && (weight = hr_read_tensor (tf, m->weight, n, error)) == NULL)
            || (m->bias != NULL && (bias = hr_read_tensor (tf, m->bias, n, error)) == NULL))
          return FALSE;
        ok = hr_head_append_batch_norm (head, m->name, n, weight, bias, mean, var,
                                        spec != NULL ? spec->eps : 1e-5, error);
        break;
      case HR_LAYER_LAYER_NORM:
        n = hr_tensor_file_get_n_elements (tf, m->weight);
        if ((weight = hr_read_tensor (tf, m->weight, n, error)) == NULL
            || (m->bias != NULL && (bias = hr_read_tensor (tf, m->bias, n, error)) == NULL))
          return FALSE;
        ok = hr_head_append_layer_norm (head, m->name, n, weight, bias,
                                        spec != NULL ? spec->eps : 1e-5, error);
        break;
      default:
        g_assert_not_reached ();
    }
  if (!ok)
    hr_prefix_error (error, path, prefix, m->name);
  return ok;
}

/* The name of a layer without parameters at position @position: "normalize" for an L2
 * normalisation after the last module (F.normalize in forward), else the free index
 * between its neighbours' numeric names ("2" between "1" and "3"), else the kind and the
 * number of the module before it ("relu1" after "bn1"), else the kind and the position. */
static char *
hr_parameterless_name (HrHead *head, HrLayerKind kind, const char *next_module)
{
  const char *kind_name = kind == HR_LAYER_L2_NORMALIZE ? "normalize" : hr_layer_kind_name (kind);

  if (kind == HR_LAYER_L2_NORMALIZE && next_module == NULL
      && hr_head_find_stage (head, "normalize") < 0)
    return g_strdup ("normalize");
  if (head->layers->len > 0)
    {
      const char *previous = hr_head_layer (head, head->layers->len - 1)->name;

      if (hr_is_integer (previous))
        {
          gint64 p = g_ascii_strtoll (previous, NULL, 10);

          if (next_module == NULL || !hr_is_integer (next_module)
              || g_ascii_strtoll (next_module, NULL, 10) > p + 1)
            {
              /* the free index, unless a layer already has it */
              g_autofree char *candidate = g_strdup_printf ("%" G_GINT64_FORMAT, p + 1);
              if (next_module == NULL || strcmp (candidate, next_module) != 0)
                return g_steal_pointer (&candidate);
            }
        }
      else if (hr_trailing_number (previous) >= 0)
        return g_strdup_printf ("%s%" G_GINT64_FORMAT, kind_name, hr_trailing_number (previous));
    }
  return g_strdup_printf ("%s%u", kind_name, head->layers->len);
}

/* Appends a layer without parameters as a spec describes it. */
static gboolean
hr_head_append_spec_layer (HrHead *head, const char *name, const HrSpecLayer *s, GError **error)
{
  if (s->kind == HR_LAYER_LEAKY_RELU)
    return hr_head_append_leaky_relu (head, name, s->slope, error);
  return hr_head_append_activation (head, name, s->kind, error);
}

/* The index of the last layer's name, or -1 when it is not a sequential index. */
static gint64
hr_head_last_index (HrHead *head)
{
  const char *name;

  if (head->layers->len == 0)
    return -1;
  name = hr_head_layer (head, head->layers->len - 1)->name;
  return hr_is_integer (name) ? g_ascii_strtoll (name, NULL, 10) : -1;
}

/* Before module @m, with sequential indices: modules missing between the last layer and @m
 * (nn.Dropout has no tensors) become Dropout layers, where an activation or a dropout
 * precedes them, as in VisCy's MLP; anywhere else a gap means a layer the architecture does
 * not name. */
static gboolean
hr_head_fill_gap (HrHead *head, const char *path, const char *prefix, const char *arch,
                  const HrModule *m, GError **error)
{
  gint64 last = hr_head_last_index (head), next;
  HrLayerKind previous;

  if (last < 0 || !hr_is_integer (m->name))
    return TRUE;
  next = g_ascii_strtoll (m->name, NULL, 10);
  if (next <= last + 1)
    return TRUE;
  previous = hr_head_layer (head, head->layers->len - 1)->kind;
  if (!hr_layer_kind_is_activation (previous) && previous != HR_LAYER_DROPOUT)
    {
      /* TRANSLATORS: %s are the file, the architecture, the prefix; %lld a module index */
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                   _ ("%s: %s has no layer for module %s%lld (between %s%lld and %s%s), which "
                      "has no tensors: give the architecture with the layer there"),
                   path, arch, prefix, (long long)(last + 1), prefix, (long long)last, prefix,
                   m->name);
      return FALSE;
    }
  for (gint64 k = last + 1; k < next; k++)
    {
      g_autofree char *name = g_strdup_printf ("%" G_GINT64_FORMAT, k);

      if (!hr_head_append_activation (head, name, HR_LAYER_DROPOUT, error))
        return FALSE;
    }
  return TRUE;
}

/* Builds @head from @modules as @spec says. */
static gboolean
hr_head_load_spec (HrHead *head, HrTensorFile *weights, GPtrArray *modules, GArray *spec,
                   const char *arch, gboolean sequential, const char *prefix, GError **error)
{
  const char *path = hr_tensor_file_get_path (weights);
  guint n_parameterised = 0, next_module = 0;

  for (guint i = 0; i < spec->len; i++)
    n_parameterised += hr_layer_has_parameters (g_array_index (spec, HrSpecLayer, i).kind);
  if (n_parameterised != modules->len)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                   _ ("%s: the architecture has %u layers with weights, the file has %u "
                      "modules under “%s”"),
                   path, n_parameterised, modules->len, prefix);
      return FALSE;
    }
  for (guint i = 0; i < spec->len; i++)
    {
      const HrSpecLayer *s = &g_array_index (spec, HrSpecLayer, i);

      if (hr_layer_has_parameters (s->kind))
        {
          const HrModule *m = g_ptr_array_index (modules, next_module++);

          if (s->name != NULL && strcmp (s->name, m->name) != 0)
            {
              g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                           _ ("%s: %s expects module %s%s where the file has %s%s"), path, arch,
                           prefix, s->name, prefix, m->name);
              return FALSE;
            }
          if (sequential && !hr_is_integer (m->name))
            {
              /* TRANSLATORS: %s are the file, a preset name, the prefix and a module name */
              g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                           _ ("%s: %s expects modules numbered 0, 1, … where the file has %s%s"),
                           path, arch, prefix, m->name);
              return FALSE;
            }
          if (!hr_head_fill_gap (head, path, prefix, arch, m, error)
              || !hr_head_load_module (head, weights, prefix, m, s, error))
            return FALSE;
        }
      else
        {
          const HrModule *next
              = next_module < modules->len ? g_ptr_array_index (modules, next_module) : NULL;
          g_autofree char *name
              = s->name != NULL
                    ? g_strdup (s->name)
                    : hr_parameterless_name (head, s->kind, next != NULL ? next->name : NULL);

          if (!hr_head_append_spec_layer (head, name, s, error))
            {
              g_prefix_error (error, "%s: ", path);
              return FALSE;
            }
        }
    }
  return TRUE;
}

/* Builds @head from @modules alone: an activation (@activation, else an assumed ReLU)
 * where the indices leave room for a layer without tensors, Dropout in the rest of the
 * room; with names, an activation between a norm and the next Linear. */
static gboolean
hr_head_load_inferred (HrHead *head, HrTensorFile *weights, GPtrArray *modules,
                       const HrSpecLayer *activation, const char *prefix, GError **error)
{
  HrSpecLayer relu = { HR_LAYER_RELU, 0, 1e-5, 0.01, NULL };
  const HrSpecLayer *act = activation != NULL ? activation : &relu;

  for (guint i = 0; i < modules->len; i++)
    {
      const HrModule *m = g_ptr_array_index (modules, i);

      if (i > 0)
        {
          const HrModule *previous = g_ptr_array_index (modules, i - 1);
          gboolean indexed = hr_is_integer (previous->name) && hr_is_integer (m->name);
          gint64 gap = indexed ? g_ascii_strtoll (m->name, NULL, 10)
                                     - g_ascii_strtoll (previous->name, NULL, 10) - 1
                               : 0;

          if ((indexed && gap > 0)
              || (!indexed && m->kind == HR_LAYER_LINEAR && previous->kind != HR_LAYER_LINEAR))
            {
              g_autofree char *name = hr_parameterless_name (head, act->kind, m->name);

              if (!hr_head_append_spec_layer (head, name, act, error))
                return FALSE;
              if (activation == NULL)
                head->activation_assumed = TRUE;
              for (gint64 k = 1; k < gap; k++)
                {
                  g_autofree char *dropout
                      = hr_parameterless_name (head, HR_LAYER_DROPOUT, m->name);
                  hr_head_append_activation (head, dropout, HR_LAYER_DROPOUT, NULL);
                }
            }
        }
      if (!hr_head_load_module (head, weights, prefix, m, NULL, error))
        return FALSE;
    }
  return TRUE;
}

/* The activation a caller gave: one spec token of an activation (or identity). */
static GArray *
hr_parse_activation (const char *activation, GError **error)
{
  g_autoptr (GArray) spec = NULL;
  HrLayerKind kind;

  if (strchr (activation, ',') == NULL && (spec = hr_parse_spec (activation, NULL, NULL)) != NULL
      && ((kind = g_array_index (spec, HrSpecLayer, 0).kind),
          hr_layer_kind_is_activation (kind) || kind == HR_LAYER_IDENTITY))
    return g_steal_pointer (&spec);
  /* TRANSLATORS: %s is what was given; keep the names of the activations */
  g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
               _ ("“%s” is not an activation (relu, gelu, gelu-tanh, silu, leaky-relu[:SLOPE], "
                  "tanh, identity)"),
               activation);
  return NULL;
}

/**
 * hr_head_new_from_tensors_full:
 * @weights: the tensors of a state dict
 * @arch: (nullable): a preset name (hr_head_list_presets()), an architecture spec such as
 *   `linear:2048,bn,relu,linear:128,bn,l2`, or %NULL for the architecture the file's
 *   `__metadata__` states (key `arch`), else inferred from the tensors
 * @prefix: (nullable): the prefix of the head's tensors ("projection.",
 *   "model.projection.", …), or %NULL to find it (hr_head_find_prefixes(); a file with
 *   several heads needs it)
 * @activation: (nullable): for an inferred architecture, the activation: `relu`, `gelu`,
 *   `gelu-tanh`, `silu`, `leaky-relu[:SLOPE]`, `tanh` or `identity`; %NULL to assume ReLU
 *   (hr_head_get_activation_assumed() then says so). It is an error with @arch, or with a
 *   file that states its architecture.
 * @error: return location for a #GError
 *
 * Builds a head from the tensors of a state dict as PyTorch writes it: module names are
 * sequential indices ("0.weight", "1.running_mean", …; activations and Dropout have no
 * tensors) or names ("fc1.weight", "bn1.running_var", …). A 2-D weight is a Linear, a
 * module with running statistics a BatchNorm, a 1-D weight without them a LayerNorm.
 *
 * With @arch, or the file's `arch` metadata, the layers without tensors are the
 * architecture's; a gap in sequential indices after an activation holds Dropout layers
 * (VisCy's MLP with `dropout` > 0).
 *
 * Inferred, the activation goes where the indices leave room for a layer without tensors
 * (more room holds Dropout), or, with names, between a norm and the next Linear. Tensors do
 * not show the activation nor an L2 normalisation at the end: hr_head_get_assumption() says
 * what was assumed, and hr_head_describe() shows it.
 *
 * Returns: (transfer full): a new #HrHead, or %NULL with @error set (in %HR_HEAD_ERROR,
 *   naming the file and the tensor, or in %HR_TENSOR_ERROR)
 *
 * Since: 0.2
 */
HrHead *
hr_head_new_from_tensors_full (HrTensorFile *weights, const char *arch, const char *prefix,
                               const char *activation, GError **error)
{
  g_autoptr (HrHead) head = hr_head_new ();
  g_autoptr (GPtrArray) modules = NULL;
  g_autoptr (GArray) spec = NULL, act = NULL;
  g_autofree char *found_prefix = NULL;
  g_auto (GStrv) keys = NULL;
  const char *path, *stated = NULL, *stated_prefix;
  const HrPreset *preset = NULL;

  g_return_val_if_fail (HR_IS_TENSOR_FILE (weights), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  path = hr_tensor_file_get_path (weights);
  if (arch != NULL && activation != NULL)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
                   _ ("the activation is for an inferred architecture: give it in the "
                      "architecture instead"));
      return NULL;
    }
  if (activation != NULL && (act = hr_parse_activation (activation, error)) == NULL)
    return NULL;

  modules = hr_find_modules (weights, prefix, &found_prefix, error);
  if (modules == NULL)
    return NULL;

  keys = hr_tensor_file_get_metadata_keys (weights);
  if (keys[0] != NULL)
    {
      head->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      for (guint i = 0; keys[i] != NULL; i++)
        g_hash_table_insert (head->metadata, g_strdup (keys[i]),
                             g_strdup (hr_tensor_file_get_metadata (weights, keys[i])));
    }
  /* the architecture the file states, for the head under the prefix it names */
  stated_prefix = hr_tensor_file_get_metadata (weights, "prefix");
  if (arch == NULL && (stated = hr_tensor_file_get_metadata (weights, "arch")) != NULL
      && stated_prefix != NULL && strcmp (stated_prefix, found_prefix) != 0)
    stated = NULL;
  if (stated != NULL && activation != NULL)
    {
      /* TRANSLATORS: %s are the file and the architecture it states */
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
                   _ ("%s states its architecture (%s): the activation is only for heads whose "
                      "file does not; give the architecture to override it"),
                   path, stated);
      return NULL;
    }

  if (arch != NULL || stated != NULL)
    {
      const char *a = arch != NULL ? arch : stated;

      preset = hr_find_preset (a);
      spec = hr_parse_spec (preset != NULL ? preset->spec : a,
                            preset != NULL ? preset->names : NULL, error);
      if (spec == NULL)
        {
          if (stated != NULL)
            g_prefix_error (error, _ ("%s: the architecture in the file's metadata: "), path);
          return NULL;
        }
      if (!hr_head_load_spec (head, weights, modules, spec, a,
                              preset != NULL && preset->names == NULL, found_prefix, error))
        return NULL;
      head->arch_source = arch != NULL ? HR_ARCH_SOURCE_GIVEN : HR_ARCH_SOURCE_METADATA;
    }
  else
    {
      if (!hr_head_load_inferred (head, weights, modules,
                                  act != NULL ? &g_array_index (act, HrSpecLayer, 0) : NULL,
                                  found_prefix, error))
        return NULL;
      head->arch_source = HR_ARCH_SOURCE_INFERRED;
      head->activation_given = act != NULL;
    }

  head->prefix = g_strdup (found_prefix);
  head->source = g_strdup_printf (
      /* TRANSLATORS: the file, the prefix, then the architecture: a preset name, a spec, or
         how it was known */
      _ ("%s, prefix “%s”, architecture %s"), path, found_prefix,
      arch != NULL               ? arch
      : stated != NULL           ? _ ("from the file's metadata")
      : head->activation_assumed ? _ ("inferred, activation assumed")
      : act != NULL              ? _ ("inferred, activation given")
                                 : _ ("inferred"));
  return g_steal_pointer (&head);
}

/**
 * hr_head_new_from_tensors:
 * @weights: the tensors of a state dict
 * @arch: (nullable): a preset name (hr_head_list_presets()), an architecture spec such as
 *   `linear:2048,bn,relu,linear:128,bn,l2`, or %NULL for the one the file states, else
 *   inferred
 * @prefix: (nullable): the prefix of the head's tensors ("projection.",
 *   "model.projection.", …), or %NULL to find it
 * @error: return location for a #GError
 *
 * Builds a head from the tensors of a state dict; see hr_head_new_from_tensors_full(), of
 * which this is the form without a given activation.
 *
 * Returns: (transfer full): a new #HrHead, or %NULL with @error set (in %HR_HEAD_ERROR,
 *   naming the file and the tensor, or in %HR_TENSOR_ERROR)
 */
HrHead *
hr_head_new_from_tensors (HrTensorFile *weights, const char *arch, const char *prefix,
                          GError **error)
{
  return hr_head_new_from_tensors_full (weights, arch, prefix, NULL, error);
}

/**
 * hr_head_new_from_file_full:
 * @path: (type filename): a safetensors file
 * @arch: (nullable): a preset name, an architecture spec, or %NULL for the one the file
 *   states, else inferred
 * @prefix: (nullable): the prefix of the head's tensors, or %NULL to find it
 * @activation: (nullable): for an inferred architecture, the activation (see
 *   hr_head_new_from_tensors_full()), or %NULL to assume ReLU
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads a head from a safetensors file; see hr_head_new_from_tensors_full().
 *
 * Returns: (transfer full): a new #HrHead, or %NULL with @error set
 *
 * Since: 0.2
 */
HrHead *
hr_head_new_from_file_full (const char *path, const char *arch, const char *prefix,
                            const char *activation, GCancellable *cancellable, GError **error)
{
  g_autoptr (HrTensorFile) tf = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  tf = hr_tensor_file_new (path, cancellable, error);
  if (tf == NULL)
    return NULL;
  return hr_head_new_from_tensors_full (tf, arch, prefix, activation, error);
}

/**
 * hr_head_new_from_file:
 * @path: (type filename): a safetensors file
 * @arch: (nullable): a preset name, an architecture spec, or %NULL for the one the file
 *   states, else inferred
 * @prefix: (nullable): the prefix of the head's tensors, or %NULL to find it
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads a head from a safetensors file; see hr_head_new_from_tensors_full().
 *
 * Returns: (transfer full): a new #HrHead, or %NULL with @error set
 */
HrHead *
hr_head_new_from_file (const char *path, const char *arch, const char *prefix,
                       GCancellable *cancellable, GError **error)
{
  return hr_head_new_from_file_full (path, arch, prefix, NULL, cancellable, error);
}

/* -- running ----------------------------------------------------------------------------- */

/* What one run of the head needs besides the layers: the statistics each BatchNorm
 * normalises with, and the folded Linear+BatchNorm weights. */
typedef struct
{
  HrHead *head;
  HrNormMode mode;
  guint last;            /* the last layer to run */
  gboolean keep_stages;  /* every layer's output is wanted: no folding */
  double **stats_mean;   /* per layer: fixed BatchNorm statistics, or NULL: from the batch */
  double **stats_var;    /* the (biased, for batch statistics) variance */
  float **folded_weight; /* per Linear followed by a folded BatchNorm */
  float **folded_bias;
  gsize max_width;
} HrRun;

static void
hr_run_clear_folds (HrRun *run)
{
  for (guint i = 0; i < run->head->layers->len; i++)
    {
      g_clear_pointer (&run->folded_weight[i], g_free);
      g_clear_pointer (&run->folded_bias[i], g_free);
    }
}

static void
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

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrRun, hr_run_free)

static HrRun *
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

/* y = relu (y + b) (or y + b), row by row, in one pass over y, four columns at a time and
 * without branches: a scalar `x < 0 ? 0 : x` compiles (at -O2) to a compare and a jump
 * that is mispredicted about every other value on the signs of a fresh sgemm output.
 * NaN stays NaN, as in PyTorch. */
static void
hr_bias_relu (float *restrict y, const float *restrict b, gsize n, gsize d, gboolean relu)
{
  const hr_v4f zero = { 0 };

  if (b == NULL && !relu)
    return;
  for (gsize r = 0; r < n; r++)
    {
      float *restrict row = y + r * d;
      gsize j = 0;

      for (; j + 4 <= d; j += 4)
        {
          hr_v4f v, bias;

          memcpy (&v, row + j, sizeof v);
          if (b != NULL)
            {
              memcpy (&bias, b + j, sizeof bias);
              v += bias;
            }
          if (relu)
            v = (hr_v4f)((hr_v4i)v & ~(v < zero));
          memcpy (row + j, &v, sizeof v);
        }
      for (; j < d; j++)
        {
          float v = b != NULL ? row[j] + b[j] : row[j];

          row[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

/* Runs layer @i (and, when folded or fused, the ones after it) on @n rows of @x into @y;
 * returns the index of the last layer it ran. */
static guint
hr_run_layer (HrRun *run, guint i, const float *x, gsize n, float *y)
{
  HrHead *head = run->head;
  HrLayer *l = hr_head_layer (head, i);
  guint last = i;

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
              last = i + 1;
            }
          if (!run->keep_stages && last + 1 <= run->last
              && hr_layer_kind_is_activation (hr_head_layer (head, last + 1)->kind))
            {
              act = hr_head_layer (head, ++last)->kind;
              slope = hr_head_layer (head, last)->slope;
            }

          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)l->out,
                       (blasint)l->in, 1.0f, x, (blasint)l->in, w, (blasint)l->in, 0.0f, y,
                       (blasint)l->out);
          if (act == HR_LAYER_RELU || act == HR_LAYER_LINEAR)
            hr_bias_relu (y, b, n, l->out, act == HR_LAYER_RELU);
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
          for (gsize r = 0; r < n; r++)
            for (gsize j = 0; j < l->out; j++)
              y[r * l->out + j] = x[r * l->out + j] * scale[j] + shift[j];
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

      hr_run_layer (run, i, x, n, y);
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
 * receives a copy of layer i's output; a layer that runs folded or fused into the one before
 * it has none, so whoever wants every layer sets keep_stages. Returns the output of the last layer
 * in one of the two work buffers, or NULL with @error set when a layer's outputs are not
 * finite: the error names the layer that first computes them (see
 * hr_run_group_unfolded()). */
static float *
hr_run_rows (HrRun *run, const float *x, gsize n, float *work[2], float **stages, GError **error)
{
  const float *in = x;
  float *out = NULL;
  int which = 0;

  for (guint i = 0; i <= run->last;)
    {
      guint done;
      guint64 bad;

      out = work[which];
      done = hr_run_layer (run, i, in, n, out);
      bad = hr_run_count_nonfinite (run, done, out, n);
      if (bad > 0 && !hr_run_group_unfolded (run, i, done, in, n, out, error))
        return NULL;
      if (stages != NULL && stages[done] != NULL)
        memcpy (stages[done], out, n * hr_head_layer (run->head, done)->out * sizeof (float));
      in = out;
      which ^= 1;
      i = done + 1;
    }
  return out;
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
static gboolean
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
 * Runs the head layer by layer and keeps the output of every layer.
 *
 * Returns: (transfer full) (array length=n_stages) (nullable): one stack per layer, the
 *   last being the projections; %NULL with @error set on failure
 */
HrFeatureStack **
hr_head_forward_stages (HrHead *head, HrFeatureStack *input, HrNormMode mode, guint *n_stages,
                        GCancellable *cancellable, GError **error)
{
  g_autoptr (HrRun) run = NULL;
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
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE,
                   _ ("not enough memory for the %u stages of %zu samples"), L, n);
      return NULL;
    }
  finite = hr_run_rows (run, hr_feature_stack_peek_data (input), n, work, stages, error) != NULL;
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
 * Runs the head on every sample of @input.
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
  float *work[2], *out;
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
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE,
                   _ ("not enough memory to run the head on %zu samples"), n);
      return NULL;
    }
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
      out = hr_run_rows (run, x + first * d_in, count, work, NULL, error);
      if (out == NULL)
        {
          g_free (result);
          g_free (work[0]);
          g_free (work[1]);
          return NULL;
        }
      memcpy (result + first * d_out, out, count * d_out * sizeof (float));
    }
  g_free (work[0]);
  g_free (work[1]);
  return hr_stack_like (result, n, d_out, input);
}

/* -- streaming --------------------------------------------------------------------------- */

/* Reads the next @count rows. With @samples (the analysis), rows holding NaN or infinite
 * values are dropped and counted in @dropped, and samples[k] receives the stack index of the
 * k-th row kept, and the non-finite values are counted in @nonfinite; without, non-finite
 * values are an error (projecting). */
static gboolean
hr_stream_read (HrSource *reader, float *rows, gsize count, gsize *got, guint64 *samples,
                guint64 *dropped, guint64 *nonfinite, GCancellable *cancellable, GError **error)
{
  guint64 before = hr_source_get_n_nonfinite (reader);
  gsize first = hr_source_get_position (reader), d = hr_source_get_n_features (reader);
  gsize kept = 0;

  if (!hr_source_read_into (reader, rows, count, got, cancellable, error))
    return FALSE;
  if (samples == NULL && hr_source_get_n_nonfinite (reader) != before)
    {
      gsize n_positions, more;
      const guint64 *positions;
      guint64 sample;
      const char *name;

      /* Read on to the end, so that the count is the stack's, like that of an in-memory
       * stack (hr_head_check_stack()) and of the analysis. */
      while (hr_source_get_position (reader) < hr_source_get_n_samples (reader))
        {
          if (!hr_source_read_into (reader, rows, count, &more, cancellable, error))
            return FALSE;
          if (more == 0)
            break;
        }
      positions = hr_source_get_nonfinite_positions (reader, &n_positions);
      sample = positions[0] / d;
      name = hr_source_locate_sample (reader, &sample);
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NON_FINITE,
                   _ ("%s: %llu non-finite values, the first at sample %llu, feature %llu"), name,
                   (unsigned long long)hr_source_get_n_nonfinite (reader),
                   (unsigned long long)sample, (unsigned long long)(positions[0] % d));
      return FALSE;
    }
  if (samples == NULL)
    return TRUE;
  if (hr_source_get_n_nonfinite (reader) == before)
    {
      for (gsize r = 0; r < *got; r++)
        samples[r] = first + r;
      return TRUE;
    }
  for (gsize r = 0; r < *got; r++)
    {
      const float *row = rows + r * d;
      gsize bad = 0;

      for (gsize j = 0; j < d; j++)
        bad += isfinite (row[j]) == 0;
      if (bad > 0)
        {
          (*dropped)++;
          *nonfinite += bad;
          continue;
        }
      if (kept != r)
        memmove (rows + kept * d, row, d * sizeof (float));
      samples[kept++] = first + r;
    }
  *got = kept;
  return TRUE;
}

typedef struct
{
  HrSource *reader;
  gsize n;           /* samples in the stack */
  gsize chunk;       /* rows per read */
  float *rows;       /* chunk × input width */
  float *work[2];    /* chunk × the widest layer */
  guint64 *samples;  /* NULL: refuse non-finite rows; else the stack index of each kept row */
  guint64 dropped;   /* rows dropped in the last pass */
  guint64 nonfinite; /* and the non-finite values they held */
  guint pass, n_passes;
  HrProgressFunc progress;
  gpointer progress_data;
  GCancellable *cancellable;
} HrStream;

static void
hr_stream_progress (HrStream *st, gsize done)
{
  if (st->progress != NULL)
    st->progress ((st->pass + (double)done / MAX (st->n, 1)) / st->n_passes, st->progress_data);
}

/* With the whole stack as the batch, the statistics of each BatchNorm up to run->last: one
 * pass over the stack for each, computed with those of the BatchNorms before it. */
static gboolean
hr_stream_batch_statistics (HrStream *st, HrRun *run, GError **error)
{
  HrHead *head = run->head;
  guint last = run->last;

  for (guint i = 0; i <= last; i++)
    {
      HrLayer *bn = hr_head_layer (head, i);
      g_autofree double *sum = NULL, *sum2 = NULL, *shift = NULL;
      gsize got, count = 0;

      if (bn->kind != HR_LAYER_BATCH_NORM)
        continue;
      sum = g_new0 (double, bn->out);
      sum2 = g_new0 (double, bn->out);
      shift = g_new0 (double, bn->out);
      if (!hr_source_seek (st->reader, 0, error))
        return FALSE;
      hr_run_clear_folds (run);
      if (i > 0)
        run->last = i - 1;
      for (gsize done = 0; done < st->n; done += got)
        {
          const float *out = st->rows;
          gsize read_rows;

          if (!hr_stream_read (st->reader, st->rows, st->chunk, &got, st->samples, &st->dropped,
                               &st->nonfinite, st->cancellable, error))
            goto fail;
          read_rows = hr_source_get_position (st->reader) - done;
          if (read_rows == 0)
            break;
          if (got > 0 && i > 0
              && (out = hr_run_rows (run, st->rows, got, st->work, NULL, error)) == NULL)
            goto fail;
          if (count == 0 && got > 0)
            for (gsize j = 0; j < bn->out; j++)
              shift[j] = out[j];
          for (gsize r = 0; r < got; r++)
            for (gsize j = 0; j < bn->out; j++)
              {
                double v = (double)out[r * bn->out + j] - shift[j];
                sum[j] += v;
                sum2[j] += v * v;
              }
          count += got;
          got = read_rows;
          hr_stream_progress (st, done + got);
        }
      run->last = last;
      if (count < 2)
        {
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE,
                       _ ("batch statistics need at least two samples in every batch (%zu "
                          "samples in batches of %zu)"),
                       (gsize)count, (gsize)count);
          return FALSE;
        }
      run->stats_mean[i] = g_new (double, bn->out);
      run->stats_var[i] = g_new (double, bn->out);
      for (gsize j = 0; j < bn->out; j++)
        {
          double m = sum[j] / count;
          run->stats_mean[i][j] = m + shift[j];
          run->stats_var[i][j] = MAX (0.0, sum2[j] / count - m * m);
        }
      hr_run_clear_folds (run);
      st->pass++;
      st->dropped = st->nonfinite = 0;
    }
  return TRUE;

fail:
  run->last = last;
  return FALSE;
}

/* Sets up @st for running @run over @reader; the chunk is the batch with per-batch
 * statistics, else @batch_size or the reader's preferred chunk, clamped to [@min_chunk,
 * @max_chunk]. */
static gboolean
hr_stream_init (HrStream *st, HrRun *run, HrSource *reader, gsize batch_size, gsize min_chunk,
                gsize max_chunk, gboolean drop_nonfinite, GError **error)
{
  gboolean whole_batch = run->mode == HR_NORM_MODE_BATCH && batch_size == 0;
  gsize d_in = hr_source_get_n_features (reader);

  memset (st, 0, sizeof *st);
  st->reader = reader;
  st->n = hr_source_get_n_samples (reader);
  if (run->mode == HR_NORM_MODE_RUNNING || whole_batch)
    st->chunk = batch_size > 0
                    ? batch_size
                    : CLAMP (hr_source_get_preferred_chunk (reader), min_chunk, max_chunk);
  else
    st->chunk = batch_size;
  st->chunk = MAX ((gsize)1, MIN (st->chunk, st->n));
  st->n_passes = 1;
  for (guint i = 0; whole_batch && i <= run->last; i++)
    st->n_passes += hr_head_layer (run->head, i)->kind == HR_LAYER_BATCH_NORM;
  st->rows = g_try_new (float, st->chunk *d_in);
  st->work[0] = g_try_new (float, st->chunk * run->max_width);
  st->work[1] = g_try_new (float, st->chunk * run->max_width);
  if (drop_nonfinite)
    st->samples = g_try_new (guint64, st->chunk);
  if (st->rows == NULL || st->work[0] == NULL || st->work[1] == NULL
      || (drop_nonfinite && st->samples == NULL))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE,
                   _ ("not enough memory for chunks of %zu samples"), st->chunk);
      return FALSE;
    }
  return TRUE;
}

static void
hr_stream_clear (HrStream *st)
{
  g_clear_pointer (&st->rows, g_free);
  g_clear_pointer (&st->work[0], g_free);
  g_clear_pointer (&st->work[1], g_free);
  g_clear_pointer (&st->samples, g_free);
}

static gboolean
hr_head_check_reader (HrHead *head, HrSource *reader, GError **error)
{
  if (!hr_source_check_known_length (reader, error))
    return FALSE;
  if (head->layers->len == 0 || hr_source_get_n_features (reader) != hr_head_get_in_features (head))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE,
                   _ ("%s: the head takes %zu features, the stack has %zu"),
                   hr_source_get_name (reader), hr_head_get_in_features (head),
                   hr_source_get_n_features (reader));
      return FALSE;
    }
  return TRUE;
}

/**
 * hr_head_project:
 * @head: a #HrHead
 * @reader: the features, read a chunk at a time
 * @writer: where the output goes: a writer for the reader's number of samples and the
 *   stage's width
 * @mode: how BatchNorm layers normalise
 * @batch_size: with %HR_NORM_MODE_BATCH, the number of samples whose statistics each batch is
 *   normalised by (0: the whole stack, which takes one pass over the file per BatchNorm
 *   layer plus one); with %HR_NORM_MODE_RUNNING, the chunk size (0: the reader's preferred
 *   chunk)
 * @stage: the layer whose output to write, or -1 for the projections
 * @progress: (nullable) (scope call) (closure progress_data): called with the fraction done
 * @progress_data: data for @progress
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the head over a stack too large for memory, from @reader (from its first sample) to
 * @writer, and finishes @writer. Memory is bounded by the chunk.
 *
 * Returns: %TRUE on success; on failure @writer is aborted, so no output file is left
 */
/* Rows handed to the writer at a time by hr_head_project(), a cancellation check between. */
#define HR_PROJECT_WRITE_ROWS 1024

gboolean
hr_head_project (HrHead *head, HrStackReader *reader, HrStackWriter *writer, HrNormMode mode,
                 gsize batch_size, int stage, HrProgressFunc progress, gpointer progress_data,
                 GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), FALSE);
  return hr_head_project_source (head, HR_SOURCE (reader), writer, mode, batch_size, stage,
                                 progress, progress_data, cancellable, error);
}

/**
 * hr_head_project_source:
 * @head: a #HrHead
 * @source: the features, from any source whose number of samples is known
 * @writer: where the output goes: a writer for the source's number of samples and the
 *   stage's width
 * @mode: how BatchNorm layers normalise
 * @batch_size: as for hr_head_project()
 * @stage: the layer whose output to write, or -1 for the projections
 * @progress: (nullable) (scope call) (closure progress_data): called with the fraction done
 * @progress_data: data for @progress
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the head over @source to @writer, as hr_head_project() does over a TIFF file.
 *
 * Returns: %TRUE on success; on failure @writer is aborted, so no output file is left
 *
 * Since: 0.2
 */
gboolean
hr_head_project_source (HrHead *head, HrSource *reader, HrStackWriter *writer, HrNormMode mode,
                        gsize batch_size, int stage, HrProgressFunc progress,
                        gpointer progress_data, GCancellable *cancellable, GError **error)
{
  g_autoptr (HrRun) run = NULL;
  HrStream st = { 0 };
  gsize n, got;
  guint last;

  g_return_val_if_fail (HR_IS_HEAD (head), FALSE);
  g_return_val_if_fail (HR_IS_SOURCE (reader), FALSE);
  g_return_val_if_fail (HR_IS_STACK_WRITER (writer), FALSE);
  if (stage < -1 || stage >= (int)head->layers->len)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_STAGE,
                   _ ("the head has no stage %d (it has %u layers)"), stage, head->layers->len);
      hr_stack_writer_abort (writer);
      return FALSE;
    }
  if (!hr_head_check_reader (head, reader, error))
    {
      hr_stack_writer_abort (writer);
      return FALSE;
    }

  last = stage < 0 ? head->layers->len - 1 : (guint)stage;
  n = hr_source_get_n_samples (reader);
  if (hr_stack_writer_get_n_features (writer) != hr_head_layer (head, last)->out
      || hr_stack_writer_get_n_samples (writer) != n)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE,
                   _ ("stage %s gives %zu × %zu values, the writer takes %zu × %zu"),
                   hr_head_layer (head, last)->name, n, hr_head_layer (head, last)->out,
                   hr_stack_writer_get_n_samples (writer), hr_stack_writer_get_n_features (writer));
      hr_stack_writer_abort (writer);
      return FALSE;
    }
  if (!hr_head_check_batches (head, mode, last, n, batch_size, error))
    {
      hr_stack_writer_abort (writer);
      return FALSE;
    }
  run = hr_run_new (head, mode, last, FALSE);
  if (!hr_stream_init (&st, run, reader, batch_size, 1, G_MAXSIZE, FALSE, error))
    goto fail;
  st.progress = progress;
  st.progress_data = progress_data;
  st.cancellable = cancellable;

  if (mode == HR_NORM_MODE_BATCH && batch_size == 0
      && !hr_stream_batch_statistics (&st, run, error))
    goto fail;

  if (!hr_source_seek (reader, 0, error))
    goto fail;
  for (gsize done = 0; done < n; done += got)
    {
      const float *out;

      if (!hr_stream_read (reader, st.rows, st.chunk, &got, NULL, NULL, NULL, cancellable, error))
        goto fail;
      if (got == 0)
        break;
      out = hr_run_rows (run, st.rows, got, st.work, NULL, error);
      if (out == NULL)
        goto fail;
      /* in pieces, so that a cancellation stops a large chunk's writing too */
      for (gsize first = 0; first < got; first += HR_PROJECT_WRITE_ROWS)
        if (g_cancellable_set_error_if_cancelled (cancellable, error)
            || !hr_stack_writer_append (writer, out + first * hr_head_layer (head, last)->out,
                                        MIN (HR_PROJECT_WRITE_ROWS, got - first), error))
          goto fail;
      hr_stream_progress (&st, done + got);
    }
  hr_stream_clear (&st);
  /* the last chance to stop: once finished, the file is in place */
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      hr_stack_writer_abort (writer);
      return FALSE;
    }
  return hr_stack_writer_finish (writer, error);

fail:
  hr_stream_clear (&st);
  hr_stack_writer_abort (writer);
  return FALSE;
}

/* The analysis' pass (hr-analysis.c): runs the head over @reader, dropping rows with NaN or
 * infinite values, and hands every chunk to @func with the stack index of each row and the
 * output of every layer i for which keep[i] is set (stages[i], else NULL). @n_dropped and
 * @n_nonfinite receive the rows dropped and the non-finite values they held. */
gboolean
hr_head_stream (HrHead *head, HrSource *reader, HrNormMode mode, gsize batch_size,
                const gboolean *keep, HrChunkFunc func, gpointer user_data, guint64 *n_dropped,
                guint64 *n_nonfinite, HrProgressFunc progress, gpointer progress_data,
                GCancellable *cancellable, GError **error)
{
  g_autoptr (HrRun) run = NULL;
  HrStream st = { 0 };
  guint n_layers = head->layers->len;
  g_autofree float **stages = NULL;
  gboolean keep_all = FALSE, ok = FALSE;
  gsize n, got;

  *n_dropped = *n_nonfinite = 0;
  if (!hr_head_check_reader (head, reader, error))
    return FALSE;
  n = hr_source_get_n_samples (reader);
  if (!hr_head_check_batches (head, mode, n_layers - 1, n, batch_size, error))
    return FALSE;

  /* Activations and the last layer end a fused group; any other stage needs every layer
   * to run alone. */
  for (guint i = 0; i + 1 < n_layers; i++)
    keep_all |= keep[i] && !hr_layer_kind_is_activation (hr_head_layer (head, i)->kind);
  run = hr_run_new (head, mode, n_layers - 1, keep_all);
  /* chunks of at most 2,048 rows: progress and cancellation every few milliseconds, and
   * scratch of the moments bounded */
  if (!hr_stream_init (&st, run, reader, batch_size, 256, 2048, TRUE, error))
    goto out;
  st.progress = progress;
  st.progress_data = progress_data;
  st.cancellable = cancellable;
  stages = g_new0 (float *, n_layers);
  for (guint i = 0; i < n_layers; i++)
    if (keep[i] && (stages[i] = g_try_new (float, st.chunk *hr_head_layer (head, i)->out)) == NULL)
      {
        g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE,
                     _ ("not enough memory for chunks of %zu samples"), st.chunk);
        goto out;
      }

  if (mode == HR_NORM_MODE_BATCH && batch_size == 0
      && !hr_stream_batch_statistics (&st, run, error))
    goto out;

  if (!hr_source_seek (reader, 0, error))
    goto out;
  for (gsize done = 0; done < n; done += got)
    {
      gsize read_rows;

      if (!hr_stream_read (reader, st.rows, st.chunk, &got, st.samples, &st.dropped, &st.nonfinite,
                           cancellable, error))
        goto out;
      read_rows = hr_source_get_position (reader) - done;
      if (read_rows == 0)
        break;
      if (got > 0)
        {
          if (mode == HR_NORM_MODE_BATCH && batch_size > 0 && got < 2)
            {
              g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE,
                           _ ("batch statistics need at least two samples in every batch (%zu "
                              "samples in batches of %zu)"),
                           got, batch_size);
              goto out;
            }
          if (hr_run_rows (run, st.rows, got, st.work, stages, error) == NULL
              || !func (st.rows, got, st.samples, (const float *const *)stages, user_data, error))
            goto out;
        }
      got = read_rows;
      hr_stream_progress (&st, done + got);
    }
  *n_dropped = st.dropped;
  *n_nonfinite = st.nonfinite;
  ok = TRUE;

out:
  for (guint i = 0; stages != NULL && i < n_layers; i++)
    g_free (stages[i]);
  hr_stream_clear (&st);
  return ok;
}
