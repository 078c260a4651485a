/* lowrank: CPU SIMD kernels for exact and sub-quadratic attention.
 *
 * This C99 header is the library's ABI. Every entry point returns a
 * lowrank_status_t; on failure, lowrank_last_error() returns a message that
 * says which argument was wrong and why. The library never aborts, never
 * prints, never throws across this interface, and on failure never writes to
 * the output it was given.
 *
 * Usage: describe tensors with lowrank_tensor_desc_t, fill lowrank_options_t
 * (after lowrank_options_init), create a plan once with lowrank_plan_create,
 * then call lowrank_plan_execute as often as needed, from any number of
 * threads at once, with new data of the same shapes.
 */
#ifndef LOWRANK_LOWRANK_H_
#define LOWRANK_LOWRANK_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(LOWRANK_SHARED_LIBRARY)
#if defined(LOWRANK_BUILDING_LIBRARY)
#define LOWRANK_API __declspec(dllexport)
#else
#define LOWRANK_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define LOWRANK_API __attribute__((visibility("default")))
#else
#define LOWRANK_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the library, also available at run time. */
#define LOWRANK_VERSION_MAJOR 0
#define LOWRANK_VERSION_MINOR 1
#define LOWRANK_VERSION_PATCH 0

/** Result of every entry point. LOWRANK_OK is 0; everything else is an error
 *  and lowrank_last_error() says what was wrong. */
typedef enum lowrank_status {
  LOWRANK_OK = 0,
  /** A null pointer, a bad shape or stride, a size that overflows, an
   *  option out of range. */
  LOWRANK_INVALID_ARGUMENT = 1,
  /** A valid request this build or method does not support (for example
   *  causal masking for a method that cannot be causal). */
  LOWRANK_UNSUPPORTED = 2,
  /** The requested instruction set was not compiled in, or this CPU lacks
   *  it. */
  LOWRANK_UNSUPPORTED_ISA = 3,
  /** A workspace or plan could not be allocated. */
  LOWRANK_OUT_OF_MEMORY = 4,
  /** A file could not be read or written, or is malformed. */
  LOWRANK_IO_ERROR = 5,
  /** A bug in the library; please report it with the message. */
  LOWRANK_INTERNAL_ERROR = 6
} lowrank_status_t;

/** Short constant name of a status ("LOWRANK_INVALID_ARGUMENT"). */
LOWRANK_API const char* lowrank_status_name(lowrank_status_t status);

/** Message describing the last error returned on the calling thread. Valid
 *  until the next lowrank call on this thread. Empty string if none. */
LOWRANK_API const char* lowrank_last_error(void);

/** Version string "MAJOR.MINOR.PATCH". */
LOWRANK_API const char* lowrank_version(void);

/* ------------------------------------------------------------------------ */
/* Instruction sets.                                                         */
/* ------------------------------------------------------------------------ */

/** Instruction-set targets. Each kernel is compiled for every target of the
 *  architecture; the best one the CPU supports runs unless one is forced.
 *  Values are bits, so a set of targets is their OR. */
typedef enum lowrank_isa {
  LOWRANK_ISA_AUTO = 0, /**< not a target: "choose the best" */
  LOWRANK_ISA_SCALAR = 1u << 0,
  LOWRANK_ISA_EMU128 = 1u << 1,
  LOWRANK_ISA_SSSE3 = 1u << 2,
  LOWRANK_ISA_SSE4 = 1u << 3,
  LOWRANK_ISA_AVX2 = 1u << 4,
  LOWRANK_ISA_AVX3 = 1u << 5, /**< AVX-512 F/BW/DQ/VL */
  LOWRANK_ISA_AVX3_DL = 1u << 6,
  LOWRANK_ISA_NEON = 1u << 7,
  LOWRANK_ISA_SVE = 1u << 8,
  LOWRANK_ISA_SVE2 = 1u << 9,
  LOWRANK_ISA_SVE_256 = 1u << 10,
  LOWRANK_ISA_SVE2_128 = 1u << 11
} lowrank_isa_t;

/** Targets compiled into this build (OR of lowrank_isa_t bits). */
LOWRANK_API uint32_t lowrank_isa_compiled(void);
/** Compiled targets that this CPU can run. */
LOWRANK_API uint32_t lowrank_isa_supported(void);
/** The target that kernels use now (forced, or the best supported). */
LOWRANK_API lowrank_isa_t lowrank_isa_active(void);
/** Name of one target ("AVX2"), or "unknown". */
LOWRANK_API const char* lowrank_isa_name(lowrank_isa_t isa);
/** Parses a target name, case-insensitive ("avx2", "AVX3", "auto"). */
LOWRANK_API lowrank_status_t lowrank_isa_from_name(const char* name,
                                                  lowrank_isa_t* isa);
/** Forces one target for the whole process (LOWRANK_ISA_AUTO restores the
 *  default). Fails with LOWRANK_UNSUPPORTED_ISA, changing nothing, if the
 *  target was not compiled or the CPU lacks it. Not to be called while
 *  another thread executes a plan. The environment variable LOWRANK_ISA
 *  (read once, at the first lowrank call) does the same; an invalid value
 *  makes lowrank_plan_create fail with LOWRANK_UNSUPPORTED_ISA. */
LOWRANK_API lowrank_status_t lowrank_isa_force(lowrank_isa_t isa);

/** Number of hardware threads available to this process. */
LOWRANK_API int lowrank_hardware_threads(void);

/* ------------------------------------------------------------------------ */
/* Tensors.                                                                  */
/* ------------------------------------------------------------------------ */

/** A view of a float32 tensor of logical shape [batch, heads, seq, dim].
 *  Extents are >= 1. Strides are in elements (not bytes) and >= 0. Input
 *  views may alias themselves (a stride of 0 broadcasts); an output view
 *  must not: ordered by stride, each axis of extent > 1 must step over the
 *  whole span of the smaller ones. So [B,H,N,D] (strides H*N*D, N*D, D, 1)
 *  and [B,N,H,D] (strides N*H*D, D, H*D, 1) are both described without
 *  copies. Data pointers are passed at execute time and need only float
 *  alignment. */
typedef struct lowrank_tensor_desc {
  int64_t batch, heads, seq, dim;
  int64_t stride_batch, stride_head, stride_seq, stride_dim;
} lowrank_tensor_desc_t;

/** Fills a densely packed [batch, heads, seq, dim] descriptor. */
LOWRANK_API lowrank_status_t lowrank_tensor_desc_init_bhsd(
    lowrank_tensor_desc_t* desc, int64_t batch, int64_t heads, int64_t seq,
    int64_t dim);
/** Fills a densely packed [batch, seq, heads, dim] descriptor (the layout of
 *  a fused QKV projection output). */
LOWRANK_API lowrank_status_t lowrank_tensor_desc_init_bshd(
    lowrank_tensor_desc_t* desc, int64_t batch, int64_t seq, int64_t heads,
    int64_t dim);

/* ------------------------------------------------------------------------ */
/* Plans.                                                                    */
/* ------------------------------------------------------------------------ */

/** Attention methods. */
typedef enum lowrank_method {
  /** O = softmax(scale * Q K^T + mask) V, exact, blocked online softmax. */
  LOWRANK_METHOD_EXACT = 0,
  /** Generic low-rank factors: O = U (W^T V), computed right to left and
   *  never forming U W^T. The q descriptor and data are U (rank r in the dim
   *  axis), k are W (same r); masked keys (key_lengths) drop their rows of
   *  W. With options.normalize: O = U (W^T V) / (U (W^T 1)), the denominator
   *  guarded as R + 2e-6 where |R| <= 1e-6. scale must be 0 (unused).
   *  causal: row i uses only keys j <= i + kv_len - q_len (running prefix
   *  sums that never subtract). Not yet supported: views whose dim stride is
   *  not 1 (LOWRANK_UNSUPPORTED). */
  LOWRANK_METHOD_FACTORS = 1,
  /** Linformer: O = softmax(scale Q (E_K K)^T) (E_V V), with projections
   *  E_K, E_V of shape [proj_heads, proj_dim, proj_max_len] (see the options).
   *  Keys beyond kv_len or masked by key_lengths are removed before the
   *  projection (their columns of E count as zero). causal is rejected
   *  (LOWRANK_UNSUPPORTED): E mixes future positions. */
  LOWRANK_METHOD_LINFORMER = 2,
  /** Nystrom attention (Xiong et al. 2021). Per (batch, query head): m
   *  landmark queries Q~ and keys K~ (options.landmark_mode), then
   *  F = softmax(s Q K~^T) (Nq x m), A = softmax(s Q~ K~^T) (m x m),
   *  B = softmax(s Q~ K^T + mask) (m x Nkv), and O = F (Z (B V)) with
   *  Z ~ pinv(A) by options.pinv_iterations Newton-Schulz steps, evaluated
   *  right to left; B V is the exact kernel's online softmax of the m
   *  landmark queries, never storing B. s is options.scale (1/sqrt(d) by
   *  default). Extra memory O(heads (m^2 + m d) + threads (m^2 + rows m)).
   *  Masked keys (key_lengths) enter no landmark and no softmax; a landmark
   *  with no valid token is dropped. A batch with m >= its valid key count
   *  runs exact attention instead. Landmark queries come from the same token
   *  sets as the landmark keys when Nq = Nkv; otherwise Q~ are segment means
   *  over all Nq rows (segment mode only). causal is rejected
   *  (LOWRANK_UNSUPPORTED): landmarks mix future tokens. Views need a dim
   *  stride of 1 (LOWRANK_UNSUPPORTED otherwise). */
  LOWRANK_METHOD_NYSTROM = 3,
  /** Feature-map (kernelized) attention: O = phi(Q) (phi(K)^T V) /
   *  (phi(Q) (phi(K)^T 1)), never forming the n x n matrix, with phi chosen
   *  by options.feature_map (see lowrank_feature_map_t) from a projection W
   *  (options.features rows of dim d; given, or drawn at plan creation from
   *  options.seed). Denominator guard: R + 2e-6 where |R| <= 1e-6. Masked
   *  keys contribute nothing (their feature rows are zero). causal: prefix
   *  states over chunks, which only accumulate (no subtraction of sums).
   *  The stabilizer of exp maps: queries use their own row max; keys the
   *  max over all valid keys, or, when causal (and in decoding), the
   *  running max of the keys seen so far, rescaling the state by
   *  exp(old - new) when it grows, so a decoding state fed token by token
   *  (lowrank_decode_*) gives the causal result. Views need a dim stride
   *  of 1 (LOWRANK_UNSUPPORTED otherwise). */
  LOWRANK_METHOD_FEATURE_MAP = 4
} lowrank_method_t;

/** Feature maps of LOWRANK_METHOD_FEATURE_MAP. x' = sqrt(s) x with s the
 *  logit scale (options.scale, 1/sqrt(d) by default), so x'.y' = s x.y;
 *  u = W x'; h = |x'|^2 / 2; c the stabilizer (see the method). */
typedef enum lowrank_feature_map {
  /** FAVOR+ positive random features (Performer): m^-1/2 (exp(u - h - c)
   *  + eps); E[phi(x).phi(y)] = exp(x'.y'). eps defaults to 1e-6. */
  LOWRANK_FEATURE_MAP_FAVOR = 0,
  /** The hyperbolic variant: (2m)^-1/2 (exp(+-u - h - c) + eps), 2m
   *  features; c is the max of |u|. */
  LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC = 1,
  /** relu(u) + eps, or relu(x') + eps with random_features NONE (d
   *  features); eps defaults to 1e-3. Not a softmax approximation. */
  LOWRANK_FEATURE_MAP_RELU = 2,
  /** The linear transformer's elu(x) + 1 on the raw x (scale must be 0),
   *  computed as x >= 0 ? x + 1 : exp(x) so it never rounds to 0; d
   *  features, no projection; eps defaults to 0. */
  LOWRANK_FEATURE_MAP_ELU = 3
} lowrank_feature_map_t;

/** How a feature projection W (m x d) is drawn. */
typedef enum lowrank_random_features {
  /** Orthogonal random features: blocks of d orthonormal rows (Gram-Schmidt
   *  of Gaussian rows, the Q of their QR), the last block cut to m mod d
   *  rows, then rows rescaled (lowrank_feature_norms_t). The default. */
  LOWRANK_RANDOM_FEATURES_ORTHOGONAL = 0,
  /** iid standard Gaussian rows. */
  LOWRANK_RANDOM_FEATURES_IID = 1,
  /** No projection (LOWRANK_FEATURE_MAP_RELU only: features of x' itself). */
  LOWRANK_RANDOM_FEATURES_NONE = 2
} lowrank_random_features_t;

/** Row norms of orthogonal random features. */
typedef enum lowrank_feature_norms {
  /** Norms of independent d-dimensional Gaussian vectors (chi(d)), as iid
   *  rows would have. The default. */
  LOWRANK_FEATURE_NORMS_CHI = 0,
  /** Every row of norm sqrt(d). */
  LOWRANK_FEATURE_NORMS_SQRT_D = 1
} lowrank_feature_norms_t;

/** How Nystrom landmarks are chosen. In every mode only valid keys (below
 *  key_lengths[b]) take part. */
typedef enum lowrank_landmark_mode {
  /** Means of m contiguous segments of the valid tokens: n = m l + rest,
   *  the first m - rest segments of length l = n / m, the others l + 1; no
   *  padding, no divisibility requirement. The default. */
  LOWRANK_LANDMARKS_SEGMENT_MEANS = 0,
  /** k-means of the tokens (each token the pair [q_i, k_i]; needs
   *  Nq = Nkv): options.kmeans_iterations Lloyd steps from the segment
   *  means; a cluster that empties is re-seeded at a token drawn with
   *  options.seed; a landmark is the mean of its final cluster. */
  LOWRANK_LANDMARKS_KMEANS = 1,
  /** m distinct token positions drawn uniformly (options.seed, one draw per
   *  batch, shared by its heads), in increasing order. Needs Nq = Nkv. */
  LOWRANK_LANDMARKS_RANDOM = 2,
  /** options.landmark_positions: m positions in [0, min(Nq, Nkv)), shared
   *  by every batch and head; a position at or past a batch's key length is
   *  dropped for that batch. */
  LOWRANK_LANDMARKS_POSITIONS = 3
} lowrank_landmark_mode_t;

/** Initialization of the Newton-Schulz pseudoinverse iteration
 *  Z <- Z (13 I - A Z (15 I - A Z (7 I - A Z))) / 4. */
typedef enum lowrank_pinv_init {
  /** Z0 = A^T / (||A||_1 ||A||_inf) per matrix (Razavi et al. 2014):
   *  ||I - A Z0|| < 1, so the iteration converges. The default. */
  LOWRANK_PINV_INIT_RAZAVI = 0,
  /** The Nystromformer reference code's "original": Z0 = A^T / c with c the
   *  largest column sum over every (batch, head) matrix A of the call, so
   *  heads depend on each other. For compatibility only. */
  LOWRANK_PINV_INIT_ORIGINAL = 1
} lowrank_pinv_init_t;

/** Options for a plan. Always call lowrank_options_init first: it sets
 *  struct_size (so that later versions can add fields) and the defaults. */
typedef struct lowrank_options {
  uint32_t struct_size; /**< set by lowrank_options_init */
  lowrank_method_t method;
  /** Logit scale; 0 selects the default 1/sqrt(dim of Q). Must be finite. */
  float scale;
  /** Causal mask: query i sees key j only if j <= i + kv_len - q_len, with
   *  q_len and kv_len the seq extents of the Q and K descriptors. */
  int32_t causal;
  /** Threads for execute; 0 = lowrank_hardware_threads(). */
  int32_t num_threads;
  /** LOWRANK_METHOD_FACTORS: row-normalize the output (0 or 1). */
  int32_t normalize;
  /** LOWRANK_METHOD_LINFORMER: the projections, dense row-major float32
   *  [proj_heads, proj_dim, proj_max_len] (proj_heads 1: shared by every
   *  key/value head; or the number of key/value heads). proj_v NULL shares
   *  E_K for values. Copied at plan creation. kv_len <= proj_max_len; a
   *  shorter sequence uses the first kv_len columns. */
  const float* proj_k;
  const float* proj_v;
  int64_t proj_heads;
  int64_t proj_dim;
  int64_t proj_max_len;
  /** LOWRANK_METHOD_NYSTROM: the number of landmarks m (default 64). */
  int64_t landmarks;
  lowrank_landmark_mode_t landmark_mode; /**< default SEGMENT_MEANS */
  /** LOWRANK_LANDMARKS_POSITIONS: m positions, copied at plan creation. */
  const int64_t* landmark_positions;
  /** LOWRANK_LANDMARKS_KMEANS: Lloyd iterations, 1 to 100 (default 5). */
  int32_t kmeans_iterations;
  /** Newton-Schulz iterations, 0 to 100 (default 6). More iterations often
   *  make the result worse, not better: an under-converged Z regularizes the
   *  ill-conditioned A (see the README). */
  int32_t pinv_iterations;
  lowrank_pinv_init_t pinv_init; /**< default RAZAVI */
  /** Seed of every random draw of the plan's method. */
  uint64_t seed;
  /** Nystrom: optional depthwise convolution residual on V,
   *  O[i] += sum_t conv_weights[h][t] V[i + t - conv_kernel / 2] (zero
   *  outside the valid keys), weights [Hq, conv_kernel] row-major, copied at
   *  plan creation; conv_kernel odd, 0 (the default) for none. Needs
   *  Nq = Nkv. */
  const float* conv_weights;
  int64_t conv_kernel;
  /** LOWRANK_METHOD_FEATURE_MAP: the map (default FAVOR). */
  lowrank_feature_map_t feature_map;
  /** Projection rows m (default 256; ignored by ELU and by RELU without a
   *  projection), 1 to 16384. */
  int64_t features;
  /** A given projection W, dense [feature_projection_heads, features, dim of
   *  Q] (1 head: shared by all; or one per key/value head), copied at plan
   *  creation. NULL: drawn from options.seed (random_features, feature_norms;
   *  one matrix shared by the heads). */
  const float* feature_projection;
  int64_t feature_projection_heads;
  lowrank_random_features_t random_features; /**< default ORTHOGONAL */
  lowrank_feature_norms_t feature_norms;     /**< default CHI */
  /** Added to every feature; < 0 (the default, -1) selects the map's
   *  default (FAVOR 1e-6, RELU 1e-3, ELU 0). */
  float feature_eps;
} lowrank_options_t;

/** Sets the defaults: method exact, scale 0 (1/sqrt(d)), not causal,
 *  num_threads 0 (all); Nystrom: 64 segment-mean landmarks, 6 Razavi
 *  pseudoinverse iterations, 5 k-means iterations, no convolution; feature
 *  maps: FAVOR with 256 orthogonal features, chi norms, the map's eps;
 *  seed 0. */
LOWRANK_API lowrank_status_t lowrank_options_init(lowrank_options_t* options);

/** Initializations of Linformer projections (see lowrank_projection_init). */
typedef enum lowrank_projection_init {
  /** Xavier/Glorot uniform with gain 1/sqrt(2): U(-a, a),
   *  a = sqrt(6 / (proj_dim + proj_max_len)) / sqrt(2) (fairseq). */
  LOWRANK_PROJECTION_XAVIER_UNIFORM = 0,
  /** U(-1/sqrt(proj_dim), 1/sqrt(proj_dim)). */
  LOWRANK_PROJECTION_UNIFORM = 1,
  /** Normal with mean 0 and standard deviation 0.02. */
  LOWRANK_PROJECTION_NORMAL = 2
} lowrank_projection_init_t;

/** Fills out[heads * dim * max_len] with a seeded random projection. The
 *  generator is lowrank's own (xoshiro256** seeded by splitmix64), so the
 *  same seed gives the same matrix on every platform and build. */
LOWRANK_API lowrank_status_t lowrank_projection_init(float* out, int64_t heads, int64_t dim,
                                                     int64_t max_len,
                                                     lowrank_projection_init_t kind,
                                                     uint64_t seed);

typedef struct lowrank_plan* lowrank_plan_t;

/** Validates the method, shapes and options and prepares everything that
 *  does not depend on data. q: [B, Hq, Nq, Dqk]; k: [B, Hkv, Nkv, Dqk];
 *  v: [B, Hkv, Nkv, Dv]; out: [B, Hq, Nq, Dv]. Hq must be a multiple of Hkv;
 *  query head h reads key/value head h * Hkv / Hq (grouped-query and
 *  multi-query attention). Sizes from 1 up to 2^31 - 1 per axis; dims up to
 *  LOWRANK_MAX_HEAD_DIM. On success *plan owns resources until
 *  lowrank_plan_destroy. */
#define LOWRANK_MAX_HEAD_DIM 1024
LOWRANK_API lowrank_status_t lowrank_plan_create(
    const lowrank_options_t* options, const lowrank_tensor_desc_t* q,
    const lowrank_tensor_desc_t* k, const lowrank_tensor_desc_t* v,
    const lowrank_tensor_desc_t* out, lowrank_plan_t* plan);

/** Computes out from q, k, v as described by the plan. key_lengths is either
 *  NULL (every key valid) or an array of B values in [0, Nkv]: keys
 *  j >= key_lengths[b] of batch b are masked (padding). A query row with no
 *  visible key gets output 0. out must not overlap the inputs. Thread-safe:
 *  one plan may be executed from several threads at once. */
LOWRANK_API lowrank_status_t lowrank_plan_execute(lowrank_plan_t plan,
                                                 const float* q,
                                                 const float* k,
                                                 const float* v,
                                                 const int32_t* key_lengths,
                                                 float* out);

/** Bytes of extra memory one execute allocates (independent of data). */
LOWRANK_API lowrank_status_t lowrank_plan_workspace_bytes(lowrank_plan_t plan,
                                                         size_t* bytes);

/** Number of floating-point operations one execute performs by the method's
 *  nominal count (exact: 2*Nq*Nkv*(Dqk+Dv) per query head, unmasked). */
LOWRANK_API lowrank_status_t lowrank_plan_flops(lowrank_plan_t plan,
                                               double* flops);

/** Releases a plan. NULL is allowed and ignored. */
LOWRANK_API void lowrank_plan_destroy(lowrank_plan_t plan);

/** Redraws a feature-map plan's drawn projection with a new seed (the only
 *  way its projection changes: executes reuse it). LOWRANK_INVALID_ARGUMENT
 *  for other plans and for plans given their projection. Not to be called
 *  while the plan executes on another thread. */
LOWRANK_API lowrank_status_t lowrank_plan_redraw(lowrank_plan_t plan, uint64_t seed);

/** Fills out[heads * m * d] with random feature projections (what a
 *  feature-map plan draws when given none): `heads` matrices of m x d rows
 *  drawn in turn from one generator seeded with `seed` (lowrank's own
 *  xoshiro256**, the same on every platform). kind NONE is invalid here. */
LOWRANK_API lowrank_status_t lowrank_random_features_init(float* out, int64_t heads, int64_t m,
                                                          int64_t d,
                                                          lowrank_random_features_t kind,
                                                          lowrank_feature_norms_t norms,
                                                          uint64_t seed);

/* ------------------------------------------------------------------------ */
/* Decoding (feature-map attention).                                          */
/* ------------------------------------------------------------------------ */

/** A running decoding state of a feature-map plan: per (batch, key/value
 *  head) the sums S = sum phi(k) v^T and z = sum phi(k) and the key
 *  stabilizer, O(features x d_v) floats per head whatever the length.
 *  Appending tokens one at a time and querying after each gives the
 *  causal plan's outputs. A state is used by one thread at a time;
 *  different states are independent. It keeps its own copy of the plan's
 *  map, so the plan may be destroyed first. */
typedef struct lowrank_decode_state* lowrank_decode_state_t;

/** Creates an empty state for `plan` (a LOWRANK_METHOD_FEATURE_MAP plan;
 *  its batch, head counts and dims apply, its sequence lengths do not). */
LOWRANK_API lowrank_status_t lowrank_decode_create(lowrank_plan_t plan,
                                                  lowrank_decode_state_t* state);
/** Appends t >= 1 key/value tokens per (batch, kv head): k [B, Hkv, t, Dqk],
 *  v [B, Hkv, t, Dv], in order. */
LOWRANK_API lowrank_status_t lowrank_decode_append(lowrank_decode_state_t state, const float* k,
                                                  const lowrank_tensor_desc_t* k_desc,
                                                  const float* v,
                                                  const lowrank_tensor_desc_t* v_desc);
/** Outputs for t >= 1 query rows per (batch, query head), each attending to
 *  every token appended so far: q [B, Hq, t, Dqk], out [B, Hq, t, Dv]. With
 *  no token appended the output is 0. */
LOWRANK_API lowrank_status_t lowrank_decode_query(lowrank_decode_state_t state, const float* q,
                                                 const lowrank_tensor_desc_t* q_desc, float* out,
                                                 const lowrank_tensor_desc_t* out_desc);
/** Forgets every appended token. */
LOWRANK_API lowrank_status_t lowrank_decode_reset(lowrank_decode_state_t state);
/** Tokens appended since creation or the last reset. */
LOWRANK_API lowrank_status_t lowrank_decode_length(lowrank_decode_state_t state,
                                                  int64_t* tokens);
/** Releases a state. NULL is allowed and ignored. */
LOWRANK_API void lowrank_decode_destroy(lowrank_decode_state_t state);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LOWRANK_LOWRANK_H_ */
