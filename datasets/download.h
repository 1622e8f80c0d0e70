/* bmst_data download: the published archives of each dataset (one table,
 * mirrored in docs/dataset-format.md), fetched over HTTP(S) with libcurl,
 * resumed when a previous try was cut, checked against the published MD5,
 * and unpacked with libarchive. */
#ifndef BMST_DOWNLOAD_H
#define BMST_DOWNLOAD_H

#define BMST_DOWNLOAD_MAX_FILES 4

struct bmst_download_file {
    const char *name; /* at the base URL, and in the download folder */
    const char *md5;  /* the published checksum, lowercase hex */
    int unpack;       /* a .tar.gz archive, unpacked where it lies */
};

struct bmst_download_source {
    const char *name;     /* bmst_data download NAME */
    const char *kind;     /* the converter that reads the unpacked files */
    const char *base_url; /* each file is base_url + name */
    struct bmst_download_file files[BMST_DOWNLOAD_MAX_FILES]; /* name NULL ends the list */
    const char *manual; /* non-NULL: no stable public archive; what to do instead */
};

/* The table's entry for `name`, or NULL; bmst_download_names lists them. */
const struct bmst_download_source *bmst_download_find(const char *name);
extern const char *const bmst_download_names;

/* Makes `path` the file at `url` whose MD5 is `md5`:
 * - a complete `path` with that checksum is kept as it is;
 * - otherwise the transfer goes to path.part, continuing a .part a cut
 *   transfer left (an HTTP range request), and the finished file is checked:
 *   a mismatch removes the .part and fails; a match is renamed to `path`.
 * A progress bar is drawn on a terminal. Failures are one line (no network,
 * a 404, a full disk, a mismatch), -1. */
int bmst_download_fetch(const char *url, const char *path, const char *md5);

/* The lowercase hex MD5 of the file at path into hex[33]; -1 with a message. */
int bmst_md5_file(const char *path, char hex[33]);

/* Unpacks the .tar.gz archive into dir, refusing members that would land
 * outside it (absolute paths, "..", links out); -1 with a message. */
int bmst_unpack_tgz(const char *archive, const char *dir);

#endif
