/* The read-ahead of a source's next chunks on a worker thread (lib/sources/hr-read-ahead.c,
 * private: compiled into this test). A fake source whose row r holds r·1000 + j in column j,
 * which counts its reads, refuses to be read by two threads at once, fails where it is told
 * to and waits where it is told to. */
#include "hr-read-ahead.h"

#include <glib.h>
#include <gio/gio.h>
#include <string.h>

#define D 5

typedef struct
{
  guint64 n;
  gint in_flight;         /* reads running now: never more than 1 */
  gint overlaps;          /* reads that found another running */
  gint calls;             /* reads made, by either thread */
  guint64 fail_at;        /* a read covering this row fails (G_MAXUINT64: none) */
  gint fail_calls;        /* how many reads failed there */
  GThread *caller;        /* the test's thread */
  gint failed_off_caller; /* failures seen on the worker */
  guint delay_us;         /* each read takes this long, so that the worker runs behind */
} Fake;

static gboolean
fake_read (gpointer data, guint64 first, gsize n, float *out, GCancellable *cancellable,
           GError **error)
{
  Fake *fake = data;
  gboolean ok = TRUE;

  if (g_atomic_int_add (&fake->in_flight, 1) != 0)
    g_atomic_int_inc (&fake->overlaps);
  g_atomic_int_inc (&fake->calls);
  if (fake->delay_us > 0)
    g_usleep (fake->delay_us);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    ok = FALSE;
  else if (fake->fail_at >= first && fake->fail_at < first + n)
    {
      g_atomic_int_inc (&fake->fail_calls);
      if (g_thread_self () != fake->caller)
        g_atomic_int_inc (&fake->failed_off_caller);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "row %" G_GUINT64_FORMAT " is bad",
                   fake->fail_at);
      ok = FALSE;
    }
  else
    for (gsize r = 0; r < n; r++)
      for (gsize j = 0; j < D; j++)
        out[r * D + j] = (float)((first + r) * 1000 + j);
  g_atomic_int_add (&fake->in_flight, -1);
  return ok;
}

static void
fake_init (Fake *fake, guint64 n)
{
  memset (fake, 0, sizeof *fake);
  fake->n = n;
  fake->fail_at = G_MAXUINT64;
  fake->caller = g_thread_self ();
}

static void
check_rows (const float *rows, guint64 first, gsize n)
{
  for (gsize r = 0; r < n; r++)
    for (gsize j = 0; j < D; j++)
      if (rows[r * D + j] != (float)((first + r) * 1000 + j))
        {
          g_test_fail_printf ("row %" G_GUINT64_FORMAT ", column %zu holds %g", first + r, j,
                              rows[r * D + j]);
          return;
        }
}

/* Reads @n rows from @first, checks them; returns the read's success. */
static gboolean
read_check (HrReadAhead *ra, guint64 first, gsize n, GCancellable *cancellable, GError **error)
{
  g_autofree float *rows = g_new (float, MAX (n, 1) * D);

  memset (rows, 0xff, MAX (n, 1) * D * sizeof (float));
  if (!hr_read_ahead_read (ra, first, n, rows, cancellable, error))
    return FALSE;
  check_rows (rows, first, n);
  return TRUE;
}

/* Chunks one after the other, the last one short: every row right, the chunks after the
 * second one from the worker (the second read continues the first, and queues the next
 * ones), one reader at a time. */
static void
test_sequential (void)
{
  Fake fake;
  HrReadAhead *ra;
  const gsize chunk = 64;
  const guint64 n = 1000;
  guint64 chunks = (n + chunk - 1) / chunk;

  fake_init (&fake, n);
  fake.delay_us = 200;
  ra = hr_read_ahead_new (fake_read, &fake, n, D);
  for (guint64 first = 0; first < n; first += chunk)
    g_assert_true (read_check (ra, first, (gsize)MIN ((guint64)chunk, n - first), NULL, NULL));
  g_assert_cmpuint (hr_read_ahead_get_hits (ra), ==, chunks - 2);
  g_assert_cmpint (fake.calls, ==, (gint)chunks);
  g_assert_cmpint (fake.overlaps, ==, 0);

  /* a second pass from the start reads the same */
  for (guint64 first = 0; first < n; first += chunk)
    g_assert_true (read_check (ra, first, (gsize)MIN ((guint64)chunk, n - first), NULL, NULL));
  g_assert_cmpuint (hr_read_ahead_get_hits (ra), ==, 2 * (chunks - 2));
  g_assert_cmpint (fake.calls, ==, 2 * (gint)chunks);
  g_assert_cmpint (fake.overlaps, ==, 0);
  hr_read_ahead_free (ra);
}

/* Reads that jump (backwards, forwards, another size) get their own rows; what was queued
 * is dropped, never handed to the wrong read. */
static void
test_jumps (void)
{
  Fake fake;
  HrReadAhead *ra;
  const struct
  {
    guint64 first;
    gsize n;
  } reads[] = { { 0, 10 }, { 10, 10 }, { 20, 10 }, { 5, 10 }, { 15, 10 }, { 25, 7 },
                { 32, 7 }, { 90, 10 }, { 0, 3 },   { 3, 3 },  { 6, 100 }, { 106, 100 },
                { 0, 1 },  { 1, 1 },   { 2, 1 },   { 3, 1 },  { 4, 1 },   { 299, 1 } };

  fake_init (&fake, 300);
  ra = hr_read_ahead_new (fake_read, &fake, 300, D);
  for (gsize i = 0; i < G_N_ELEMENTS (reads); i++)
    g_assert_true (read_check (ra, reads[i].first, reads[i].n, NULL, NULL));
  g_assert_cmpuint (hr_read_ahead_get_hits (ra), >, 0);
  g_assert_cmpint (fake.overlaps, ==, 0);
  hr_read_ahead_free (ra);
}

/* A row that cannot be read: the chunks before it arrive; the read of its chunk fails with
 * the source's error, raised on the caller's thread (the worker's failure is read again);
 * the read after a failure starts afresh. */
static void
test_error (void)
{
  Fake fake;
  HrReadAhead *ra;
  g_autoptr (GError) error = NULL;
  const gsize chunk = 16;
  guint64 first;

  fake_init (&fake, 200);
  fake.fail_at = 100;
  ra = hr_read_ahead_new (fake_read, &fake, 200, D);
  for (first = 0; first + chunk <= 100; first += chunk)
    {
      g_assert_true (read_check (ra, first, chunk, NULL, &error));
      g_assert_no_error (error);
    }
  g_assert_false (read_check (ra, first, chunk, NULL, &error)); /* rows 96 to 111 */
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_cmpstr (error->message, ==, "row 100 is bad");
  /* the worker met it first (queued by the read of rows 80 to 95), then the caller */
  g_assert_cmpint (fake.failed_off_caller, >=, 1);
  g_assert_cmpint (fake.fail_calls, ==, fake.failed_off_caller + 1);
  g_clear_error (&error);
  /* past the bad rows, reads go on */
  g_assert_true (read_check (ra, 112, chunk, NULL, &error));
  g_assert_true (read_check (ra, 128, chunk, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (fake.overlaps, ==, 0);
  hr_read_ahead_free (ra);
}

/* Chunks queued with a cancellable that is then cancelled: the read fails as cancelled;
 * reads with another cancellable get their rows, not the error of a chunk whose read on
 * the worker was cancelled. */
static void
test_cancel (void)
{
  Fake fake;
  HrReadAhead *ra;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();

  fake_init (&fake, 100);
  fake.delay_us = 2000;
  ra = hr_read_ahead_new (fake_read, &fake, 100, D);
  g_assert_true (read_check (ra, 0, 10, cancellable, NULL));
  g_assert_true (read_check (ra, 10, 10, cancellable, NULL)); /* queues 20 and 30 */
  g_cancellable_cancel (cancellable);
  g_assert_false (read_check (ra, 20, 10, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  /* rows 20 to 29 may have been read before the cancellation; rows 30 to 39 were read
   * after it (each read takes 2 ms), cancelled, and are read again */
  g_assert_true (read_check (ra, 20, 10, NULL, &error));
  g_assert_no_error (error);
  for (guint64 first = 30; first < 100; first += 10)
    g_assert_true (read_check (ra, first, 10, NULL, NULL));
  g_assert_cmpint (fake.overlaps, ==, 0);
  g_assert_cmpint (fake.calls, >=, 11); /* 10 chunks, one of them at least twice */
  hr_read_ahead_free (ra);
}

/* Freed while the worker reads: it waits for the read and lets the thread go. */
static void
test_free_while_reading (void)
{
  Fake fake;
  HrReadAhead *ra;

  fake_init (&fake, 1000);
  fake.delay_us = 20000;
  ra = hr_read_ahead_new (fake_read, &fake, 1000, D);
  g_assert_true (read_check (ra, 0, 10, NULL, NULL));
  g_assert_true (read_check (ra, 10, 10, NULL, NULL)); /* the worker starts on 20 */
  hr_read_ahead_free (ra);
  g_assert_cmpint (g_atomic_int_get (&fake.in_flight), ==, 0);
  g_assert_cmpint (fake.overlaps, ==, 0);
}

/* A chunk larger than HR_READ_AHEAD_BYTES is not read ahead. */
static void
test_large_chunk (void)
{
  Fake fake;
  HrReadAhead *ra;
  gsize chunk = HR_READ_AHEAD_BYTES / (D * sizeof (float)) + 1;
  guint64 n = 3 * (guint64)chunk;

  fake_init (&fake, n);
  ra = hr_read_ahead_new (fake_read, &fake, n, D);
  for (guint64 first = 0; first < n; first += chunk)
    g_assert_true (read_check (ra, first, chunk, NULL, NULL));
  g_assert_cmpuint (hr_read_ahead_get_hits (ra), ==, 0);
  g_assert_cmpint (fake.calls, ==, 3);
  hr_read_ahead_free (ra);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/read-ahead/sequential", test_sequential);
  g_test_add_func ("/read-ahead/jumps", test_jumps);
  g_test_add_func ("/read-ahead/error", test_error);
  g_test_add_func ("/read-ahead/cancel", test_cancel);
  g_test_add_func ("/read-ahead/free-while-reading", test_free_while_reading);
  g_test_add_func ("/read-ahead/large-chunk", test_large_chunk);
  return g_test_run ();
}
