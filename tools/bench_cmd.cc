// `lowrank bench`: throughput of every method on every supported target
// (forced one after another), over a list of shapes and thread counts.
// GFLOP/s by each method's nominal FLOP count (lowrank_plan_flops), the
// fraction of the measured FMA peak (one core's peak on that target times
// the thread count), medians of repetitions. JSON schema: see kSchema.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "lowrank/lowrank.hpp"
#include "perf/fma_peak.h"

namespace lowrank_cli {
namespace {

const char kBenchUsage[] =
    "usage: lowrank bench [--quick] [--methods LIST] [--isa LIST|all] [--n LIST] [--d D]\n"
    "                     [--heads LIST] [--ranks LIST] [--threads LIST] [--reps R]\n"
    "                     [--json PATH]\n"
    "  methods: exact, factors, linformer, nystrom, favor, favor-causal (default all);\n"
    "  defaults: every supported target, n 1024,4096,16384, d 64, heads 1, ranks 64,256,\n"
    "  threads 1 and all cores, 5 repetitions. --quick: n 512,2048, rank 64, 1 thread,\n"
    "  3 repetitions (under a minute). --json PATH ('-' for stdout) writes the records.\n";

// The JSON written by --json: one object, "records" an array of these.
const char kSchema[] =
    "records: {method, isa, batch, heads, n, d, rank (0 for exact), threads,\n"
    "          seconds_median, gflops (nominal flops / seconds_median), peak_fraction\n"
    "          (gflops / (one core's measured FMA peak on isa x threads)), reps}";

int Usage(const std::string& msg) {
  std::fprintf(stderr, "lowrank bench: %s\n\n%s", msg.c_str(), kBenchUsage);
  return kUsageError;
}

struct Record {
  std::string method, isa;
  int64_t batch = 1, heads = 1, n = 0, d = 0, rank = 0;
  int threads = 1, reps = 0;
  double seconds = 0, gflops = 0, peak_fraction = 0;
};

const char* const kAllMethods[] = {"exact",   "factors", "linformer",
                                   "nystrom", "favor",   "favor-causal"};

// Median seconds of `reps` executes (after one warm-up), or a negative value
// with *error set.
double TimeMethod(const std::string& method, int64_t heads, int64_t n, int64_t d, int64_t rank,
                  int threads, int reps, double* flops, std::string* error) {
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const size_t count = static_cast<size_t>(heads * n * d);
  std::vector<float> q(count), k(count), v(count), o(count), proj;
  for (auto* x : {&q, &k, &v}) {
    for (float& f : *x) f = g(rng);
  }
  lowrank::Options opt;
  opt.num_threads = threads;
  auto qd = lowrank::TensorDesc::BHSD(1, heads, n, d);
  const auto vd = qd;
  if (method == "factors") {
    opt.method = LOWRANK_METHOD_FACTORS;
    opt.normalize = 1;
    q.resize(static_cast<size_t>(heads * n * rank));
    k.resize(q.size());
    for (auto* x : {&q, &k}) {
      for (float& f : *x) {
        const float t = g(rng);
        f = t >= 0 ? t + 1.0f : std::exp(t);  // elu + 1 features
      }
    }
    qd = lowrank::TensorDesc::BHSD(1, heads, n, rank);
  } else if (method == "linformer") {
    opt.method = LOWRANK_METHOD_LINFORMER;
    proj.resize(static_cast<size_t>(rank * n));
    (void)lowrank_projection_init(proj.data(), 1, rank, n, LOWRANK_PROJECTION_XAVIER_UNIFORM, 1);
    opt.proj_k = proj.data();
    opt.proj_heads = 1, opt.proj_dim = rank, opt.proj_max_len = n;
  } else if (method == "nystrom") {
    opt.method = LOWRANK_METHOD_NYSTROM;
    opt.landmarks = rank;
  } else if (method == "favor" || method == "favor-causal") {
    opt.method = LOWRANK_METHOD_FEATURE_MAP;
    opt.features = rank;
    opt.causal = method == "favor-causal";
  }
  lowrank::Plan plan;
  lowrank::Status st = plan.Create(opt, qd, qd, vd, vd);
  if (!st.ok()) {
    *error = st.ToString();
    return -1.0;
  }
  *flops = plan.Flops();
  std::vector<double> times;
  for (int r = 0; r <= reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    st = plan.Execute(q.data(), k.data(), v.data(), nullptr, o.data());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!st.ok()) {
      *error = st.ToString();
      return -1.0;
    }
    if (r > 0) times.push_back(s);  // the first run warms caches and pools
  }
  std::sort(times.begin(), times.end());
  const size_t m = times.size();
  return m % 2 ? times[m / 2] : 0.5 * (times[m / 2 - 1] + times[m / 2]);
}

}  // namespace

int CmdBench(int argc, char** argv) {
  bool quick = false;
  std::string methods_arg, isa_arg = "all", n_arg, heads_arg = "1", ranks_arg, threads_arg,
              json_path;
  long long d = 64, reps = -1;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* dst) {
      if (i + 1 >= argc) return false;
      *dst = argv[++i];
      return true;
    };
    if (a == "--help" || a == "-h") {
      std::printf("%s\nJSON %s\n", kBenchUsage, kSchema);
      return 0;
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--methods") {
      if (!value(&methods_arg)) return Usage("--methods needs a list");
    } else if (a == "--isa") {
      if (!value(&isa_arg)) return Usage("--isa needs a list of targets or all");
    } else if (a == "--n") {
      if (!value(&n_arg)) return Usage("--n needs a list");
    } else if (a == "--heads") {
      if (!value(&heads_arg)) return Usage("--heads needs a list");
    } else if (a == "--ranks") {
      if (!value(&ranks_arg)) return Usage("--ranks needs a list");
    } else if (a == "--threads") {
      if (!value(&threads_arg)) return Usage("--threads needs a list");
    } else if (a == "--d") {
      std::string t;
      if (!value(&t) || !ParseInt(t.c_str(), 1, 1024, &d)) return Usage("--d needs 1..1024");
    } else if (a == "--reps") {
      std::string t;
      if (!value(&t) || !ParseInt(t.c_str(), 1, 1000, &reps)) return Usage("--reps needs 1..1000");
    } else if (a == "--json") {
      if (!value(&json_path)) return Usage("--json needs a path (or -)");
    } else {
      return Usage("unknown option '" + a + "'");
    }
  }
  const int all = lowrank_hardware_threads();
  std::vector<long long> ns, heads, ranks, threads;
  if (!ParseIntList(n_arg.empty() ? (quick ? "512,2048" : "1024,4096,16384") : n_arg, 8,
                    1 << 22, &ns) ||
      !ParseIntList(heads_arg, 1, 1024, &heads) ||
      !ParseIntList(ranks_arg.empty() ? (quick ? "64" : "64,256") : ranks_arg, 1, 16384, &ranks)) {
    return Usage("--n, --heads and --ranks take comma-separated positive integers");
  }
  if (!ParseIntList(threads_arg.empty() ? (quick || all == 1 ? "1" : "1," + std::to_string(all))
                                        : threads_arg,
                    1, 1024, &threads)) {
    return Usage("--threads takes comma-separated integers in [1, 1024]");
  }
  if (reps < 0) reps = quick ? 3 : 5;
  std::vector<std::string> methods;
  if (methods_arg.empty()) {
    methods.assign(std::begin(kAllMethods), std::end(kAllMethods));
  } else {
    size_t start = 0;
    while (start <= methods_arg.size()) {
      const size_t comma = methods_arg.find(',', start);
      const std::string m = methods_arg.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (std::find(std::begin(kAllMethods), std::end(kAllMethods), m) == std::end(kAllMethods)) {
        return Usage("unknown method '" + m + "'");
      }
      methods.push_back(m);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  std::vector<lowrank_isa_t> isas;
  if (isa_arg == "all") {
    isas = lowrank::Isa::Supported();
  } else {
    size_t start = 0;
    while (start <= isa_arg.size()) {
      const size_t comma = isa_arg.find(',', start);
      const std::string name = isa_arg.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      lowrank_isa_t isa;
      const lowrank::Status st = lowrank::Isa::FromName(name, &isa);
      if (!st.ok() || isa == LOWRANK_ISA_AUTO) return Usage("--isa: '" + name + "' is not a target");
      if ((lowrank_isa_supported() & isa) == 0) {
        std::fprintf(stderr, "lowrank bench: this CPU does not support %s\n", name.c_str());
        return kRuntimeError;
      }
      isas.push_back(isa);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }

  // The work list, then the runs (with a progress bar on a terminal).
  struct Job {
    std::string method;
    lowrank_isa_t isa;
    int64_t heads, n, rank;
    int threads;
  };
  std::vector<Job> jobs;
  for (lowrank_isa_t isa : isas) {
    for (const std::string& m : methods) {
      for (long long n : ns) {
        for (long long h : heads) {
          for (long long t : threads) {
            if (m == "exact") {
              jobs.push_back({m, isa, h, n, 0, static_cast<int>(t)});
              continue;
            }
            for (long long r : ranks) {
              if (m != "favor" && m != "favor-causal" && r >= n) continue;
              jobs.push_back({m, isa, h, n, r, static_cast<int>(t)});
            }
          }
        }
      }
    }
  }
  const bool bar = isatty(2) != 0;
  std::map<lowrank_isa_t, double> peaks;
  std::vector<Record> records;
  const bool table = json_path != "-";
  if (table) {
    std::printf("%-13s %-9s %5s %7s %4s %6s %7s %12s %9s %6s\n", "method", "isa", "heads", "n",
                "d", "rank", "threads", "median_ms", "GFLOP/s", "peak");
  }
  for (size_t j = 0; j < jobs.size(); ++j) {
    const Job& job = jobs[j];
    if (bar) {
      const int width = 30, done = static_cast<int>(width * j / jobs.size());
      std::fprintf(stderr, "\r[%s%s] %zu/%zu %-13s %-7s n %-7lld", std::string(done, '#').c_str(),
                   std::string(width - done, '.').c_str(), j, jobs.size(), job.method.c_str(),
                   lowrank_isa_name(job.isa), static_cast<long long>(job.n));
      std::fflush(stderr);
    }
    if (!lowrank::Isa::Force(job.isa).ok()) continue;
    if (peaks.find(job.isa) == peaks.end()) peaks[job.isa] = lowrank::MeasureFmaPeakGflops();
    double flops = 0.0;
    std::string error;
    const double s = TimeMethod(job.method, job.heads, job.n, d, job.rank, job.threads,
                                static_cast<int>(reps), &flops, &error);
    if (s < 0) {
      std::fprintf(stderr, "%slowrank bench: %s on %s: %s\n", bar ? "\n" : "", job.method.c_str(),
                   lowrank_isa_name(job.isa), error.c_str());
      continue;
    }
    Record r;
    r.method = job.method, r.isa = lowrank_isa_name(job.isa);
    r.heads = job.heads, r.n = job.n, r.d = d, r.rank = job.rank, r.threads = job.threads;
    r.reps = static_cast<int>(reps);
    r.seconds = s;
    r.gflops = flops / s * 1e-9;
    r.peak_fraction = r.gflops / (peaks[job.isa] * job.threads);
    records.push_back(r);
    if (table) {
      if (bar) std::fprintf(stderr, "\r%*s\r", 80, "");
      std::printf("%-13s %-9s %5lld %7lld %4lld %6lld %7d %12.3f %9.1f %6.2f\n", r.method.c_str(),
                  r.isa.c_str(), static_cast<long long>(r.heads), static_cast<long long>(r.n),
                  static_cast<long long>(r.d), static_cast<long long>(r.rank), r.threads,
                  r.seconds * 1e3, r.gflops, r.peak_fraction);
      std::fflush(stdout);
    }
  }
  (void)lowrank::Isa::Force(LOWRANK_ISA_AUTO);
  if (bar) std::fprintf(stderr, "\r[%s] %zu/%zu done%40s\n", std::string(30, '#').c_str(),
                        jobs.size(), jobs.size(), "");
  if (!json_path.empty()) {
    FILE* f = json_path == "-" ? stdout : std::fopen(json_path.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "lowrank bench: cannot write %s\n", json_path.c_str());
      return kRuntimeError;
    }
    std::fprintf(f, "{\n  \"tool\": \"lowrank bench\",\n  \"schema\": \"%s\",\n",
                 JsonEscape(kSchema).c_str());
    std::fprintf(f, "  \"cpu\": \"%s\",\n  \"version\": \"%s\",\n  \"peaks_gflops_per_core\": {",
                 JsonEscape(CpuModel()).c_str(), lowrank_version());
    bool first = true;
    for (const auto& [isa, peak] : peaks) {
      std::fprintf(f, "%s\"%s\": %.4g", first ? "" : ", ", lowrank_isa_name(isa), peak);
      first = false;
    }
    std::fprintf(f, "},\n  \"records\": [");
    for (size_t i = 0; i < records.size(); ++i) {
      const Record& r = records[i];
      std::fprintf(f,
                   "%s\n    {\"method\": \"%s\", \"isa\": \"%s\", \"batch\": %lld, \"heads\": %lld, "
                   "\"n\": %lld, \"d\": %lld, \"rank\": %lld, \"threads\": %d, \"reps\": %d, "
                   "\"seconds_median\": %.6g, \"gflops\": %.6g, \"peak_fraction\": %.4g}",
                   i ? "," : "", r.method.c_str(), r.isa.c_str(), static_cast<long long>(r.batch),
                   static_cast<long long>(r.heads), static_cast<long long>(r.n),
                   static_cast<long long>(r.d), static_cast<long long>(r.rank), r.threads, r.reps,
                   r.seconds, r.gflops, r.peak_fraction);
    }
    std::fprintf(f, "\n  ]\n}\n");
    if (f != stdout) std::fclose(f);
  }
  return records.empty() ? kRuntimeError : 0;
}

}  // namespace lowrank_cli
