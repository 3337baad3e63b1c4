/* headrank: what the files of the head (hr-head*.c) share and nothing else includes: its
 * layers and fields, the presets and specs, the run of its kernels. The layers above use
 * hr-head-private.h. */
#pragma once

#include "hr-head.h"
#include "hr-pool.h"
#include "hr-tensor-file.h"

#include <glib.h>

G_BEGIN_DECLS

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
  char *file; /* the weights file, as given */
  char *prefix;
  HrArchSource arch_source;
  gboolean activation_assumed; /* inferred, and an activation was put where none is known */
  gboolean activation_given;   /* inferred with the activation given */
  gboolean gap_assumed;        /* inferred, and modules without tensors taken for Dropout */
  GHashTable *metadata;        /* the weights file's __metadata__, or NULL */
};

#define hr_layer_kind_name hr_layer_kind_to_string

typedef struct
{
  const char *name;
  const char *spec;
  const char *names; /* the module names, one per layer; NULL: sequential indices, with
                      * dropout accepted in gaps after an activation */
  const char *description;
} HrPreset;

typedef struct
{
  HrLayerKind kind;
  gsize out; /* linear:OUT, 0 when not given */
  double eps;
  double slope;
  char *name; /* from a preset, or NULL */
} HrSpecLayer;

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
  HrPool *pool; /* while set, each Linear's product is split over its threads by rows */
} HrRun;

/* hr-head.c */
gboolean hr_layer_has_parameters (HrLayerKind kind);
HrLayer *hr_head_layer (HrHead *head, guint index);

/* hr-head-spec.c */
const HrPreset *hr_find_preset (const char *name);
/* Parses a spec such as "linear:2048,bn,relu,linear:128,bn,l2". */
GArray *hr_parse_spec (const char *spec, const char *names, GError **error);

/* hr-head-load.c */
/* Whether a module name is a sequential index ("0", "12"); at most 9 digits, so that
 * index + 1 cannot overflow. */
gboolean hr_is_integer (const char *s);

/* hr-head-run.c */
void hr_run_clear_folds (HrRun *run);
void hr_run_free (HrRun *run);
HrRun *hr_run_new (HrHead *head, HrNormMode mode, guint last, gboolean keep_stages);
/* Runs layers 0 … run->last on @n rows of @x. With @stages, stages[i] (when not NULL)
 * receives a copy of layer i's output; a layer that runs folded or fused into the one before
 * it has none, so whoever wants every layer sets keep_stages. Returns the output of the last layer
 * in one of the two work buffers, or NULL with @error set when a layer's outputs are not
 * finite: the error names the layer that first computes them (see
 * hr_run_group_unfolded()). */
float *hr_run_rows (HrRun *run, const float *x, gsize n, float *work[2], float **stages,
                    GError **error);
gboolean hr_run_rows_independent (HrRun *run);
gboolean hr_run_rows_pool (HrRun *run, HrPool *pool, const float *x, gsize n, float *work[2],
                           float **stages, float *out, GError **error);

/* PyTorch refuses batch statistics of a single sample ("Expected more than 1 value per
 * channel when training"): the output would be β for every sample. */
gboolean hr_head_check_batches (HrHead *head, HrNormMode mode, guint last, gsize n, gsize batch,
                                GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrRun, hr_run_free)

G_END_DECLS
