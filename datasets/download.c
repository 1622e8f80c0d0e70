/* Fetching, checking and unpacking the published archives (download.h):
 * libcurl for the transfer (any URL scheme it has: https, http, file for a
 * local mirror), OpenSSL's MD5 for the checksum, libarchive for .tar.gz. */
#include "download.h"

#include "error.h"
#include "progress_bar.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int bmst_md5_file(const char *path, char hex[33]) {
    FILE *f = fopen(path, "rb");
    if (!f) return bmst_error("%s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[1 << 16], digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1;
    for (size_t n; ok && (n = fread(buf, 1, sizeof buf, f)) > 0;)
        ok = EVP_DigestUpdate(ctx, buf, n) == 1;
    int read_error = ferror(f);
    fclose(f);
    ok = ok && !read_error && EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len == 16;
    EVP_MD_CTX_free(ctx);
    if (read_error) return bmst_error("%s: read error", path);
    if (!ok) return bmst_error("%s: the MD5 digest failed (OpenSSL)", path);
    for (unsigned i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return 0;
}

/* The transfer's sink: the .part file, and the first write error. */
struct sink {
    FILE *file;
    int write_errno;
    struct bmst_progress_bar bar;
    int bar_started;
    long long offset; /* bytes the .part held before this transfer */
};

static size_t on_data(char *data, size_t size, size_t count, void *arg) {
    struct sink *s = arg;
    size_t n = size * count;
    if (fwrite(data, 1, n, s->file) != n) {
        s->write_errno = errno ? errno : EIO;
        return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

static int on_progress(void *arg, curl_off_t total, curl_off_t now, curl_off_t up_total,
                       curl_off_t up_now) {
    (void)up_total, (void)up_now;
    struct sink *s = arg;
    if (total <= 0) return 0;
    if (!s->bar_started) {
        bmst_progress_bar_begin(&s->bar, "downloading", (long)(s->offset + total));
        s->bar_started = 1;
    }
    bmst_progress_bar_update(&s->bar, (long)(s->offset + now));
    return 0;
}

/* One transfer of url into part, continuing from its current size. Returns 0,
 * or the libcurl code (and *http the status) with *why set. */
static CURLcode transfer(const char *url, const char *part, long *http, char *why, size_t cap) {
    struct sink s = {.file = fopen(part, "ab")};
    if (!s.file) {
        snprintf(why, cap, "%s: %s", part, strerror(errno));
        return CURLE_WRITE_ERROR;
    }
    struct stat st;
    s.offset = fstat(fileno(s.file), &st) == 0 ? (long long)st.st_size : 0;
    CURL *c = curl_easy_init();
    char error[CURL_ERROR_SIZE] = "";
    CURLcode rc = CURLE_FAILED_INIT;
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
        curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L); /* a 404 is an error, not a page */
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
        /* a stalled connection ends instead of hanging: under 1 byte/s for a minute */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)s.offset);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
        rc = curl_easy_perform(c);
        *http = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
        curl_easy_cleanup(c);
    }
    if (s.bar_started) bmst_progress_bar_end(&s.bar);
    if (fclose(s.file) != 0 && !s.write_errno) s.write_errno = errno;
    if (s.write_errno)
        snprintf(why, cap, "%s: %s", part, strerror(s.write_errno)), rc = CURLE_WRITE_ERROR;
    else if (rc != CURLE_OK)
        snprintf(why, cap, "%s", error[0] ? error : curl_easy_strerror(rc));
    return rc;
}

int bmst_download_fetch(const char *url, const char *path, const char *md5) {
    char hex[33], part[4096], why[CURL_ERROR_SIZE + 4200];
    struct stat st;
    if (stat(path, &st) == 0) {
        if (bmst_md5_file(path, hex) != 0) return -1;
        if (strcmp(hex, md5) == 0) return 0;
        if (remove(path) != 0) return bmst_error("%s: %s", path, strerror(errno));
    }
    if ((size_t)snprintf(part, sizeof part, "%s.part", path) >= sizeof part)
        return bmst_error("%s: path too long", path);
    long http = 0;
    CURLcode rc = transfer(url, part, &http, why, sizeof why);
    if (rc == CURLE_RANGE_ERROR || (rc == CURLE_HTTP_RETURNED_ERROR && http == 416)) {
        /* the server does not resume, or the .part is already whole (or
         * longer than the file): check it, else start again from nothing */
        if (http == 416 && bmst_md5_file(part, hex) == 0 && strcmp(hex, md5) == 0) {
            rc = CURLE_OK;
        } else {
            remove(part);
            rc = transfer(url, part, &http, why, sizeof why);
        }
    }
    if (rc == CURLE_WRITE_ERROR) return bmst_error("%s", why);
    if (rc != CURLE_OK) {
        int offline = rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT;
        return bmst_error("downloading %s: %s%s", url, why,
                          offline ? " (no network? --mirror URL takes a local copy)"
                          : stat(part, &st) == 0 && st.st_size > 0
                              ? " (the part fetched is kept; the next run continues it)"
                              : "");
    }
    if (bmst_md5_file(part, hex) != 0) return -1;
    if (strcmp(hex, md5) != 0) {
        remove(part);
        return bmst_error("%s: checksum mismatch: MD5 %s, published %s (the download is removed)",
                          url, hex, md5);
    }
    if (rename(part, path) != 0) return bmst_error("%s: %s", path, strerror(errno));
    return 0;
}

/* 1 when an archive member's path is absolute or has a ".." component. */
static int escapes(const char *name) {
    if (name[0] == '/') return 1;
    for (const char *c = name; *c;) {
        size_t len = strcspn(c, "/");
        if (len == 2 && c[0] == '.' && c[1] == '.') return 1;
        c += len + (c[len] == '/');
    }
    return 0;
}

int bmst_unpack_tgz(const char *archive, const char *dir) {
    struct archive *in = archive_read_new(), *out = archive_write_disk_new();
    if (!in || !out)
        bmst_fatal("libarchive", __FILE__, __LINE__, "archive_read_new", "out of memory");
    archive_read_support_filter_gzip(in);
    archive_read_support_format_tar(in);
    /* members are checked below and then prefixed with dir (absolute or not);
     * libarchive refuses to write through a link a member created */
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_SECURE_SYMLINKS);
    int rc = 0;
    if (archive_read_open_filename(in, archive, 1 << 16) != ARCHIVE_OK) {
        rc = bmst_error("%s: %s", archive, archive_error_string(in));
        goto done;
    }
    struct archive_entry *entry;
    int r;
    char target[4096];
    while ((r = archive_read_next_header(in, &entry)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(entry);
        if ((size_t)snprintf(target, sizeof target, "%s/%s", dir, name) >= sizeof target) {
            rc = bmst_error("%s: member path too long: %s", archive, name);
            goto done;
        }
        if (escapes(name)) {
            rc = bmst_error("%s: member %s would land outside %s", archive, name, dir);
            goto done;
        }
        const char *link = archive_entry_hardlink(entry), *symlink = archive_entry_symlink(entry);
        if ((link && escapes(link)) || (symlink && escapes(symlink))) {
            rc = bmst_error("%s: member %s links outside %s", archive, name, dir);
            goto done;
        }
        if (link) {
            char linked[4096];
            snprintf(linked, sizeof linked, "%s/%s", dir, link);
            archive_entry_set_hardlink(entry, linked);
        }
        archive_entry_set_pathname(entry, target);
        if (archive_write_header(out, entry) != ARCHIVE_OK) {
            rc = bmst_error("%s: %s: %s", archive, name, archive_error_string(out));
            goto done;
        }
        const void *block;
        size_t size;
        la_int64_t offset;
        while ((r = archive_read_data_block(in, &block, &size, &offset)) == ARCHIVE_OK)
            if (archive_write_data_block(out, block, size, offset) != ARCHIVE_OK) {
                rc = bmst_error("%s: %s: %s", archive, name, archive_error_string(out));
                goto done;
            }
        if (r != ARCHIVE_EOF) {
            rc = bmst_error("%s: %s: %s", archive, name, archive_error_string(in));
            goto done;
        }
        if (archive_write_finish_entry(out) != ARCHIVE_OK) {
            rc = bmst_error("%s: %s: %s", archive, name, archive_error_string(out));
            goto done;
        }
    }
    if (r != ARCHIVE_EOF) rc = bmst_error("%s: %s", archive, archive_error_string(in));
done:
    archive_read_free(in);
    archive_write_free(out);
    return rc;
}
