/*
 * device: what a registered board is, checked — its transport, its address
 * (an ssh [user@]host[:port] or an adb serial), the directory its bundles
 * live in — and its per-device ssh key under <data_dir>/keys.
 *
 * Every string here later reaches an ssh/scp/adb argv or a remote command
 * line, so each is checked against an allow-list at registration (ARCHITECTURE
 * §9) and never repaired: a bad address is refused, not escaped.
 * Knows nothing of HTTP or the database.
 *
 * API
 *   device_transport_parse(s, &t) / device_transport_name(t)
 *   device_name_check(name, err)          [A-Za-z0-9][A-Za-z0-9._-]{0,63}
 *   device_address_check(t, addr, err)    ssh: [user@]host[:port]; adb: serial;
 *                                         pull: must be empty/NULL
 *   device_ssh_parse(addr, &a, err)       split a checked ssh address
 *   device_models_dir_check(dir, err)     absolute path of [A-Za-z0-9._/-], no ".."
 *   device_key_paths(data_dir, id, key, known_hosts, cap)
 *   device_keygen(data_dir, id, pub, cap, err)   new ed25519 key (0600) via ssh-keygen
 *   device_key_install(data_dir, id, pem, err)   a private key the user gave (0600)
 *   device_key_remove(data_dir, id)
 */
#ifndef KILN_DEVICE_H
#define KILN_DEVICE_H

#include <stddef.h>

#include "runtime/kiln_err.h"

enum device_transport { DEVICE_SSH, DEVICE_ADB, DEVICE_PULL };

#define DEVICE_NAME_MAX 64
#define DEVICE_ADDRESS_MAX 255
#define DEVICE_DIR_MAX 200
#define DEVICE_PUBKEY_MAX 512
/* Where bundles go when the registration names no directory: MaixPy's own
 * examples keep models in /root/models (seeds 000, 001). */
#define DEVICE_DEFAULT_MODELS_DIR "/root/models"

struct device_ssh_addr {
	char user[33];     /* "" = the ssh default (root for our boards, per the seeds) */
	char host[256];    /* name, IPv4, or IPv6 without brackets */
	int port;          /* 22 unless given */
};

int device_transport_parse(const char *s, enum device_transport *t);
const char *device_transport_name(enum device_transport t);
int device_name_check(const char *name, struct kiln_err *err);
int device_address_check(enum device_transport t, const char *addr, struct kiln_err *err);
int device_ssh_parse(const char *addr, struct device_ssh_addr *a, struct kiln_err *err);
int device_models_dir_check(const char *dir, struct kiln_err *err);

/* key gets <data_dir>/keys/device-<id>, known_hosts <data_dir>/keys/known_hosts. */
int device_key_paths(const char *data_dir, long long id, char *key, char *known_hosts,
		     size_t cap);
/* Makes <data_dir>/keys (0700) and a new key pair there; pub gets the public
 * line ("ssh-ed25519 AAAA... kiln-device-<id>").  KILN_EUNAVAIL when
 * ssh-keygen is missing. */
int device_keygen(const char *data_dir, long long id, char *pub, size_t cap,
		  struct kiln_err *err);
/* Stores a PEM/OpenSSH private key given at registration (checked to look
 * like one, at most 16 KiB) with mode 0600. */
int device_key_install(const char *data_dir, long long id, const char *pem,
		       struct kiln_err *err);
void device_key_remove(const char *data_dir, long long id);

#endif
