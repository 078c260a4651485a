// lowrank C++ API: a thin, header-only layer over the C ABI in lowrank.h.
//
// Errors come back as lowrank::Status values (no exceptions), so the API can
// be used from code built with -fno-exceptions. Plans are move-only RAII
// handles.
#ifndef LOWRANK_LOWRANK_HPP_
#define LOWRANK_LOWRANK_HPP_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lowrank/lowrank.h"

namespace lowrank {

/// A status code and, on failure, the message the library gave for it.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(lowrank_status_t code, std::string message)
      : code_(code), message_(std::move(message)) {}
  /// Captures the calling thread's last error message if code is an error.
  static Status FromC(lowrank_status_t code) {
    if (code == LOWRANK_OK) return Status();
    return Status(code, lowrank_last_error());
  }
  bool ok() const { return code_ == LOWRANK_OK; }
  lowrank_status_t code() const { return code_; }
  const std::string& message() const { return message_; }
  /// "LOWRANK_INVALID_ARGUMENT: q: ..." or "LOWRANK_OK".
  std::string ToString() const {
    std::string s = lowrank_status_name(code_);
    if (!message_.empty()) s += ": " + message_;
    return s;
  }

 private:
  lowrank_status_t code_ = LOWRANK_OK;
  std::string message_;
};

/// Tensor view descriptor; see lowrank_tensor_desc_t.
struct TensorDesc : lowrank_tensor_desc_t {
  TensorDesc() : lowrank_tensor_desc_t{1, 1, 1, 1, 1, 1, 1, 1} {}
  /// Dense [batch, heads, seq, dim].
  static TensorDesc BHSD(int64_t b, int64_t h, int64_t s, int64_t d) {
    TensorDesc t;
    t.batch = b, t.heads = h, t.seq = s, t.dim = d;
    t.stride_dim = 1, t.stride_seq = d, t.stride_head = s * d;
    t.stride_batch = h * s * d;
    return t;
  }
  /// Dense [batch, seq, heads, dim].
  static TensorDesc BSHD(int64_t b, int64_t s, int64_t h, int64_t d) {
    TensorDesc t;
    t.batch = b, t.heads = h, t.seq = s, t.dim = d;
    t.stride_dim = 1, t.stride_head = d, t.stride_seq = h * d;
    t.stride_batch = s * h * d;
    return t;
  }
};

/// Plan options; see lowrank_options_t. Constructed with the defaults.
struct Options : lowrank_options_t {
  Options() : lowrank_options_t{} { (void)lowrank_options_init(this); }
};

/// Instruction-set control; see lowrank_isa_* in lowrank.h.
struct Isa {
  static std::vector<lowrank_isa_t> Compiled() {
    return Bits(lowrank_isa_compiled());
  }
  static std::vector<lowrank_isa_t> Supported() {
    return Bits(lowrank_isa_supported());
  }
  static lowrank_isa_t Active() { return lowrank_isa_active(); }
  static const char* Name(lowrank_isa_t isa) { return lowrank_isa_name(isa); }
  static Status Force(lowrank_isa_t isa) {
    return Status::FromC(lowrank_isa_force(isa));
  }
  static Status FromName(const std::string& name, lowrank_isa_t* isa) {
    return Status::FromC(lowrank_isa_from_name(name.c_str(), isa));
  }

 private:
  static std::vector<lowrank_isa_t> Bits(uint32_t mask) {
    std::vector<lowrank_isa_t> out;
    // Highest bit first: best target first.
    for (int bit = 31; bit >= 0; --bit) {
      if (mask & (1u << bit)) out.push_back(static_cast<lowrank_isa_t>(1u << bit));
    }
    return out;
  }
};

/// A validated attention computation for fixed shapes and options.
class Plan {
 public:
  Plan() = default;
  Plan(Plan&& other) noexcept : plan_(std::exchange(other.plan_, nullptr)) {}
  Plan& operator=(Plan&& other) noexcept {
    if (this != &other) {
      lowrank_plan_destroy(plan_);
      plan_ = std::exchange(other.plan_, nullptr);
    }
    return *this;
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() { lowrank_plan_destroy(plan_); }

  /// Replaces *this with a new plan; on failure *this is left empty.
  Status Create(const Options& options, const TensorDesc& q,
                const TensorDesc& k, const TensorDesc& v,
                const TensorDesc& out) {
    lowrank_plan_destroy(std::exchange(plan_, nullptr));
    return Status::FromC(lowrank_plan_create(&options, &q, &k, &v, &out, &plan_));
  }

  /// See lowrank_plan_execute. key_lengths may be null.
  Status Execute(const float* q, const float* k, const float* v,
                 const int32_t* key_lengths, float* out) const {
    return Status::FromC(lowrank_plan_execute(plan_, q, k, v, key_lengths, out));
  }

  /// See lowrank_plan_redraw (feature-map plans with a drawn projection).
  Status Redraw(uint64_t seed) { return Status::FromC(lowrank_plan_redraw(plan_, seed)); }

  double Flops() const {
    double f = 0;
    return lowrank_plan_flops(plan_, &f) == LOWRANK_OK ? f : 0.0;
  }
  size_t WorkspaceBytes() const {
    size_t b = 0;
    return lowrank_plan_workspace_bytes(plan_, &b) == LOWRANK_OK ? b : 0;
  }
  bool valid() const { return plan_ != nullptr; }
  lowrank_plan_t get() const { return plan_; }

 private:
  lowrank_plan_t plan_ = nullptr;
};

/// A decoding state of a feature-map plan (see lowrank_decode_* in
/// lowrank.h): append key/value tokens, query outputs.
class DecodeState {
 public:
  DecodeState() = default;
  DecodeState(DecodeState&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  DecodeState& operator=(DecodeState&& other) noexcept {
    if (this != &other) {
      lowrank_decode_destroy(state_);
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }
  DecodeState(const DecodeState&) = delete;
  DecodeState& operator=(const DecodeState&) = delete;
  ~DecodeState() { lowrank_decode_destroy(state_); }

  /// Replaces *this with a new empty state for `plan`.
  Status Create(const Plan& plan) {
    lowrank_decode_destroy(std::exchange(state_, nullptr));
    return Status::FromC(lowrank_decode_create(plan.get(), &state_));
  }
  Status Append(const float* k, const TensorDesc& k_desc, const float* v,
                const TensorDesc& v_desc) {
    return Status::FromC(lowrank_decode_append(state_, k, &k_desc, v, &v_desc));
  }
  Status Query(const float* q, const TensorDesc& q_desc, float* out, const TensorDesc& out_desc) {
    return Status::FromC(lowrank_decode_query(state_, q, &q_desc, out, &out_desc));
  }
  Status Reset() { return Status::FromC(lowrank_decode_reset(state_)); }
  int64_t Length() const {
    int64_t n = 0;
    return lowrank_decode_length(state_, &n) == LOWRANK_OK ? n : 0;
  }
  bool valid() const { return state_ != nullptr; }

 private:
  lowrank_decode_state_t state_ = nullptr;
};

}  // namespace lowrank

#endif  // LOWRANK_LOWRANK_HPP_
