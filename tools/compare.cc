// `lowrank compare`: how far each low-rank method is from exact attention
// on the user's data, beside the best any rank-r method can do.
//
// For every method and rank: the relative Frobenius error of the output
// against exact attention (lowrank's exact kernel), the max error, the time
// and the speedup over exact. For every head: the spectrum of
// A = softmax(s Q K^T) (causal-masked with --causal), the ranks holding 90%
// and 99% of its energy (sum of squared singular values), and the
// truncated-SVD bounds ||A - A_r||_F / ||A||_F and ||(A - A_r) V||_F /
// ||A V||_F at each rank. The SVD comes from LAPACK (LAPACKE_dgesvd, Debian's
// OpenBLAS or reference LAPACK); only this tool links it, never the library.
#include <lapacke.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "io/npy.h"
#include "lowrank/lowrank.hpp"
#include "synthetic.h"

namespace lowrank_cli {
namespace {

const char kCompareUsage[] =
    "usage: lowrank compare (--q Q.npy --k K.npy --v V.npy | --synthetic iid|clustered|smooth\n"
    "                        [--n N] [--d D] [--heads H] [--logit-std S] [--seed S])\n"
    "                       [--causal] [--ranks 16,32,64,128,256] [--threads T]\n"
    "                       [--svd-max-n N] [--json PATH] [--csv PATH]\n"
    "  Every method at every rank against exact attention, beside the truncated-SVD\n"
    "  bound of A = softmax(QK^T/sqrt(d)) per head. PATH '-' writes to stdout.\n"
    "  Inputs: float32 .npy [N,D], [H,N,D] or [B,H,N,D]. --svd-max-n (default 2048)\n"
    "  skips the SVD for longer sequences (it costs O(n^3) per head).\n";

int Usage(const std::string& msg) {
  std::fprintf(stderr, "lowrank compare: %s\n\n%s", msg.c_str(), kCompareUsage);
  return kUsageError;
}
int Fail(const std::string& msg) {
  std::fprintf(stderr, "lowrank compare: %s\n", msg.c_str());
  return kRuntimeError;
}

// The methods compared, each with a rank knob.
struct MethodSpec {
  const char* name;
  bool causal_ok;
};
// elu has no rank (its d features): it runs once, at the first rank.
constexpr MethodSpec kMethods[] = {{"nystrom", false},         {"nystrom-kmeans", false},
                                   {"favor", true},            {"favor-hyperbolic", true},
                                   {"relu", true},             {"elu", true},
                                   {"linformer", false}};

lowrank::Options OptionsFor(const std::string& method, int64_t rank, int64_t n, bool causal,
                            int threads, std::vector<float>* proj) {
  lowrank::Options o;
  o.num_threads = threads;
  o.causal = causal ? 1 : 0;
  if (method == "nystrom" || method == "nystrom-kmeans") {
    o.method = LOWRANK_METHOD_NYSTROM;
    o.landmarks = rank;
    if (method == "nystrom-kmeans") o.landmark_mode = LOWRANK_LANDMARKS_KMEANS;
    o.seed = 1;
  } else if (method == "favor" || method == "favor-hyperbolic" || method == "relu") {
    o.method = LOWRANK_METHOD_FEATURE_MAP;
    o.feature_map = method == "favor"            ? LOWRANK_FEATURE_MAP_FAVOR
                    : method == "favor-hyperbolic" ? LOWRANK_FEATURE_MAP_FAVOR_HYPERBOLIC
                                                   : LOWRANK_FEATURE_MAP_RELU;
    o.features = rank;
    o.seed = 1;
  } else if (method == "elu") {
    o.method = LOWRANK_METHOD_FEATURE_MAP;
    o.feature_map = LOWRANK_FEATURE_MAP_ELU;
  } else if (method == "linformer") {
    o.method = LOWRANK_METHOD_LINFORMER;
    proj->resize(static_cast<size_t>(rank * n));
    (void)lowrank_projection_init(proj->data(), 1, rank, n, LOWRANK_PROJECTION_XAVIER_UNIFORM, 1);
    o.proj_k = proj->data();
    o.proj_heads = 1, o.proj_dim = rank, o.proj_max_len = n;
  }
  return o;
}

struct Timed {
  bool ok = false;
  std::string error;
  double seconds = 0.0;
};

// Runs a plan a few times (the minimum time; the output of the last run).
Timed RunPlan(const lowrank::Options& o, const Tensors& t, std::vector<float>* out) {
  Timed r;
  const auto qd = lowrank::TensorDesc::BHSD(t.batch, t.heads, t.n, t.d);
  const auto vd = lowrank::TensorDesc::BHSD(t.batch, t.heads, t.n, t.dv);
  lowrank::Plan plan;
  lowrank::Status st = plan.Create(o, qd, qd, vd, vd);
  if (!st.ok()) {
    r.error = st.ToString();
    return r;
  }
  out->assign(t.q.size() / static_cast<size_t>(t.d) * static_cast<size_t>(t.dv), 0.0f);
  double best = 1e300, total = 0.0;
  for (int rep = 0; rep < 5 && (rep < 2 || total < 0.5); ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    st = plan.Execute(t.q.data(), t.k.data(), t.v.data(), nullptr, out->data());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!st.ok()) {
      r.error = st.ToString();
      return r;
    }
    best = std::min(best, s);
    total += s;
  }
  r.ok = true;
  r.seconds = best;
  return r;
}

struct HeadSpectrum {
  bool computed = false;
  int64_t rank90 = 0, rank99 = 0;
  std::vector<double> bound_a, bound_av;  // per requested rank
};

// SVD of one head's A (n x n, double) and the bounds at each rank.
HeadSpectrum Spectrum(const Tensors& t, int64_t bh, bool causal,
                      const std::vector<long long>& ranks) {
  HeadSpectrum hs;
  const int64_t n = t.n, d = t.d, dv = t.dv;
  const float* q = t.q.data() + bh * n * d;
  const float* k = t.k.data() + bh * n * d;
  const float* v = t.v.data() + bh * n * dv;
  std::vector<double> a(static_cast<size_t>(n * n), 0.0);
  const double s = 1.0 / std::sqrt(static_cast<double>(d));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t lim = causal ? i + 1 : n;
    double mx = -1e300;
    for (int64_t j = 0; j < lim; ++j) {
      double dot = 0.0;
      for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(q[i * d + c]) * k[j * d + c];
      a[static_cast<size_t>(i * n + j)] = s * dot;
      mx = std::max(mx, s * dot);
    }
    double sum = 0.0;
    for (int64_t j = 0; j < lim; ++j) sum += (a[static_cast<size_t>(i * n + j)] = std::exp(a[static_cast<size_t>(i * n + j)] - mx));
    for (int64_t j = 0; j < lim; ++j) a[static_cast<size_t>(i * n + j)] /= sum;
  }
  std::vector<double> sv(static_cast<size_t>(n)), vt(static_cast<size_t>(n * n)),
      superb(static_cast<size_t>(n));
  const lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'S', static_cast<lapack_int>(n),
                                         static_cast<lapack_int>(n), a.data(),
                                         static_cast<lapack_int>(n), sv.data(), nullptr, 1,
                                         vt.data(), static_cast<lapack_int>(n), superb.data());
  if (info != 0) return hs;
  // Energies: e_i = s_i^2 (for A) and s_i^2 |v_i^T V|^2 (for A V: with U
  // orthonormal, ||sum_{i>=r} s_i u_i (v_i^T V)||^2 = sum_{i>=r} s_i^2 |v_i^T V|^2).
  std::vector<double> ea(static_cast<size_t>(n)), eav(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double s2 = sv[static_cast<size_t>(i)] * sv[static_cast<size_t>(i)];
    double w2 = 0.0;
    for (int64_t c = 0; c < dv; ++c) {
      double w = 0.0;
      for (int64_t j = 0; j < n; ++j) w += vt[static_cast<size_t>(i * n + j)] * v[j * dv + c];
      w2 += w * w;
    }
    ea[static_cast<size_t>(i)] = s2;
    eav[static_cast<size_t>(i)] = s2 * w2;
  }
  // Tail sums from the end (accurate for the small tails).
  std::vector<double> ta(static_cast<size_t>(n + 1), 0.0), tav(static_cast<size_t>(n + 1), 0.0);
  for (int64_t i = n - 1; i >= 0; --i) {
    ta[static_cast<size_t>(i)] = ta[static_cast<size_t>(i + 1)] + ea[static_cast<size_t>(i)];
    tav[static_cast<size_t>(i)] = tav[static_cast<size_t>(i + 1)] + eav[static_cast<size_t>(i)];
  }
  const double total = ta[0], total_av = tav[0];
  hs.rank90 = hs.rank99 = n;
  for (int64_t r = n; r >= 0; --r) {
    const double held = total - ta[static_cast<size_t>(r)];
    if (held >= 0.9 * total) hs.rank90 = r;
    if (held >= 0.99 * total) hs.rank99 = r;
  }
  for (long long r : ranks) {
    const size_t rr = static_cast<size_t>(std::min<int64_t>(r, n));
    hs.bound_a.push_back(total > 0 ? std::sqrt(ta[rr] / total) : 0.0);
    hs.bound_av.push_back(total_av > 0 ? std::sqrt(tav[rr] / total_av) : 0.0);
  }
  hs.computed = true;
  return hs;
}

struct Row {
  std::string method;
  int64_t rank = 0;
  bool ran = false;
  std::string note;
  double rel_err = 0, max_err = 0, seconds = 0, speedup = 0;
  double bound_a = NAN, bound_av = NAN;  // mean over heads
};

FILE* OpenOut(const std::string& path) {
  return path == "-" ? stdout : std::fopen(path.c_str(), "w");
}
void CloseOut(FILE* f) {
  if (f != stdout) std::fclose(f);
}

std::string Num(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", x);
  return buf;
}

}  // namespace

int CmdCompare(int argc, char** argv) {
  std::string qpath, kpath, vpath, regime, json_path, csv_path, ranks_arg = "16,32,64,128,256";
  long long n = 1024, d = 64, heads = 1, seed = 1, threads = 0, svd_max = 2048;
  double logit_std = 1.0;
  bool causal = false;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* dst) {
      if (i + 1 >= argc) return false;
      *dst = argv[++i];
      return true;
    };
    auto integer = [&](long long lo, long long hi, long long* dst) {
      std::string t;
      return value(&t) && ParseInt(t.c_str(), lo, hi, dst);
    };
    if (a == "--help" || a == "-h") {
      std::printf("%s", kCompareUsage);
      return 0;
    } else if (a == "--q") {
      if (!value(&qpath)) return Usage("--q needs a file");
    } else if (a == "--k") {
      if (!value(&kpath)) return Usage("--k needs a file");
    } else if (a == "--v") {
      if (!value(&vpath)) return Usage("--v needs a file");
    } else if (a == "--synthetic") {
      if (!value(&regime)) return Usage("--synthetic needs iid, clustered or smooth");
    } else if (a == "--n") {
      if (!integer(2, 1 << 20, &n)) return Usage("--n needs an integer in [2, 2^20]");
    } else if (a == "--d") {
      if (!integer(1, 1024, &d)) return Usage("--d needs an integer in [1, 1024]");
    } else if (a == "--heads") {
      if (!integer(1, 1024, &heads)) return Usage("--heads needs an integer in [1, 1024]");
    } else if (a == "--seed") {
      if (!integer(0, INT64_MAX, &seed)) return Usage("--seed needs a non-negative integer");
    } else if (a == "--threads") {
      if (!integer(0, 1024, &threads)) return Usage("--threads needs an integer in [0, 1024]");
    } else if (a == "--svd-max-n") {
      if (!integer(0, 1 << 16, &svd_max)) return Usage("--svd-max-n needs an integer in [0, 65536]");
    } else if (a == "--logit-std") {
      std::string t;
      char* end = nullptr;
      if (!value(&t) || (logit_std = std::strtod(t.c_str(), &end), *end != '\0') ||
          !(logit_std > 0.0) || !std::isfinite(logit_std)) {
        return Usage("--logit-std needs a positive number");
      }
    } else if (a == "--ranks") {
      if (!value(&ranks_arg)) return Usage("--ranks needs a list");
    } else if (a == "--causal") {
      causal = true;
    } else if (a == "--json") {
      if (!value(&json_path)) return Usage("--json needs a path (or -)");
    } else if (a == "--csv") {
      if (!value(&csv_path)) return Usage("--csv needs a path (or -)");
    } else {
      return Usage("unknown option '" + a + "'");
    }
  }
  std::vector<long long> ranks;
  if (!ParseIntList(ranks_arg, 1, 1 << 16, &ranks)) {
    return Usage("--ranks needs comma-separated integers >= 1");
  }
  const bool files = !qpath.empty() || !kpath.empty() || !vpath.empty();
  if (files == !regime.empty()) {
    return Usage("give either --q/--k/--v files or --synthetic REGIME");
  }
  Tensors t;
  std::string error;
  if (files) {
    if (qpath.empty() || kpath.empty() || vpath.empty()) return Usage("--q, --k and --v go together");
    lowrank::NpyArray q, k, v;
    if (!lowrank::ReadNpy(qpath, &q, &error) || !lowrank::ReadNpy(kpath, &k, &error) ||
        !lowrank::ReadNpy(vpath, &v, &error)) {
      return Fail(error);
    }
    Shape4 qs, ks, vs;
    if (!ToShape4(q, "q", &qs, &error) || !ToShape4(k, "k", &ks, &error) ||
        !ToShape4(v, "v", &vs, &error)) {
      return Fail(error);
    }
    if (qs.b != ks.b || qs.b != vs.b || qs.h != ks.h || qs.h != vs.h || qs.n != ks.n ||
        qs.n != vs.n || qs.d != ks.d) {
      return Fail("q, k and v must share batch, heads and length (and q, k the dim)");
    }
    t.batch = qs.b, t.heads = qs.h, t.n = qs.n, t.d = qs.d, t.dv = vs.d;
    t.q = std::move(q.data), t.k = std::move(k.data), t.v = std::move(v.data);
  } else if (!MakeSynthetic(regime, heads, n, d, logit_std, static_cast<uint64_t>(seed), &t,
                            &error)) {
    return Usage(error);
  }
  const int nthreads = static_cast<int>(threads);

  // Exact attention: the reference and the time to beat.
  lowrank::Options exact_opt;
  exact_opt.num_threads = nthreads;
  exact_opt.causal = causal ? 1 : 0;
  std::vector<float> exact;
  const Timed te = RunPlan(exact_opt, t, &exact);
  if (!te.ok) return Fail("exact attention: " + te.error);
  double exact_norm2 = 0.0;
  for (float x : exact) exact_norm2 += static_cast<double>(x) * x;

  // Spectra (per batch x head).
  const int64_t bh_count = t.batch * t.heads;
  std::vector<HeadSpectrum> spectra(static_cast<size_t>(bh_count));
  const bool do_svd = t.n <= svd_max;
  if (do_svd) {
    for (int64_t bh = 0; bh < bh_count; ++bh) {
      spectra[static_cast<size_t>(bh)] = Spectrum(t, bh, causal, ranks);
    }
  }

  std::vector<Row> rows;
  for (const MethodSpec& m : kMethods) {
    const bool elu = std::string(m.name) == "elu";
    for (size_t ri = 0; ri < (elu ? size_t{1} : ranks.size()); ++ri) {
      Row row;
      row.method = m.name;
      row.rank = elu ? t.d : ranks[ri];
      if (do_svd && !elu) {  // elu has no rank knob: no bound beside it
        double sa = 0.0, sav = 0.0;
        int counted = 0;
        for (const HeadSpectrum& hs : spectra) {
          if (!hs.computed) continue;
          sa += hs.bound_a[ri], sav += hs.bound_av[ri], ++counted;
        }
        if (counted > 0) row.bound_a = sa / counted, row.bound_av = sav / counted;
      }
      if (causal && !m.causal_ok) {
        row.note = "not causal";
      } else if (ranks[ri] >= t.n && std::string(m.name).rfind("nystrom", 0) == 0) {
        row.note = "rank >= n";
      } else if (ranks[ri] > t.n && std::string(m.name) == "linformer") {
        row.note = "rank >= n";
      } else {
        std::vector<float> proj, out;
        const Timed tm = RunPlan(OptionsFor(m.name, row.rank, t.n, causal, nthreads, &proj), t, &out);
        if (!tm.ok) {
          row.note = tm.error;
        } else {
          double diff2 = 0.0, mx = 0.0;
          for (size_t i = 0; i < out.size(); ++i) {
            const double e = static_cast<double>(out[i]) - exact[i];
            diff2 += e * e;
            mx = std::max(mx, std::fabs(e));
          }
          row.ran = true;
          row.rel_err = exact_norm2 > 0 ? std::sqrt(diff2 / exact_norm2) : std::sqrt(diff2);
          row.max_err = mx;
          row.seconds = tm.seconds;
          row.speedup = te.seconds / tm.seconds;
        }
      }
      rows.push_back(row);
    }
  }

  // Table.
  std::printf("lowrank compare: batch %lld, heads %lld, n %lld, d %lld, d_v %lld%s; exact %.3f ms\n",
              static_cast<long long>(t.batch), static_cast<long long>(t.heads),
              static_cast<long long>(t.n), static_cast<long long>(t.d),
              static_cast<long long>(t.dv), causal ? ", causal" : "", te.seconds * 1e3);
  if (do_svd) {
    for (int64_t bh = 0; bh < bh_count; ++bh) {
      const HeadSpectrum& hs = spectra[static_cast<size_t>(bh)];
      if (!hs.computed) {
        std::printf("head %lld: SVD failed\n", static_cast<long long>(bh));
        continue;
      }
      std::printf("head %lld: 90%% of A's energy in %lld singular values, 99%% in %lld\n",
                  static_cast<long long>(bh), static_cast<long long>(hs.rank90),
                  static_cast<long long>(hs.rank99));
    }
  } else {
    std::printf("(SVD skipped: n > --svd-max-n %lld)\n", svd_max);
  }
  std::printf("\n%-17s %6s %10s %10s %10s %9s %10s %10s\n", "method", "rank", "rel_err",
              "max_err", "time_ms", "speedup", "svd_A", "svd_AV");
  for (const Row& r : rows) {
    char bounds[64];
    std::snprintf(bounds, sizeof(bounds), "%10s %10s",
                  std::isfinite(r.bound_a) ? Num(r.bound_a).c_str() : "-",
                  std::isfinite(r.bound_av) ? Num(r.bound_av).c_str() : "-");
    if (!r.ran) {
      std::printf("%-17s %6lld %43s %s   (%s)\n", r.method.c_str(), static_cast<long long>(r.rank),
                  "-", bounds, r.note.c_str());
      continue;
    }
    std::printf("%-17s %6lld %10.4f %10.4f %10.3f %9.1f %s\n", r.method.c_str(),
                static_cast<long long>(r.rank), r.rel_err, r.max_err, r.seconds * 1e3, r.speedup,
                bounds);
  }
  std::printf("\nrel_err: ||O - O_exact||_F / ||O_exact||_F; svd_A, svd_AV: mean over heads of\n"
              "||A - A_r||_F / ||A||_F and ||(A - A_r) V||_F / ||A V||_F, the truncated-SVD\n"
              "bound (the best any rank-r approximation of A can do).\n");

  if (!json_path.empty()) {
    FILE* f = OpenOut(json_path);
    if (f == nullptr) return Fail("cannot write " + json_path);
    std::fprintf(f, "{\n  \"tool\": \"lowrank compare\",\n  \"input\": {\"source\": \"%s\", "
                    "\"batch\": %lld, \"heads\": %lld, \"n\": %lld, \"d\": %lld, \"d_v\": %lld, "
                    "\"causal\": %s, \"logit_std\": %s, \"seed\": %lld},\n",
                 JsonEscape(files ? qpath : "synthetic:" + regime).c_str(),
                 static_cast<long long>(t.batch), static_cast<long long>(t.heads),
                 static_cast<long long>(t.n), static_cast<long long>(t.d),
                 static_cast<long long>(t.dv), causal ? "true" : "false",
                 files ? "null" : Num(logit_std).c_str(), seed);
    std::fprintf(f, "  \"exact_seconds\": %s,\n  \"heads\": [", Num(te.seconds).c_str());
    for (int64_t bh = 0; bh < bh_count && do_svd; ++bh) {
      const HeadSpectrum& hs = spectra[static_cast<size_t>(bh)];
      std::fprintf(f, "%s\n    {\"head\": %lld, \"rank90\": %lld, \"rank99\": %lld, \"bounds\": [",
                   bh ? "," : "", static_cast<long long>(bh), static_cast<long long>(hs.rank90),
                   static_cast<long long>(hs.rank99));
      for (size_t ri = 0; ri < ranks.size() && hs.computed; ++ri) {
        std::fprintf(f, "%s{\"rank\": %lld, \"A\": %s, \"AV\": %s}", ri ? ", " : "", ranks[ri],
                     Num(hs.bound_a[ri]).c_str(), Num(hs.bound_av[ri]).c_str());
      }
      std::fprintf(f, "]}");
    }
    std::fprintf(f, "\n  ],\n  \"results\": [");
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::fprintf(f,
                   "%s\n    {\"method\": \"%s\", \"rank\": %lld, \"ran\": %s, \"note\": \"%s\", "
                   "\"rel_err\": %s, \"max_err\": %s, \"seconds\": %s, \"speedup\": %s, "
                   "\"svd_bound_A\": %s, \"svd_bound_AV\": %s}",
                   i ? "," : "", r.method.c_str(), static_cast<long long>(r.rank),
                   r.ran ? "true" : "false", JsonEscape(r.note).c_str(),
                   r.ran ? Num(r.rel_err).c_str() : "null", r.ran ? Num(r.max_err).c_str() : "null",
                   r.ran ? Num(r.seconds).c_str() : "null", r.ran ? Num(r.speedup).c_str() : "null",
                   Num(r.bound_a).c_str(), Num(r.bound_av).c_str());
    }
    std::fprintf(f, "\n  ]\n}\n");
    CloseOut(f);
  }
  if (!csv_path.empty()) {
    FILE* f = OpenOut(csv_path);
    if (f == nullptr) return Fail("cannot write " + csv_path);
    std::fprintf(f, "method,rank,rel_err,max_err,seconds,speedup,svd_bound_A,svd_bound_AV,note\n");
    for (const Row& r : rows) {
      auto c = [](bool ok, double x) { return ok && std::isfinite(x) ? Num(x) : std::string(); };
      std::fprintf(f, "%s,%lld,%s,%s,%s,%s,%s,%s,%s\n", r.method.c_str(),
                   static_cast<long long>(r.rank), c(r.ran, r.rel_err).c_str(),
                   c(r.ran, r.max_err).c_str(), c(r.ran, r.seconds).c_str(),
                   c(r.ran, r.speedup).c_str(), c(true, r.bound_a).c_str(),
                   c(true, r.bound_av).c_str(), r.note.c_str());
    }
    CloseOut(f);
  }
  return 0;
}

}  // namespace lowrank_cli
