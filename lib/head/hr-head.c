/* headrank: a projection head, run on feature stacks as PyTorch runs it
 *
 * This file: the object, its building and accessors; hr-head-spec.c: presets and specs;
 * hr-head-load.c: loading from a state dict; hr-head-run.c: the kernels and the forward
 * pass; hr-head-stream.c: a source streamed through the head (hr-head-internal.h between
 * them). */
#include "hr-private.h"
#include "hr-head.h"

#include "hr-enum-names.h"
#include "hr-enum-types.h"
#include "hr-head-internal.h"
#include "hr-head-private.h"

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
  g_free (self->file);
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
  const char *nick = hr_enum_nick (HR_TYPE_LAYER_KIND, kind);

  return nick != NULL ? nick : "?";
}

gboolean
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

HrLayer *
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
 * hr_head_get_file:
 * @head: a #HrHead
 *
 * Gets the weights file the head was read from, as it was given.
 *
 * Returns: (nullable) (type filename): the path of the safetensors file, or %NULL for a
 *   head built by hand
 *
 * Since: 0.2
 */
const char *
hr_head_get_file (HrHead *head)
{
  g_return_val_if_fail (HR_IS_HEAD (head), NULL);
  return head->file;
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
 * assumed and how to state it instead: the activation, and that the output is not
 * L2-normalised, which no tensor shows; where the head has them, that layers with a 1-D
 * weight and no running statistics are LayerNorm (not a BatchNorm without running
 * statistics, an RMSNorm, a GroupNorm or a PReLU, whose tensors look the same), that
 * numbered modules without tensors after the activation are Dropout (not a norm layer
 * without parameters), and that norm layers have PyTorch's default eps, 1e-5.
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
  gboolean layer_norm = FALSE, norm = FALSE;
  GString *s;

  g_return_val_if_fail (HR_IS_HEAD (head), NULL);

  if (head->arch_source != HR_ARCH_SOURCE_INFERRED)
    return NULL;
  for (guint i = 0; i < head->layers->len; i++)
    {
      HrLayerKind kind = hr_head_layer (head, i)->kind;

      if (hr_layer_kind_is_activation (kind))
        activation = hr_layer_kind_name (kind);
      layer_norm |= kind == HR_LAYER_LAYER_NORM;
      norm |= kind == HR_LAYER_LAYER_NORM || kind == HR_LAYER_BATCH_NORM;
    }
  s = g_string_new (NULL);
  if (head->activation_assumed)
    g_string_append_printf (
        s,
        /* TRANSLATORS: %s is an activation name (relu); keep --arch and --activation */
        _ ("The architecture was inferred from the tensors, and its activation assumed to be "
           "%s: no tensor and nothing in the file tells ReLU from GELU or SiLU (VisCy's MLP "
           "takes all three). Nor do the tensors show whether the head L2-normalises its "
           "output; no normalisation was assumed. State the architecture with --arch (a "
           "preset or a spec) or the activation with --activation."),
        activation != NULL ? activation : "relu");
  else
    g_string_append (s, _ ("The architecture was inferred from the tensors, which do not show "
                           "whether the head L2-normalises its output; no normalisation was "
                           "assumed. State the architecture with --arch (a preset or a spec) "
                           "if it does."));
  /* what else the tensors leave open, each said where the head has it */
  if (layer_norm)
    g_string_append_printf (
        s, " %s",
        _ ("Its layers with a 1-D weight and no running statistics were taken for LayerNorm: "
           "a BatchNorm without running statistics, an RMSNorm, a GroupNorm or a PReLU has "
           "tensors of the same shapes."));
  if (head->gap_assumed)
    g_string_append_printf (
        s, " %s",
        _ ("Numbered modules without tensors after the activation were taken for Dropout: a "
           "BatchNorm or LayerNorm without affine parameters or running statistics has no "
           "tensors either."));
  if (norm)
    g_string_append_printf (
        s, " %s",
        /* TRANSLATORS: keep bn:eps=, ln:eps= and --arch */
        _ ("No tensor holds a norm layer's eps: PyTorch's default, 1e-5, was taken (bn:eps=… "
           "or ln:eps=… in --arch states another)."));
  return g_string_free (s, FALSE);
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
