/* headrank: the command: what its files share (headrank-tool.c: the list of commands,
 * dispatch and helpers; headrank-tool-COMMAND.c: each command) */
#pragma once

#include <headrank.h>

#include "hr-enum-names.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define EXIT_USER_ERROR 1
#define EXIT_USAGE 2
#define EXIT_SIGNAL_BASE 128

typedef struct _HrHeadOptions HrHeadOptions;

struct _HrHeadOptions
{
  char *weights;
  char *arch;
  char *prefix;
  char *activation;
  gboolean batch_stats;
  gint64 batch_size;
  char *layout_name;
  HrStackLayout layout;
};

#define HR_BATCH_SIZE_UNSET G_MININT64
#define HR_HEAD_OPTIONS_INIT                                                                       \
  {                                                                                                \
    NULL, NULL, NULL, NULL, FALSE, HR_BATCH_SIZE_UNSET, NULL, HR_STACK_LAYOUT_AUTO                 \
  }

/* headrank-tool.c */
int hr_usage_error (GOptionContext *context, const char *message);
/* The options of "headrank @name": the head's first when @head is given, then @entries;
 * @usage and @description already translated. */
GOptionContext *hr_command_context (const char *name, const char *usage, const char *description,
                                    const GOptionEntry *entries, HrHeadOptions *head);

/* A cancellable that SIGINT, SIGTERM and SIGHUP cancel (one per process). */
GCancellable *hr_cancellable_new (void);

/* The exit status of a run stopped by a signal: 128 + its number. */
int hr_exit_interrupted (void);

int hr_user_error (const GError *error);
gboolean hr_parse_layout (const char *name, HrStackLayout *layout);
/* A bundled data file: installed data first, then the source tree (for a build tree). */
char *hr_find_data (const char *name);

/* Prints the object built in @b, pretty, with a newline. */
void hr_print_json (JsonBuilder *b);

/* The files of FILE…: the arguments from argv[1] on, a quoted pattern replaced by the files
 * it matches (in name order); NULL with G_IO_ERROR_NOT_FOUND when one matches none. */
GStrv hr_expand_inputs (int argc, char **argv, GError **error);
/* One file as a TIFF source, one zarr store as the features of its layout; several files
 * or stores, a folder or a pattern as one stack (HrConcatSource), as analyze reads them. */
HrSource *hr_open_inputs (const char *const *paths, HrStackLayout layout, GCancellable *cancellable,
                          GError **error);

/* An error of the head or of its run: the message names a file, @path when the library's
 * names none of @path, @other and @more (an architecture spec that cannot be parsed, batches
 * too small for batch statistics). */
int hr_head_error (const GError *error, const char *path, const char *other, const char *more);

/* An error of hr_head_new_from_file_full(): an --arch that cannot be parsed, or an
 * --activation it refuses (not an activation, or for a file that states its architecture),
 * is a usage error (exit 2), anything else as hr_head_error(). Without --arch, the
 * library's only spec errors are the activation's. */
int hr_head_open_error (GOptionContext *context, const GError *error, const char *arch,
                        const char *activation, const char *path);

/* --arch wins over the architecture the file's metadata states (for the same prefix); when
 * the two differ, says so on standard error, naming both, rather than override in silence. */
void hr_head_note_override (HrHead *head, const char *arch, const char *path);

void hr_head_options_clear (HrHeadOptions *o);
/* Adds --weights, --arch, --activation, --prefix, --batch-stats, --batch-size and --layout. */
void hr_head_options_add (GOptionContext *context, HrHeadOptions *o);

/* The entries of the options of a report that analyze and merge share, for their tables
 * of options (in the order each has them): --output DIR, --per-sample FORMAT, --json. */
GOptionEntry hr_option_report_output (char **output);
GOptionEntry hr_option_per_sample (char **name);
GOptionEntry hr_option_report_json (gboolean *json);

/* Checks them once parsed; a usage error's exit status, or 0. */
int hr_head_options_check (GOptionContext *context, HrHeadOptions *o);

/* Reads the head of @o. */
HrHead *hr_head_options_load (const HrHeadOptions *o, GCancellable *cancellable, GError **error);

HrNormMode hr_head_options_mode (const HrHeadOptions *o);
gsize hr_head_options_batch_size (const HrHeadOptions *o);
/* Prints a user error (one line) and frees it. */
int hr_fail (char *message);
/* The value of --per-sample (csv, csv.gz or none; NULL leaves @format as it is) into
 * @format: 0, or the exit status of the usage error it printed. */
int hr_parse_per_sample (GOptionContext *context, const char *name, HrPerSampleFormat *format);
/* 0 when the folder @output (or NULL) can be written, else the exit status of the error it
 * printed: @output exists and is not a folder. */
int hr_check_output_folder (const char *output);
/* Whether @error is a run stopped by a signal; if so, says "interrupted" and puts the exit
 * status (128 + the signal's number) in @status. */
gboolean hr_interrupted (const GError *error, int *status);

/* headrank-tool-info.c */
int hr_command_info (int argc, char **argv);

/* headrank-tool-project.c */
int hr_command_project (int argc, char **argv);

/* headrank-tool-analyze.c */
int hr_command_analyze (int argc, char **argv);

/* Which of the bundled sample's files "headrank analyze" without FILE took. */
typedef enum
{
  HR_BUNDLED_FEATURES = 1 << 0,
  HR_BUNDLED_HEAD = 1 << 1,
  HR_BUNDLED_PAIRS = 1 << 2,
} HrBundled;

/* What was analysed (one line), the tables, verdict and notes of a finished analysis, and
 * where its report went; @bundled: the bundled files it took, named as such. */
void hr_analysis_print_text (HrAnalysis *analysis, const char *output, HrBundled bundled);
/* Prints a finished analysis: its report as JSON with @json, else as text (with the folder
 * @output it went to); returns EXIT_SUCCESS. */
int hr_print_analysis (HrAnalysis *analysis, gboolean json, const char *output, HrBundled bundled);

/* headrank-tool-merge.c */
int hr_command_merge (int argc, char **argv);

/* headrank-tool-compare.c */
int hr_command_compare (int argc, char **argv);

/* headrank-tool-head.c */
int hr_command_head_describe (int argc, char **argv);
int hr_command_head_presets (int argc, char **argv);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HrHeadOptions, hr_head_options_clear)

G_END_DECLS
