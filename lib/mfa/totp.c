/*
 * totp.c: time-based one-time passwords, RFC 6238 over RFC 4226's
 * HOTP with HMAC-SHA1 (the only algorithm Auth0's otp authenticators
 * and the authenticator apps they enrol use: barcode_uri says
 * algorithm=SHA1&digits=6&period=30), and RFC 4648 base32 for the
 * secrets the apps take.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "extern.h"

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* 10^digits for the digits HOTP allows (RFC 4226 5.3: 6 to 8). */
static long
pow10_of(int digits)
{
	static const long p[] = { 1000000L, 10000000L, 100000000L };

	return digits >= 6 && digits <= 8 ? p[digits - 6] : -1;
}

long
totp_hotp(const unsigned char *key, size_t keylen, uint64_t counter,
    int digits)
{
	unsigned char	 msg[8], md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, off;
	uint32_t	 bin;
	long		 mod = pow10_of(digits);
	int		 i;

	if (mod < 0)
		return -1;
	for (i = 7; i >= 0; i--, counter >>= 8)
		msg[i] = (unsigned char)(counter & 0xff);
	if (HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof(msg), md,
	    &mdlen) == NULL || mdlen != 20)
		return -1;
	/* RFC 4226 5.4: dynamic truncation. */
	off = md[19] & 0x0f;
	bin = (uint32_t)(md[off] & 0x7f) << 24 | (uint32_t)md[off + 1] << 16 |
	    (uint32_t)md[off + 2] << 8 | (uint32_t)md[off + 3];
	OPENSSL_cleanse(md, sizeof(md));
	return (long)(bin % (uint32_t)mod);
}

/* The code as a number: exactly digits ASCII digits, else -1. */
static long
code_value(const char *code, int digits)
{
	long	 v = 0;
	int	 i;

	if (code == NULL || strlen(code) != (size_t)digits)
		return -1;
	for (i = 0; i < digits; i++) {
		if (code[i] < '0' || code[i] > '9')
			return -1;
		v = v * 10 + (code[i] - '0');
	}
	return v;
}

int
totp_check(const unsigned char *key, size_t keylen, const char *code,
    int digits, time_t now, long long last, long long *step)
{
	long long	 t, s;
	long		 want, got;
	int		 found = 0;

	if ((want = code_value(code, digits)) < 0 || now < 0)
		return 0;
	t = (long long)now / TOTP_PERIOD;
	/* Every step of the window is computed, whichever matches. */
	for (s = t - TOTP_WINDOW; s <= t + TOTP_WINDOW; s++) {
		if (s < 0)
			continue;
		got = totp_hotp(key, keylen, (uint64_t)s, digits);
		if (got == want && s > last && !found) {
			*step = s;
			found = 1;
		}
	}
	return found;
}

int
base32_encode(const unsigned char *in, size_t len, char *out, size_t outsz)
{
	size_t		 i, o = 0;
	unsigned	 acc = 0;
	int		 bits = 0;

	if (outsz < (len * 8 + 4) / 5 + 1)
		return -1;
	for (i = 0; i < len; i++) {
		acc = (acc << 8 | in[i]) & 0xffff;
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32[(acc >> (bits - 5)) & 0x1f];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = b32[(acc << (5 - bits)) & 0x1f];
	out[o] = '\0';
	return 0;
}

long
base32_decode(const char *in, unsigned char *out, size_t outsz)
{
	const char	*p;
	size_t		 o = 0;
	unsigned	 acc = 0;
	int		 bits = 0, c;

	for (; *in != '\0'; in++) {
		c = *in >= 'a' && *in <= 'z' ? *in - 'a' + 'A' : *in;
		if ((p = strchr(b32, c)) == NULL || c == '\0')
			return -1;
		acc = (acc << 5 | (unsigned)(p - b32)) & 0xffff;
		if ((bits += 5) < 8)
			continue;
		if (o == outsz)
			return -1;
		out[o++] = (unsigned char)(acc >> (bits - 8));
		bits -= 8;
	}
	return (long)o;
}
