/* Recording the training pass as one CUDA graph and replaying it, and what a
 * failing library call does while a recording is in progress: instead of
 * ending the process, the first failure is kept, the recording is thrown away
 * and capture_end gives the failure as its reason, so that the executor runs
 * the pass op by op instead (backend.h). */
#include "cuda_internal.h"

#include <stdio.h>
#include <string.h>

/* The backend recording on this thread, or NULL. Thread-local rather than
 * reached through the backend because the checked-call macros stand at about
 * a hundred places in every kernel file, many without the backend at hand,
 * and because "recording in progress" is a property of the calling thread in
 * CUDA's own terms: the capture runs in cudaStreamCaptureModeThreadLocal,
 * where CUDA refuses the unsafe calls of this thread only. It is set only
 * between capture_begin and capture_end, so a failure outside a recording,
 * or on another thread (the loader's page-locked allocations), still ends
 * the process. */
static thread_local struct cuda_impl *recording_here;

void cuda_call_failed(const char *lib, const char *file, int line, const char *call,
                      const char *msg) {
    struct cuda_impl *impl = recording_here;
    if (!impl) bmst_fatal(lib, file, line, call, msg);
    /* the first failure is the cause; later calls fail only because of it */
    if (impl->capture_failure[0]) return;
    const char *base = strrchr(file, '/');
    int name_len = (int)strcspn(call, "("); /* the function, without its arguments */
    snprintf(impl->capture_failure, sizeof impl->capture_failure, "%s: %.*s: %s at %s:%d", lib,
             name_len, call, msg, base ? base + 1 : file, line);
}

/* Every launch on the stream between begin and end becomes one CUDA graph;
 * the libraries write only into memory we gave them (cuBLAS its workspace,
 * cuDNN the plan's), so the graph replays without allocating. */
int cuda_capture_begin(struct bmst_backend *be, char *why, size_t why_len) {
    struct cuda_impl *impl = cuda_impl_of(be);
    if (recording_here)
        bmst_fatal("bmst", __FILE__, __LINE__, "capture_begin",
                  "a recording is already in progress on this thread");
    cudaError_t e = cudaStreamBeginCapture(impl->stream, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(why, why_len, "CUDA: cudaStreamBeginCapture: %s", cudaGetErrorString(e));
        return -1;
    }
    impl->capture_failure[0] = '\0';
    impl->capturing = 1;
    recording_here = impl;
    return 0;
}

/* The recording, or NULL with the reason: the first refused call, else what
 * ending or instantiating the graph reported. Either way the stream has left
 * capture mode and takes eager work again. */
void *cuda_capture_end(struct bmst_backend *be, char *why, size_t why_len) {
    struct cuda_impl *impl = cuda_impl_of(be);
    if (recording_here != impl)
        bmst_fatal("bmst", __FILE__, __LINE__, "capture_end",
                  "this backend is not recording on this thread");
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(impl->stream, &graph);
    recording_here = NULL; /* from here on every failure ends the process again */
    impl->capturing = 0;
    /* a refused call's error is not sticky: clear it so that the next
     * launch check does not report it again */
    (void)cudaGetLastError();
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    CUDA_CHECK(cudaStreamIsCapturing(impl->stream, &status));
    if (status != cudaStreamCaptureStatusNone)
        bmst_fatal("CUDA", __FILE__, __LINE__, "cudaStreamEndCapture",
                  "the stream is still capturing");
    if (impl->capture_failure[0] || e != cudaSuccess || !graph) {
        if (impl->capture_failure[0])
            snprintf(why, why_len, "%s", impl->capture_failure);
        else
            snprintf(why, why_len, "CUDA: cudaStreamEndCapture: %s",
                     e != cudaSuccess ? cudaGetErrorString(e) : "no graph");
        /* a call refused before it was enqueued leaves no node behind, and
         * the graph may still be whole without it: never keep such a graph */
        if (graph) CUDA_CHECK(cudaGraphDestroy(graph));
        return NULL;
    }
    cudaGraphExec_t exec = NULL;
    e = cudaGraphInstantiate(&exec, graph, 0);
    CUDA_CHECK(cudaGraphDestroy(graph));
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(why, why_len, "CUDA: cudaGraphInstantiate: %s", cudaGetErrorString(e));
        return NULL;
    }
    return exec;
}

void cuda_replay(struct bmst_backend *be, void *recording) {
    CUDA_CHECK(cudaGraphLaunch((cudaGraphExec_t)recording, cuda_impl_of(be)->stream));
}

void cuda_capture_free(struct bmst_backend *be, void *recording) {
    (void)be;
    CUDA_CHECK(cudaGraphExecDestroy((cudaGraphExec_t)recording));
}
