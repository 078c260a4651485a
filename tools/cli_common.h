// Helpers shared by the lowrank program's commands (tools/*.cc).
#ifndef LOWRANK_TOOLS_CLI_COMMON_H_
#define LOWRANK_TOOLS_CLI_COMMON_H_

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "io/npy.h"

namespace lowrank_cli {

constexpr int kUsageError = 2;
constexpr int kRuntimeError = 1;

inline bool ParseInt(const char* s, long long lo, long long hi, long long* out) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// Comma-separated integers in [lo, hi]; false on any bad item.
inline bool ParseIntList(const std::string& text, long long lo, long long hi,
                         std::vector<long long>* out) {
  out->clear();
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    long long v = 0;
    if (!ParseInt(item.c_str(), lo, hi, &v)) return false;
    out->push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return !out->empty();
}

inline std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  std::string part;
  while (std::getline(f, line)) {
    for (const char* key : {"model name", "Hardware", "CPU part"}) {
      if (line.rfind(key, 0) == 0) {
        const size_t colon = line.find(':');
        if (colon != std::string::npos) {
          std::string v = line.substr(colon + 1);
          v.erase(0, v.find_first_not_of(" \t"));
          if (std::strcmp(key, "CPU part") == 0) {
            part = "CPU part " + v;
          } else {
            return v;
          }
        }
      }
    }
  }
  return part.empty() ? "unknown" : part;
}

inline std::string JsonEscape(const std::string& in) {
  std::string out;
  for (char c : in) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

struct Shape4 {
  int64_t b, h, n, d;
};

inline bool ToShape4(const lowrank::NpyArray& a, const char* name, Shape4* s, std::string* error) {
  if (a.shape.size() == 2) {
    *s = {1, 1, a.shape[0], a.shape[1]};
  } else if (a.shape.size() == 3) {
    *s = {1, a.shape[0], a.shape[1], a.shape[2]};
  } else if (a.shape.size() == 4) {
    *s = {a.shape[0], a.shape[1], a.shape[2], a.shape[3]};
  } else {
    *error = std::string(name) + ": expected shape [N,D], [H,N,D] or [B,H,N,D], got " +
             std::to_string(a.shape.size()) + " dimensions";
    return false;
  }
  for (int64_t e : {s->b, s->h, s->n, s->d}) {
    if (e < 1) {
      *error = std::string(name) + ": every dimension must be at least 1";
      return false;
    }
  }
  return true;
}

}  // namespace lowrank_cli

#endif  // LOWRANK_TOOLS_CLI_COMMON_H_
