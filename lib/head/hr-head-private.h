/* headrank: internal declarations of the head layer (lib/head/) for the layers above it */
#pragma once

#include "hr-head.h"
#include "hr-pool.h"
#include "hr-source.h"

G_BEGIN_DECLS

/* ReLU, GELU (both forms), SiLU, LeakyReLU or Tanh (hr-head.c). */
gboolean hr_layer_kind_is_activation (HrLayerKind kind);

/* Affine layers and the map a run of them applies (hr-head-run.c, doc/analysis.md "CKA"). */
gboolean hr_head_layer_is_affine (HrHead *head, HrNormMode mode, guint index);
double *hr_head_affine_map (HrHead *head, HrNormMode mode, guint first, guint last, double **c);
guint64 hr_head_affine_map_bytes (HrHead *head, guint first, guint last);

/* The analysis' pass over a stack through a head (hr-head.c). */
typedef gboolean (*HrChunkFunc) (const float *features, gsize n_rows, const guint64 *samples,
                                 const float *const *stages, gpointer user_data, GError **error);

gboolean hr_head_stream (HrHead *head, HrSource *reader, HrNormMode mode, gsize batch_size,
                         const gboolean *keep, HrPool *pool, HrChunkFunc func, gpointer user_data,
                         guint64 *n_dropped, guint64 *n_nonfinite, HrProgressFunc progress,
                         gpointer progress_data, GCancellable *cancellable, GError **error);

/* The SHA-256 of the head's layers (kinds, names, shapes, parameters), in hexadecimal: what
 * parts compare to tell whether they were made with the same head (hr-head-checksum.c). */
char *hr_head_compute_checksum (HrHead *head);

G_END_DECLS
