/*
 * breached.c: breached password detection (docs/COMPAT.md 6.6).
 *
 * A password counts as leaked when it starts with "AUTH0-TEST-" (Auth0's
 * documented test trigger) or when its SHA-1 is in the operator's list,
 * the tenant's "breached_password_file": one hash a line, 40 hex digits,
 * optionally followed by ":count", sorted (the offline "Have I Been
 * Pwned" download, "ordered by hash").  The file may hold hundreds of
 * millions of lines, so it is never loaded: a binary search over byte
 * offsets reads a few hundred bytes with pread() per probe, about
 * log2(lines) probes per password.  Tenant "breached_password_detection":
 * false turns both off.  Callers check only a password that verified:
 * what leaked is the user's real password.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "extern.h"

#define SHA1_HEX	40
#define LEAK_TEST_PREFIX "AUTH0-TEST-"
#define CHUNK		128	/* bytes read per pread */
#define LINE_MAX_LEN	4096	/* a longer "line" makes the file malformed */

/* Upper-case an ASCII hex digit (the list and our digest may differ in
 * case; sorting is the same for either). */
static int
hexup(int c)
{

	return c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c;
}

/*
 * The first line start at or after off (off > lo: the byte before off
 * is looked at), below end.  Returns the offset, end when there is none
 * before end, or -1 on a read error.
 */
static off_t
line_start(int fd, off_t off, off_t end)
{
	char	 b[CHUNK];
	ssize_t	 n, i;
	off_t	 at = off - 1;

	while (at < end) {
		if ((n = pread(fd, b, sizeof(b), at)) == -1)
			return -1;
		if (n == 0)
			return end;
		for (i = 0; i < n; i++)
			if (b[i] == '\n')
				return at + i + 1 < end ? at + i + 1 : end;
		at += n;
	}
	return end;
}

/*
 * Compare target with the hash of the line at off (its text before ':'
 * or CR, upper-cased) into *cmp (<0, 0, >0 as target sorts before, equal
 * to or after it); *next is the start of the following line.  0, or -1
 * on a read error or an over-long line.
 */
static int
line_cmp(int fd, off_t off, off_t end, const char *target, int *cmp,
    off_t *next)
{
	char	 b[CHUNK], h[SHA1_HEX + 2];
	ssize_t	 n, i;
	size_t	 k = 0;
	off_t	 at = off;
	int	 inhash = 1;

	*next = end;
	for (n = 1; n > 0; at += n) {
		if (at - off > LINE_MAX_LEN ||
		    (n = pread(fd, b, sizeof(b), at)) == -1)
			return -1;
		for (i = 0; i < n; i++) {
			if (b[i] == '\n') {
				*next = at + i + 1;
				n = 0;
				break;
			}
			if (b[i] == ':' || b[i] == '\r')
				inhash = 0;
			else if (inhash && k < sizeof(h) - 1)
				h[k++] = (char)hexup((unsigned char)b[i]);
		}
	}
	h[k] = '\0';
	*cmp = strcmp(target, h);
	return 0;
}

int
breached_find(const char *path, const char *sha1hex)
{
	struct stat	 st;
	off_t		 lo = 0, hi, mid, start, next;
	char		 t[SHA1_HEX + 1];
	size_t		 i;
	int		 fd, c, rc = -1;

	for (i = 0; i < SHA1_HEX && sha1hex[i] != '\0'; i++)
		t[i] = (char)hexup((unsigned char)sha1hex[i]);
	t[i] = '\0';
	if (i != SHA1_HEX || sha1hex[i] != '\0') {
		errno = EINVAL;
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		goto out;
	/* Invariant: lo and hi are line starts (or the end), and the hash,
	 * if present, is on a line starting in [lo, hi). */
	hi = st.st_size;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		start = mid == lo ? lo : line_start(fd, mid, hi);
		if (start == -1)
			goto out;
		if (start >= hi) {
			hi = mid;	/* the line holding mid starts before it */
			continue;
		}
		if (line_cmp(fd, start, hi, t, &c, &next) == -1)
			goto out;
		if (c == 0) {
			rc = 1;
			goto out;
		}
		if (c < 0)
			hi = start;
		else
			lo = next;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* The upper-case hex SHA-1 of pw into out (41).  0 or -1. */
static int
sha1_hex(const char *pw, size_t len, char out[SHA1_HEX + 1])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;

	if (EVP_Digest(pw, len, md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen * 2 != SHA1_HEX)
		return -1;
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[SHA1_HEX] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

int
breached_password(const struct tenant *tenant, const char *pw, size_t pwlen)
{
	const char	*path;
	char		 hex[SHA1_HEX + 1];
	int		 rc;

	if (tenant != NULL && !tenant->breached_password_detection)
		return 0;
	if (pwlen >= sizeof(LEAK_TEST_PREFIX) - 1 &&
	    memcmp(pw, LEAK_TEST_PREFIX, sizeof(LEAK_TEST_PREFIX) - 1) == 0)
		return 1;
	path = tenant != NULL ?
	    json_string_value(tenant->breached_password_file) : NULL;
	if (path == NULL || *path == '\0')
		return 0;
	if (sha1_hex(pw, pwlen, hex) == -1)
		return 0;
	rc = breached_find(path, hex);
	OPENSSL_cleanse(hex, sizeof(hex));
	/* A missing list must not stop every login: logged, not leaked. */
	if (rc == -1)
		lk_warn("breached_password_file unreadable or malformed: %s",
		    strerror(errno));
	return rc == 1;
}
