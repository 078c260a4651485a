// .npy reader and writer (format: numpy/doc/neps/nep-0001-npy-format).
#include "io/npy.h"

#include <cstdio>
#include <cstring>

namespace lowrank {
namespace {

// Cap on element count so that data size in bytes fits comfortably: 2^60.
constexpr uint64_t kMaxElements = uint64_t{1} << 60;

bool IsLittleEndianHost() {
  const uint16_t x = 1;
  uint8_t b;
  std::memcpy(&b, &x, 1);
  return b == 1;
}

void SkipSpaces(const std::string& s, size_t* i) {
  while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t')) ++*i;
}

// Parses a Python string literal '...' or "..." at *i.
bool ParseString(const std::string& s, size_t* i, std::string* out) {
  if (*i >= s.size() || (s[*i] != '\'' && s[*i] != '"')) return false;
  const char quote = s[*i];
  const size_t end = s.find(quote, *i + 1);
  if (end == std::string::npos) return false;
  *out = s.substr(*i + 1, end - *i - 1);
  *i = end + 1;
  return true;
}

bool ParseShape(const std::string& s, size_t* i, std::vector<int64_t>* shape,
                std::string* error) {
  if (*i >= s.size() || s[*i] != '(') {
    *error = "shape is not a tuple";
    return false;
  }
  ++*i;
  shape->clear();
  for (;;) {
    SkipSpaces(s, i);
    if (*i < s.size() && s[*i] == ')') {
      ++*i;
      return true;
    }
    if (*i >= s.size() || s[*i] < '0' || s[*i] > '9') {
      *error = "shape holds something other than non-negative integers";
      return false;
    }
    uint64_t v = 0;
    while (*i < s.size() && s[*i] >= '0' && s[*i] <= '9') {
      v = v * 10 + static_cast<uint64_t>(s[*i] - '0');
      if (v > kMaxElements) {
        *error = "shape dimension is too large";
        return false;
      }
      ++*i;
    }
    shape->push_back(static_cast<int64_t>(v));
    SkipSpaces(s, i);
    if (*i < s.size() && s[*i] == ',') {
      ++*i;
    } else if (*i < s.size() && s[*i] == ')') {
      ++*i;
      return true;
    } else {
      *error = "shape tuple is malformed";
      return false;
    }
  }
}

// Parses the header dictionary {'descr': ..., 'fortran_order': ..., 'shape': ...}.
bool ParseHeader(const std::string& h, std::string* descr, bool* fortran,
                 std::vector<int64_t>* shape, std::string* error) {
  size_t i = 0;
  SkipSpaces(h, &i);
  if (i >= h.size() || h[i] != '{') {
    *error = "header is not a dictionary";
    return false;
  }
  ++i;
  bool have_descr = false, have_fortran = false, have_shape = false;
  for (;;) {
    SkipSpaces(h, &i);
    if (i < h.size() && h[i] == '}') break;
    std::string key;
    if (!ParseString(h, &i, &key)) {
      *error = "header key is not a string";
      return false;
    }
    SkipSpaces(h, &i);
    if (i >= h.size() || h[i] != ':') {
      *error = "header is missing ':' after key '" + key + "'";
      return false;
    }
    ++i;
    SkipSpaces(h, &i);
    if (key == "descr") {
      if (!ParseString(h, &i, descr)) {
        *error = "descr is not a string";
        return false;
      }
      have_descr = true;
    } else if (key == "fortran_order") {
      if (h.compare(i, 4, "True") == 0) {
        *fortran = true;
        i += 4;
      } else if (h.compare(i, 5, "False") == 0) {
        *fortran = false;
        i += 5;
      } else {
        *error = "fortran_order is not True or False";
        return false;
      }
      have_fortran = true;
    } else if (key == "shape") {
      if (!ParseShape(h, &i, shape, error)) return false;
      have_shape = true;
    } else {
      *error = "header has unknown key '" + key + "'";
      return false;
    }
    SkipSpaces(h, &i);
    if (i < h.size() && h[i] == ',') {
      ++i;
      continue;
    }
    SkipSpaces(h, &i);
    if (i < h.size() && h[i] == '}') break;
    *error = "header dictionary is malformed";
    return false;
  }
  if (!have_descr || !have_fortran || !have_shape) {
    *error = "header lacks descr, fortran_order or shape";
    return false;
  }
  return true;
}

}  // namespace

bool ParseNpy(const uint8_t* bytes, size_t size, NpyArray* out,
              std::string* error) {
  static const uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(bytes, kMagic, 6) != 0) {
    *error = "not a .npy file (bad magic)";
    return false;
  }
  const uint8_t major = bytes[6];
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = bytes[8] | (static_cast<size_t>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) {
      *error = "truncated header";
      return false;
    }
    header_len = bytes[8] | (static_cast<size_t>(bytes[9]) << 8) |
                 (static_cast<size_t>(bytes[10]) << 16) |
                 (static_cast<size_t>(bytes[11]) << 24);
    offset = 12;
  } else {
    *error = "unsupported .npy format version " + std::to_string(major);
    return false;
  }
  if (header_len > size - offset) {
    *error = "truncated header";
    return false;
  }
  const std::string header(reinterpret_cast<const char*>(bytes + offset), header_len);
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  if (!ParseHeader(header, &descr, &fortran, &shape, error)) return false;
  if (descr != "<f4" && !(descr == "=f4" && IsLittleEndianHost())) {
    *error = "dtype '" + descr + "' is not float32 little-endian ('<f4')";
    return false;
  }
  if (fortran) {
    *error = "Fortran-order arrays are not supported (use C order)";
    return false;
  }
  uint64_t count = 1;
  for (int64_t d : shape) {
    if (d != 0 && count > kMaxElements / static_cast<uint64_t>(d)) {
      *error = "shape has too many elements";
      return false;
    }
    count *= static_cast<uint64_t>(d);
  }
  const size_t data_offset = offset + header_len;
  const uint64_t data_bytes = count * sizeof(float);
  const uint64_t available = size - data_offset;
  if (data_bytes > available) {
    *error = "truncated data: expected " + std::to_string(data_bytes) +
             " bytes, file has " + std::to_string(available);
    return false;
  }
  if (data_bytes < available) {
    *error = "file has " + std::to_string(available - data_bytes) +
             " bytes after the data";
    return false;
  }
  if (!IsLittleEndianHost()) {
    *error = "big-endian hosts are not supported";
    return false;
  }
  out->shape = shape;
  out->data.resize(count);
  if (count > 0) std::memcpy(out->data.data(), bytes + data_offset, data_bytes);
  return true;
}

bool ReadNpy(const std::string& path, NpyArray* out, std::string* error) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    *error = "cannot open '" + path + "'";
    return false;
  }
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    bytes.insert(bytes.end(), buf, buf + n);
  }
  const bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  if (read_error) {
    *error = "error reading '" + path + "'";
    return false;
  }
  std::string why;
  if (!ParseNpy(bytes.data(), bytes.size(), out, &why)) {
    *error = path + ": " + why;
    return false;
  }
  return true;
}

bool WriteNpy(const std::string& path, const std::vector<int64_t>& shape,
              const float* data, std::string* error) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  uint64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    dict += (shape.size() == 1 || i + 1 < shape.size()) ? "," : "";
    if (i + 1 < shape.size()) dict += " ";
    count *= static_cast<uint64_t>(shape[i]);
  }
  dict += "), }";
  // Pad with spaces so that magic + 4 + header is a multiple of 64 and the
  // header ends with '\n'.
  size_t total = 10 + dict.size() + 1;
  const size_t pad = (64 - total % 64) % 64;
  dict.append(pad, ' ');
  dict += '\n';
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    *error = "cannot create '" + path + "'";
    return false;
  }
  const uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                           static_cast<uint8_t>(dict.size() & 0xff),
                           static_cast<uint8_t>(dict.size() >> 8)};
  bool ok = std::fwrite(pre, 1, 10, f) == 10 &&
            std::fwrite(dict.data(), 1, dict.size(), f) == dict.size() &&
            (count == 0 || std::fwrite(data, sizeof(float), count, f) == count);
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) *error = "error writing '" + path + "'";
  return ok;
}

}  // namespace lowrank
