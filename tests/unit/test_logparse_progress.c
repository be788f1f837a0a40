/*
 * test_logparse_progress: logparse_progress on the vendors' own progress
 * lines.  The excerpts are copied from the vendors' documents (sources in
 * tests/toolchain-double/SOURCES.md, section "Progress inside a step"):
 * the Pulsar2 quick start's build log, and TPU-MLIR run_calibration's tqdm
 * bars as the kld_calibrator source and a user's log print them.
 */
#include <string.h>

#include "kt.h"
#include "runtime/logparse.h"
#include "runtime/toolchain.h"

/* Feeds text line by line; keeps every reported fraction in out[]. */
static int feed(const char *parser, const char *text, double *out, int cap)
{
	struct logparse *lp;
	struct kiln_err err;
	if (toolchain_logparse_new(parser, &lp, &err) != 0)
		return -1;
	int n = 0;
	for (const char *s = text; *s;) {
		size_t len = strcspn(s, "\n");
		double f;
		if (logparse_progress(lp, s, len, &f) && n < cap)
			out[n++] = f;
		s += len;
		if (*s == '\n')
			s++;
	}
	logparse_free(lp);
	return n;
}

static int rising(const double *f, int n)
{
	for (int i = 1; i < n; i++)
		if (!(f[i] > f[i - 1]))
			return 0;
	return 1;
}

/* AXERA-TECH/pulsar2-docs-en source/user_guides_quick/quick_start_ax650.rst
 * @ 2deee01f: `pulsar2 build` of mobilenetv2 (lines shortened in the middle
 * of the calibration bar only; bars and labels as printed). */
static const char PULSAR2_BUILD[] =
	"32 File(s) Loaded.\n"
	"Stastic Inf tensor:   0%|          | 0/1 [00:00<?, ?it/s]\n"
	"Stastic Inf tensor: 100%|\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88| 1/1 [00:00<00:00,  9.09it/s]\n"
	"[11:45:29] AX Runtime Calibration Pass Running ...        \n"
	"Calibration Progress(Phase 1):   0%|          | 0/32 [00:00<?, ?it/s]\n"
	"Calibration Progress(Phase 1):   3%|\xe2\x96\x8e         | 1/32 [00:00<00:03,  9.10it/s]\n"
	"Calibration Progress(Phase 1):   6%|\xe2\x96\x8b         | 2/32 [00:00<00:03,  9.09it/s]\n"
	"Calibration Progress(Phase 1):  50%|\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88     | 16/32 [00:01<00:01,  8.89it/s]\n"
	"Calibration Progress(Phase 1): 100%|\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88| 32/32 [00:03<00:00,  8.74it/s]\n"
	"Calibration Progress(Phase 1): 100%|\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88| 32/32 [00:03<00:00,  8.91it/s]\n"
	"[11:45:32] AX Quantization Alignment Pass Running ...     \n"
	"Network Quantization Finished.\n"
	"Building native \xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81 100% 0:00:00\n"
	"2024-09-25 11:45:33.944 | INFO     | yamain.command.build:compile_ptq_model:1035 - group 0 compiler transformation\n"
	"tiling op...   \xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81 68/68 0:00:00\n"
	"build op serially...   \xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81 103/103 0:00:00\n"
	"build op...   \xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81 188/188 0:00:00\n"
	"add ddr swap...   \xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81 497/497 0:00:00\n"
	"calc input dependencies...   \xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81 921/921 0:00:00\n"
	"calc output dependencies...   \xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81 921/921 0:00:00\n"
	"assign eu heuristic   \xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81 921/921 0:00:00\n"
	"assign eu onepass   \xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81 921/921 0:00:00\n"
	"assign eu greedy   \xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81 921/921 0:00:00\n"
	"2024-09-25 11:45:36.467 | INFO     | yasched.test_onepass:results2model:2542 - max_cycle = 450,154\n"
	"build jobs   \xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81 921/921 0:00:00\n"
	"2024-09-25 11:45:38.075 | INFO     | yamain.command.build:compile_ptq_model:1142 - fuse 1 subgraph(s)\n";

static void logparse_progress__pulsar2_build_log_moves_through_calibration_and_compile(void)
{
	double f[64];
	int n = feed("pulsar2", PULSAR2_BUILD, f, 64);
	/* 0/1 is no progress; 1/1, then 1/32 … 32/32 (0/32 is not past 1/1),
	 * the repeated 32/32 is no news, then one value per compile bar. */
	CHECK_INT(n, 16);
	CHECK(rising(f, n));
	CHECKF(f[0] > 0.049 && f[0] < 0.051, "Stastic Inf tensor 1/1: %f", f[0]);
	CHECKF(f[1] > 0.06 && f[1] < 0.07, "calibration 1/32: %f", f[1]);
	CHECKF(f[3] > 0.24 && f[3] < 0.26, "calibration 16/32: %f", f[3]);
	CHECKF(f[4] > 0.449 && f[4] < 0.451, "calibration 32/32: %f", f[4]);
	/* "build op serially" is its own stage, before "build op". */
	CHECKF(f[7] > 0.619 && f[7] < 0.621, "build op serially 103/103: %f", f[7]);
	CHECKF(f[8] > 0.699 && f[8] < 0.701, "build op 188/188: %f", f[8]);
	CHECKF(f[n - 1] > 0.989 && f[n - 1] < 0.991, "build jobs 921/921: %f", f[n - 1]);
}

/* sophgo/tpu-mlir python/calibration/kld_calibrator.py @ 514788851f:
 * tqdm(desc "activation_collect_and_calc_th for sample: {idx}") over the
 * samples, then find_threshold's "[{bins}] threshold: {tensor}".  The
 * first two lines and the "[###…] 100%" line are as a TPU-MLIR v1.15.1 run
 * printed them in a user's log; the rest follow tqdm's format. */
static const char TPU_CALIB[] =
	"TPU-MLIR v1.15.1-20250208\n"
	"input_num = 4, ref = 4\n"
	"real input_num = 4\n"
	"activation_collect_and_calc_th for sample: 0:   0%|           | 0/4 [00:00<?, ?it/s]\n"
	"[##################################################] 100%\n"
	"activation_collect_and_calc_th for sample: 1:  50%|\xe2\x96\x88\xe2\x96\x8c | 2/4 [00:01<00:01,  1.74it/s]\n"
	"activation_collect_and_calc_th for sample: 3: 100%|\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88| 4/4 [00:02<00:00,  1.80it/s]\n"
	"[2048] threshold: /model.23/cv2.0/cv2.0.2/Conv_output_0:  50%|\xe2\x96\x88  | 60/120 [00:00<00:00, 900.1it/s]\n"
	"[2048] threshold: /model.23/cv3.2/cv3.2.2/Conv_output_0: 100%|\xe2\x96\x88\xe2\x96\x88| 120/120 [00:00<00:00, 910.2it/s]\n"
	"tune op: /model.23/cv2.0/cv2.0.2/Conv_output_0\n";

static void logparse_progress__tpu_mlir_calibration_counts_samples_then_thresholds(void)
{
	double f[16];
	int n = feed("tpu-mlir", TPU_CALIB, f, 16);
	CHECK_INT(n, 4);
	CHECK(rising(f, n));
	CHECKF(f[0] > 0.399 && f[0] < 0.401, "sample 2/4: %f", f[0]);
	CHECKF(f[1] > 0.799 && f[1] < 0.801, "sample 4/4: %f", f[1]);
	CHECKF(f[2] > 0.849 && f[2] < 0.851, "threshold 60/120: %f", f[2]);
	CHECKF(f[3] > 0.899 && f[3] < 0.901, "threshold 120/120: %f", f[3]);
}

/* Digits in a tensor name, a loguru line with '|', a bar of another
 * parser's tool, garbage after the label: no progress, and nothing read
 * past the line (len is honoured: the buffer below has no NUL). */
static void logparse_progress__other_lines_and_other_tools_are_not_progress(void)
{
	double f[8];
	CHECK_INT(feed("tpu-mlir", "tune op: /model.1/2/Conv_output_0\n"
		       "2024-09-25 11:45:33 | INFO | calc_thresholds: 3/4 done\n"
		       "calc_thresholds: x.jpg:  40%|\xe2\x96\x88  | 4/0 [00:00]\n"
		       "calc_thresholds: x.jpg:  40%|\xe2\x96\x88  | 5/4 [00:00]\n"
		       "Calibration Progress(Phase 1):  50%|\xe2\x96\x88  | 16/32 [00:01]\n", f, 8), 0);
	CHECK_INT(feed("none", "Calibration Progress(Phase 1):  50%|\xe2\x96\x88  | 16/32 [00:01]\n", f, 8), 0);
	CHECK_INT(feed("pulsar", "Calibration Progress(Phase 1):  50%|\xe2\x96\x88  | 16/32 [00:01]\n", f, 8), 0);
	struct logparse *lp;
	struct kiln_err err;
	CHECK_INT(toolchain_logparse_new("pulsar2", &lp, &err), 0);
	char raw[] = {'b', 'u', 'i', 'l', 'd', ' ', 'j', 'o', 'b', 's', ' ', '\xe2', '\x94', '\x81', ' ', '9', '2'};
	double x = -1;
	CHECK_INT(logparse_progress(lp, raw, sizeof(raw), &x), 0);
	CHECK(x == -1);
	logparse_free(lp);
}

static const struct kt_test tests[] = {
	{"logparse_progress__pulsar2_build_log_moves_through_calibration_and_compile",
	 logparse_progress__pulsar2_build_log_moves_through_calibration_and_compile},
	{"logparse_progress__tpu_mlir_calibration_counts_samples_then_thresholds",
	 logparse_progress__tpu_mlir_calibration_counts_samples_then_thresholds},
	{"logparse_progress__other_lines_and_other_tools_are_not_progress",
	 logparse_progress__other_lines_and_other_tools_are_not_progress},
};

int main(int argc, char **argv)
{
	return kt_main("test_logparse_progress", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
