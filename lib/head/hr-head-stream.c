/* headrank: projection heads: a source streamed through the head a chunk at a time, for
 * hr_head_project() and the analysis */
#include "hr-private.h"
#include "hr-head.h"

#include "hr-head-internal.h"
#include "hr-head-private.h"
#include "hr-source.h"
#include "hr-sources-private.h"
#include "hr-stack-reader.h"
#include "hr-stack-writer.h"

#include <gio/gio.h>
#include <math.h>
#include <string.h>

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
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NO_MEMORY,
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
 * output of every layer i for which keep[i] is set (stages[i], else NULL), the head run on
 * @pool's threads (NULL: the calling thread). @n_dropped and
 * @n_nonfinite receive the rows dropped and the non-finite values they held. */
gboolean
hr_head_stream (HrHead *head, HrSource *reader, HrNormMode mode, gsize batch_size,
                const gboolean *keep, HrPool *pool, HrChunkFunc func, gpointer user_data,
                guint64 *n_dropped, guint64 *n_nonfinite, HrProgressFunc progress,
                gpointer progress_data, GCancellable *cancellable, GError **error)
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
        g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NO_MEMORY,
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
          if (!hr_run_rows_pool (run, pool, st.rows, got, st.work, stages, NULL, error)
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
