/*
 * fuzz_deploy: the reader of Auth0 Deploy CLI exports (lib/admin/
 * deploy_read.c, deploy_yaml.c, `latchkeyctl import-auth0-tenant`):
 * keyword placeholders, YAML (typing, anchors and aliases, bounds) or
 * JSON, then the mapping to a tenant file and its report (deploy_map.c,
 * deploy_conv.c, deploy_report.c).
 *
 * Input: one byte choosing the file's kind ('J': tenant.json, else
 * tenant.yaml), then its text, written to a file in a temporary
 * directory that the next run overwrites.  Two placeholders are set in
 * the environment (FUZZ_TEXT, FUZZ_LIST) and one is not.  Every export
 * is read and mapped, or refused with a message.
 */
#include <sys/stat.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

static char	 dir[PATH_MAX - 64];
static char	 yaml[PATH_MAX], jsonf[PATH_MAX];

static void
cleanup(void)
{

	unlink(yaml);
	unlink(jsonf);
	rmdir(dir);
}

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/lkfuzz-deploy.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(yaml, sizeof(yaml), "%s/tenant.yaml", dir);
	snprintf(jsonf, sizeof(jsonf), "%s/tenant.json", dir);
	atexit(cleanup);
	setenv("FUZZ_TEXT", "a secret", 1);
	setenv("FUZZ_LIST", "[\"https://a.example/\", 2]", 1);
	unsetenv("FUZZ_UNSET");
	return 0;
}

static int
write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE	*f;
	int	 rc;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	rc = fwrite(data, 1, size, f) == size ? 0 : -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*path;
	json_t		*export, *doc = NULL, *report = NULL;
	char		 err[1024];

	if (size < 1)
		return 0;
	path = data[0] == 'J' ? jsonf : yaml;
	if (write_file(path, data + 1, size - 1) == -1)
		abort();
	err[0] = '\0';
	if ((export = deploy_read(path, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	err[0] = '\0';
	if (deploy_map(export, (data[0] & 1) ? "https://fuzz.example/" : NULL,
	    &doc, &report, err, sizeof(err)) == 0) {
		if (!json_is_object(doc) || !json_is_object(report))
			abort();
	} else if (err[0] == '\0')
		abort();
	json_decref(doc);
	json_decref(report);
	json_decref(export);
	return 0;
}
