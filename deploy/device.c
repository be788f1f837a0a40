/*
 * device: allow-list checks for what a board registration names, and the
 * per-device ssh key files (see device.h).  Refuses rather than escapes:
 * an address with a ';' is a mistake or an attack, never a host name.
 */
#include "deploy/device.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/exec.h"

/* ssh-keygen for one ed25519 key takes milliseconds; 15 s only bounds a
 * broken binary. */
#define KEYGEN_TIMEOUT_MS 15000
#define KEY_PEM_MAX 16384

int device_transport_parse(const char *s, enum device_transport *t)
{
	static const char *const names[] = {"ssh", "adb", "pull"};
	for (int i = 0; i < 3; i++)
		if (s && strcmp(s, names[i]) == 0) {
			*t = (enum device_transport)i;
			return 0;
		}
	return -1;
}

const char *device_transport_name(enum device_transport t)
{
	return t == DEVICE_SSH ? "ssh" : t == DEVICE_ADB ? "adb" : "pull";
}

int device_name_check(const char *name, struct kiln_err *err)
{
	size_t n = name ? strlen(name) : 0;
	int ok = n >= 1 && n <= DEVICE_NAME_MAX && isalnum((unsigned char)name[0]);
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)name[i]) || strchr("._-", name[i]) != NULL;
	if (!ok)
		return kiln_errf(err, KILN_EINVAL, "name",
				 "name must be 1-%d characters of A-Z a-z 0-9 . _ - starting with a "
				 "letter or digit", DEVICE_NAME_MAX);
	return 0;
}

/* The first character outside allowed, for the message; 0 when none. */
static char bad_char(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
			return s[i] ? s[i] : '?';
	return 0;
}

static int addr_err(struct kiln_err *err, const char *addr, char c, const char *what)
{
	if (c && isprint((unsigned char)c))
		return kiln_errf(err, KILN_EINVAL, "address",
				 "address '%.80s' has '%c', which cannot appear in %s; use "
				 "[user@]host[:port] for ssh or the serial from `adb devices` for adb",
				 addr, c, what);
	return kiln_errf(err, KILN_EINVAL, "address",
			 "address '%.80s' is not a valid %s; use [user@]host[:port] for ssh or "
			 "the serial from `adb devices` for adb", addr, what);
}

int device_ssh_parse(const char *addr, struct device_ssh_addr *a, struct kiln_err *err)
{
	memset(a, 0, sizeof(*a));
	a->port = 22;
	size_t n = addr ? strlen(addr) : 0;
	if (n == 0 || n > DEVICE_ADDRESS_MAX)
		return kiln_errf(err, KILN_EINVAL, "address",
				 "address is required for ssh: [user@]host[:port], at most %d "
				 "characters", DEVICE_ADDRESS_MAX);
	const char *host = addr;
	const char *at = strchr(addr, '@');
	if (at) {
		size_t ul = (size_t)(at - addr);
		char c = bad_char(addr, ul, "_.-");
		if (ul == 0 || ul >= sizeof(a->user) || c || addr[0] == '-' || addr[0] == '.')
			return addr_err(err, addr, c, "an ssh user name");
		memcpy(a->user, addr, ul);
		host = at + 1;
	}
	const char *port = NULL;
	size_t hl;
	if (host[0] == '[') { /* [v6]:port */
		const char *close = strchr(host, ']');
		if (close == NULL)
			return addr_err(err, addr, 0, "ssh address (unclosed '[')");
		host++;
		hl = (size_t)(close - host);
		char c = bad_char(host, hl, ":.");
		if (hl == 0 || c || memchr(host, ':', hl) == NULL)
			return addr_err(err, addr, c, "an IPv6 address");
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return addr_err(err, addr, close[1], "an ssh address after ']'");
	} else {
		const char *colon = strchr(host, ':');
		hl = colon ? (size_t)(colon - host) : strlen(host);
		port = colon ? colon + 1 : NULL;
		char c = bad_char(host, hl, ".-");
		/* A leading '-' would make ssh read the host as an option. */
		if (hl == 0 || c || host[0] == '-' || host[0] == '.')
			return addr_err(err, addr, c, "a host name");
	}
	if (hl >= sizeof(a->host))
		return addr_err(err, addr, 0, "host name (too long)");
	memcpy(a->host, host, hl);
	if (port) {
		char *end;
		errno = 0;
		long p = strtol(port, &end, 10);
		if (!isdigit((unsigned char)port[0]) || *end != '\0' || errno || p < 1 || p > 65535)
			return addr_err(err, addr, *end && !isdigit((unsigned char)*end) ? *end : 0,
					"port (1-65535)");
		a->port = (int)p;
	}
	return 0;
}

int device_address_check(enum device_transport t, const char *addr, struct kiln_err *err)
{
	if (t == DEVICE_PULL) {
		if (addr && addr[0])
			return kiln_errf(err, KILN_EINVAL, "address",
					 "a pull device has no address: it fetches its bundle itself");
		return 0;
	}
	if (t == DEVICE_SSH) {
		struct device_ssh_addr a;
		return device_ssh_parse(addr, &a, err);
	}
	/* adb serials are [A-Za-z0-9] plus ':' '.' for network devices
	 * ("192.168.1.5:5555") and '-' '_' for emulators and vendors. */
	size_t n = addr ? strlen(addr) : 0;
	char c = n ? bad_char(addr, n, "._:-") : 0;
	if (n == 0 || n > 64 || c || addr[0] == '-')
		return addr_err(err, addr ? addr : "", c, "an adb serial");
	return 0;
}

int device_models_dir_check(const char *dir, struct kiln_err *err)
{
	size_t n = dir ? strlen(dir) : 0;
	char c = n ? bad_char(dir, n, "._/-") : 0;
	int ok = n >= 2 && n <= DEVICE_DIR_MAX && dir[0] == '/' && !c;
	/* No "..", no "//", no trailing '/', and no segment starting with '-' (an
	 * option to mkdir/tar on the board) or '.' (hidden, or a traversal). */
	for (const char *p = dir; ok && *p; p++)
		if (*p == '/' && (p[1] == '/' || p[1] == '.' || p[1] == '-' || p[1] == '\0'))
			ok = 0;
	if (!ok)
		return kiln_errf(err, KILN_EINVAL, "models_dir",
				 "models_dir must be an absolute path of A-Z a-z 0-9 . _ - / (no "
				 "'..', no segment starting with '.' or '-'), at most %d characters, "
				 "e.g. %s", DEVICE_DIR_MAX, DEVICE_DEFAULT_MODELS_DIR);
	return 0;
}

int device_key_paths(const char *data_dir, long long id, char *key, char *known_hosts,
		     size_t cap)
{
	int a = snprintf(key, cap, "%s/keys/device-%lld", data_dir, id);
	int b = snprintf(known_hosts, cap, "%s/keys/known_hosts", data_dir);
	return a < 0 || (size_t)a >= cap || b < 0 || (size_t)b >= cap ? -1 : 0;
}

static int keys_dir(const char *data_dir, struct kiln_err *err)
{
	char dir[1100];
	snprintf(dir, sizeof(dir), "%s/keys", data_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return kiln_errf(err, KILN_EIO, "", "cannot create %s: %s", dir, strerror(errno));
	return 0;
}

int device_keygen(const char *data_dir, long long id, char *pub, size_t cap,
		  struct kiln_err *err)
{
	char key[1100], kh[1100], comment[64];
	if (device_key_paths(data_dir, id, key, kh, sizeof(key)) != 0)
		return kiln_errf(err, KILN_EINVAL, "", "data_dir is too long for key paths");
	int rc = keys_dir(data_dir, err);
	if (rc != 0)
		return rc;
	device_key_remove(data_dir, id); /* ssh-keygen will not overwrite */
	snprintf(comment, sizeof(comment), "kiln-device-%lld", id);
	char *argv[] = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
			"-f", key, NULL};
	struct exec_req req = {0};
	req.argv = argv;
	req.timeout_ms = KEYGEN_TIMEOUT_MS;
	struct exec_result res;
	rc = exec_run(&req, &res, err);
	if (rc != 0) {
		if (res.outcome == EXEC_SPAWN_FAILED)
			return kiln_errf(err, KILN_EUNAVAIL, "",
					 "ssh-keygen is not installed (Debian: openssh-client); "
					 "it makes the device's key");
		return kiln_errf(err, KILN_EIO, "", "ssh-keygen failed: %s", err->msg);
	}
	char pubpath[1200];
	snprintf(pubpath, sizeof(pubpath), "%s.pub", key);
	FILE *f = fopen(pubpath, "r");
	if (f == NULL || fgets(pub, (int)cap, f) == NULL) {
		if (f)
			fclose(f);
		return kiln_errf(err, KILN_EIO, "", "cannot read %s", pubpath);
	}
	fclose(f);
	pub[strcspn(pub, "\r\n")] = '\0';
	chmod(key, 0600);
	return 0;
}

int device_key_install(const char *data_dir, long long id, const char *pem,
		       struct kiln_err *err)
{
	size_t n = strlen(pem);
	if (n > KEY_PEM_MAX || strncmp(pem, "-----BEGIN ", 11) != 0 ||
	    strstr(pem, "PRIVATE KEY-----") == NULL)
		return kiln_errf(err, KILN_EINVAL, "ssh_private_key",
				 "ssh_private_key must be an unencrypted private key in PEM or "
				 "OpenSSH format ('-----BEGIN ... PRIVATE KEY-----'), at most %d bytes",
				 KEY_PEM_MAX);
	char key[1100], kh[1100], tmp[1200];
	if (device_key_paths(data_dir, id, key, kh, sizeof(key)) != 0)
		return kiln_errf(err, KILN_EINVAL, "", "data_dir is too long for key paths");
	int rc = keys_dir(data_dir, err);
	if (rc != 0)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmp", key);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", tmp, strerror(errno));
	int bad = write(fd, pem, n) != (ssize_t)n;
	/* OpenSSH refuses a key file whose last line has no newline. */
	if (!bad && n && pem[n - 1] != '\n')
		bad = write(fd, "\n", 1) != 1;
	bad |= fsync(fd) != 0;
	close(fd);
	if (bad || rename(tmp, key) != 0) {
		unlink(tmp);
		return kiln_errf(err, KILN_EIO, "", "cannot write %s", key);
	}
	return 0;
}

void device_key_remove(const char *data_dir, long long id)
{
	char key[1100], kh[1100], pub[1200];
	if (device_key_paths(data_dir, id, key, kh, sizeof(key)) != 0)
		return;
	snprintf(pub, sizeof(pub), "%s.pub", key);
	unlink(key);
	unlink(pub);
}
