/* bmst_data: converts dataset sources to the project's HDF5 format, makes
 * synthetic datasets, and describes a dataset file. Any failure prints one
 * "bmst_data: error: ..." line, leaving no output file behind, and exits 2
 * for a bad command line (as bmst_dist does), 1 for anything else. */
#include "convert.h"
#include "dataset.h"
#include "download.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char usage[] =
    "usage: bmst_data COMMAND ...\n"
    "\n"
    "  bmst_data convert KIND DIR OUT.h5 [OPTIONS]\n"
    "      convert a dataset source directory; KIND is one of %s\n"
    "      options of flowers102, miniimagenet and folder (images, stored as RGB squares):\n"
    "        --size S            side of the stored images: the central square of each\n"
    "                            image, resized (flowers102 128, miniimagenet 84;\n"
    "                            folder: required)\n"
    "        --threads N         decoding threads (default: one per CPU)\n"
    "        --skip-bad          leave out images that cannot be read or decoded\n"
    "        --split standard|swapped   flowers102: train on trnid+valid and test on\n"
    "                            tstid (standard), or the other way round\n"
    "        --test-fraction F   folder of one tree of class folders: move that share of\n"
    "                            each class to /test (a folder with train/ and test/\n"
    "                            takes them as they are)\n"
    "        --official-val      flowers102: train on trnid, the official valid list\n"
    "                            as /val, test on tstid\n"
    "        --test-per-class N  miniimagenet: test images per class (default 100)\n"
    "      option of every kind:\n"
    "        --val-fraction F    move that share (0 < F < 1) of each class's training\n"
    "                            images to a /val split (deterministic, stratified)\n"
    "  bmst_data download NAME DIR [--mirror URL] [--md5 FILE=HEX ...] [OPTIONS]\n"
    "      fetch NAME's published files (%s) into DIR/NAME-download/,\n"
    "      continuing a cut transfer, check their MD5, unpack them, and convert\n"
    "      them to DIR/NAME.h5 (OPTIONS: those of convert for its kind)\n"
    "        --mirror URL        fetch from URL/FILE instead (https, http or file)\n"
    "        --md5 FILE=HEX      expect another checksum for FILE (a mirror's copy)\n"
    "  bmst_data synth --shape HxWxC --classes K --train N --test M [--seed S] OUT.h5\n"
    "      write a learnable synthetic dataset (the same seed gives the same file)\n"
    "  bmst_data info FILE.h5\n"
    "      print a dataset's name, shapes, counts, classes, mean and std\n"
    "\n"
    "The file format is described in docs/dataset-format.md.\n";

/* The options of `convert`; which kinds take which is in convert.c's table. */
static const struct {
    const char *name;
    unsigned flag;
} options[] = {
    {"--size", BMST_CONVERT_SIZE},
    {"--split", BMST_CONVERT_SPLIT},
    {"--test-per-class", BMST_CONVERT_TEST_PER_CLASS},
    {"--threads", BMST_CONVERT_THREADS},
    {"--skip-bad", BMST_CONVERT_SKIP_BAD},
    {"--val-fraction", BMST_CONVERT_VAL_FRACTION},
    {"--official-val", BMST_CONVERT_OFFICIAL_VAL},
    {"--test-fraction", BMST_CONVERT_TEST_FRACTION},
};
#define OPTION_COUNT ((int)(sizeof options / sizeof options[0]))

/* A bad command line: the message, and the status that says so. Functions
 * return 0, -1 (a failure while running) or USAGE. */
#define USAGE 2
#define usage_error(...) (bmst_error(__VA_ARGS__), USAGE)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void print_floats(const char *label, const float *v, int n) {
    printf("%-10s", label);
    for (int i = 0; i < n; i++)
        printf(" %.6f", (double)v[i]);
    printf("\n");
}

static int info(const char *path) {
    struct bmst_dataset *ds;
    if (bmst_dataset_open(path, &ds) != 0) return -1;
    const struct bmst_dataset_info *in = bmst_dataset_get_info(ds);
    printf("%-10s %s\n", "file:", path);
    printf("%-10s %s\n", "name:", in->name);
    printf("%-10s %dx%dx%d (HxWxC)\n", "shape:", in->h, in->w, in->c);
    printf("%-10s %zu\n", "train:", in->count[BMST_SPLIT_TRAIN]);
    printf("%-10s %zu\n", "test:", in->count[BMST_SPLIT_TEST]);
    if (in->count[BMST_SPLIT_VAL]) printf("%-10s %zu\n", "val:", in->count[BMST_SPLIT_VAL]);
    printf("%-10s %d\n", "classes:", in->classes);
    if (bmst_dataset_class_name(ds, 0)[0]) {
        printf("%-10s", "names:");
        for (int k = 0; k < in->classes; k++)
            printf("%s%s", k ? ", " : " ", bmst_dataset_class_name(ds, k));
        printf("\n");
    }
    print_floats("mean:", in->mean, in->c);
    print_floats("std:", in->std, in->c);
    bmst_dataset_close(ds);
    return 0;
}

/* Writes a converted dataset, then reopens it to check and describe it. */
static int write_and_describe(struct bmst_converted *cv, const char *out, double started) {
    printf("read %zu train + %zu test images of %dx%dx%d in %.2f s",
           cv->src.count[BMST_SPLIT_TRAIN] + cv->src.count[BMST_SPLIT_VAL],
           cv->src.count[BMST_SPLIT_TEST], cv->src.h, cv->src.w, cv->src.c, now() - started);
    if (cv->src.count[BMST_SPLIT_VAL])
        printf("; %zu of the training images moved to /val", cv->src.count[BMST_SPLIT_VAL]);
    printf("\n");
    printf("writing %s\n", out);
    fflush(stdout);
    double t = now();
    int rc = bmst_dataset_write(out, &cv->src);
    bmst_converted_free(cv);
    if (rc != 0) return -1;
    printf("wrote %s in %.2f s (%.2f s in all)\n", out, now() - t, now() - started);
    if (info(out) != 0) {
        remove(out); /* written but unreadable: do not leave it behind */
        return -1;
    }
    return 0;
}

static int convert(const char *kind, const char *dir, const char *out,
                   const struct bmst_convert_options *opt, unsigned given) {
    const struct bmst_converter *cv_kind = bmst_converter_find(kind);
    if (!cv_kind)
        return usage_error("unknown source kind '%s' (known: %s)", kind, bmst_converter_kinds);
    unsigned takes_flags = cv_kind->options | BMST_CONVERT_VAL_FRACTION;
    char takes[160] = "";
    for (int f = 0; f < OPTION_COUNT; f++)
        if (takes_flags & options[f].flag)
            snprintf(takes + strlen(takes), sizeof takes - strlen(takes), "%s%s",
                     takes[0] ? ", " : "", options[f].name);
    for (int f = 0; f < OPTION_COUNT; f++)
        if ((given & options[f].flag) && !(takes_flags & options[f].flag))
            return usage_error("convert %s: %s does not apply (%s takes %s)", kind, options[f].name,
                               kind, takes[0] ? takes : "no options");
    struct stat st;
    if (stat(dir, &st) != 0) return bmst_error("%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return bmst_error("%s: not a directory", dir);
    printf("reading %s from %s\n", kind, dir);
    fflush(stdout);
    double started = now();
    struct bmst_converted cv;
    if (cv_kind->fn(dir, opt, &cv) != 0) return -1;
    if (cv.skipped)
        printf("skipped %zu images that could not be read or decoded (--skip-bad)\n", cv.skipped);
    if (opt->val_fraction > 0.0 &&
        bmst_converted_carve(&cv, BMST_SPLIT_VAL, opt->val_fraction) != 0) {
        bmst_converted_free(&cv);
        return -1;
    }
    return write_and_describe(&cv, out, started);
}

/* A whole decimal number in [lo, hi], or a usage error naming the option. */
static int parse_number(const char *opt, const char *text, long long lo, long long hi,
                        long long *value) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi)
        return usage_error("%s: '%s' is not a number in %lld..%lld", opt, text, lo, hi);
    *value = v;
    return 0;
}

/* A number strictly between 0 and 1, or a usage error naming the option. */
static int parse_fraction(const char *opt, const char *text, double *value) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v > 0.0 && v < 1.0))
        return usage_error("%s: '%s' is not a number between 0 and 1", opt, text);
    *value = v;
    return 0;
}

/* The arguments of convert (and download): up to max_pos positional ones into
 * pos, the options, anywhere among them, into opt and given. */
static int parse_convert_args(const char *cmd, int argc, char **argv, int max_pos, const char **pos,
                              int *npos, struct bmst_convert_options *o, unsigned *given) {
    struct bmst_convert_options opt = {0};
    long long v;
    *npos = 0;
    *given = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            if (*npos == max_pos) return usage_error("%s: unexpected argument '%s'", cmd, a);
            pos[(*npos)++] = a;
            continue;
        }
        int f = 0;
        while (f < OPTION_COUNT && strcmp(a, options[f].name) != 0)
            f++;
        if (f == OPTION_COUNT) return usage_error("%s: unknown option '%s'", cmd, a);
        *given |= options[f].flag;
        if (options[f].flag == BMST_CONVERT_SKIP_BAD) {
            opt.skip_bad = 1;
            continue;
        }
        if (options[f].flag == BMST_CONVERT_OFFICIAL_VAL) {
            opt.official_val = 1;
            continue;
        }
        if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
            return usage_error("%s: %s needs a value", cmd, a);
        const char *val = argv[++i];
        switch (options[f].flag) {
        case BMST_CONVERT_SIZE:
            if (parse_number(a, val, 1, 4096, &v) != 0) return USAGE;
            opt.size = (int)v;
            break;
        case BMST_CONVERT_SPLIT:
            if (strcmp(val, "standard") != 0 && strcmp(val, "swapped") != 0)
                return usage_error("--split: '%s' is not 'standard' or 'swapped'", val);
            opt.swapped = strcmp(val, "swapped") == 0;
            break;
        case BMST_CONVERT_TEST_PER_CLASS:
            if (parse_number(a, val, 1, 1000000, &v) != 0) return USAGE;
            opt.test_per_class = (long)v;
            break;
        case BMST_CONVERT_VAL_FRACTION:
            if (parse_fraction(a, val, &opt.val_fraction) != 0) return USAGE;
            break;
        case BMST_CONVERT_TEST_FRACTION:
            if (parse_fraction(a, val, &opt.test_fraction) != 0) return USAGE;
            break;
        case BMST_CONVERT_THREADS:
            if (parse_number(a, val, 1, 256, &v) != 0) return USAGE;
            opt.threads = (int)v;
            break;
        }
    }
    if (opt.official_val && opt.swapped)
        return usage_error("--official-val keeps the official lists apart: it goes with --split "
                           "standard, not swapped");
    if (opt.official_val && opt.val_fraction > 0.0)
        return usage_error("--official-val and --val-fraction both make /val: choose one");
    *o = opt;
    return 0;
}

/* bmst_data convert KIND DIR OUT.h5 [options], options anywhere after KIND. */
static int convert_command(int argc, char **argv) {
    struct bmst_convert_options opt;
    const char *pos[3];
    int npos;
    unsigned given;
    int status = parse_convert_args("convert", argc, argv, 3, pos, &npos, &opt, &given);
    if (status != 0) return status;
    if (npos != 3)
        return usage_error("usage: bmst_data convert KIND DIR OUT.h5 [OPTIONS] (see --help)");
    return convert(pos[0], pos[1], pos[2], &opt, given);
}

/* The --md5 FILE=HEX overrides. */
struct md5_override {
    char file[256];
    char hex[33];
};

/* Fetches and unpacks every file of src into folder, then converts it. */
static int download(const struct bmst_download_source *src, const char *dir, const char *mirror,
                    const struct md5_override *md5s, int n_md5,
                    const struct bmst_convert_options *opt, unsigned given) {
    char folder[4096], url[4096], path[4096], out[4096];
    if ((size_t)snprintf(folder, sizeof folder, "%s/%s-download", dir, src->name) >=
            sizeof folder ||
        (size_t)snprintf(out, sizeof out, "%s/%s.h5", dir, src->name) >= sizeof out)
        return bmst_error("%s: path too long", dir);
    if (mkdir(folder, 0777) != 0 && errno != EEXIST)
        return bmst_error("%s: %s", folder, strerror(errno));
    for (int i = 0; i < BMST_DOWNLOAD_MAX_FILES && src->files[i].name; i++) {
        const struct bmst_download_file *f = &src->files[i];
        const char *md5 = f->md5, *base = mirror ? mirror : src->base_url;
        for (int k = 0; k < n_md5; k++)
            if (strcmp(md5s[k].file, f->name) == 0) md5 = md5s[k].hex;
        size_t len = strlen(base);
        if ((size_t)snprintf(url, sizeof url, "%s%s%s", base,
                             len && base[len - 1] == '/' ? "" : "/", f->name) >= sizeof url)
            return bmst_error("%s: URL too long", base);
        if (bmst_join_path(path, sizeof path, folder, f->name) != 0) return -1;
        printf("fetching %s\n", url);
        fflush(stdout);
        if (bmst_download_fetch(url, path, md5) != 0) return -1;
        printf("have %s (MD5 %s)\n", path, md5);
        if (f->unpack) {
            printf("unpacking %s\n", f->name);
            fflush(stdout);
            if (bmst_unpack_tgz(path, folder) != 0) return -1;
        }
    }
    return convert(src->kind, folder, out, opt, given);
}

/* bmst_data download NAME DIR [--mirror URL] [--md5 FILE=HEX ...] [convert options] */
static int download_command(int argc, char **argv) {
    const char *mirror = NULL, *pos[2];
    struct md5_override md5s[BMST_DOWNLOAD_MAX_FILES];
    char **rest = bmst_xcalloc((size_t)argc + 1, sizeof *rest);
    int n_md5 = 0, n_rest = 0, npos, status = 0;
    for (int i = 0; i < argc && status == 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--mirror") != 0 && strcmp(a, "--md5") != 0) {
            rest[n_rest++] = argv[i];
            continue;
        }
        if (i + 1 >= argc) {
            status = usage_error("download: %s needs a value", a);
            break;
        }
        const char *v = argv[++i], *eq = strchr(v, '=');
        if (strcmp(a, "--mirror") == 0)
            mirror = v;
        else if (!eq || eq == v || (size_t)(eq - v) >= sizeof md5s[0].file ||
                 strlen(eq + 1) != 32 || strspn(eq + 1, "0123456789abcdef") != 32 ||
                 n_md5 == BMST_DOWNLOAD_MAX_FILES)
            status = usage_error("--md5: '%s' is not FILE=HEX (32 lowercase hex digits)", v);
        else {
            snprintf(md5s[n_md5].file, sizeof md5s[n_md5].file, "%.*s", (int)(eq - v), v);
            snprintf(md5s[n_md5].hex, sizeof md5s[n_md5].hex, "%s", eq + 1);
            n_md5++;
        }
    }
    struct bmst_convert_options opt;
    unsigned given;
    if (status == 0)
        status = parse_convert_args("download", n_rest, rest, 2, pos, &npos, &opt, &given);
    free(rest);
    if (status != 0) return status;
    if (npos != 2) return usage_error("usage: bmst_data download NAME DIR [OPTIONS] (see --help)");
    const struct bmst_download_source *src = bmst_download_find(pos[0]);
    if (!src) return usage_error("unknown dataset '%s' (known: %s)", pos[0], bmst_download_names);
    if (src->manual) return bmst_error("%s", src->manual);
    struct stat st;
    if (stat(pos[1], &st) != 0 || !S_ISDIR(st.st_mode))
        return bmst_error("%s: not a folder (create it first)", pos[1]);
    return download(src, pos[1], mirror, md5s, n_md5, &opt, given);
}

static int synth(int argc, char **argv) {
    struct bmst_synth_config cfg = {0};
    long long classes = -1, train = -1, test = -1, seed = 0, v;
    const char *out = NULL;
    int shape = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (out) return usage_error("synth: more than one output file ('%s', '%s')", out, a);
            out = a;
            continue;
        }
        if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
            return usage_error("synth: %s needs a value", a);
        const char *val = argv[++i];
        if (strcmp(a, "--shape") == 0) {
            char tail;
            if (sscanf(val, "%dx%dx%d%c", &cfg.h, &cfg.w, &cfg.c, &tail) != 3 || cfg.h < 1 ||
                cfg.w < 1 || cfg.c < 1 || cfg.h > 4096 || cfg.w > 4096 || cfg.c > BMST_MAX_CHANNELS)
                return usage_error("--shape: '%s' is not HxWxC (H, W 1..4096, C 1..%d)", val,
                                   BMST_MAX_CHANNELS);
            shape = 1;
        } else if (strcmp(a, "--classes") == 0) {
            if (parse_number(a, val, 1, BMST_MAX_CLASSES, &classes) != 0) return USAGE;
        } else if (strcmp(a, "--train") == 0) {
            if (parse_number(a, val, 1, UINT32_MAX, &train) != 0) return USAGE;
        } else if (strcmp(a, "--test") == 0) {
            if (parse_number(a, val, 1, UINT32_MAX, &test) != 0) return USAGE;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_number(a, val, 0, INT64_MAX, &v) != 0) return USAGE;
            seed = v;
        } else {
            return usage_error("synth: unknown option '%s'", a);
        }
    }
    if (!shape || classes < 0 || train < 0 || test < 0 || !out)
        return usage_error("synth needs --shape, --classes, --train, --test and OUT.h5");
    cfg.classes = (int)classes;
    cfg.train = (size_t)train;
    cfg.test = (size_t)test;
    cfg.seed = (uint64_t)seed;
    printf("generating %dx%dx%d, %d classes, seed %lld\n", cfg.h, cfg.w, cfg.c, cfg.classes, seed);
    fflush(stdout);
    double started = now();
    struct bmst_converted cv;
    if (bmst_synth(&cfg, &cv) != 0) return -1;
    return write_and_describe(&cv, out, started);
}

static int run(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf(usage, bmst_converter_kinds, bmst_download_names);
            return 0;
        }
    if (argc < 2) return usage_error("missing command (see bmst_data --help)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "convert") == 0) return convert_command(argc - 2, argv + 2);
    if (strcmp(cmd, "synth") == 0) return synth(argc - 2, argv + 2);
    if (strcmp(cmd, "download") == 0) return download_command(argc - 2, argv + 2);
    if (strcmp(cmd, "info") == 0) {
        if (argc != 3) return usage_error("usage: bmst_data info FILE.h5");
        return info(argv[2]);
    }
    return usage_error("unknown command '%s' (see bmst_data --help)", cmd);
}

int main(int argc, char **argv) {
    int status = run(argc, argv);
    if (status != 0) {
        fflush(stdout);
        bmst_report_error("bmst_data");
        return status == USAGE ? USAGE : 1;
    }
    return 0;
}
