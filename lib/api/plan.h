// The plan object behind lowrank_plan_t: validated shapes, resolved options,
// block sizes and workspace size. Immutable after creation apart from the
// mutex-guarded workspace cache, so one plan can be executed from several
// threads at once.
#ifndef LOWRANK_LIB_API_PLAN_H_
#define LOWRANK_LIB_API_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "lowrank/lowrank.h"

struct lowrank_plan {
  lowrank_method_t method;
  lowrank_tensor_desc_t q, k, v, out;
  int64_t q_span, k_span, v_span, out_span;  // floats covered by each view
  float scale;                               // resolved
  bool causal;
  bool normalize;                            // factors
  // Linformer: transposed projections [proj_heads, proj_max_len, proj_dim];
  // evt empty when E_V = E_K.
  std::vector<float> ekt, evt;
  size_t proj_heads = 0, proj_dim = 0, proj_max_len = 0;
  size_t proj_floats = 0;       // K' and V' buffers in the workspace
  size_t linformer_ws_floats = 0;  // per thread, projections
  // Nystrom (plan_nystrom.cc).
  size_t landmarks = 0;
  int landmark_mode = 0;
  std::vector<int64_t> landmark_positions;
  size_t kmeans_iterations = 0, pinv_iterations = 0;
  bool pinv_original = false;
  uint64_t seed = 0;
  std::vector<float> conv_weights;  // [Hq, conv_kernel]
  size_t conv_kernel = 0;
  size_t bv_block_q = 0;
  size_t exact_ws_floats = 0;  // all threads, exact path of short batches
  // Feature maps (plan_feature_map.cc): the map, and W'^T = sqrt(s) W^T per
  // projection head (d x m each); `drawn` if it came from the seed.
  int feature_map = 0;
  size_t features = 0, feature_rows = 0, feature_heads = 0;
  float feature_input_scale = 1.0f, feature_eps = 0.0f, feature_out_scale = 1.0f;
  std::vector<float> feature_wt;
  bool feature_drawn = false;
  int random_features = 0, feature_norms = 0;
  size_t num_threads;       // resolved, >= 1, at most the chunk count
  size_t block_q, block_k;  // exact kernel blocking
  size_t workspace_floats;  // per thread
  size_t workspace_bytes;   // whole execute, including alignment slack
  double flops;

  // Workspaces of earlier executes, kept for reuse: allocating (and page
  // faulting) several hundred KiB per call would dominate small problems.
  // An execute takes one (or allocates one) and returns it when done, so
  // concurrent executes never share a workspace.
  std::mutex workspace_mu;
  std::vector<void*> free_workspaces;
  ~lowrank_plan();
};

namespace lowrank {

struct AttentionIo;

// Exact kernel blocking, shared by the methods that run it: keys per step
// (kExactBlockK unless the chunk's working set overflows L2, see
// ChooseExactBlockK), and the query block for batch_heads heads of q_len
// rows on `threads` threads (plan.cc).
constexpr size_t kExactBlockK = 192;

// LOWRANK_UNSUPPORTED (message naming names[i] and the method) unless the
// plan's q, k, v and out views have a dim stride of 1 (or a dim of 1).
lowrank_status_t RequireUnitDimStride(const lowrank_plan& p, const char* method,
                                      const char* const names[4]);
size_t ChooseExactBlockQ(size_t batch_heads, size_t q_len, size_t threads);
// Keys per online-softmax step for batch_heads heads of q_len query rows, on
// a core with l2_bytes of L2 (0: unknown): kExactBlockK, or half of it where
// a one-thread chunk's workspace at kExactBlockK, laid out for the active
// target (ExactAttentionChunkBytes), is larger than the L2.
// Independent of the thread count (the outputs' bitwise determinism).
size_t ChooseExactBlockK(size_t l2_bytes, size_t batch_heads, size_t q_len, size_t d_qk,
                         size_t d_v);

// Nystrom (plan_nystrom.cc): checks the Nystrom options and fills the plan's
// Nystrom fields, threads, workspace size and flops; p.q/k/v/out, scale and
// causal are already set and checked.
lowrank_status_t PrepareNystrom(const lowrank_options_t& options, lowrank_plan& p,
                                size_t requested_threads);
// Runs the plan on io (validated data) with the workspace.
void ExecuteNystrom(const lowrank_plan& p, const AttentionIo& io, float* workspace);

// Feature maps (plan_feature_map.cc), like the Nystrom pair above.
lowrank_status_t PrepareFeatureMap(const lowrank_options_t& options, lowrank_plan& p,
                                   size_t requested_threads);
void ExecuteFeatureMap(const lowrank_plan& p, const AttentionIo& io, float* workspace);
// The kernel's view of a feature-map plan's map (points into the plan).
struct FeatureMapSpec;
FeatureMapSpec FeatureSpecOf(const lowrank_plan& p);
// Draws a feature plan's projection from `seed` (lowrank_plan_redraw).
lowrank_status_t RedrawFeatures(lowrank_plan& p, uint64_t seed);
// heads x m x d random features (lowrank_random_features_init); kind is
// ORTHOGONAL or IID, norms CHI or SQRT_D (checked by the caller).
void DrawRandomFeatures(float* out, size_t heads, size_t m, size_t d, int kind, int norms,
                        uint64_t seed);

// Creates a validated plan; see lowrank_plan_create.
lowrank_status_t CreatePlan(const lowrank_options_t* options,
                            const lowrank_tensor_desc_t* q,
                            const lowrank_tensor_desc_t* k,
                            const lowrank_tensor_desc_t* v,
                            const lowrank_tensor_desc_t* out,
                            lowrank_plan_t* plan);

// Validates the data pointers and runs the plan; see lowrank_plan_execute.
lowrank_status_t ExecutePlan(lowrank_plan& plan, const float* q,
                             const float* k, const float* v,
                             const int32_t* key_lengths, float* out);

}  // namespace lowrank

#endif  // LOWRANK_LIB_API_PLAN_H_
