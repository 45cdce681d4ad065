/*
 * fuzz_decode: the body decoder (lib/http/decode.c) over any body, any
 * content type and any field mask, and the %-decoder on its own.
 *
 * Input: one byte choosing the content type (the table below), four
 * bytes of field mask (bit f accepts enum field f, decode.c's table),
 * then the body.  Every body either decodes into values within their
 * bounds or gets a wire error; never both, never neither.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

/* Content types: the two accepted, their variants, others, none. */
static const char *const ctypes[] = {
	"application/x-www-form-urlencoded",
	"application/json",
	"application/json; charset=utf-8",
	"application/x-www-form-urlencoded; charset=UTF-8",
	"APPLICATION/JSON",
	"application/jsonx",
	"text/plain",
	"multipart/form-data; boundary=x",
	"",
	NULL,
};
#define NCTYPES		(sizeof(ctypes) / sizeof(ctypes[0]))
#define ALL_FIELDS	(UINT64_MAX >> (64 - F__MAX))

static void
check_params(const struct params *p, uint64_t mask)
{
	int	 f;

	for (f = 0; f < F__MAX; f++) {
		if (p->v[f] == NULL)
			continue;
		/* A field outside the mask is never filled; a value is
		 * NUL-free and as long as said. */
		if ((mask & FIELD_BIT(f)) == 0 || strlen(p->v[f]) != p->len[f])
			abort();
	}
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_req	 req;
	struct lk_resp	 resp;
	struct params	 p;
	uint64_t	 mask;
	char		*body, *dst;
	int		 rc;

	if (size < 5)
		return 0;
	memset(&req, 0, sizeof(req));
	req.method = HTTP_POST;
	req.method_str = "POST";
	req.path = "/oauth/token";
	req.now = 1700000000;
	req.content_type = ctypes[data[0] % NCTYPES];
	mask = ((uint64_t)data[1] | (uint64_t)data[2] << 8 |
	    (uint64_t)data[3] << 16 | (uint64_t)data[4] << 24) & ALL_FIELDS;
	size -= 5;
	/* NUL-terminated, as cgi-bin reads it. */
	if ((body = malloc(size + 1)) == NULL || (dst = malloc(size + 1)) == NULL) {
		free(body);
		return 0;
	}
	memcpy(body, data + 5, size);
	body[size] = '\0';
	req.body = body;
	req.bodysz = size;

	params_init(&p);
	resp_init(&resp);
	rc = decode_body(&req, mask, &p, &resp);
	if (rc == 0 ? resp.body.len != 0 : resp.status < 400)
		abort();
	check_params(&p, mask);
	params_clear(&p);
	resp_clear(&resp);

	if (decode_pct(body, size, dst, data[0] & 1) > (long)size)
		abort();
	free(dst);
	free(body);
	return 0;
}
