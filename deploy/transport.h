/*
 * transport: getting files onto a board and running a program there, over
 * the OpenSSH client (ssh/scp) or adb — always as argv arrays, never a
 * local shell.
 *
 * ssh runs with BatchMode (never a password prompt that would hang a
 * deployment), ConnectTimeout, the device's own key (<data_dir>/keys), a
 * known_hosts kept under the data dir with StrictHostKeyChecking=accept-new
 * (the first contact pins the board's host key; a changed key is refused),
 * and -F none so the operator's ~/.ssh/config cannot change any of that.
 * The remote side of ssh and of `adb shell` is a shell by nature: the one
 * place a command line is built is quote_arg(), which single-quotes every
 * argv element; the elements themselves were allow-listed by device.h and
 * deploy.c before they got here.
 *
 * API
 *   transport_open(&t, kind, address, data_dir, device_id, connect_timeout_s, err)
 *   transport_push(&t, files, remote_dir, timeout_ms, err)   files: NULL-terminated
 *   transport_run(&t, argv, timeout_ms, &out, err)           0 when it ran and
 *                                  exited 0; out always filled (free with
 *                                  transport_out_free)
 *   transport_describe(&t, buf, cap)   "ssh root@10.0.0.2:22" for messages
 * Knows nothing of HTTP or the database.
 */
#ifndef KILN_TRANSPORT_H
#define KILN_TRANSPORT_H

#include <stddef.h>

#include "deploy/device.h"
#include "runtime/kiln_err.h"

/* Output kept per stream: a test program prints one JSON object, and a
 * vendor runtime's chatter before it is only worth its tail. */
#define TRANSPORT_OUT_MAX (256 * 1024)

struct transport {
	enum device_transport kind;
	struct device_ssh_addr ssh;
	char serial[65];
	char key[1100];
	char known_hosts[1100];
	int connect_timeout_s;
	char marker[1200];  /* TRANSPORT_MARKER=<data_dir>/deploy in each client's env */
};

/* Every ssh/scp/adb client a deployment starts carries this in its
 * environment, "KILN_DEPLOY_DIR=<real data_dir>/deploy", so a kilnd started
 * after a kill -9 can find and end the ones the old one left
 * (deploy_start, exec_kill_marked).  Returns 0, or -1 when it does not fit. */
#define TRANSPORT_MARKER "KILN_DEPLOY_DIR"
int transport_marker(const char *data_dir, char *buf, size_t cap);

struct transport_out {
	char *out;          /* stdout, NUL-terminated (malloc'd) */
	size_t out_len;
	char *err;          /* stderr, NUL-terminated (malloc'd) */
	size_t err_len;
	int exit_code;      /* -1 when it did not exit normally */
	int truncated;      /* 1 when a stream passed TRANSPORT_OUT_MAX */
	int timed_out;
};

int transport_open(struct transport *t, enum device_transport kind, const char *address,
		   const char *data_dir, long long device_id, int connect_timeout_s,
		   struct kiln_err *err);
int transport_push(const struct transport *t, const char *const *files, const char *remote_dir,
		   int timeout_ms, struct kiln_err *err);
int transport_run(const struct transport *t, const char *const *argv, int timeout_ms,
		  struct transport_out *out, struct kiln_err *err);
void transport_out_free(struct transport_out *out);
void transport_describe(const struct transport *t, char *buf, size_t cap);

#endif
