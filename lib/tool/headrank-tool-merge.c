/* headrank merge: the report of the parts that "headrank analyze --partial" wrote */
#include "config.h"

#include "headrank-tool.h"

#include <string.h>

int
hr_command_merge (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = hr_cancellable_new ();
  g_autoptr (HrHead) head = NULL;
  g_autoptr (HrAnalysis) analysis = NULL;
  g_auto (HrHeadOptions) o = HR_HEAD_OPTIONS_INIT;
  g_autofree char *output = NULL, *per_sample_name = NULL;
  HrPerSampleFormat per_sample = HR_PER_SAMPLE_FORMAT_CSV;
  gboolean json = FALSE;
  int status;
  GOptionEntry entries[]
      = { hr_option_report_output (&output), hr_option_per_sample (&per_sample_name),
          hr_option_report_json (&json), G_OPTION_ENTRY_NULL };

  context = hr_command_context (
      "merge",
      /* TRANSLATORS: the usage line of "headrank merge" */
      _ ("PART… — the report of the parts of “headrank analyze --partial”"),
      /* TRANSLATORS: the description at the end of "headrank merge --help" */
      _ ("Merges the parts that “headrank analyze --partial PART” wrote for disjoint samples "
         "(files, processes or machines) into the report of all of them, as one “headrank "
         "analyze” over the samples in the order of the parts would write it: the moments "
         "merged exactly (within the error bound of doc/partial.md), the per-sample tables "
         "concatenated with the samples numbered across the parts (parts made with --per-sample "
         "none "
         "have none, and the report then has no per-sample table), the contrastive measures of "
         "parts made with pairs merged from their sums. Parts made with a head "
         "need the same head (--weights, and --arch, --prefix or --activation as given to "
         "analyze): its checksum is compared with the parts'. Parts that disagree (the "
         "features' dimension, the head, the options, the stages) or are damaged, cut or of "
         "another format version are refused. The output folder is replaced as a whole."),
      entries, &o);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return hr_usage_error (context, error->message);
  if ((status = hr_head_options_check (context, &o)) != 0)
    return status;
  if (o.batch_stats || o.batch_size != HR_BATCH_SIZE_UNSET || o.layout_name != NULL)
    return hr_usage_error (context, _ ("--batch-stats, --batch-size and --layout are options of "
                                       "analyze: the parts keep those they were made with"));
  if (argc < 2)
    return hr_usage_error (context, _ ("give the parts to merge"));
  if ((status = hr_parse_per_sample (context, per_sample_name, &per_sample)) != 0)
    return status;
  if (output == NULL && !json)
    output = g_strdup ("headrank-report");
  if ((status = hr_check_output_folder (output)) != 0)
    return status;
  if (o.weights != NULL)
    {
      head = hr_head_options_load (&o, cancellable, &error);
      if (head == NULL)
        return hr_head_open_error (context, error, o.arch, o.activation, o.weights);
    }

  analysis
      = hr_analysis_new_from_part_files ((const char *const *)argv + 1, head, cancellable, &error);
  if (analysis != NULL)
    hr_analysis_set_per_sample_format (analysis, per_sample);
  if (analysis != NULL && !hr_analysis_has_per_sample (analysis) && !json)
    /* TRANSLATORS: said by "headrank merge" before its table; keep "--per-sample none" */
    g_print ("%s\n", _ ("The parts hold no per-sample statistics (made with --per-sample none): "
                        "the report has no per-sample table, summary or figure."));
  if (analysis != NULL && output != NULL)
    {
      if (!hr_analysis_write_report (analysis, output, cancellable, &error))
        g_clear_object (&analysis);
    }
  else if (analysis != NULL && g_cancellable_set_error_if_cancelled (cancellable, &error))
    g_clear_object (&analysis);
  if (analysis == NULL)
    {
      if (hr_interrupted (error, &status))
        return status;
      return hr_user_error (error);
    }
  return hr_print_analysis (analysis, json, output, 0);
}
