/*
 * deploy_map.c, deploy_conv.c, deploy_report.c: what the mapper of
 * Auth0 Deploy CLI exports (latchkeyctl import-auth0-tenant) shares
 * between its files: the state of one mapping, the field tables'
 * row, the converters and the report.
 */
#ifndef LATCHKEY_DEPLOY_MAP_INT_H
#define LATCHKEY_DEPLOY_MAP_INT_H

#define PATH_MAX_LEN	256	/* a field's place in its item */

/* The report's lists. */
enum rlist { RL_IMPORTED, RL_APPROX, RL_SKIPPED, RL_SECRETS, RL__MAX };
extern const char *const dm_rlists[RL__MAX];

struct mctx {
	json_t		*report;
	json_t		*names;		/* the export's client names and ids */
	enum rec_kind	 rk;		/* the latchkey kind being built */
	const char	*kind;		/* its report name: "client" */
	const char	*item;		/* the item's name */
	char		 where[PATH_MAX_LEN];	/* "clients[0] (App)" */
	char		 path[PATH_MAX_LEN];	/* the field within the item */
	char		*err;
	size_t		 errsz;
};

struct fmap;
typedef int	(*fconv)(struct mctx *, const struct fmap *, const json_t *,
		    json_t *);

/*
 * One Auth0 field: to its latchkey field by conv (NULL: copied as it
 * is), into a nested table (sub), or, with neither to nor sub, skipped
 * (why).  An approximate converter reports why.
 */
struct fmap {
	const char		*from;
	const char		*to;	/* "a.b" nests */
	fconv			 conv;
	const struct fmap	*sub;
	const char		*why;
};

#define FMAP_END	{ NULL, NULL, NULL, NULL, NULL }
#define DM_WHY_BROWSER	"browser flows (/authorize, logout) are not " \
	"served (docs/COMPAT.md)"

/* deploy_report.c: the report, and the messages of a mapping. */
void		 dm_rep(struct mctx *, enum rlist, const char *kind,
		    const char *name, const char *fmt, ...)
		    __attribute__((format(printf, 5, 6)));
/* The current field, "item.path", as a "<kind> field" entry. */
void		 dm_rep_field(struct mctx *, enum rlist, const char *why);
/* err: "where: ..."; returns -1. */
int		 dm_err(struct mctx *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* out[to] = v (owned), to "a" or "a.b". */
void		 dm_put(json_t *out, const char *to, json_t *v);
/* Nothing a skipped field would lose: null, false, "", [], {}. */
int		 dm_is_empty(const json_t *);
/* A connection's strategy: 0 mapped, 1 skipped (reported), -1 refused. */
int		 dm_strategy_check(struct mctx *, const json_t *it,
		    int database);
/* The items of an export section latchkey does not map, as skipped. */
void		 dm_skipped(struct mctx *, const char *sect, const json_t *);
/* Each list by kind, then name. */
void		 dm_report_sort(json_t *report);

/* deploy_conv.c: the converters of the field tables. */
int		 dm_cv_clamp(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_enum(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_pop(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_grants(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_auth(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_methods(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_refresh(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_scopes(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_api_alg(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_enabled(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_origins(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_ms(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);
int		 dm_cv_approx(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);

#endif /* !LATCHKEY_DEPLOY_MAP_INT_H */
