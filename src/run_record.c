/* The JSON report's account of what was run (run_record.h). */
#include "run_record.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "run_settings.h"
#include "saved.h"
#include "version.h"

static void utc_text(time_t t, char *out, size_t size) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void bmst_run_record_init(struct bmst_run_record *r, const struct bmst_run_config *cfg,
                          const struct bmst_dataset_info *data, const struct bmst_backend *be,
                          const struct bmst_comm *comm, time_t started) {
    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    r->data = data;
    r->comm = comm;
    bmst_run_settings(&r->options, "train", cfg);
    bmst_run_settings_data(&r->options, data);
    bmst_run_settings_backend(&r->options, be);
    utc_text(started, r->started, sizeof r->started);
    bmst_run_record_update(r, "running");
}

void bmst_run_record_update(struct bmst_run_record *r, const char *state) {
    r->state = state;
    utc_text(time(NULL), r->updated, sizeof r->updated);
}

void bmst_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

/* "name": "value", or "name": null for NULL */
static void json_field(FILE *f, const char *name, const char *value) {
    fprintf(f, ",\n    \"%s\": ", name);
    if (value)
        bmst_json_string(f, value);
    else
        fputs("null", f);
}

/* Walks the agreed settings, "NAME\tVALUE\n" lines: copies the next one
 * into name and value and returns 1, or returns 0 after the last. */
static int next_setting(const struct bmst_settings *s, size_t *at, char name[128],
                        char value[256]) {
    const char *line = s->text + *at, *end = s->text + s->len;
    const char *tab = line < end ? memchr(line, '\t', (size_t)(end - line)) : NULL;
    const char *newline = tab ? memchr(tab, '\n', (size_t)(end - tab)) : NULL;
    if (!newline) return 0;
    snprintf(name, 128, "%.*s", (int)(tab - line), line);
    snprintf(value, 256, "%.*s", (int)(newline - tab - 1), tab + 1);
    *at = (size_t)(newline + 1 - s->text);
    return 1;
}

/* One single value of the record: its name in the JSON object (and the
 * CSV's comments), the value as text (NULL: none) and whether it is a number. */
struct record_field {
    const char *name, *value;
    int number;
};

/* The numbers among the record's values, as text. */
struct record_numbers {
    char threads[16], division_block[16], division_bits[16];
};

#define RECORD_FIELDS 15

/* The record's single values, in the order both formats write them; `numbers`
 * holds the ones made here. Returns how many. */
static int record_fields(const struct bmst_run_record *r, struct record_numbers *numbers,
                         struct record_field fields[RECORD_FIELDS]) {
    const struct bmst_run_config *cfg = r->cfg;
    snprintf(numbers->threads, sizeof numbers->threads, "%d", cfg->threads);
    snprintf(numbers->division_block, sizeof numbers->division_block, "%d", cfg->division_block);
    snprintf(numbers->division_bits, sizeof numbers->division_bits, "%d", cfg->division_bits);
    const struct record_field all[RECORD_FIELDS] = {
        /* what the agreement leaves out: local choices that change no collective */
        {"act_codec", bmst_act_codec_name(cfg->act_codec), 0},
        {"division_block", numbers->division_block, 1},
        {"division_bits", numbers->division_bits, 1},
        {"threads", numbers->threads, 1},
        {"data", cfg->data_path, 0},
        {"resume", cfg->resume_path, 0},
        {"save", cfg->save_path, 0},
        {"keep_best", cfg->keep_best_path, 0},
        {"csv", cfg->csv_path, 0},
        {"version", bmst_version, 0},
        {"git_commit", bmst_build_commit, 0},
        {"backends_built", bmst_build_backends, 0},
        {"started", r->started, 0},
        {"slurm_job_id", getenv("SLURM_JOB_ID"), 0},
        {"slurm_array_task_id", getenv("SLURM_ARRAY_TASK_ID"), 0},
    };
    int n = (int)(sizeof all / sizeof all[0]);
    memcpy(fields, all, sizeof all);
    return n;
}

static void json_argv(FILE *f, const struct bmst_run_config *cfg) {
    fputc('[', f);
    for (int i = 0; i < cfg->argc; i++) {
        if (i) fputs(", ", f);
        bmst_json_string(f, cfg->argv[i]);
    }
    fputc(']', f);
}

void bmst_run_record_json(FILE *f, const struct bmst_run_record *r) {
    fputs("{\n    \"argv\": ", f);
    json_argv(f, r->cfg);
    fputs(",\n    \"options\": {", f);
    char name[128], value[256];
    struct record_numbers numbers;
    for (size_t at = 0, first = 1; next_setting(&r->options, &at, name, value); first = 0) {
        fputs(first ? "\n      " : ",\n      ", f);
        bmst_json_string(f, name);
        fputs(": ", f);
        bmst_json_string(f, value);
    }
    fputs("\n    }", f);
    struct record_field fields[RECORD_FIELDS];
    int n = record_fields(r, &numbers, fields);
    for (int i = 0; i < n; i++) {
        if (fields[i].number)
            fprintf(f, ",\n    \"%s\": %s", fields[i].name, fields[i].value);
        else
            json_field(f, fields[i].name, fields[i].value);
    }
    fputs(",\n    \"dataset\": {\"name\": ", f);
    bmst_json_string(f, r->data->name);
    fprintf(f, ", \"shape\": [%d, %d, %d], \"classes\": %d, \"train\": %zu, \"val\": %zu, "
               "\"test\": %zu}",
            r->data->h, r->data->w, r->data->c, r->data->classes, r->data->count[BMST_SPLIT_TRAIN],
            r->data->count[BMST_SPLIT_VAL], r->data->count[BMST_SPLIT_TEST]);
    fputs(",\n    \"hosts\": [", f);
    for (int k = 0; k < r->comm->world; k++) {
        if (k) fputs(", ", f);
        bmst_json_string(f, r->comm->hosts[k]);
    }
    fputs("]", f);
    json_field(f, "updated", r->updated);
    json_field(f, "state", r->state);
    /* the split the best is chosen on, in its name */
    fprintf(f, ",\n    \"best_%s_accuracy\": %.6g,\n    \"best_epoch\": %d\n  }",
            r->data->count[BMST_SPLIT_VAL] > 0 ? "val" : "test", r->best_accuracy, r->best_epoch);
}

/* "# NAME: VALUE\n", control characters escaped as in JSON so that every
 * value stays on its line; NULL: "none". */
static void comment_line(FILE *f, const char *name, const char *value) {
    fprintf(f, "# %s: ", name);
    for (const char *c = value ? value : "none"; *c; c++) {
        if ((unsigned char)*c < 0x20)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('\n', f);
}

char *bmst_run_record_comments(const struct bmst_run_record *r) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) bmst_fatal("libc", __FILE__, __LINE__, "open_memstream", "out of memory");
    fputs("# argv: ", f);
    json_argv(f, r->cfg);
    fputc('\n', f);
    char name[128], value[256], key[160];
    struct record_numbers numbers;
    for (size_t at = 0; next_setting(&r->options, &at, name, value);) {
        snprintf(key, sizeof key, "options.%s", name);
        comment_line(f, key, value);
    }
    struct record_field fields[RECORD_FIELDS];
    int n = record_fields(r, &numbers, fields);
    for (int i = 0; i < n; i++)
        comment_line(f, fields[i].name, fields[i].value);
    const struct bmst_dataset_info *d = r->data;
    comment_line(f, "dataset.name", d->name);
    fprintf(f, "# dataset.shape: %dx%dx%d\n# dataset.classes: %d\n", d->h, d->w, d->c, d->classes);
    fprintf(f, "# dataset.train: %zu\n# dataset.val: %zu\n# dataset.test: %zu\n",
            d->count[BMST_SPLIT_TRAIN], d->count[BMST_SPLIT_VAL], d->count[BMST_SPLIT_TEST]);
    fputs("# hosts: ", f);
    for (int k = 0; k < r->comm->world; k++)
        fprintf(f, "%s%s", k ? " " : "", r->comm->hosts[k]);
    fputc('\n', f);
    if (fclose(f) != 0) bmst_fatal("libc", __FILE__, __LINE__, "fclose", "out of memory");
    return text;
}
