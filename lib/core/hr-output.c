/* headrank: where output files and folders go, and how they get there (see hr-output.h) */
#define _GNU_SOURCE /* renameat2 */

#include "hr-private.h"
#include "hr-output.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* How long a writer waits between two attempts at a lock held by another process. */
#define HR_LOCK_POLL_US (50 * 1000)

/* -- checkpoints, for the tests of interruption -------------------------------------------- */

/* HEADRANK_DEBUG_STOP=N stops the process (SIGSTOP) when it passes the N-th checkpoint;
 * once continued (SIGCONT) it waits 0.1 s before it goes on. HEADRANK_DEBUG_STOP=list
 * prints each checkpoint on standard error as it passes. A test sends a signal to the
 * stopped process and continues it, and so hits each point of the writing of an output in
 * turn (tests/faults). Neither is meant for anything but testing.
 *
 * Two threads may pass checkpoints at once (the report writes per_sample.csv on a thread of
 * its own, hr_write_report_files()), so one lock covers the count, the line printed and the
 * stop: the numbers on standard error then come out in order, and the process stops at the
 * checkpoint that carries the number N. */
void
hr_output_checkpoint (const char *what)
{
  static gsize init = 0;
  static gboolean list = FALSE;
  static gint64 stop_at = 0;
  static gint count = 0;
  static GMutex lock;
  int n;

  if (g_once_init_enter (&init))
    {
      const char *env = g_getenv ("HEADRANK_DEBUG_STOP");

      if (env != NULL && strcmp (env, "list") == 0)
        list = TRUE;
      else if (env != NULL)
        stop_at = g_ascii_strtoll (env, NULL, 10);
      g_once_init_leave (&init, 1);
    }
  if (!list && stop_at <= 0)
    return;
  g_mutex_lock (&lock);
  n = ++count;
  if (list)
    g_printerr ("headrank: checkpoint %d: %s\n", n, what); /* debugging aid, not translated */
  if (n == stop_at)
    {
      sigset_t pending;

      raise (SIGSTOP);
      /* continued: let a signal sent meanwhile be handled before going on, so that a test
       * knows at which point it arrived (the command cancels from a thread of its own) */
      for (int i = 0; i < 500; i++)
        {
          sigpending (&pending);
          if (!sigismember (&pending, SIGINT) && !sigismember (&pending, SIGTERM)
              && !sigismember (&pending, SIGHUP))
            break;
          g_usleep (10 * 1000);
        }
      g_usleep (100 * 1000);
    }
  g_mutex_unlock (&lock);
}

/* -- what an output may replace ------------------------------------------------------------ */

static const char *
hr_file_kind (mode_t mode)
{
  if (S_ISDIR (mode))
    return _ ("a folder");
  if (S_ISCHR (mode))
    return _ ("a character device");
  if (S_ISBLK (mode))
    return _ ("a block device");
  if (S_ISFIFO (mode))
    return _ ("a FIFO");
  if (S_ISSOCK (mode))
    return _ ("a socket");
  return _ ("a regular file");
}

static void hr_set_errno_error (GError **error, int saved, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

/* An error from errno @saved: "WHAT: the system's message", WHAT made from @format. */
static void
hr_set_errno_error (GError **error, int saved, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", what,
               g_strerror (saved));
}

/* @path without trailing slashes ("out/" is "out"; "/" stays "/"). */
static char *
hr_strip_slashes (const char *path)
{
  char *copy = g_strdup (path);
  gsize len = strlen (copy);

  while (len > 1 && copy[len - 1] == G_DIR_SEPARATOR)
    copy[--len] = '\0';
  return copy;
}

/*
 * hr_output_resolve:
 * @path: an output file or folder
 * @folder: whether the output is a folder (a report) rather than a file
 *
 * Where the output @path really goes. A path that does not exist is used as it is. A
 * symbolic link is followed: the file (or folder) it points to is what gets replaced, and
 * the link stays, as with the shell's `>`. What exists, directly or behind a link, must be a
 * regular file (a folder when @folder): devices such as `/dev/null`, FIFOs and sockets are
 * refused, so that an output can never replace them. A link to nothing is refused too.
 *
 * Returns: the path to write, or %NULL with @error set (%G_IO_ERROR)
 */
char *
hr_output_resolve (const char *path, gboolean folder, GError **error)
{
  g_autofree char *clean = hr_strip_slashes (path);
  GStatBuf lst, st;
  char *real;

  if (g_lstat (clean, &lst) != 0)
    {
      int saved = errno;

      if (saved == ENOENT)
        return g_steal_pointer (&clean);
      hr_set_errno_error (error, saved, _ ("cannot write %s"), clean);
      return NULL;
    }
  if (g_stat (clean, &st) != 0)
    {
      int saved = errno;

      hr_set_errno_error (error, saved,
                          /* TRANSLATORS: %s is an output file that is a symbolic link to a
                             file that cannot be reached; the reason follows */
                          _ ("cannot write %s, a symbolic link to a file that cannot be reached"),
                          clean);
      return NULL;
    }
  if (folder && !S_ISDIR (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
                   /* TRANSLATORS: %s is the output folder of a report, then what it is
                      instead ("a regular file", "a character device", …) */
                   _ ("%s is %s, not a folder: a report is written into a folder"), clean,
                   hr_file_kind (st.st_mode));
      return NULL;
    }
  if (!folder && !S_ISREG (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                   /* TRANSLATORS: %s is an output file, then what it is ("a folder", "a
                      character device", …) */
                   _ ("%s is %s: headrank replaces only regular files"), clean,
                   hr_file_kind (st.st_mode));
      return NULL;
    }
  if (!S_ISLNK (lst.st_mode))
    return g_steal_pointer (&clean);
  real = realpath (clean, NULL);
  if (real == NULL)
    {
      hr_set_errno_error (error, errno, _ ("cannot write %s"), clean);
      return NULL;
    }
  g_free (clean);
  clean = g_strdup (real);
  free (real);
  return g_steal_pointer (&clean);
}

/* `DIR/.NAME.headrank-SUFFIX` for the output DIR/NAME. */
static char *
hr_output_sibling (const char *path, const char *suffix)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);

  return g_strdup_printf ("%s%c.%s" HR_OUTPUT_INFIX "%s", dir, G_DIR_SEPARATOR, base, suffix);
}

/* A template for g_mkstemp() and g_mkdtemp(): `DIR/.NAME.headrank-XXXXXX`. */
char *
hr_output_temp_template (const char *path)
{
  return hr_output_sibling (path, "XXXXXX");
}

/* Removes @path, and everything in it when it is a folder (never following links). */
static void
hr_remove_tree (const char *path)
{
  GStatBuf st;
  GDir *dir;
  const char *name;

  if (g_lstat (path, &st) != 0)
    return;
  if (!S_ISDIR (st.st_mode))
    {
      g_unlink (path);
      return;
    }
  dir = g_dir_open (path, 0, NULL);
  if (dir != NULL)
    {
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          hr_remove_tree (child);
        }
      g_dir_close (dir);
    }
  g_rmdir (path);
}

static gboolean
hr_fsync_path (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int saved;

  if (fd >= 0 && fsync (fd) == 0)
    {
      close (fd);
      return TRUE;
    }
  saved = errno;
  if (fd >= 0)
    close (fd);
  /* some file systems cannot sync a folder; the files in it are synced already */
  if (saved == EINVAL || saved == EROFS || saved == EBADF)
    return TRUE;
  hr_set_errno_error (error, saved, _ ("cannot write %s"), path);
  return FALSE;
}

/* -- the lock -------------------------------------------------------------------------------- */

struct _HrOutputLock
{
  char *path; /* the lock file */
  int fd;     /* -1 where the file system has no locks */
};

/* Removes what a writer of @path that was killed left behind: its temporary files and
 * folders. A folder set aside by the two-rename swap (".NAME.headrank-old-…") is put back
 * when @path is missing: the swap was cut between its two renames. Only called with the
 * lock held, so nothing removed here belongs to a writer that is still running. */
static void
hr_output_sweep (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *prefix = g_strdup_printf (".%s" HR_OUTPUT_INFIX, base);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) stale = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (d == NULL)
    return;
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, prefix) && strcmp (name + strlen (prefix), "lock") != 0)
      g_ptr_array_add (stale, g_build_filename (dir, name, NULL));
  for (guint i = 0; i < stale->len; i++)
    {
      const char *full = g_ptr_array_index (stale, i);
      g_autofree char *tail = g_path_get_basename (full);

      if (g_str_has_prefix (tail + strlen (prefix), "old-")
          && !g_file_test (path, G_FILE_TEST_EXISTS) && g_rename (full, path) == 0)
        continue;
      hr_remove_tree (full);
    }
}

/*
 * hr_output_lock_acquire:
 * @path: the output (resolved)
 * @wait: whether to wait for another writer of @path to finish, or fail at once
 *
 * Takes the lock of the output @path: an exclusive flock() on `.NAME.headrank-lock` beside
 * it, which the kernel releases however the process ends. Then removes the temporaries of
 * writers of @path that were killed. Waiting can be cancelled.
 *
 * Returns: (transfer full): the lock, or %NULL with %G_IO_ERROR_BUSY (not @wait),
 *   %G_IO_ERROR_CANCELLED or the error of the lock file
 */
HrOutputLock *
hr_output_lock_acquire (const char *path, gboolean wait, GCancellable *cancellable, GError **error)
{
  g_autoptr (HrOutputLock) lock = g_new0 (HrOutputLock, 1);

  lock->path = hr_output_sibling (path, "lock");
  lock->fd = -1;
  for (;;)
    {
      int fd = open (lock->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
      int saved;
      GStatBuf st;
      struct stat fst;

      if (fd < 0)
        {
          int open_errno = errno;
          g_autofree char *dir = g_path_get_dirname (path);

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (open_errno),
                       _ ("%s: cannot create a file in %s: %s"), path, dir,
                       g_strerror (open_errno));
          return NULL;
        }
      if (flock (fd, LOCK_EX | LOCK_NB) == 0)
        {
          /* the holder before us removes the file as it lets go: ours must still be it */
          if (fstat (fd, &fst) == 0 && g_stat (lock->path, &st) == 0 && fst.st_dev == st.st_dev
              && fst.st_ino == st.st_ino)
            {
              lock->fd = fd;
              break;
            }
          close (fd);
          continue;
        }
      saved = errno;
      close (fd);
      if (saved == ENOLCK || saved == EOPNOTSUPP || saved == ENOSYS)
        {
          /* a file system without locks: write unlocked, and leave temporaries alone */
          g_unlink (lock->path);
          return g_steal_pointer (&lock);
        }
      if (saved != EWOULDBLOCK && saved != EINTR)
        {
          hr_set_errno_error (error, saved, _ ("cannot write %s"), lock->path);
          return NULL;
        }
      if (!wait)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                       /* TRANSLATORS: %s is an output file or folder */
                       _ ("%s is being written by another process (another headrank); wait "
                          "for it to finish or choose another output"),
                       path);
          return NULL;
        }
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
      g_usleep (HR_LOCK_POLL_US);
    }
  hr_output_sweep (path);
  return g_steal_pointer (&lock);
}

void
hr_output_lock_release (HrOutputLock *lock)
{
  if (lock == NULL)
    return;
  if (lock->fd >= 0)
    {
      /* removed before it is let go: a waiter that gets the old file tries again */
      g_unlink (lock->path);
      close (lock->fd);
    }
  g_free (lock->path);
  g_free (lock);
}

/* -- a file written whole ------------------------------------------------------------------ */

struct _HrOutputFile
{
  char *path;   /* as given, for messages */
  char *target; /* where it goes: a symbolic link followed */
  char *temp;   /* .NAME.headrank-XXXXXX beside it; NULL once renamed */
  HrOutputLock *lock;
  int fd;   /* owned by @fp once there is one */
  FILE *fp; /* hr_output_file_get_stream() */
  gboolean checkpoints;
};

/*
 * hr_output_file_begin:
 * @path: the output file
 * @flags: whether it is an output of its own (%HR_OUTPUT_FILE_LOCK) or a file of a folder
 *   being written
 *
 * Starts writing the file @path whole: checks that it may be replaced (hr_output_resolve():
 * a regular file, or a link to one, which stays a link), takes its lock with
 * %HR_OUTPUT_FILE_LOCK, and creates the temporary file `.NAME.headrank-XXXXXX` in the
 * target's folder (so that the rename cannot cross file systems). Write it through
 * hr_output_file_get_fd() or hr_output_file_get_stream(), then hr_output_file_commit();
 * hr_output_file_free() without a commit removes it.
 *
 * Returns: (transfer full): the file being written, or %NULL with @error set (%G_IO_ERROR)
 */
HrOutputFile *
hr_output_file_begin (const char *path, HrOutputFileFlags flags, GError **error)
{
  g_autoptr (HrOutputFile) file = g_new0 (HrOutputFile, 1);

  file->fd = -1;
  file->path = g_strdup (path);
  file->checkpoints = (flags & HR_OUTPUT_FILE_LOCK) != 0;
  file->target = hr_output_resolve (path, FALSE, error);
  if (file->target == NULL)
    return NULL;
  if (flags & HR_OUTPUT_FILE_LOCK)
    {
      file->lock = hr_output_lock_acquire (file->target, FALSE, NULL, error);
      if (file->lock == NULL)
        return NULL;
    }
  file->temp = hr_output_temp_template (file->target);
  file->fd = g_mkstemp_full (file->temp, O_RDWR | O_CLOEXEC, 0666);
  if (file->fd < 0)
    {
      int saved = errno;
      g_autofree char *dir = g_path_get_dirname (path);

      g_clear_pointer (&file->temp, g_free);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _ ("%s: cannot create a file in %s: %s"), path, dir, g_strerror (saved));
      return NULL;
    }
  return g_steal_pointer (&file);
}

/* The descriptor of the temporary file, which stays @file's: a library that closes what it
 * is given (libtiff) takes a dup() of it. */
int
hr_output_file_get_fd (HrOutputFile *file)
{
  return file->fd;
}

/* The temporary file as a stdio stream (made at the first call), which stays @file's. */
FILE *
hr_output_file_get_stream (HrOutputFile *file, GError **error)
{
  if (file->fp == NULL)
    {
      file->fp = fdopen (file->fd, "w");
      if (file->fp == NULL)
        {
          hr_set_errno_error (error, errno, _ ("cannot write %s"), file->path);
          return NULL;
        }
    }
  return file->fp;
}

/* The temporary file's name (for messages of libraries that want one). */
const char *
hr_output_file_get_temp_path (HrOutputFile *file)
{
  return file->temp;
}

/* Closes the temporary file: flushes and syncs it first when @sync. Returns 0 or an errno. */
static int
hr_output_file_close (HrOutputFile *file, gboolean sync)
{
  int saved = 0;

  if (file->fp != NULL)
    {
      if (sync && (fflush (file->fp) != 0 || ferror (file->fp)))
        saved = errno != 0 ? errno : EIO;
      if (sync && saved == 0 && fsync (file->fd) != 0)
        saved = errno;
      if (fclose (file->fp) != 0 && saved == 0 && sync)
        saved = errno;
    }
  else if (file->fd >= 0)
    {
      if (sync && fsync (file->fd) != 0)
        saved = errno;
      if (close (file->fd) != 0 && saved == 0 && sync)
        saved = errno;
    }
  file->fp = NULL;
  file->fd = -1;
  return saved;
}

/*
 * hr_output_file_commit:
 * @file: a file being written, complete
 *
 * Syncs the temporary file (fsync) and renames it over the target, unless @cancellable is
 * cancelled first. An output of its own passes the checkpoints "about to rename the file"
 * (after the last check for cancellation) and "file in place". On failure the target is as
 * it was and hr_output_file_free() removes the temporary file.
 *
 * Returns: %TRUE once the file is in place
 */
gboolean
hr_output_file_commit (HrOutputFile *file, GCancellable *cancellable, GError **error)
{
  int saved = hr_output_file_close (file, TRUE);

  if (saved != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", file->path,
                   g_strerror (saved));
      return FALSE;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (file->checkpoints)
    hr_output_checkpoint ("about to rename the file");
  if (g_rename (file->temp, file->target) != 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", file->path,
                   g_strerror (saved));
      return FALSE;
    }
  g_clear_pointer (&file->temp, g_free);
  if (file->checkpoints)
    hr_output_checkpoint ("file in place");
  g_clear_pointer (&file->lock, hr_output_lock_release);
  return TRUE;
}

/* Lets go of @file: unless committed, closes and removes the temporary file. */
void
hr_output_file_free (HrOutputFile *file)
{
  if (file == NULL)
    return;
  hr_output_file_close (file, FALSE);
  if (file->temp != NULL)
    g_unlink (file->temp);
  g_clear_pointer (&file->lock, hr_output_lock_release);
  g_free (file->temp);
  g_free (file->target);
  g_free (file->path);
  g_free (file);
}

/* -- a folder written as a whole ------------------------------------------------------------ */

struct _HrOutputDir
{
  char *path;    /* the target folder, resolved */
  char *staging; /* the folder being built, beside it */
  HrOutputLock *lock;
  GPtrArray *made; /* parent folders this writer made, outermost first */
  gboolean committed;
};

/* Makes @folder and its missing parents, remembering which. */
static gboolean
hr_output_make_parents (HrOutputDir *dir, const char *folder, GError **error)
{
  g_autofree char *parent = NULL;

  if (g_file_test (folder, G_FILE_TEST_IS_DIR))
    return TRUE;
  parent = g_path_get_dirname (folder);
  if (strcmp (parent, folder) != 0 && !hr_output_make_parents (dir, parent, error))
    return FALSE;
  if (g_mkdir (folder, 0777) == 0)
    {
      g_ptr_array_add (dir->made, g_strdup (folder));
      return TRUE;
    }
  if (errno == EEXIST && g_file_test (folder, G_FILE_TEST_IS_DIR))
    return TRUE;
  hr_set_errno_error (error, errno == EEXIST ? ENOTDIR : errno, _ ("cannot make the folder %s"),
                      folder);
  return FALSE;
}

/* Whether @path holds a report: a report.json that headrank wrote. */
static gboolean
hr_output_holds_report (const char *path)
{
  g_autofree char *json = g_build_filename (path, "report.json", NULL);
  char head[256] = { 0 };
  FILE *fp = fopen (json, "re");
  gsize n;

  if (fp == NULL)
    return FALSE;
  n = fread (head, 1, sizeof head - 1, fp);
  fclose (fp);
  head[n] = '\0';
  return head[0] == '{' && strstr (head, "\"report_format\"") != NULL;
}

/* Whether the folder @path may be replaced by a report: it does not exist, or it is a
 * writable folder, not the current one nor one of its parents, that is empty or holds a
 * report. Anything else would be lost with it. */
static gboolean
hr_output_check_replaceable (const char *path, GError **error)
{
  GStatBuf st;
  g_autofree char *cwd = g_get_current_dir ();
  g_autoptr (GDir) d = NULL;
  char *real;
  gboolean contains_cwd;

  if (g_lstat (path, &st) != 0)
    {
      if (errno == ENOENT)
        return TRUE;
      hr_set_errno_error (error, errno, _ ("cannot write %s"), path);
      return FALSE;
    }
  if (!S_ISDIR (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
                   _ ("%s is %s, not a folder: a report is written into a folder"), path,
                   hr_file_kind (st.st_mode));
      return FALSE;
    }
  if (access (path, W_OK) != 0)
    {
      hr_set_errno_error (error, errno, _ ("cannot write %s"), path);
      return FALSE;
    }
  real = realpath (path, NULL);
  contains_cwd = real != NULL
                 && (strcmp (real, cwd) == 0 || strcmp (real, "/") == 0
                     || (g_str_has_prefix (cwd, real) && cwd[strlen (real)] == G_DIR_SEPARATOR));
  free (real);
  if (contains_cwd)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   /* TRANSLATORS: %s is the output folder of a report */
                   _ ("%s holds the current folder: a report replaces its folder as a whole; "
                      "give a new folder"),
                   path);
      return FALSE;
    }
  d = g_dir_open (path, 0, NULL);
  if (d == NULL || g_dir_read_name (d) == NULL || hr_output_holds_report (path))
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
               /* TRANSLATORS: %s is the output folder of a report */
               _ ("%s holds files but no headrank report: a report replaces its folder as a "
                  "whole, so it goes into a new folder, an empty one or an older report"),
               path);
  return FALSE;
}

/*
 * hr_output_dir_begin:
 * @path: the output folder
 *
 * Starts writing the folder @path as a whole: checks that it may be replaced, makes its
 * parents, takes its lock (waiting, cancellably, for another writer) and makes the
 * temporary folder to write into, hr_output_dir_get_staging().
 *
 * Returns: (transfer full): the folder being written, or %NULL with @error set
 */
HrOutputDir *
hr_output_dir_begin (const char *path, GCancellable *cancellable, GError **error)
{
  g_autoptr (HrOutputDir) dir = g_new0 (HrOutputDir, 1);
  g_autofree char *parent = NULL;

  dir->made = g_ptr_array_new_with_free_func (g_free);
  dir->path = hr_output_resolve (path, TRUE, error);
  if (dir->path == NULL)
    return NULL;
  parent = g_path_get_dirname (dir->path);
  if (!hr_output_make_parents (dir, parent, error))
    return NULL;
  dir->lock = hr_output_lock_acquire (dir->path, TRUE, cancellable, error);
  if (dir->lock == NULL)
    return NULL;
  hr_output_checkpoint ("folder locked");
  if (!hr_output_check_replaceable (dir->path, error))
    return NULL;
  dir->staging = hr_output_temp_template (dir->path);
  /* 0777 less the umask, as mkdir gives; an existing folder's mode is kept at the swap */
  if (g_mkdtemp_full (dir->staging, 0777) == NULL)
    {
      int saved = errno;

      g_clear_pointer (&dir->staging, g_free);
      hr_set_errno_error (error, saved, _ ("cannot make the folder %s"), parent);
      return NULL;
    }
  hr_output_checkpoint ("temporary folder made");
  return g_steal_pointer (&dir);
}

const char *
hr_output_dir_get_staging (HrOutputDir *dir)
{
  return dir->staging;
}

#ifdef RENAME_EXCHANGE
/* HEADRANK_DEBUG_NO_EXCHANGE=1 makes the swap take the two renames of file systems without
 * RENAME_EXCHANGE, so that the tests reach that path too. */
static gboolean
hr_output_use_exchange (void)
{
  static gsize use = 0;

  if (g_once_init_enter (&use))
    g_once_init_leave (&use, g_getenv ("HEADRANK_DEBUG_NO_EXCHANGE") == NULL ? 1 : 2);
  return use == 1;
}
#endif

/* Swaps the complete folder at @staging with the existing @path. */
static gboolean
hr_output_swap (HrOutputDir *dir, char **old, GError **error)
{
  g_autofree char *aside = NULL;

#ifdef RENAME_EXCHANGE
  if (hr_output_use_exchange ()
      && renameat2 (AT_FDCWD, dir->staging, AT_FDCWD, dir->path, RENAME_EXCHANGE) == 0)
    {
      *old = g_steal_pointer (&dir->staging);
      return TRUE;
    }
  if (hr_output_use_exchange () && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
    {
      hr_set_errno_error (error, errno, _ ("cannot replace %s"), dir->path);
      return FALSE;
    }
#endif
  /* no exchange here: set the old folder aside (renamed onto an empty folder, which
   * rename() replaces), put the new one in its place, and on failure the old one back */
  aside = hr_output_sibling (dir->path, "old-XXXXXX");
  if (g_mkdtemp_full (aside, 0700) == NULL || g_rename (dir->path, aside) != 0)
    {
      int saved = errno;

      if (aside != NULL)
        g_rmdir (aside);
      hr_set_errno_error (error, saved, _ ("cannot replace %s"), dir->path);
      return FALSE;
    }
  hr_output_checkpoint ("previous folder set aside");
  if (g_rename (dir->staging, dir->path) != 0)
    {
      int saved = errno;

      g_rename (aside, dir->path);
      hr_set_errno_error (error, saved, _ ("cannot replace %s"), dir->path);
      return FALSE;
    }
  g_clear_pointer (&dir->staging, g_free);
  *old = g_steal_pointer (&aside);
  return TRUE;
}

/*
 * hr_output_dir_commit:
 * @dir: a folder being written
 *
 * Syncs the temporary folder and puts it in the place of the target with one rename,
 * unless @cancellable is cancelled; then removes the previous folder and lets go of the
 * lock. On failure the previous folder is intact.
 *
 * Returns: %TRUE once the new folder is in place
 */
gboolean
hr_output_dir_commit (HrOutputDir *dir, GCancellable *cancellable, GError **error)
{
  g_autofree char *parent = g_path_get_dirname (dir->path);
  g_autofree char *old = NULL;
  GStatBuf st;

  if (!hr_fsync_path (dir->staging, error))
    return FALSE;
  if (g_stat (dir->path, &st) == 0)
    {
      if (g_chmod (dir->staging, st.st_mode & 07777) != 0)
        {
          hr_set_errno_error (error, errno, _ ("cannot write %s"), dir->path);
          return FALSE;
        }
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      hr_output_checkpoint ("about to swap the folders");
      if (!hr_output_swap (dir, &old, error))
        return FALSE;
    }
  else
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      hr_output_checkpoint ("about to rename the folder");
      if (g_rename (dir->staging, dir->path) != 0)
        {
          hr_set_errno_error (error, errno, _ ("cannot write %s"), dir->path);
          return FALSE;
        }
      g_clear_pointer (&dir->staging, g_free);
    }
  dir->committed = TRUE;
  /* the new folder is in place: what follows cannot undo it */
  hr_output_checkpoint ("folder in place");
  hr_fsync_path (parent, NULL);
  if (old != NULL)
    {
      hr_remove_tree (old);
      hr_output_checkpoint ("previous folder removed");
    }
  g_clear_pointer (&dir->lock, hr_output_lock_release);
  return TRUE;
}

/* Lets go of @dir: unless committed, removes the temporary folder and the parents it made. */
void
hr_output_dir_free (HrOutputDir *dir)
{
  if (dir == NULL)
    return;
  if (dir->staging != NULL)
    hr_remove_tree (dir->staging);
  g_clear_pointer (&dir->lock, hr_output_lock_release);
  if (!dir->committed)
    for (guint i = dir->made->len; i > 0; i--)
      g_rmdir (g_ptr_array_index (dir->made, i - 1));
  g_ptr_array_unref (dir->made);
  g_free (dir->staging);
  g_free (dir->path);
  g_free (dir);
}
