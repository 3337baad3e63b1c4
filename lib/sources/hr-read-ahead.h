/* headrank: the next chunks of a source read on a worker thread while the caller computes */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Reads rows @first to @first + @n − 1 into @out (@n × D float32 values). Called on the
 * caller's thread or on the worker, never on both at once. */
typedef gboolean (*HrReadAheadFunc) (gpointer data, guint64 first, gsize n, float *out,
                                     GCancellable *cancellable, GError **error);

typedef struct _HrReadAhead HrReadAhead;

/* At most this many bytes of rows are read ahead, in at most HR_READ_AHEAD_CHUNKS chunks
 * of the caller's size (a pass's chunk of 2,048 rows of 768 float32 values is 6.3 MB); a
 * caller's chunk larger than this is not read ahead. */
#define HR_READ_AHEAD_BYTES ((gsize)32 << 20)
#define HR_READ_AHEAD_CHUNKS 2u

HrReadAhead *hr_read_ahead_new (HrReadAheadFunc read, gpointer data, guint64 n_samples,
                                gsize n_features);
void hr_read_ahead_free (HrReadAhead *ra);
gboolean hr_read_ahead_read (HrReadAhead *ra, guint64 first, gsize n, float *out,
                             GCancellable *cancellable, GError **error);
guint64 hr_read_ahead_get_hits (HrReadAhead *ra);

G_END_DECLS
