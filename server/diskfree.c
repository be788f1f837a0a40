/*
 * diskfree: the 507 check (see diskfree.h).  One statvfs per request that
 * would write (an upload, a job): a few microseconds, cheaper than keeping
 * a cached figure honest.
 */
#include "server/diskfree.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

/* "1.5G" style, for a message a person reads. */
static void human(unsigned long long n, char *buf, size_t cap)
{
	static const char units[] = "BKMGTP";
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%lluB", n);
	else
		snprintf(buf, cap, "%.1f%c", v, units[u]);
}

int diskfree_check(const struct kiln_config *cfg, uint64_t incoming, struct kiln_err *err)
{
	struct statvfs sv;
	if (statvfs(cfg->data_dir, &sv) != 0)
		return 0; /* cannot tell: let the write itself report a full disk */
	/* f_bavail: what an unprivileged writer may still use (root's reserve
	 * excluded), which is what kilnd's files will get. */
	unsigned long long avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	unsigned long long total = (unsigned long long)sv.f_blocks * sv.f_frsize;
	unsigned long long after = avail > incoming ? avail - incoming : 0;
	unsigned long long need_abs = (unsigned long long)cfg->min_free;
	unsigned long long need_pct = total / 100 * (unsigned long long)cfg->min_free_percent;
	if (after >= need_abs && after >= need_pct)
		return 0;
	char a[32], t[32], n[32];
	human(avail, a, sizeof(a));
	human(total, t, sizeof(t));
	int by_pct = after < need_pct && need_pct > need_abs;
	human(by_pct ? need_pct : need_abs, n, sizeof(n));
	char in[64] = "";
	if (incoming > 0) {
		char h[32];
		human(incoming, h, sizeof(h));
		snprintf(in, sizeof(in), " before this %s upload", h);
	}
	return kiln_errf(err, KILN_ENOSPACE, "",
			 "the disk holding the data directory is nearly full: %s free of %s%s, and "
			 "kilnd keeps at least %s free ([storage] %s); delete models or datasets "
			 "you no longer need, or free space on the disk, then try again",
			 a, t, in, n, by_pct ? "min_free_percent" : "min_free");
}
