/* headrank: a projection head, run on feature stacks as PyTorch runs it */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-feature-stack.h"
#include "hr-stack-reader.h"
#include "hr-stack-writer.h"
#include "hr-tensor-file.h"
#include "hr-types.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

/**
 * HR_HEAD_ERROR:
 *
 * Error domain for building and running projection heads. Errors in this domain come from
 * the #HrHeadError enumeration.
 */
#define HR_HEAD_ERROR (hr_head_error_quark ())

/**
 * HrHeadError:
 * @HR_HEAD_ERROR_SPEC: an architecture spec or preset name cannot be parsed
 * @HR_HEAD_ERROR_WEIGHTS: the weights do not fit the architecture: a tensor is missing or
 *   has the wrong shape, BatchNorm statistics are missing, the prefix cannot be found
 * @HR_HEAD_ERROR_SHAPE: consecutive layers disagree, or the head's input width differs from
 *   the features'
 * @HR_HEAD_ERROR_NON_FINITE: a weight, or an input value, is NaN or infinite, or a layer
 *   computes NaN or infinite values from finite inputs
 * @HR_HEAD_ERROR_STAGE: a stage asked for does not exist
 * @HR_HEAD_ERROR_NO_MEMORY: an allocation failed: the system has not enough memory for the
 *   head's buffers for the samples asked for. Since: 0.2
 *
 * Error codes in the %HR_HEAD_ERROR domain.
 */
typedef enum
{
  HR_HEAD_ERROR_SPEC,
  HR_HEAD_ERROR_WEIGHTS,
  HR_HEAD_ERROR_SHAPE,
  HR_HEAD_ERROR_NON_FINITE,
  HR_HEAD_ERROR_STAGE,
  HR_HEAD_ERROR_NO_MEMORY,
} HrHeadError;

HR_AVAILABLE_IN_0_1
GQuark hr_head_error_quark (void);

/**
 * HrLayerKind:
 * @HR_LAYER_LINEAR: `torch.nn.Linear`: y = x Wᵀ + b, W stored [out, in], bias optional
 *   (name `linear`)
 * @HR_LAYER_BATCH_NORM: `torch.nn.BatchNorm1d`: (x − mean) / √(var + eps) · weight + bias,
 *   with the running statistics (eval mode) or the batch's (training mode, biased variance)
 *   (name `bn`)
 * @HR_LAYER_LAYER_NORM: `torch.nn.LayerNorm` over the features, with weight and bias
 *   (name `ln`)
 * @HR_LAYER_RELU: `torch.nn.ReLU` (name `relu`)
 * @HR_LAYER_GELU: `torch.nn.GELU`, the exact erf form (PyTorch's default) (name `gelu`)
 * @HR_LAYER_SILU: `torch.nn.SiLU`: x · sigmoid(x) (name `silu`)
 * @HR_LAYER_L2_NORMALIZE: `torch.nn.functional.normalize (x, p=2, dim=1)`:
 *   x / max(‖x‖₂, 1e-12) (name `l2`)
 * @HR_LAYER_GELU_TANH: `torch.nn.GELU (approximate="tanh")`:
 *   0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))) (name `gelu-tanh`). Since: 0.2
 * @HR_LAYER_LEAKY_RELU: `torch.nn.LeakyReLU (negative_slope)`: x for x ≥ 0, slope · x
 *   below (name `leaky-relu`, default slope 0.01). Since: 0.2
 * @HR_LAYER_TANH: `torch.nn.Tanh` (name `tanh`). Since: 0.2
 * @HR_LAYER_IDENTITY: `torch.nn.Identity` (name `identity`). Since: 0.2
 * @HR_LAYER_DROPOUT: `torch.nn.Dropout`, the identity at inference, which is how headrank
 *   runs it in both norm modes (name `dropout`). Since: 0.2
 *
 * The layers a projection head is made of. The name of each (its nick, also given by
 * hr_layer_kind_to_string()) is the word architecture specs, `headrank head describe`
 * and report.json use for it.
 */
typedef enum
{
  HR_LAYER_LINEAR,
  HR_LAYER_BATCH_NORM, /*< nick=bn >*/
  HR_LAYER_LAYER_NORM, /*< nick=ln >*/
  HR_LAYER_RELU,
  HR_LAYER_GELU,
  HR_LAYER_SILU,
  HR_LAYER_L2_NORMALIZE, /*< nick=l2 >*/
  HR_LAYER_GELU_TANH,
  HR_LAYER_LEAKY_RELU,
  HR_LAYER_TANH,
  HR_LAYER_IDENTITY,
  HR_LAYER_DROPOUT,
} HrLayerKind;

/**
 * HrArchSource:
 * @HR_ARCH_SOURCE_BUILT: the head was built layer by layer with the `append` functions
 * @HR_ARCH_SOURCE_GIVEN: the architecture was given (a preset or a spec)
 * @HR_ARCH_SOURCE_METADATA: the architecture was read from the safetensors file's
 *   `__metadata__` (key `arch`, as tools/extract-head.py writes it from what the
 *   checkpoint knows)
 * @HR_ARCH_SOURCE_INFERRED: the architecture was inferred from the tensors' names and shapes;
 *   what tensors cannot tell (the activation, an L2 normalisation at the end) was given as
 *   the activation, or assumed (see hr_head_get_activation_assumed())
 *
 * Where a head's architecture came from.
 *
 * Since: 0.2
 */
typedef enum
{
  HR_ARCH_SOURCE_BUILT,
  HR_ARCH_SOURCE_GIVEN,
  HR_ARCH_SOURCE_METADATA,
  HR_ARCH_SOURCE_INFERRED,
} HrArchSource;

/**
 * HrNormMode:
 * @HR_NORM_MODE_RUNNING: BatchNorm uses its running statistics, as a trained model
 *   predicts (`model.eval()`); each BatchNorm is folded into the Linear before it
 * @HR_NORM_MODE_BATCH: BatchNorm normalises by the statistics of the batch, with the biased
 *   variance, as PyTorch's training mode does (where ReLU clipping shows)
 *
 * How BatchNorm layers normalise.
 */
typedef enum
{
  HR_NORM_MODE_RUNNING,
  HR_NORM_MODE_BATCH,
} HrNormMode;

#define HR_TYPE_HEAD (hr_head_get_type ())

HR_AVAILABLE_IN_0_1
G_DECLARE_FINAL_TYPE (HrHead, hr_head, HR, HEAD, GObject)

HR_AVAILABLE_IN_0_1
HrHead *hr_head_new (void);
HR_AVAILABLE_IN_0_1
HrHead *hr_head_new_from_file (const char *path, const char *arch, const char *prefix,
                               GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_1
HrHead *hr_head_new_from_tensors (HrTensorFile *weights, const char *arch, const char *prefix,
                                  GError **error);

HR_AVAILABLE_IN_0_2
HrHead *hr_head_new_from_file_full (const char *path, const char *arch, const char *prefix,
                                    const char *activation, GCancellable *cancellable,
                                    GError **error);
HR_AVAILABLE_IN_0_2
HrHead *hr_head_new_from_tensors_full (HrTensorFile *weights, const char *arch, const char *prefix,
                                       const char *activation, GError **error);
HR_AVAILABLE_IN_0_2
char **hr_head_find_prefixes (HrTensorFile *weights);
HR_AVAILABLE_IN_0_2
const char *const *hr_head_list_known_prefixes (void);

HR_AVAILABLE_IN_0_2
const char *hr_layer_kind_to_string (HrLayerKind kind);

HR_AVAILABLE_IN_0_1
const char *const *hr_head_list_presets (void);
HR_AVAILABLE_IN_0_2
const char *hr_head_get_preset_description (const char *preset);
HR_AVAILABLE_IN_0_1
const char *hr_head_get_preset_spec (const char *preset);

HR_AVAILABLE_IN_0_1
gboolean hr_head_append_linear (HrHead *head, const char *name, gsize in_features,
                                gsize out_features, GBytes *weight, GBytes *bias, GError **error);
HR_AVAILABLE_IN_0_1
gboolean hr_head_append_batch_norm (HrHead *head, const char *name, gsize n_features,
                                    GBytes *weight, GBytes *bias, GBytes *running_mean,
                                    GBytes *running_var, double eps, GError **error);
HR_AVAILABLE_IN_0_1
gboolean hr_head_append_layer_norm (HrHead *head, const char *name, gsize n_features,
                                    GBytes *weight, GBytes *bias, double eps, GError **error);
HR_AVAILABLE_IN_0_1
gboolean hr_head_append_activation (HrHead *head, const char *name, HrLayerKind kind,
                                    GError **error);
HR_AVAILABLE_IN_0_2
gboolean hr_head_append_leaky_relu (HrHead *head, const char *name, double negative_slope,
                                    GError **error);

HR_AVAILABLE_IN_0_1
guint hr_head_get_n_layers (HrHead *head);
HR_AVAILABLE_IN_0_1
HrLayerKind hr_head_get_layer_kind (HrHead *head, guint index);
HR_AVAILABLE_IN_0_1
const char *hr_head_get_layer_name (HrHead *head, guint index);
HR_AVAILABLE_IN_0_1
gsize hr_head_get_layer_in_features (HrHead *head, guint index);
HR_AVAILABLE_IN_0_1
gsize hr_head_get_layer_out_features (HrHead *head, guint index);
HR_AVAILABLE_IN_0_1
gboolean hr_head_get_layer_has_bias (HrHead *head, guint index);
HR_AVAILABLE_IN_0_1
int hr_head_find_stage (HrHead *head, const char *name);
HR_AVAILABLE_IN_0_1
gsize hr_head_get_in_features (HrHead *head);
HR_AVAILABLE_IN_0_1
gsize hr_head_get_out_features (HrHead *head);
HR_AVAILABLE_IN_0_1
const char *hr_head_get_source (HrHead *head);
HR_AVAILABLE_IN_0_2
double hr_head_get_layer_negative_slope (HrHead *head, guint index);
HR_AVAILABLE_IN_0_2
HrArchSource hr_head_get_arch_source (HrHead *head);
HR_AVAILABLE_IN_0_2
char *hr_head_get_spec (HrHead *head);
HR_AVAILABLE_IN_0_2
const char *hr_head_get_file (HrHead *head);
HR_AVAILABLE_IN_0_2
const char *hr_head_get_prefix (HrHead *head);
HR_AVAILABLE_IN_0_2
const char *hr_head_get_metadata (HrHead *head, const char *key);
HR_AVAILABLE_IN_0_2
gboolean hr_head_get_activation_assumed (HrHead *head);
HR_AVAILABLE_IN_0_2
char *hr_head_get_assumption (HrHead *head);
HR_AVAILABLE_IN_0_2
char **hr_head_match_presets (HrHead *head);
HR_AVAILABLE_IN_0_1
char *hr_head_describe (HrHead *head);
HR_AVAILABLE_IN_0_2
char *hr_head_to_json (HrHead *head, gboolean pretty);

HR_AVAILABLE_IN_0_1
HrFeatureStack *hr_head_forward (HrHead *head, HrFeatureStack *input, HrNormMode mode,
                                 GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_1
HrFeatureStack **hr_head_forward_stages (HrHead *head, HrFeatureStack *input, HrNormMode mode,
                                         guint *n_stages, GCancellable *cancellable,
                                         GError **error);

HR_AVAILABLE_IN_0_1
gboolean hr_head_project (HrHead *head, HrStackReader *reader, HrStackWriter *writer,
                          HrNormMode mode, gsize batch_size, int stage, HrProgressFunc progress,
                          gpointer progress_data, GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_2
gboolean hr_head_project_source (HrHead *head, HrSource *source, HrStackWriter *writer,
                                 HrNormMode mode, gsize batch_size, int stage,
                                 HrProgressFunc progress, gpointer progress_data,
                                 GCancellable *cancellable, GError **error);

G_END_DECLS
