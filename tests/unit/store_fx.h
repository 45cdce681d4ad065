/*
 * store_fx.h: the fixture test_store and test_store_walk share: a fresh
 * Berkeley DB environment in a temporary directory per test, and small
 * numbered records.
 */
#ifndef STORE_FX_H
#define STORE_FX_H

struct fx {
	char		 dir[PATH_MAX - 64];	/* mkdtemp'd parent */
	char		 home[PATH_MAX];	/* dir/env: the environment */
	struct store	*s;
};

/* cmocka setup and teardown: the environment, then its removal. */
int		 setup(void **state);
int		 teardown(void **state);
/* A small record {"v": n}, and its n. */
json_t		*rec(int n);
int		 rec_v(const json_t *r);

#endif /* !STORE_FX_H */
