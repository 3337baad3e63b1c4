/* headrank: the next chunks of a source read on a worker thread while the caller computes
 *
 * A pass reads a source a chunk at a time and computes on each chunk (BLAS, the head)
 * before it reads the next. Where reading costs CPU (decoding compressed strips), the two
 * can overlap: after a read that continues the one before it, a worker thread reads the
 * next chunks of the same size, at most HR_READ_AHEAD_CHUNKS of them and
 * HR_READ_AHEAD_BYTES together, into buffers of its own; the read that asks for one of
 * them copies it. The rows are those the read would have read, so every result is the same
 * to the bit.
 *
 * Only one thread reads the underlying source at a time: the worker while a chunk is
 * queued or being read, the caller once the worker is idle and nothing is queued. A read
 * that is not the next chunk drops the queued chunks, waits for the one being read and
 * reads itself. A chunk the worker failed to read (an error of the file, or a cancelled
 * GCancellable) is read again by the caller, so errors arrive from the read that asks for
 * those rows, on its thread, as they would without reading ahead. The worker stops, and
 * the buffers are freed, when a read reaches the last sample: a concatenation of many
 * files keeps no idle thread per file. */
#include "hr-private.h"
#include "hr-read-ahead.h"

#include <string.h>

typedef enum
{
  HR_SLOT_EMPTY,
  HR_SLOT_QUEUED,
  HR_SLOT_READING,
  HR_SLOT_READY,
  HR_SLOT_FAILED,
} HrSlotState;

typedef struct
{
  HrSlotState state;
  guint64 first;
  gsize n;
  float *rows;
  gsize capacity; /* values */
  GCancellable *cancellable;
} HrSlot;

struct _HrReadAhead
{
  HrReadAheadFunc read;
  gpointer data;
  guint64 n_samples;
  gsize n_features;

  GMutex lock;
  GCond changed;
  GThread *thread;
  gboolean quit;
  HrSlot slots[HR_READ_AHEAD_CHUNKS];
  guint64 next; /* where the last read ended (G_MAXUINT64 before the first) */
  guint64 hits; /* chunks delivered from the worker's buffers */
};

HrReadAhead *
hr_read_ahead_new (HrReadAheadFunc read, gpointer data, guint64 n_samples, gsize n_features)
{
  HrReadAhead *ra = g_new0 (HrReadAhead, 1);

  ra->read = read;
  ra->data = data;
  ra->n_samples = n_samples;
  ra->n_features = n_features;
  ra->next = G_MAXUINT64;
  g_mutex_init (&ra->lock);
  g_cond_init (&ra->changed);
  return ra;
}

/* Stops the worker and frees the buffers; called without the lock, with no chunk queued
 * or being read. */
static void
hr_read_ahead_stop (HrReadAhead *ra)
{
  GThread *thread;

  g_mutex_lock (&ra->lock);
  ra->quit = TRUE;
  g_cond_broadcast (&ra->changed);
  thread = g_steal_pointer (&ra->thread);
  g_mutex_unlock (&ra->lock);
  if (thread != NULL)
    g_thread_join (thread);
  ra->quit = FALSE;
  for (guint i = 0; i < HR_READ_AHEAD_CHUNKS; i++)
    {
      g_clear_pointer (&ra->slots[i].rows, g_free);
      ra->slots[i].capacity = 0;
      ra->slots[i].state = HR_SLOT_EMPTY;
      g_clear_object (&ra->slots[i].cancellable);
    }
}

/* Drops the queued chunks and waits for the one being read; with the lock held. */
static void
hr_read_ahead_drain (HrReadAhead *ra)
{
  gboolean reading;

  do
    {
      reading = FALSE;
      for (guint i = 0; i < HR_READ_AHEAD_CHUNKS; i++)
        {
          HrSlot *slot = &ra->slots[i];

          if (slot->state == HR_SLOT_READING)
            reading = TRUE;
          else if (slot->state != HR_SLOT_EMPTY)
            {
              slot->state = HR_SLOT_EMPTY;
              g_clear_object (&slot->cancellable);
            }
        }
      if (reading)
        g_cond_wait (&ra->changed, &ra->lock);
    }
  while (reading);
}

void
hr_read_ahead_free (HrReadAhead *ra)
{
  if (ra == NULL)
    return;
  g_mutex_lock (&ra->lock);
  hr_read_ahead_drain (ra);
  g_mutex_unlock (&ra->lock);
  hr_read_ahead_stop (ra);
  g_mutex_clear (&ra->lock);
  g_cond_clear (&ra->changed);
  g_free (ra);
}

static gpointer
hr_read_ahead_worker (gpointer user_data)
{
  HrReadAhead *ra = user_data;

  g_mutex_lock (&ra->lock);
  for (;;)
    {
      HrSlot *slot = NULL;
      gboolean ok;

      /* the queued chunk that comes first */
      for (guint i = 0; i < HR_READ_AHEAD_CHUNKS; i++)
        if (ra->slots[i].state == HR_SLOT_QUEUED
            && (slot == NULL || ra->slots[i].first < slot->first))
          slot = &ra->slots[i];
      if (slot == NULL)
        {
          if (ra->quit)
            break;
          g_cond_wait (&ra->changed, &ra->lock);
          continue;
        }
      slot->state = HR_SLOT_READING;
      g_mutex_unlock (&ra->lock);
      /* the error is dropped: the caller reads a failed chunk again, and gets it there */
      ok = ra->read (ra->data, slot->first, slot->n, slot->rows, slot->cancellable, NULL);
      g_mutex_lock (&ra->lock);
      slot->state = ok ? HR_SLOT_READY : HR_SLOT_FAILED;
      g_cond_broadcast (&ra->changed);
    }
  g_mutex_unlock (&ra->lock);
  return NULL;
}

/* Queues the chunk of @n rows at @first, unless it is queued already or no slot is free;
 * with the lock held. */
static void
hr_read_ahead_queue (HrReadAhead *ra, guint64 first, gsize n, GCancellable *cancellable)
{
  HrSlot *free_slot = NULL;
  gsize values = n * ra->n_features;

  for (guint i = 0; i < HR_READ_AHEAD_CHUNKS; i++)
    {
      HrSlot *slot = &ra->slots[i];

      if (slot->state != HR_SLOT_EMPTY && slot->first == first)
        return;
      if (slot->state == HR_SLOT_EMPTY && free_slot == NULL)
        free_slot = slot;
    }
  if (free_slot == NULL)
    return;
  if (free_slot->capacity < values)
    {
      float *rows = g_try_realloc_n (free_slot->rows, values, sizeof (float));

      if (rows == NULL)
        return; /* no memory to spare: the caller reads it when it comes */
      free_slot->rows = rows;
      free_slot->capacity = values;
    }
  if (ra->thread == NULL)
    {
      ra->thread = g_thread_try_new ("headrank-read", hr_read_ahead_worker, ra, NULL);
      if (ra->thread == NULL)
        return;
    }
  free_slot->first = first;
  free_slot->n = n;
  g_set_object (&free_slot->cancellable, cancellable);
  free_slot->state = HR_SLOT_QUEUED;
  g_cond_broadcast (&ra->changed);
}

/* Reads rows @first to @first + @n − 1 into @out: from the worker's buffer when it read
 * them ahead, else on this thread. Then queues the chunks that follow when this read
 * continued the one before. */
gboolean
hr_read_ahead_read (HrReadAhead *ra, guint64 first, gsize n, float *out, GCancellable *cancellable,
                    GError **error)
{
  HrSlot *found = NULL;
  gboolean have = FALSE, sequential;
  guint64 end = first + n;
  gsize depth = 0;

  g_mutex_lock (&ra->lock);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      ra->next = G_MAXUINT64;
      g_mutex_unlock (&ra->lock);
      return FALSE;
    }
  for (guint i = 0; i < HR_READ_AHEAD_CHUNKS; i++)
    if (ra->slots[i].state != HR_SLOT_EMPTY && ra->slots[i].first == first && ra->slots[i].n == n)
      found = &ra->slots[i];
  if (found != NULL)
    {
      while (found->state == HR_SLOT_QUEUED || found->state == HR_SLOT_READING)
        g_cond_wait (&ra->changed, &ra->lock);
      if (found->state == HR_SLOT_READY)
        {
          memcpy (out, found->rows, n * ra->n_features * sizeof (float));
          ra->hits++;
          have = TRUE;
        }
      found->state = HR_SLOT_EMPTY;
      g_clear_object (&found->cancellable);
    }
  if (!have)
    {
      /* not read ahead (or failed there): the worker must be idle before this thread reads */
      hr_read_ahead_drain (ra);
      g_mutex_unlock (&ra->lock);
      if (!ra->read (ra->data, first, n, out, cancellable, error))
        {
          g_mutex_lock (&ra->lock);
          ra->next = G_MAXUINT64;
          g_mutex_unlock (&ra->lock);
          return FALSE;
        }
      g_mutex_lock (&ra->lock);
    }

  sequential = ra->next == first;
  ra->next = end;
  if (n > 0 && n * ra->n_features <= HR_READ_AHEAD_BYTES / sizeof (float))
    depth = MIN ((gsize)HR_READ_AHEAD_CHUNKS,
                 HR_READ_AHEAD_BYTES / sizeof (float) / (n * ra->n_features));
  if (sequential && end < ra->n_samples)
    for (gsize k = 0; k < depth; k++)
      {
        guint64 start = end + k * (guint64)n;

        if (start >= ra->n_samples)
          break;
        hr_read_ahead_queue (ra, start, (gsize)MIN ((guint64)n, ra->n_samples - start),
                             cancellable);
      }
  g_mutex_unlock (&ra->lock);

  if (end >= ra->n_samples)
    {
      /* the last chunk: nothing is queued past it; let the thread and buffers go */
      g_mutex_lock (&ra->lock);
      hr_read_ahead_drain (ra);
      g_mutex_unlock (&ra->lock);
      hr_read_ahead_stop (ra);
    }
  return TRUE;
}

guint64
hr_read_ahead_get_hits (HrReadAhead *ra)
{
  guint64 hits;

  g_mutex_lock (&ra->lock);
  hits = ra->hits;
  g_mutex_unlock (&ra->lock);
  return hits;
}
