// The lowrank command-line program: `lowrank info`, `lowrank demo`,
// `lowrank run`. See `lowrank help`.
#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "io/npy.h"
#include "lowrank/lowrank.hpp"
#include "onednn/onednn.h"
#include "perf/fma_peak.h"
#include "runtime/cache_info.h"

namespace {

using namespace lowrank_cli;  // NOLINT: the program's own helpers

const char kUsage[] =
    "usage: lowrank <command> [options]\n"
    "\n"
    "commands:\n"
    "  info [--json]            CPU, compiled and supported targets, the active\n"
    "                           one, oneDNN version, threads, L2 size\n"
    "  demo [--threads T]       every method on a built-in workload (batch 1,\n"
    "                           8 heads, n 2048, d 64) on every supported target:\n"
    "                           time, GFLOP/s, fraction of the FMA peak, error\n"
    "  run --method exact --q Q.npy --k K.npy --v V.npy --out O.npy\n"
    "      [--causal] [--key-lengths L0,L1,...] [--scale S] [--isa NAME]\n"
    "      [--threads T]\n"
    "  run --method factors --u U.npy --w W.npy --v V.npy --out O.npy\n"
    "      [--normalize] [--causal] [--key-lengths ...] [--isa NAME] [--threads T]\n"
    "  run --method linformer --q Q.npy --k K.npy --v V.npy --out O.npy\n"
    "      (--proj-k E.npy [--proj-v F.npy] | --proj-dim K [--seed S]\n"
    "       [--proj-init xavier|uniform|normal]) [--key-lengths ...] [...]\n"
    "                           E, F: [k, n_max] or [H, k, n_max]\n"
    "  run --method nystrom --q Q.npy --k K.npy --v V.npy --out O.npy\n"
    "      [--landmarks M] [--landmark-mode segment|kmeans|random|positions]\n"
    "      [--positions P.npy] [--pinv-iterations I] [--pinv-init razavi|original]\n"
    "      [--kmeans-iterations I] [--seed S] [--conv-weights W.npy] [...]\n"
    "                           P: [M] float32 holding integer positions;\n"
    "                           W: [H, kernel] or [kernel] (odd kernel)\n"
    "  run --method favor|favor-hyperbolic|relu|elu --q Q.npy --k K.npy --v V.npy\n"
    "      --out O.npy [--features M] [--projection W.npy] [--orthogonal|--iid|--no-projection]\n"
    "      [--norms chi|sqrt-d] [--seed S] [--causal] [...]\n"
    "                           W: [M, D] or [H, M, D] (H: key/value heads)\n"
    "                           attention on .npy inputs (float32, C order,\n"
    "                           shape [N,D], [H,N,D] or [B,H,N,D]); O gets the\n"
    "                           leading shape of Q (or U) and V's last dimension.\n"
    "                           factors: O = U (W^T V), U [.., Nq, r], W [.., Nk, r]\n"
    "  compare ...              every method and rank against exact attention beside\n"
    "                           the truncated-SVD bound (lowrank compare --help)\n"
    "  bench ...                throughput of every method x target x shape x threads\n"
    "                           (lowrank bench --help)\n"
    "  help                     this text\n"
    "\n"
    "environment: LOWRANK_ISA=<target> forces a target for the process.\n";

int UsageError(const std::string& msg) {
  std::fprintf(stderr, "lowrank: %s\n\n%s", msg.c_str(), kUsage);
  return kUsageError;
}

int RuntimeError(const std::string& msg) {
  std::fprintf(stderr, "lowrank: %s\n", msg.c_str());
  return kRuntimeError;
}

std::string IsaList(uint32_t mask) {
  std::string s;
  for (int bit = 31; bit >= 0; --bit) {
    if (mask & (1u << bit)) {
      if (!s.empty()) s += " ";
      s += lowrank_isa_name(static_cast<lowrank_isa_t>(1u << bit));
    }
  }
  return s;
}

std::string JsonIsaArray(uint32_t mask) {
  std::string s = "[";
  for (int bit = 31; bit >= 0; --bit) {
    if (mask & (1u << bit)) {
      if (s.size() > 1) s += ", ";
      s += std::string("\"") + lowrank_isa_name(static_cast<lowrank_isa_t>(1u << bit)) + "\"";
    }
  }
  return s + "]";
}

int CmdInfo(int argc, char** argv) {
  bool json = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else {
      return UsageError(std::string("info: unknown option '") + argv[i] + "'");
    }
  }
  // An invalid LOWRANK_ISA shows up here as the reason plan creation fails.
  const char* env = std::getenv("LOWRANK_ISA");
  lowrank::Plan probe;
  const auto d = lowrank::TensorDesc::BHSD(1, 1, 1, 1);
  const lowrank::Status env_status = probe.Create(lowrank::Options(), d, d, d, d);
  const std::string onednn = lowrank::onednn::Version();
  if (json) {
    std::printf(
        "{\n  \"version\": \"%s\",\n  \"cpu\": \"%s\",\n  \"compiled\": %s,\n"
        "  \"supported\": %s,\n  \"active\": \"%s\",\n  \"lowrank_isa_env\": %s,\n"
        "  \"env_error\": %s,\n  \"onednn\": \"%s\",\n  \"onednn_isa\": \"%s\",\n"
        "  \"hardware_threads\": %d,\n  \"l2_cache_bytes\": %zu\n}\n",
        lowrank_version(), JsonEscape(CpuModel()).c_str(),
        JsonIsaArray(lowrank_isa_compiled()).c_str(),
        JsonIsaArray(lowrank_isa_supported()).c_str(), lowrank_isa_name(lowrank_isa_active()),
        env ? ("\"" + JsonEscape(env) + "\"").c_str() : "null",
        env_status.ok() ? "null" : ("\"" + JsonEscape(env_status.message()) + "\"").c_str(),
        onednn.c_str(), lowrank::onednn::EffectiveIsa().c_str(), lowrank_hardware_threads(),
        lowrank::L2CacheBytes());
    return 0;
  }
  std::printf("lowrank %s\n", lowrank_version());
  std::printf("cpu:               %s\n", CpuModel().c_str());
  std::printf("compiled targets:  %s\n", IsaList(lowrank_isa_compiled()).c_str());
  std::printf("supported here:    %s\n", IsaList(lowrank_isa_supported()).c_str());
  std::printf("active target:     %s%s\n", lowrank_isa_name(lowrank_isa_active()),
              env ? (std::string(" (LOWRANK_ISA=") + env + ")").c_str() : "");
  if (!env_status.ok()) std::printf("LOWRANK_ISA error: %s\n", env_status.message().c_str());
  std::printf("oneDNN:            %s%s\n", onednn.c_str(),
              lowrank::onednn::Available()
                  ? (" (isa " + lowrank::onednn::EffectiveIsa() + ")").c_str()
                  : "");
  std::printf("hardware threads:  %d\n", lowrank_hardware_threads());
  // The exact kernel sizes its key blocks from it (lib/api/plan.cc).
  const size_t l2 = lowrank::L2CacheBytes();
  if (l2 == 0) {
    std::printf("L2 per core:       unknown\n");
  } else {
    std::printf("L2 per core:       %zu KiB\n", l2 / 1024);
  }
  return 0;
}

// Naive double attention for one query row (demo error check).
void ReferenceRow(const float* q, const float* k, const float* v, int64_t n, int64_t d,
                  double* out) {
  std::vector<double> w(static_cast<size_t>(n));
  double mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    double s = 0;
    for (int64_t c = 0; c < d; ++c) s += static_cast<double>(q[c]) * k[j * d + c];
    w[static_cast<size_t>(j)] = s / std::sqrt(static_cast<double>(d));
    mx = std::max(mx, w[static_cast<size_t>(j)]);
  }
  double sum = 0;
  for (auto& x : w) sum += (x = std::exp(x - mx));
  for (int64_t c = 0; c < d; ++c) out[c] = 0;
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t c = 0; c < d; ++c) out[c] += w[static_cast<size_t>(j)] / sum * v[j * d + c];
  }
}

int CmdDemo(int argc, char** argv) {
  long long threads = lowrank_hardware_threads();
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      if (!ParseInt(argv[++i], 1, 1024, &threads)) return UsageError("demo: bad --threads");
    } else {
      return UsageError(std::string("demo: unknown option '") + argv[i] + "'");
    }
  }
  const int64_t B = 1, H = 8, N = 2048, D = 64;
  std::printf("lowrank demo: attention, batch %lld, heads %lld, n %lld, d %lld, %lld threads\n",
              static_cast<long long>(B), static_cast<long long>(H), static_cast<long long>(N),
              static_cast<long long>(D), threads);
  std::printf("cpu: %s; oneDNN %s\n\n", CpuModel().c_str(), lowrank::onednn::Version().c_str());
  std::mt19937 rng(2024);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const size_t count = static_cast<size_t>(B * H * N * D);
  std::vector<float> q(count), k(count), v(count), o(count);
  for (auto* x : {&q, &k, &v}) {
    for (float& f : *x) f = dist(rng);
  }
  // Reference for a few rows of every head (checked on every target).
  const int64_t kRowsChecked = 4;
  std::vector<double> ref(static_cast<size_t>(H * kRowsChecked * D));
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t r = 0; r < kRowsChecked; ++r) {
      const int64_t i = r * (N - 1) / (kRowsChecked - 1);
      const size_t hoff = static_cast<size_t>(h * N * D);
      ReferenceRow(&q[hoff + static_cast<size_t>(i * D)], &k[hoff], &v[hoff], N, D,
                   &ref[static_cast<size_t>((h * kRowsChecked + r) * D)]);
    }
  }

  // Inputs of the low-rank methods: elu+1 features of Q and K as factors
  // (the linear transformer, normalized), and seeded Linformer projections
  // with k = 256 (untrained: its error shows what random E does).
  const int64_t kProj = 256;
  std::vector<float> fu(count), fw(count), proj(static_cast<size_t>(kProj * N));
  auto elu1 = [](float x) { return x >= 0.0f ? x + 1.0f : std::exp(x); };
  for (size_t i = 0; i < count; ++i) fu[i] = elu1(q[i]), fw[i] = elu1(k[i]);
  if (lowrank_projection_init(proj.data(), 1, kProj, N, LOWRANK_PROJECTION_XAVIER_UNIFORM, 1) !=
      LOWRANK_OK) {
    return RuntimeError(lowrank_last_error());
  }
  std::vector<float> exact_out;  // the first target's exact output

  std::printf("%-9s %-9s %7s %10s %9s %10s %12s\n", "method", "target", "threads", "time ms",
              "GFLOP/s", "peak frac", "error");
  const auto desc = lowrank::TensorDesc::BHSD(B, H, N, D);
  for (lowrank_isa_t isa : lowrank::Isa::Supported()) {
    if (!lowrank::Isa::Force(isa).ok()) continue;
    const double peak = lowrank::MeasureFmaPeakGflops();
    for (const char* method : {"exact", "factors", "linformer", "nystrom", "favor", "favor-cau"}) {
      lowrank::Options opt;
      opt.num_threads = static_cast<int32_t>(threads);
      const float* in_q = q.data();
      const float* in_k = k.data();
      if (std::strcmp(method, "factors") == 0) {
        opt.method = LOWRANK_METHOD_FACTORS;
        opt.normalize = 1;
        in_q = fu.data(), in_k = fw.data();
      } else if (std::strcmp(method, "linformer") == 0) {
        opt.method = LOWRANK_METHOD_LINFORMER;
        opt.proj_k = proj.data();
        opt.proj_heads = 1, opt.proj_dim = kProj, opt.proj_max_len = N;
      } else if (std::strcmp(method, "nystrom") == 0) {
        opt.method = LOWRANK_METHOD_NYSTROM;  // defaults: 64 segment-mean landmarks
      } else if (std::strncmp(method, "favor", 5) == 0) {
        opt.method = LOWRANK_METHOD_FEATURE_MAP;  // defaults: 256 orthogonal features
        opt.causal = method[5] == '-';
      }
      lowrank::Plan plan;
      lowrank::Status st = plan.Create(opt, desc, desc, desc, desc);
      if (!st.ok()) return RuntimeError(st.ToString());
      double best = 1e30, total = 0;
      for (int rep = 0; rep < 5 && (rep < 2 || total < 1.0); ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        st = plan.Execute(in_q, in_k, v.data(), nullptr, o.data());
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!st.ok()) return RuntimeError(st.ToString());
        best = std::min(best, s);
        total += s;
      }
      double err = 0;
      if (std::strcmp(method, "exact") == 0) {
        for (int64_t h = 0; h < H; ++h) {
          for (int64_t r = 0; r < kRowsChecked; ++r) {
            const int64_t i = r * (N - 1) / (kRowsChecked - 1);
            for (int64_t c = 0; c < D; ++c) {
              err = std::max(err, std::fabs(o[static_cast<size_t>((h * N + i) * D + c)] -
                                            ref[static_cast<size_t>((h * kRowsChecked + r) * D + c)]));
            }
          }
        }
        if (exact_out.empty()) exact_out = o;
      } else if (std::strcmp(method, "favor-cau") == 0) {
        err = NAN;  // causal: a different attention pattern from the exact row
      } else {
        double diff = 0, norm = 0;
        for (size_t i = 0; i < count; ++i) {
          diff += (o[i] - exact_out[i]) * static_cast<double>(o[i] - exact_out[i]);
          norm += static_cast<double>(exact_out[i]) * exact_out[i];
        }
        err = std::sqrt(diff / norm);
      }
      const double gflops = plan.Flops() / best * 1e-9;
      std::printf("%-9s %-9s %7lld %10.2f %9.1f %10.2f %12.2e\n", method, lowrank_isa_name(isa),
                  threads, best * 1e3, gflops, gflops / (peak * static_cast<double>(threads)), err);
    }
  }
  (void)lowrank::Isa::Force(LOWRANK_ISA_AUTO);
  std::printf("\npeak frac: GFLOP/s (by each method's nominal count) over the measured FMA\n"
              "peak of that target times the thread count (SCALAR's peak is one lane; plain\n"
              "loops the compiler vectorizes can pass it).\n"
              "error: exact, max abs error against a double-precision reference on %lld rows\n"
              "per head; factors (elu+1 features of Q and K, normalized: the linear\n"
              "transformer) and linformer (k = %lld, untrained seeded projections), relative\n"
              "Frobenius distance to exact attention's output: both are different mechanisms\n"
              "that need training, not approximations of softmax. nystrom (64 segment-mean\n"
              "landmarks, 6 pseudoinverse iterations) and favor (FAVOR+, 256 orthogonal random\n"
              "features) approximate softmax attention; on these iid Gaussian inputs A has\n"
              "little low-rank structure, so expect tens of percent. favor-cau: FAVOR+ causal\n"
              "(prefix states), timed only.\n",
              static_cast<long long>(kRowsChecked), static_cast<long long>(kProj));
  return 0;
}

int CmdRun(int argc, char** argv) {
  std::string method, qpath, kpath, vpath, outpath, lengths_arg, isa_name, upath, wpath;
  std::string projk_path, projv_path, proj_init = "xavier";
  long long proj_dim = 0, seed = 0;
  // Nystrom.
  std::string landmark_mode = "segment", positions_path, pinv_init = "razavi", conv_path;
  long long landmarks = 64, pinv_iterations = 6, kmeans_iterations = 5;
  bool nystrom_flags = false;
  // Feature maps.
  std::string projection_path, norms_name = "chi";
  long long features = 256;
  int random_kind = LOWRANK_RANDOM_FEATURES_ORTHOGONAL;
  bool feature_flags = false;
  bool have_seed = false;
  bool causal = false, normalize = false;
  long long threads = 0;
  float scale = 0.0f;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* dst) {
      if (i + 1 >= argc) return false;
      *dst = argv[++i];
      return true;
    };
    if (a == "--method") {
      if (!value(&method)) return UsageError("run: --method needs a value");
    } else if (a == "--q") {
      if (!value(&qpath)) return UsageError("run: --q needs a file");
    } else if (a == "--k") {
      if (!value(&kpath)) return UsageError("run: --k needs a file");
    } else if (a == "--v") {
      if (!value(&vpath)) return UsageError("run: --v needs a file");
    } else if (a == "--out") {
      if (!value(&outpath)) return UsageError("run: --out needs a file");
    } else if (a == "--key-lengths") {
      if (!value(&lengths_arg)) return UsageError("run: --key-lengths needs a list");
    } else if (a == "--isa") {
      if (!value(&isa_name)) return UsageError("run: --isa needs a target name");
    } else if (a == "--threads") {
      std::string t;
      if (!value(&t) || !ParseInt(t.c_str(), 0, 1024, &threads)) {
        return UsageError("run: --threads needs an integer in [0, 1024]");
      }
    } else if (a == "--scale") {
      std::string t;
      char* end = nullptr;
      if (!value(&t) || (scale = std::strtof(t.c_str(), &end), *end != '\0') ||
          !std::isfinite(scale)) {
        return UsageError("run: --scale needs a finite number");
      }
    } else if (a == "--u") {
      if (!value(&upath)) return UsageError("run: --u needs a file");
    } else if (a == "--w") {
      if (!value(&wpath)) return UsageError("run: --w needs a file");
    } else if (a == "--normalize") {
      normalize = true;
    } else if (a == "--proj-k") {
      if (!value(&projk_path)) return UsageError("run: --proj-k needs a file");
    } else if (a == "--proj-v") {
      if (!value(&projv_path)) return UsageError("run: --proj-v needs a file");
    } else if (a == "--proj-init") {
      if (!value(&proj_init)) return UsageError("run: --proj-init needs xavier, uniform or normal");
    } else if (a == "--proj-dim") {
      std::string t;
      if (!value(&t) || !ParseInt(t.c_str(), 1, 65536, &proj_dim)) {
        return UsageError("run: --proj-dim needs an integer in [1, 65536]");
      }
    } else if (a == "--seed") {
      std::string t;
      if (!value(&t) || !ParseInt(t.c_str(), 0, INT64_MAX, &seed)) {
        return UsageError("run: --seed needs a non-negative integer");
      }
      have_seed = true;
    } else if (a == "--causal") {
      causal = true;
    } else if (a == "--features") {
      std::string t;
      if (!value(&t) || !ParseInt(t.c_str(), 1, 16384, &features)) {
        return UsageError("run: --features needs an integer in [1, 16384]");
      }
      feature_flags = true;
    } else if (a == "--projection") {
      if (!value(&projection_path)) return UsageError("run: --projection needs a file");
      feature_flags = true;
    } else if (a == "--orthogonal" || a == "--iid" || a == "--no-projection") {
      random_kind = a == "--orthogonal" ? LOWRANK_RANDOM_FEATURES_ORTHOGONAL
                    : a == "--iid"      ? LOWRANK_RANDOM_FEATURES_IID
                                        : LOWRANK_RANDOM_FEATURES_NONE;
      feature_flags = true;
    } else if (a == "--norms") {
      if (!value(&norms_name)) return UsageError("run: --norms needs chi or sqrt-d");
      feature_flags = true;
    } else if (a == "--landmarks") {
      std::string t;
      if (!value(&t) || !ParseInt(t.c_str(), 1, 4096, &landmarks)) {
        return UsageError("run: --landmarks needs an integer in [1, 4096]");
      }
      nystrom_flags = true;
    } else if (a == "--landmark-mode") {
      if (!value(&landmark_mode)) return UsageError("run: --landmark-mode needs a mode");
      nystrom_flags = true;
    } else if (a == "--positions") {
      if (!value(&positions_path)) return UsageError("run: --positions needs a file");
      nystrom_flags = true;
    } else if (a == "--pinv-iterations") {
      std::string t;
      if (!value(&t) || !ParseInt(t.c_str(), 0, 100, &pinv_iterations)) {
        return UsageError("run: --pinv-iterations needs an integer in [0, 100]");
      }
      nystrom_flags = true;
    } else if (a == "--kmeans-iterations") {
      std::string t;
      if (!value(&t) || !ParseInt(t.c_str(), 1, 100, &kmeans_iterations)) {
        return UsageError("run: --kmeans-iterations needs an integer in [1, 100]");
      }
      nystrom_flags = true;
    } else if (a == "--pinv-init") {
      if (!value(&pinv_init)) return UsageError("run: --pinv-init needs razavi or original");
      nystrom_flags = true;
    } else if (a == "--conv-weights") {
      if (!value(&conv_path)) return UsageError("run: --conv-weights needs a file");
      nystrom_flags = true;
    } else {
      return UsageError("run: unknown option '" + a + "'");
    }
  }
  if (method.empty()) return UsageError("run: --method is required");
  const bool factors = method == "factors";
  const bool linformer = method == "linformer";
  const bool nystrom = method == "nystrom";
  int feature_map = -1;
  if (method == "favor") feature_map = LOWRANK_FEATURE_MAP_FAVOR;
  if (method == "favor-hyperbolic") feature_map = LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC;
  if (method == "relu") feature_map = LOWRANK_FEATURE_MAP_RELU;
  if (method == "elu") feature_map = LOWRANK_FEATURE_MAP_ELU;
  const bool featured = feature_map >= 0;
  if (method != "exact" && !factors && !linformer && !nystrom && !featured) {
    return UsageError("run: unknown method '" + method +
                      "' (available: exact, factors, linformer, nystrom, favor, "
                      "favor-hyperbolic, relu, elu)");
  }
  if (!featured && feature_flags) {
    return UsageError("run: --features, --projection, --orthogonal, --iid, --no-projection and "
                      "--norms belong to the feature-map methods");
  }
  if (norms_name != "chi" && norms_name != "sqrt-d") {
    return UsageError("run: --norms must be chi or sqrt-d");
  }
  if (!linformer && (!projk_path.empty() || !projv_path.empty() || proj_dim)) {
    return UsageError("run: --proj-k, --proj-v and --proj-dim belong to --method linformer");
  }
  if (!linformer && !nystrom && !featured && have_seed) {
    return UsageError("run: --seed belongs to --method linformer, nystrom or a feature map");
  }
  if (!nystrom && nystrom_flags) {
    return UsageError("run: --landmarks, --landmark-mode, --positions, --pinv-*, "
                      "--kmeans-iterations and --conv-weights belong to --method nystrom");
  }
  lowrank_landmark_mode_t mode = LOWRANK_LANDMARKS_SEGMENT_MEANS;
  if (landmark_mode == "kmeans") {
    mode = LOWRANK_LANDMARKS_KMEANS;
  } else if (landmark_mode == "random") {
    mode = LOWRANK_LANDMARKS_RANDOM;
  } else if (landmark_mode == "positions") {
    mode = LOWRANK_LANDMARKS_POSITIONS;
  } else if (landmark_mode != "segment") {
    return UsageError("run: --landmark-mode must be segment, kmeans, random or positions");
  }
  if ((mode == LOWRANK_LANDMARKS_POSITIONS) != !positions_path.empty()) {
    return UsageError("run: --positions P.npy goes with --landmark-mode positions");
  }
  if (pinv_init != "razavi" && pinv_init != "original") {
    return UsageError("run: --pinv-init must be razavi or original");
  }
  if (linformer && projk_path.empty() == (proj_dim == 0)) {
    return UsageError("run: linformer needs either --proj-k E.npy or --proj-dim K (with --seed)");
  }
  if (linformer && !projv_path.empty() && projk_path.empty()) {
    return UsageError("run: --proj-v needs --proj-k");
  }
  if (factors) {
    // U and W take the places of Q and K (see LOWRANK_METHOD_FACTORS).
    if (!qpath.empty() || !kpath.empty()) return UsageError("run: factors takes --u and --w, not --q/--k");
    if (upath.empty() || wpath.empty() || vpath.empty() || outpath.empty()) {
      return UsageError("run: --u, --w, --v and --out are required for factors");
    }
    qpath = upath, kpath = wpath;
  } else {
    if (!upath.empty() || !wpath.empty() || normalize) {
      return UsageError("run: --u, --w and --normalize belong to --method factors");
    }
    if (qpath.empty() || kpath.empty() || vpath.empty() || outpath.empty()) {
      return UsageError("run: --q, --k, --v and --out are required");
    }
  }
  if (!isa_name.empty()) {
    lowrank_isa_t isa;
    lowrank::Status st = lowrank::Isa::FromName(isa_name, &isa);
    if (!st.ok()) return UsageError("run: --isa: " + st.message());
    st = lowrank::Isa::Force(isa);
    if (!st.ok()) return RuntimeError("--isa " + isa_name + ": " + st.message());
  }
  lowrank::NpyArray q, k, v;
  std::string error;
  if (!lowrank::ReadNpy(qpath, &q, &error) || !lowrank::ReadNpy(kpath, &k, &error) ||
      !lowrank::ReadNpy(vpath, &v, &error)) {
    return RuntimeError(error);
  }
  Shape4 qs, ks, vs;
  if (!ToShape4(q, "q", &qs, &error) || !ToShape4(k, "k", &ks, &error) ||
      !ToShape4(v, "v", &vs, &error)) {
    return RuntimeError(error);
  }
  if (q.shape.size() != k.shape.size() || q.shape.size() != v.shape.size()) {
    return RuntimeError("all inputs must have the same number of dimensions");
  }
  std::vector<int32_t> lengths;
  if (!lengths_arg.empty()) {
    size_t start = 0;
    while (start <= lengths_arg.size()) {
      const size_t comma = lengths_arg.find(',', start);
      const std::string item =
          lengths_arg.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      long long len = 0;
      if (!ParseInt(item.c_str(), 0, INT32_MAX, &len)) {
        return UsageError("run: --key-lengths: '" + item + "' is not a non-negative integer");
      }
      lengths.push_back(static_cast<int32_t>(len));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (static_cast<int64_t>(lengths.size()) != qs.b) {
      return RuntimeError("--key-lengths has " + std::to_string(lengths.size()) +
                          " values, the batch has " + std::to_string(qs.b));
    }
  }
  // Linformer projections: from files ([k, n_max] or [H, k, n_max]) or drawn.
  lowrank::NpyArray ek, ev;
  int64_t proj_heads = 1, proj_rows = 0, proj_cols = 0;
  if (linformer) {
    auto load = [&](const std::string& path, lowrank::NpyArray* e) -> bool {
      if (!lowrank::ReadNpy(path, e, &error)) return false;
      if (e->shape.size() == 2) e->shape.insert(e->shape.begin(), 1);
      if (e->shape.size() != 3) {
        error = path + ": a projection must be [k, n_max] or [H, k, n_max]";
        return false;
      }
      return true;
    };
    if (!projk_path.empty()) {
      if (!load(projk_path, &ek)) return RuntimeError(error);
      if (!projv_path.empty()) {
        if (!load(projv_path, &ev)) return RuntimeError(error);
        if (ev.shape != ek.shape) return RuntimeError("--proj-v must have the shape of --proj-k");
      }
      proj_heads = ek.shape[0], proj_rows = ek.shape[1], proj_cols = ek.shape[2];
    } else {
      lowrank_projection_init_t kind;
      if (proj_init == "xavier") {
        kind = LOWRANK_PROJECTION_XAVIER_UNIFORM;
      } else if (proj_init == "uniform") {
        kind = LOWRANK_PROJECTION_UNIFORM;
      } else if (proj_init == "normal") {
        kind = LOWRANK_PROJECTION_NORMAL;
      } else {
        return UsageError("run: --proj-init must be xavier, uniform or normal");
      }
      proj_rows = proj_dim, proj_cols = ks.n;
      ek.data.resize(static_cast<size_t>(proj_rows * proj_cols));
      const lowrank::Status st = lowrank::Status::FromC(lowrank_projection_init(
          ek.data.data(), 1, proj_rows, proj_cols, kind, static_cast<uint64_t>(seed)));
      if (!st.ok()) return RuntimeError(st.ToString());
    }
  }

  // Nystrom positions ([M] float32 of integers) and convolution weights
  // ([H, kernel] or [kernel], shared by the heads).
  std::vector<int64_t> positions;
  std::vector<float> conv;
  int64_t conv_kernel = 0;
  if (nystrom && !positions_path.empty()) {
    lowrank::NpyArray p;
    if (!lowrank::ReadNpy(positions_path, &p, &error)) return RuntimeError(error);
    if (p.shape.size() != 1) return RuntimeError(positions_path + ": positions must be [M]");
    for (float x : p.data) {
      if (!(x >= 0.0f) || x != std::floor(x) || x >= 2147483648.0f) {
        return RuntimeError(positions_path + ": positions must be non-negative integers");
      }
      positions.push_back(static_cast<int64_t>(x));
    }
    landmarks = static_cast<long long>(positions.size());
  }
  if (nystrom && !conv_path.empty()) {
    lowrank::NpyArray w;
    if (!lowrank::ReadNpy(conv_path, &w, &error)) return RuntimeError(error);
    if (w.shape.size() == 1) {
      conv_kernel = w.shape[0];
      for (int64_t h = 0; h < qs.h; ++h) conv.insert(conv.end(), w.data.begin(), w.data.end());
    } else if (w.shape.size() == 2 && w.shape[0] == qs.h) {
      conv_kernel = w.shape[1];
      conv = w.data;
    } else {
      return RuntimeError(conv_path + ": convolution weights must be [kernel] or [H, kernel]");
    }
  }

  // Feature projection: [M, D] or [H, M, D].
  lowrank::NpyArray proj;
  if (featured && !projection_path.empty()) {
    if (!lowrank::ReadNpy(projection_path, &proj, &error)) return RuntimeError(error);
    if (proj.shape.size() == 2) proj.shape.insert(proj.shape.begin(), 1);
    if (proj.shape.size() != 3 || proj.shape[2] != qs.d) {
      return RuntimeError(projection_path + ": a projection must be [M, D] or [H, M, D] with D = " +
                          std::to_string(qs.d));
    }
  }

  lowrank::Options opt;
  opt.method = factors ? LOWRANK_METHOD_FACTORS
                       : (linformer ? LOWRANK_METHOD_LINFORMER
                                    : (nystrom ? LOWRANK_METHOD_NYSTROM
                                               : (featured ? LOWRANK_METHOD_FEATURE_MAP
                                                           : LOWRANK_METHOD_EXACT)));
  if (featured) {
    opt.feature_map = static_cast<lowrank_feature_map_t>(feature_map);
    opt.features = proj.data.empty() ? features : proj.shape[1];
    opt.random_features = static_cast<lowrank_random_features_t>(random_kind);
    opt.feature_norms =
        norms_name == "chi" ? LOWRANK_FEATURE_NORMS_CHI : LOWRANK_FEATURE_NORMS_SQRT_D;
    opt.seed = static_cast<uint64_t>(seed);
    if (!proj.data.empty()) {
      opt.feature_projection = proj.data.data();
      opt.feature_projection_heads = proj.shape[0];
    }
  }
  if (nystrom) {
    opt.landmarks = landmarks;
    opt.landmark_mode = mode;
    opt.landmark_positions = positions.empty() ? nullptr : positions.data();
    opt.pinv_iterations = static_cast<int32_t>(pinv_iterations);
    opt.kmeans_iterations = static_cast<int32_t>(kmeans_iterations);
    opt.pinv_init = pinv_init == "original" ? LOWRANK_PINV_INIT_ORIGINAL : LOWRANK_PINV_INIT_RAZAVI;
    opt.seed = static_cast<uint64_t>(seed);
    opt.conv_weights = conv.empty() ? nullptr : conv.data();
    opt.conv_kernel = conv_kernel;
  }
  if (linformer) {
    opt.proj_k = ek.data.data();
    opt.proj_v = ev.data.empty() ? nullptr : ev.data.data();
    opt.proj_heads = proj_heads, opt.proj_dim = proj_rows, opt.proj_max_len = proj_cols;
  }
  opt.normalize = normalize ? 1 : 0;
  opt.causal = causal ? 1 : 0;
  opt.num_threads = static_cast<int32_t>(threads);
  opt.scale = scale;
  const auto qd = lowrank::TensorDesc::BHSD(qs.b, qs.h, qs.n, qs.d);
  const auto kd = lowrank::TensorDesc::BHSD(ks.b, ks.h, ks.n, ks.d);
  const auto vd = lowrank::TensorDesc::BHSD(vs.b, vs.h, vs.n, vs.d);
  const auto od = lowrank::TensorDesc::BHSD(qs.b, qs.h, qs.n, vs.d);
  lowrank::Plan plan;
  lowrank::Status st = plan.Create(opt, qd, kd, vd, od);
  if (!st.ok()) return RuntimeError(st.ToString());
  std::vector<float> out(static_cast<size_t>(qs.b * qs.h * qs.n * vs.d));
  const auto t0 = std::chrono::steady_clock::now();
  st = plan.Execute(q.data.data(), k.data.data(), v.data.data(),
                    lengths.empty() ? nullptr : lengths.data(), out.data());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!st.ok()) return RuntimeError(st.ToString());
  std::vector<int64_t> oshape = q.shape;
  oshape.back() = vs.d;
  if (!lowrank::WriteNpy(outpath, oshape, out.data(), &error)) return RuntimeError(error);
  std::fprintf(stderr, "lowrank run: %s on %s, %.3f ms, %.1f GFLOP/s -> %s\n", method.c_str(),
               lowrank_isa_name(lowrank_isa_active()), s * 1e3, plan.Flops() / s * 1e-9,
               outpath.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return UsageError("missing command");
  const std::string cmd = argv[1];
  if (cmd == "info") return CmdInfo(argc - 2, argv + 2);
  if (cmd == "demo") return CmdDemo(argc - 2, argv + 2);
  if (cmd == "run") return CmdRun(argc - 2, argv + 2);
  if (cmd == "compare") return lowrank_cli::CmdCompare(argc - 2, argv + 2);
  if (cmd == "bench") return lowrank_cli::CmdBench(argc - 2, argv + 2);
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    std::printf("%s", kUsage);
    return 0;
  }
  return UsageError("unknown command '" + cmd + "'");
}
