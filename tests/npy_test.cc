// The .npy reader: round trips, and every kind of malformed file rejected
// with a message.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "io/npy.h"

namespace {

std::vector<uint8_t> MakeFile(const std::string& dict, const std::vector<uint8_t>& data,
                              uint8_t major = 1) {
  std::vector<uint8_t> f = {0x93, 'N', 'U', 'M', 'P', 'Y', major, 0};
  std::string h = dict;
  h += '\n';
  if (major == 1) {
    f.push_back(static_cast<uint8_t>(h.size() & 0xff));
    f.push_back(static_cast<uint8_t>(h.size() >> 8));
  } else {
    for (int i = 0; i < 4; ++i) f.push_back(static_cast<uint8_t>(h.size() >> (8 * i)));
  }
  f.insert(f.end(), h.begin(), h.end());
  f.insert(f.end(), data.begin(), data.end());
  return f;
}

std::vector<uint8_t> Floats(std::vector<float> v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::string ParseError(const std::vector<uint8_t>& f) {
  lowrank::NpyArray a;
  std::string error;
  if (lowrank::ParseNpy(f.data(), f.size(), &a, &error)) return "";
  return error;
}

TEST(Npy, ParsesGoodFiles) {
  lowrank::NpyArray a;
  std::string error;
  auto f = MakeFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                    Floats({1, 2, 3, 4, 5, 6}));
  ASSERT_TRUE(lowrank::ParseNpy(f.data(), f.size(), &a, &error)) << error;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.data[5], 6.0f);
  f = MakeFile("{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"<f4\"}",
               Floats({1, 2, 3}), 2);
  ASSERT_TRUE(lowrank::ParseNpy(f.data(), f.size(), &a, &error)) << error;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3}));
}

TEST(Npy, WriteReadRoundTrip) {
  const std::string path = ::testing::TempDir() + "/roundtrip.npy";
  const std::vector<float> data = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::string error;
  ASSERT_TRUE(lowrank::WriteNpy(path, {1, 2, 3}, data.data(), &error)) << error;
  lowrank::NpyArray a;
  ASSERT_TRUE(lowrank::ReadNpy(path, &a, &error)) << error;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(a.data, data);
  std::remove(path.c_str());
}

TEST(Npy, RejectsMalformedFiles) {
  const auto good_data = Floats({1, 2, 3, 4});
  const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  EXPECT_NE(ParseError({1, 2, 3}).find("bad magic"), std::string::npos);
  auto f = MakeFile(good, good_data);
  f[1] = 'X';
  EXPECT_NE(ParseError(f).find("bad magic"), std::string::npos);
  EXPECT_NE(ParseError(MakeFile(good, good_data, 9)).find("version"), std::string::npos);
  f = MakeFile(good, good_data);
  f[8] = 0xff, f[9] = 0x7f;  // header length past the end
  EXPECT_NE(ParseError(f).find("truncated header"), std::string::npos);
  EXPECT_NE(ParseError(MakeFile("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", good_data))
                .find("dtype"),
            std::string::npos);
  EXPECT_NE(ParseError(MakeFile("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", good_data))
                .find("dtype"),
            std::string::npos);
  EXPECT_NE(ParseError(MakeFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", good_data))
                .find("Fortran"),
            std::string::npos);
  EXPECT_NE(ParseError(MakeFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }", good_data))
                .find("shape"),
            std::string::npos);
  EXPECT_NE(ParseError(MakeFile("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 2], }", good_data))
                .find("shape"),
            std::string::npos);
  EXPECT_NE(ParseError(MakeFile("{'descr': '<f4', 'shape': (2, 2), }", good_data)).find("lacks"),
            std::string::npos);
  EXPECT_NE(ParseError(MakeFile("['descr']", good_data)).find("dictionary"), std::string::npos);
  EXPECT_NE(ParseError(MakeFile(good, Floats({1, 2, 3}))).find("truncated data"), std::string::npos);
  EXPECT_NE(ParseError(MakeFile(good, Floats({1, 2, 3, 4, 5}))).find("after the data"),
            std::string::npos);
  EXPECT_NE(ParseError(MakeFile("{'descr': '<f4', 'fortran_order': False, 'shape': "
                                "(4294967296, 4294967296, 4294967296), }",
                                good_data))
                .find("too"),
            std::string::npos);
  lowrank::NpyArray a;
  std::string error;
  EXPECT_FALSE(lowrank::ReadNpy("/nonexistent/x.npy", &a, &error));
  EXPECT_NE(error.find("cannot open"), std::string::npos);
}

}  // namespace
