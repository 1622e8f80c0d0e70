/* The JSON report's account of what was run (run_record.h). */
#include "run_record.h"

#include <stdlib.h>
#include <string.h>

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

/* The agreed settings, "NAME\tVALUE\n" lines, as one object of strings. */
static void json_settings(FILE *f, const struct bmst_settings *s) {
    fputc('{', f);
    const char *line = s->text, *end = s->text + s->len;
    for (int first = 1; line < end; first = 0) {
        const char *tab = memchr(line, '\t', (size_t)(end - line));
        const char *newline = tab ? memchr(tab, '\n', (size_t)(end - tab)) : NULL;
        if (!newline) break;
        char name[128], value[256];
        snprintf(name, sizeof name, "%.*s", (int)(tab - line), line);
        snprintf(value, sizeof value, "%.*s", (int)(newline - tab - 1), tab + 1);
        fputs(first ? "\n      " : ",\n      ", f);
        bmst_json_string(f, name);
        fputs(": ", f);
        bmst_json_string(f, value);
        line = newline + 1;
    }
    fputs("\n    }", f);
}

void bmst_run_record_json(FILE *f, const struct bmst_run_record *r) {
    const struct bmst_run_config *cfg = r->cfg;
    fputs("{\n    \"argv\": [", f);
    for (int i = 0; i < cfg->argc; i++) {
        if (i) fputs(", ", f);
        bmst_json_string(f, cfg->argv[i]);
    }
    fputs("]", f);
    fputs(",\n    \"options\": ", f);
    json_settings(f, &r->options);
    /* what the agreement leaves out: local choices that change no collective */
    json_field(f, "act_codec", bmst_act_codec_name(cfg->act_codec));
    fprintf(f, ",\n    \"division_block\": %d, \"division_bits\": %d", cfg->division_block,
            cfg->division_bits);
    fprintf(f, ",\n    \"threads\": %d", cfg->threads);
    json_field(f, "data", cfg->data_path);
    json_field(f, "resume", cfg->resume_path);
    json_field(f, "save", cfg->save_path);
    json_field(f, "keep_best", cfg->keep_best_path);
    json_field(f, "csv", cfg->csv_path);
    fputs(",\n    \"dataset\": {\"name\": ", f);
    bmst_json_string(f, r->data->name);
    fprintf(f, ", \"shape\": [%d, %d, %d], \"classes\": %d, \"train\": %zu, \"test\": %zu}",
            r->data->h, r->data->w, r->data->c, r->data->classes, r->data->count[BMST_SPLIT_TRAIN],
            r->data->count[BMST_SPLIT_TEST]);
    json_field(f, "version", bmst_version);
    json_field(f, "git_commit", bmst_build_commit);
    json_field(f, "backends_built", bmst_build_backends);
    json_field(f, "started", r->started);
    json_field(f, "updated", r->updated);
    json_field(f, "state", r->state);
    fputs(",\n    \"hosts\": [", f);
    for (int k = 0; k < r->comm->world; k++) {
        if (k) fputs(", ", f);
        bmst_json_string(f, r->comm->hosts[k]);
    }
    fputs("]", f);
    json_field(f, "slurm_job_id", getenv("SLURM_JOB_ID"));
    json_field(f, "slurm_array_task_id", getenv("SLURM_ARRAY_TASK_ID"));
    fprintf(f, ",\n    \"best_test_accuracy\": %.6g,\n    \"best_epoch\": %d\n  }",
            r->best_accuracy, r->best_epoch);
}
