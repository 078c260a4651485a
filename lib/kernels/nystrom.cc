// Dispatch and workspace layout for the Nystrom kernel (nystrom-inl.h).
#include "kernels/nystrom.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/nystrom.cc"
#include "hwy/foreach_target.h"  // must come before highway.h
#include "hwy/highway.h"
#include "kernels/nystrom-inl.h"

#if HWY_ONCE
#include <algorithm>

#include "kernels/exact_attention.h"
#include "kernels/lowrank_gemm.h"
#include "runtime/sizes.h"

namespace lowrank {
HWY_EXPORT(NystromImpl);

NystromLayout MakeNystromLayout(const NystromArgs& s) {
  const size_t m = s.m, dq = s.d_qk, dv = s.d_v;
  NystromLayout l;
  size_t at = 0;
  auto take = [&](size_t floats) {
    const size_t offset = at;
    at += GemmAlignFloats(std::max<size_t>(floats, 1));
    return offset;
  };
  l.ql = take(m * dq);
  l.klt = take(dq * m);
  l.z = take(m * m);
  l.w = take(m * dv);
  l.kl = take(m * dq);
  l.meta = take(2);
  const size_t segments = SeqSplit(s.kv_len).segments;
  l.bv = take(segments * m * dv);
  l.stats = take(segments * 2 * m);
  l.head = at;
  at = 0;
  l.zc = take(m * m);
  l.az = take(m * m);
  l.t1 = take(m * m);
  l.t2 = take(m * m);
  l.gemm = take(std::max({GemmABWorkspaceFloats(m, m), GemmABWorkspaceFloats(dq, m),
                          GemmABWorkspaceFloats(m, dv)}));
  l.exact = take(ExactAttentionWorkspaceFloats(s.bv_block_q, s.block_k, dq, dv));
  l.f = take(kNystromRowBlock * m);
  const bool kmeans = s.mode == LandmarkMode::kKmeans;
  l.sums = take(kmeans ? m * 2 * dq : 0);
  l.cqt = take(kmeans ? dq * m : 0);
  l.ckt = take(kmeans ? dq * m : 0);
  l.c2 = take(kmeans ? m : 0);
  l.counts = take(kmeans ? m : 0);
  l.assign = take(kmeans ? s.kv_len : 0);  // uint32 per token
  l.pos = take(2 * m);                      // int64 per landmark
  l.thread = at;
  l.total = SatAdd(SatMul(SatMul(s.batch, s.q_heads), l.head), SatMul(s.num_threads, l.thread));
  return l;
}

void Nystrom(const NystromArgs& args) { HWY_DYNAMIC_DISPATCH(NystromImpl)(args); }

}  // namespace lowrank
#endif  // HWY_ONCE
