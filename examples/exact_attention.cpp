// Minimal C++ consumer of lowrank: grouped-query attention with the C++
// API, once per supported target, checking all targets agree.
//
//   c++ -std=c++17 exact_attention.cpp -llowrank -o exact_attention_cpp
#include <cmath>
#include <cstdio>
#include <vector>

#include "lowrank/lowrank.hpp"

int main() {
  const int64_t B = 1, Hq = 8, Hkv = 2, N = 128, D = 64;
  const auto q = lowrank::TensorDesc::BHSD(B, Hq, N, D);
  const auto kv = lowrank::TensorDesc::BHSD(B, Hkv, N, D);
  std::vector<float> qd(B * Hq * N * D), kd(B * Hkv * N * D), vd(kd.size());
  for (size_t i = 0; i < qd.size(); ++i) qd[i] = std::sin(0.01f * i);
  for (size_t i = 0; i < kd.size(); ++i) kd[i] = std::cos(0.013f * i), vd[i] = std::sin(0.7f * i);

  std::vector<float> first;
  for (lowrank_isa_t isa : lowrank::Isa::Supported()) {
    if (lowrank::Status st = lowrank::Isa::Force(isa); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
    lowrank::Plan plan;
    std::vector<float> out(qd.size());
    lowrank::Status st = plan.Create(lowrank::Options(), q, kv, kv, q);
    if (st.ok()) st = plan.Execute(qd.data(), kd.data(), vd.data(), nullptr, out.data());
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
    double diff = 0;
    if (first.empty()) first = out;
    // A plain comparison, not std::fmax: aarch64 g++ 12 crashes vectorizing
    // an fmax reduction (internal compiler error in vect_transform_reduction).
    for (size_t i = 0; i < out.size(); ++i) {
      const double e = std::fabs(out[i] - first[i]);
      if (e > diff) diff = e;
    }
    std::printf("%-7s %.1f MFLOP, max difference to the first target %.2e\n", lowrank::Isa::Name(isa),
                plan.Flops() * 1e-6, diff);
    if (diff > 1e-5) return 1;
  }
  return 0;
}
