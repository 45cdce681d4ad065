/*
 * store_fx.c: the store tests' fixture (store_fx.h).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "extern.h"
#include "store_fx.h"

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{

	return remove(path);
}

int
setup(void **state)
{
	struct fx	*fx;
	const char	*tmp = getenv("TMPDIR");

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/lkstore.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->home, sizeof(fx->home), "%s/env", fx->dir);
	if ((fx->s = store_open(fx->home, STORE_CREATE)) == NULL)
		return -1;
	*state = fx;
	return 0;
}

int
teardown(void **state)
{
	struct fx	*fx = *state;

	store_close(fx->s);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* A small record {"v": n}. */
json_t *
rec(int n)
{

	return json_pack("{si}", "v", n);
}

int
rec_v(const json_t *r)
{

	return (int)json_integer_value(json_object_get(r, "v"));
}
