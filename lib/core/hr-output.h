/* headrank: where output files and folders go, and how they get there (internal)
 *
 * One place for the rules every output follows:
 *
 * - hr_output_resolve(): an output that exists must be a regular file (or, for a report, a
 *   folder); devices, FIFOs, sockets and links to them are refused. A symbolic link is
 *   followed: the file or folder it points to is replaced and the link stays.
 * - HrOutputLock: a lock file `.NAME.headrank-lock` beside the output NAME, held while it
 *   is written, so that two writers of one output never mix; whoever holds it removes the
 *   temporaries (`.NAME.headrank-XXXXXX`) a killed writer left behind.
 * - HrOutputFile: a file written whole: under a temporary name beside the target, synced,
 *   and renamed into place; removed, never left half-written, on error or cancellation. The
 *   one way a file output is written (TIFF stacks, report files, plots).
 * - HrOutputDir: a folder written as a whole: built in a temporary folder beside the target,
 *   synced, and swapped in with one rename (renameat2 RENAME_EXCHANGE, or two renames where
 *   the file system has no exchange).
 * - hr_output_checkpoint(): the points at which the debug variable HEADRANK_DEBUG_STOP stops
 *   the process, for the tests of interruption.
 */
#pragma once

#include <stdio.h>

#include <gio/gio.h>

G_BEGIN_DECLS

/* The infix of every temporary name: `.NAME` HR_OUTPUT_INFIX `XXXXXX`. */
#define HR_OUTPUT_INFIX ".headrank-"

char *hr_output_resolve (const char *path, gboolean folder, GError **error);

char *hr_output_temp_template (const char *path);

void hr_output_checkpoint (const char *what);

typedef struct _HrOutputLock HrOutputLock;

HrOutputLock *hr_output_lock_acquire (const char *path, gboolean wait, GCancellable *cancellable,
                                      GError **error);
void hr_output_lock_release (HrOutputLock *lock);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrOutputLock, hr_output_lock_release)

/*
 * HrOutputFileFlags:
 * @HR_OUTPUT_FILE_NONE: a file of a folder being written (HrOutputDir), whose lock and
 *   checkpoints are the folder's
 * @HR_OUTPUT_FILE_LOCK: an output of its own: take its lock (failing at once with
 *   %G_IO_ERROR_BUSY when another writer holds it), and pass the checkpoints "about to
 *   rename the file" and "file in place" at the commit
 */
typedef enum
{
  HR_OUTPUT_FILE_NONE = 0,
  HR_OUTPUT_FILE_LOCK = 1 << 0,
} HrOutputFileFlags;

typedef struct _HrOutputFile HrOutputFile;

HrOutputFile *hr_output_file_begin (const char *path, HrOutputFileFlags flags, GError **error);
int hr_output_file_get_fd (HrOutputFile *file);
FILE *hr_output_file_get_stream (HrOutputFile *file, GError **error);
const char *hr_output_file_get_temp_path (HrOutputFile *file);
gboolean hr_output_file_commit (HrOutputFile *file, GCancellable *cancellable, GError **error);
void hr_output_file_free (HrOutputFile *file);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrOutputFile, hr_output_file_free)

typedef struct _HrOutputDir HrOutputDir;

HrOutputDir *hr_output_dir_begin (const char *path, GCancellable *cancellable, GError **error);
const char *hr_output_dir_get_staging (HrOutputDir *dir);
gboolean hr_output_dir_commit (HrOutputDir *dir, GCancellable *cancellable, GError **error);
void hr_output_dir_free (HrOutputDir *dir);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrOutputDir, hr_output_dir_free)

G_END_DECLS
