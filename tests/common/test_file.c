/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_file_write_atomic(): the old file or the new one, never a part, never a stray temp. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "file.h"

typedef struct {
    char dir[64];
    char path[128];
} file_ctx;

static int
setup(void **state)
{
    file_ctx *ctx = calloc(1, sizeof(*ctx));

    assert_non_null(ctx);
    snprintf(ctx->dir, sizeof(ctx->dir), "/tmp/vtpm-test-file.XXXXXX");
    assert_non_null(mkdtemp(ctx->dir));
    snprintf(ctx->path, sizeof(ctx->path), "%s/state.json", ctx->dir);
    *state = ctx;
    return 0;
}

static int
teardown(void **state)
{
    file_ctx *ctx = *state;
    DIR *d = opendir(ctx->dir);
    struct dirent *e;
    char p[512];

    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", ctx->dir, e->d_name);
        if (unlink(p) < 0)
            rmdir(p);
    }
    if (d)
        closedir(d);
    rmdir(ctx->dir);
    free(ctx);
    return 0;
}

/* The names in @dir, but "." and "..", as "a b c " in @out. */
static void
list_dir(const char *dir, char *out, size_t len)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t o = 0;

    assert_non_null(d);
    out[0] = '\0';
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        o += (size_t)snprintf(out + o, len - o, "%s ", e->d_name);
        assert_true(o < len);
    }
    closedir(d);
}

static void
assert_content(const char *path, const char *want)
{
    FILE *f = fopen(path, "r");
    char *got;
    size_t len;

    assert_non_null(f);
    assert_int_equal(vtpm_file_read_stream(f, 1 << 20, &got, &len), 0);
    fclose(f);
    assert_string_equal(got, want);
    free(got);
}

static void
test_a_new_file_gets_the_data_and_the_mode(void **state)
{
    file_ctx *ctx = *state;
    struct stat st;
    char names[256];

    assert_int_equal(vtpm_file_write_atomic(ctx->path, "{\"a\": 1}\n", 9, 0644), 0);
    assert_content(ctx->path, "{\"a\": 1}\n");
    assert_int_equal(stat(ctx->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_uid, geteuid());
    list_dir(ctx->dir, names, sizeof(names));
    assert_string_equal(names, "state.json ");
}

static void
test_an_old_file_is_replaced_by_a_new_one(void **state)
{
    file_ctx *ctx = *state;
    struct stat before, after;
    char names[256];
    int fd;

    assert_int_equal(vtpm_file_write_atomic(ctx->path, "old and longer\n", 15, 0600), 0);
    assert_int_equal(stat(ctx->path, &before), 0);
    /* a reader holding the old file keeps reading the old content */
    fd = open(ctx->path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(vtpm_file_write_atomic(ctx->path, "new\n", 4, 0640), 0);
    assert_content(ctx->path, "new\n");
    assert_int_equal(stat(ctx->path, &after), 0);
    assert_true(before.st_ino != after.st_ino);
    assert_int_equal(after.st_mode & 07777, 0640);
    {
        char buf[32] = { 0 };

        assert_int_equal(read(fd, buf, sizeof(buf) - 1), 15);
        assert_string_equal(buf, "old and longer\n");
        close(fd);
    }
    list_dir(ctx->dir, names, sizeof(names));
    assert_string_equal(names, "state.json ");
}

static void
test_an_empty_write_makes_an_empty_file(void **state)
{
    file_ctx *ctx = *state;

    assert_int_equal(vtpm_file_write_atomic(ctx->path, "", 0, 0600), 0);
    assert_content(ctx->path, "");
}

static void
test_a_missing_folder_fails_with_its_errno(void **state)
{
    file_ctx *ctx = *state;
    char path[256];

    snprintf(path, sizeof(path), "%s/missing/state.json", ctx->dir);
    errno = 0;
    assert_int_equal(vtpm_file_write_atomic(path, "x", 1, 0600), -1);
    assert_int_equal(errno, ENOENT);
}

static void
test_a_path_naming_no_file_is_refused(void **state)
{
    file_ctx *ctx = *state;
    char path[256];

    (void)ctx;
    errno = 0;
    assert_int_equal(vtpm_file_write_atomic("", "x", 1, 0600), -1);
    assert_int_equal(errno, EINVAL);
    snprintf(path, sizeof(path), "%s/", ctx->dir);
    errno = 0;
    assert_int_equal(vtpm_file_write_atomic(path, "x", 1, 0600), -1);
    assert_int_equal(errno, EINVAL);
}

/* The rename fails (a folder is in the way): the folder stays, the new file
 * is removed. */
static void
test_a_failed_rename_leaves_no_temporary_file(void **state)
{
    file_ctx *ctx = *state;
    char names[256];

    assert_int_equal(mkdir(ctx->path, 0700), 0);
    errno = 0;
    assert_int_equal(vtpm_file_write_atomic(ctx->path, "x", 1, 0600), -1);
    assert_int_equal(errno, EISDIR);
    list_dir(ctx->dir, names, sizeof(names));
    assert_string_equal(names, "state.json ");
}

/* A write that fails half way (the file size limit, as a full disk would):
 * the old file is intact and the half-written new one is gone. */
static void
test_a_failed_write_keeps_the_old_file_whole(void **state)
{
    file_ctx *ctx = *state;
    struct rlimit saved, small;
    char big[4096], names[256];
    void (*old)(int);
    int rc, err;

    memset(big, 'x', sizeof(big));
    assert_int_equal(vtpm_file_write_atomic(ctx->path, "old\n", 4, 0600), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 100;
    old = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    rc = vtpm_file_write_atomic(ctx->path, big, sizeof(big), 0600);
    err = errno;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old);
    assert_int_equal(rc, -1);
    assert_int_equal(err, EFBIG);
    assert_content(ctx->path, "old\n");
    list_dir(ctx->dir, names, sizeof(names));
    assert_string_equal(names, "state.json ");
}

/* A symbolic link planted at the path is replaced, never followed: the
 * write cannot be redirected to another file. */
static void
test_a_symbolic_link_at_the_path_is_replaced_not_followed(void **state)
{
    file_ctx *ctx = *state;
    char victim[256];
    struct stat st;

    snprintf(victim, sizeof(victim), "%s/victim", ctx->dir);
    assert_int_equal(vtpm_file_write_atomic(victim, "victim\n", 7, 0600), 0);
    assert_int_equal(symlink(victim, ctx->path), 0);
    assert_int_equal(vtpm_file_write_atomic(ctx->path, "mine\n", 5, 0600), 0);
    assert_content(victim, "victim\n");
    assert_int_equal(lstat(ctx->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_content(ctx->path, "mine\n");
}

/* A relative path writes in the current folder. */
static void
test_a_relative_path_writes_in_the_current_folder(void **state)
{
    file_ctx *ctx = *state;
    char cwd[512], path[256];

    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(ctx->dir), 0);
    assert_int_equal(vtpm_file_write_atomic("here.json", "here\n", 5, 0600), 0);
    assert_int_equal(chdir(cwd), 0);
    snprintf(path, sizeof(path), "%s/here.json", ctx->dir);
    assert_content(path, "here\n");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_new_file_gets_the_data_and_the_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_old_file_is_replaced_by_a_new_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_empty_write_makes_an_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_missing_folder_fails_with_its_errno, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_path_naming_no_file_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_rename_leaves_no_temporary_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_write_keeps_the_old_file_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_symbolic_link_at_the_path_is_replaced_not_followed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_relative_path_writes_in_the_current_folder, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
