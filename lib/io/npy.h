// Reading and writing NumPy .npy files of float32 (little-endian, C order),
// for the command-line tools. Not part of the library ABI.
//
// The reader accepts format versions 1.0, 2.0 and 3.0 with descr '<f4' and
// fortran_order False, and rejects everything else (bad magic, malformed
// header, other dtypes, Fortran order, shapes whose size overflows, missing
// or extra data) with a message saying which.
#ifndef LOWRANK_LIB_IO_NPY_H_
#define LOWRANK_LIB_IO_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

namespace lowrank {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Parses a whole .npy file held in memory. Returns false and sets *error.
bool ParseNpy(const uint8_t* bytes, size_t size, NpyArray* out,
              std::string* error);
// Reads and parses a file.
bool ReadNpy(const std::string& path, NpyArray* out, std::string* error);
// Writes a version 1.0 file.
bool WriteNpy(const std::string& path, const std::vector<int64_t>& shape,
              const float* data, std::string* error);

}  // namespace lowrank

#endif  // LOWRANK_LIB_IO_NPY_H_
