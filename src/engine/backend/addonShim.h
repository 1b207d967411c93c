// What the addon shim's two parts share (addonShim.c: thread pool, no synchronize, greedy's one
// candidate; decodeAhead.c: the next token decoded while the last one travels): which object made
// a call, and the real llama.cpp function for that object. Only pointers, ints and the two small
// structs below cross these calls, so no llama.cpp header is needed to build the shim.
#ifndef ADDON_SHIM_H
#define ADDON_SHIM_H
#include <stddef.h>
#include <stdint.h>

// Shared between the shim's files, never exported: nothing outside may bind to these names.
#define HIDDEN __attribute__((visibility("hidden")))

typedef struct llama_context ctx_t;

// The llama.cpp functions the shim calls, by index into a caller's table of resolved pointers.
#define SHIM_FUNCTIONS(X)                                                                            \
  X(SYNCHRONIZE, llama_synchronize) X(SET_N_THREADS, llama_set_n_threads) X(FREE, llama_free)        \
  X(N_THREADS, llama_n_threads) X(N_THREADS_BATCH, llama_n_threads_batch)                             \
  X(ATTACH_THREADPOOL, llama_attach_threadpool) X(DEV_BY_TYPE, ggml_backend_dev_by_type)              \
  X(DEV_BACKEND_REG, ggml_backend_dev_backend_reg) X(REG_GET_PROC_ADDRESS, ggml_backend_reg_get_proc_address) \
  X(THREADPOOL_PARAMS_INIT, ggml_threadpool_params_init) X(SAMPLED_LOGITS, llama_get_sampled_logits_ith) \
  X(SAMPLED_LOGITS_COUNT, llama_get_sampled_logits_count_ith)                                         \
  X(SAMPLED_CANDIDATES, llama_get_sampled_candidates_ith) X(LOGITS_ITH, llama_get_logits_ith)         \
  X(GET_MODEL, llama_get_model) X(MODEL_GET_VOCAB, llama_model_get_vocab)                             \
  X(VOCAB_N_TOKENS, llama_vocab_n_tokens) X(SAMPLER_APPLY, llama_sampler_apply)                       \
  X(SAMPLER_NAME, llama_sampler_name) X(SAMPLER_CHAIN_N, llama_sampler_chain_n)                       \
  X(SAMPLER_CHAIN_GET, llama_sampler_chain_get)                                                       \
  X(DECODE, llama_decode) X(BATCH_INIT, llama_batch_init) X(BATCH_FREE, llama_batch_free)             \
  X(GET_MEMORY, llama_get_memory) X(N_CTX, llama_n_ctx)                 \
  X(VOCAB_IS_EOG, llama_vocab_is_eog) X(LOGITS, llama_get_logits)                                     \
  X(EMBEDDINGS_ITH, llama_get_embeddings_ith) X(EMBEDDINGS_SEQ, llama_get_embeddings_seq)             \
  X(SAMPLED_PROBS, llama_get_sampled_probs_ith) X(MEMORY_SEQ_RM, llama_memory_seq_rm)                 \
  X(MEMORY_SEQ_ADD, llama_memory_seq_add) X(MEMORY_SEQ_POS_MIN, llama_memory_seq_pos_min)             \
  X(MEMORY_SEQ_POS_MAX, llama_memory_seq_pos_max) X(STATE_GET_SIZE, llama_state_get_size)             \
  X(STATE_SEQ_GET_SIZE_EXT, llama_state_seq_get_size_ext)                                             \
  X(STATE_SEQ_GET_DATA_EXT, llama_state_seq_get_data_ext)                                             \
  X(STATE_SEQ_SET_DATA_EXT, llama_state_seq_set_data_ext)                                             \
  X(STATE_SEQ_SAVE_FILE, llama_state_seq_save_file) X(STATE_SEQ_LOAD_FILE, llama_state_seq_load_file) \
  X(SET_ADAPTERS_LORA, llama_set_adapters_lora) X(INIT_FROM_MODEL, llama_init_from_model)         \
  X(N_CTX_SEQ, llama_n_ctx_seq) X(MEMORY_SEQ_CP, llama_memory_seq_cp)
#define SHIM_ENUM(id, symbol) id,
enum { SHIM_FUNCTIONS(SHIM_ENUM) FUNCTIONS };

// The object a call came from: llama-addon.node, or llama.cpp itself calling its own functions.
struct caller {
  void *base, *handle;
  int addon;
  void *functions[FUNCTIONS];
};

/** The object the code at `return_address` belongs to (NULL if none is known). */
HIDDEN struct caller *caller_of(void *return_address);
/** The real llama.cpp function `which` for calls from `from`; stops the process if there is none. */
HIDDEN void *real(struct caller *from, int which);
/** Whether ASK_CODEBASE_ADDON_SHIM asks for `change` ("on" or unset: every change). */
HIDDEN int wants(const char *change);

// llama.h's candidate array and batch, as laid out in the llama.cpp node-llama-cpp 3.21.1 builds.
typedef struct { int32_t id; float logit, p; } token_data;
typedef struct { token_data *data; size_t size; int64_t selected; _Bool sorted; } token_data_array;
typedef struct {
  int32_t n_tokens;
  int32_t *token;
  float *embd;
  int32_t *pos;
  int32_t *n_seq_id;
  int32_t **seq_id;
  int8_t *logits;
} batch_t;

// decodeAhead.c's hooks into the calls addonShim.c already intercepts.
/** The addon is about to read `ctx`'s outputs (logits): they must be its own last decode's. */
HIDDEN void ahead_before_read(ctx_t *ctx);
/** The addon sampled `cur` from output `idx` of `ctx` with greedy alone, and reads the context no more for it. */
HIDDEN void ahead_sampled(struct caller *addon, ctx_t *ctx, int32_t idx, const token_data_array *cur);
/** `ctx` was freed. */
HIDDEN void ahead_forget(ctx_t *ctx);
// sharedCells.c's: one sequence holding another's prefix by sharing its cells.
typedef struct llama_memory *mem_t;
/** A shift by this much is a request to share (sharedCells.c), never a shift. */
#define SHARE_DELTA INT32_MIN
/** A position read of this sequence asks whether the context shares; SHARE_READY says it does. */
#define SHARE_PROBE (-1000003)
#define SHARE_READY 1000003
/** Keeps a request that `dst` hold `src`'s cells at positions [0, end) (from itself: drop its own from `end` on). */
HIDDEN void share_request(mem_t mem, int32_t src, int32_t dst, int32_t end);
/** Whether `mem` is a unified cache the shim shares cells in. */
HIDDEN int share_ready(mem_t mem);
/** Whether shares wait to be carried out on `mem`. */
HIDDEN int shares_pending(mem_t mem);
/** Carries out the shares waiting on `mem` (no decode may run meanwhile). */
HIDDEN void shares_apply(mem_t mem);
/** `ctx` was freed. */
HIDDEN void shares_forget(ctx_t *ctx);
/** ASK_CODEBASE_ADDON_SHIM_TRACE=timeline: a call of the addon's, from `began` (now_ms) to now, on stderr. */
HIDDEN int timeline_on(void);
HIDDEN double now_ms(void);
HIDDEN void timeline(const char *what, int32_t tokens, int32_t outputs, double began);

#endif
