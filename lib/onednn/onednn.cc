// oneDNN behind lowrank's own types (see onednn.h).
#include "onednn/onednn.h"

#if defined(LOWRANK_WITH_ONEDNN)
#include <omp.h>

#include "oneapi/dnnl/dnnl.hpp"
#endif

namespace lowrank {
namespace onednn {

#if defined(LOWRANK_WITH_ONEDNN)

bool Available() { return true; }

std::string Version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch);
}

std::string EffectiveIsa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

void SetThreads(int threads) { omp_set_num_threads(threads < 1 ? 1 : threads); }

bool Sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k,
           float alpha, const float* a, int64_t lda, const float* b,
           int64_t ldb, float beta, float* c, int64_t ldc) {
  return dnnl_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c,
                    ldc) == dnnl_success;
}

bool SgemmSerial(char transa, char transb, int64_t m, int64_t n, int64_t k,
                 float alpha, const float* a, int64_t lda, const float* b,
                 int64_t ldb, float beta, float* c, int64_t ldc) {
  // nthreads-var is a per-thread ICV: this changes only the calling thread.
  const int previous = omp_get_max_threads();
  if (previous != 1) omp_set_num_threads(1);
  const bool ok = Sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (previous != 1) omp_set_num_threads(previous);
  return ok;
}

struct Matmul::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
  dnnl::memory::desc a_md, b_md, c_md;
};

Matmul::Matmul() = default;
Matmul::~Matmul() = default;

bool Matmul::Init(int64_t m, int64_t k, int64_t n, bool b_transposed, float scale) {
  using dnnl::memory;
  try {
    auto impl = std::make_unique<Impl>();
    impl->a_md = memory::desc({m, k}, memory::data_type::f32, memory::format_tag::ab);
    impl->b_md = memory::desc({k, n}, memory::data_type::f32,
                              b_transposed ? memory::format_tag::ba
                                           : memory::format_tag::ab);
    impl->c_md = memory::desc({m, n}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::primitive_attr attr;
    if (scale != 1.0f) attr.set_output_scales(0, {scale});
    impl->pd = dnnl::matmul::primitive_desc(
        dnnl::matmul::desc(impl->a_md, impl->b_md, impl->c_md), attr, impl->engine);
    impl->prim = dnnl::matmul(impl->pd);
    impl_ = std::move(impl);
    return true;
  } catch (...) {
    return false;
  }
}

bool Matmul::Execute(const float* a, const float* b, float* c) const {
  if (!impl_) return false;
  try {
    dnnl::stream s(impl_->engine);
    dnnl::memory am(impl_->a_md, impl_->engine, const_cast<float*>(a));
    dnnl::memory bm(impl_->b_md, impl_->engine, const_cast<float*>(b));
    dnnl::memory cm(impl_->c_md, impl_->engine, c);
    impl_->prim.execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    s.wait();
    return true;
  } catch (...) {
    return false;
  }
}

std::string Matmul::ImplName() const {
  return impl_ ? std::string(impl_->pd.impl_info_str()) : std::string();
}

struct Softmax::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::memory::desc md;
  dnnl::softmax_forward prim;
};

Softmax::Softmax() = default;
Softmax::~Softmax() = default;

bool Softmax::Init(int64_t rows, int64_t cols) {
  using dnnl::memory;
  try {
    auto impl = std::make_unique<Impl>();
    impl->md = memory::desc({rows, cols}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::softmax_forward::primitive_desc pd(
        dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, impl->md, 1),
        impl->engine);
    impl->prim = dnnl::softmax_forward(pd);
    impl_ = std::move(impl);
    return true;
  } catch (...) {
    return false;
  }
}

bool Softmax::Execute(float* data) const {
  if (!impl_) return false;
  try {
    dnnl::stream s(impl_->engine);
    dnnl::memory m(impl_->md, impl_->engine, data);
    impl_->prim.execute(s, {{DNNL_ARG_SRC, m}, {DNNL_ARG_DST, m}});
    s.wait();
    return true;
  } catch (...) {
    return false;
  }
}

#else  // !LOWRANK_WITH_ONEDNN

bool Available() { return false; }
std::string Version() { return "not built"; }
std::string EffectiveIsa() { return ""; }
void SetThreads(int) {}
bool Sgemm(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t,
           const float*, int64_t, float, float*, int64_t) {
  return false;
}
bool SgemmSerial(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t,
                 const float*, int64_t, float, float*, int64_t) {
  return false;
}
struct Matmul::Impl {};
Matmul::Matmul() = default;
Matmul::~Matmul() = default;
bool Matmul::Init(int64_t, int64_t, int64_t, bool, float) { return false; }
bool Matmul::Execute(const float*, const float*, float*) const { return false; }
std::string Matmul::ImplName() const { return std::string(); }
struct Softmax::Impl {};
Softmax::Softmax() = default;
Softmax::~Softmax() = default;
bool Softmax::Init(int64_t, int64_t) { return false; }
bool Softmax::Execute(float*) const { return false; }

#endif  // LOWRANK_WITH_ONEDNN

}  // namespace onednn
}  // namespace lowrank
