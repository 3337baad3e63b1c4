/* headrank fuzz target: report.json files through HrComparison (headrank compare)
 *
 * Built as a libFuzzer target (-Dfuzzing=true, clang) or, with fuzz-main.c, as a plain
 * program that replays a corpus (the fuzz test suite).
 *
 * Each input is written to a private temporary file and read as a report by
 * hr_comparison_new_from_reports(), alone and twice (compared with itself). Besides crashes
 * and sanitizer reports, the target aborts when the library breaks its contract:
 *  - a failure without an error, a success with one, an error outside
 *    HR_ANALYSIS_ERROR_REPORT and G_IO_ERROR, an empty message, or a REPORT error that does
 *    not name the file;
 *  - a report read alone but refused when compared with itself, or a warning then;
 *  - JSON output that json-glib cannot parse, or without one entry per report; CSV output
 *    without its header line;
 *  - a GLib warning or critical.
 */
#include <headrank.h>

#define FUZZ_TARGET "fuzz-report"
#include "fuzz-input.h"

#include <json-glib/json-glib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char *fuzz_path;

static void
check_error (const GError *error)
{
  if (error == NULL)
    FUZZ_FAIL ("failed without an error");
  if (error->message == NULL || error->message[0] == '\0')
    FUZZ_FAIL ("an error without a message");
  if (error->domain == HR_ANALYSIS_ERROR)
    {
      if (error->code != HR_ANALYSIS_ERROR_REPORT)
        FUZZ_FAIL ("HR_ANALYSIS_ERROR code %d: %s", error->code, error->message);
      if (strstr (error->message, fuzz_path) == NULL)
        FUZZ_FAIL ("the message does not name the file: %s", error->message);
    }
  else if (error->domain != G_IO_ERROR)
    FUZZ_FAIL ("error outside HR_ANALYSIS_ERROR and G_IO_ERROR: %s %d: %s",
               g_quark_to_string (error->domain), error->code, error->message);
}

static void
check_outputs (HrComparison *cmp, guint n)
{
  g_autofree char *json = hr_comparison_to_json (cmp, FALSE);
  g_autofree char *csv = hr_comparison_to_csv (cmp);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (hr_comparison_get_n_reports (cmp) != n)
    FUZZ_FAIL ("%u reports, not %u", hr_comparison_get_n_reports (cmp), n);
  if (!json_parser_load_from_data (parser, json, -1, NULL))
    FUZZ_FAIL ("compare.json does not parse");
  root = json_parser_get_root (parser);
  if (json_array_get_length (json_object_get_array_member (json_node_get_object (root), "reports"))
      != n)
    FUZZ_FAIL ("compare.json has not %u reports", n);
  if (!g_str_has_prefix (csv, "report,stage,"))
    FUZZ_FAIL ("compare.csv without its header");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrComparison) cmp = NULL, twice = NULL;
  const char *paths[3];

  if (fuzz_path == NULL)
    {
      g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
      fuzz_path = fuzz_input_open (".json");
    }
  fuzz_input_write (data, size);
  paths[0] = paths[1] = fuzz_path;
  paths[2] = NULL;
  paths[1] = NULL;
  cmp = hr_comparison_new_from_reports (paths, &error);
  if (cmp == NULL)
    {
      check_error (error);
      return 0;
    }
  if (error != NULL)
    FUZZ_FAIL ("success with an error set");
  check_outputs (cmp, 1);
  paths[1] = fuzz_path;
  twice = hr_comparison_new_from_reports (paths, &error);
  if (twice == NULL)
    FUZZ_FAIL ("a report refused when compared with itself: %s", error->message);
  if (hr_comparison_get_warnings (twice)[0] != NULL)
    FUZZ_FAIL ("a warning comparing a report with itself: %s",
               hr_comparison_get_warnings (twice)[0]);
  check_outputs (twice, 2);
  return 0;
}
