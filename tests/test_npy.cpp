// The .npy reader on files built here byte by byte (every dtype, versions 1 and 2) and on every bad
// input it must refuse with the file's name and the problem; and on files NumPy itself wrote, where
// Python has NumPy (skipped, saying so, otherwise).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "rbm/host/npy.hpp"

namespace {

// A .npy file: magic, version, header padded to a multiple of 64 with a newline, then `data`.
std::vector<std::uint8_t> npy_bytes(const std::string& descr, const std::string& shape, const std::vector<std::uint8_t>& data,
                                    int major = 1, const std::string& fortran = "False") {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
  const std::size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::vector<std::uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', std::uint8_t(major), 0};
  const std::size_t n = header.size();
  out.push_back(std::uint8_t(n & 0xff));
  out.push_back(std::uint8_t(n >> 8));
  if (major != 1) out.push_back(0), out.push_back(0);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <class T>
std::vector<std::uint8_t> raw(const std::vector<T>& v) {
  std::vector<std::uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::string error_of(const std::vector<std::uint8_t>& bytes) {
  return rbm_test::error_of([&] { rbm::parse_npy_matrix("x.npy", bytes); });
}

TEST(Npy, ReadsEveryDtypeAndVersion) {
  const std::vector<float> f = {0.5f, -1.25f, 3.0f, 1e-3f, -7.0f, 2.5f};
  auto m = rbm::parse_npy_matrix("f.npy", npy_bytes("<f4", "(2, 3)", raw(f)));
  EXPECT_EQ(m.rows, 2);
  EXPECT_EQ(m.cols, 3);
  EXPECT_EQ(m.values, f);
  const std::vector<double> d = {0.1, -2.0, 1e10, 4.0};
  m = rbm::parse_npy_matrix("d.npy", npy_bytes("<f8", "(4, 1)", raw(d), 2));
  ASSERT_EQ(m.values.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(m.values[i], float(d[i]));
  m = rbm::parse_npy_matrix("u.npy", npy_bytes("|u1", "(1, 3)", {0, 128, 255}));
  EXPECT_EQ(m.values, (std::vector<float>{0.0f, 128.0f, 255.0f}));
  // Integers of every width, signed (categorical states, or any values).
  m = rbm::parse_npy_matrix("i1.npy", npy_bytes("|i1", "(1, 3)", raw(std::vector<std::int8_t>{-3, 0, 127})));
  EXPECT_EQ(m.values, (std::vector<float>{-3.0f, 0.0f, 127.0f}));
  m = rbm::parse_npy_matrix("i2.npy", npy_bytes("<i2", "(1, 2)", raw(std::vector<std::int16_t>{-300, 20})));
  EXPECT_EQ(m.values, (std::vector<float>{-300.0f, 20.0f}));
  m = rbm::parse_npy_matrix("i4.npy", npy_bytes("<i4", "(2, 1)", raw(std::vector<std::int32_t>{-70000, 5})));
  EXPECT_EQ(m.values, (std::vector<float>{-70000.0f, 5.0f}));
  m = rbm::parse_npy_matrix("i8.npy", npy_bytes("<i8", "(1, 2)", raw(std::vector<std::int64_t>{-1, 16777216})));
  EXPECT_EQ(m.values, (std::vector<float>{-1.0f, 16777216.0f}));
  const std::string e = error_of(npy_bytes("<i8", "(1, 1)", raw(std::vector<std::int64_t>{16777217})));
  EXPECT_NE(e.find("2^24"), std::string::npos) << e;
  // int64's extremes are refused too, each value written in full.
  const std::string top = error_of(npy_bytes("<i8", "(1, 1)", raw(std::vector<std::int64_t>{INT64_MAX})));
  EXPECT_NE(top.find("9223372036854775808"), std::string::npos) << top;
  const std::string bottom = error_of(npy_bytes("<i8", "(1, 1)", raw(std::vector<std::int64_t>{INT64_MIN})));
  EXPECT_NE(bottom.find("-9223372036854775808"), std::string::npos) << bottom;
}

TEST(Npy, RefusesBadInputNamingTheFileAndTheProblem) {
  const std::vector<float> f(6, 1.0f);
  auto expect = [](const std::vector<std::uint8_t>& bytes, const std::string& what) {
    const std::string e = error_of(bytes);
    EXPECT_NE(e.find("x.npy"), std::string::npos) << e;
    EXPECT_NE(e.find(what), std::string::npos) << "expected '" << what << "' in: " << e;
  };
  expect({1, 2, 3}, "not a .npy file");
  expect(npy_bytes("<u4", "(2, 3)", raw(std::vector<unsigned>(6, 1))), "unsupported dtype '<u4'");
  expect(npy_bytes(">f4", "(2, 3)", raw(f)), "unsupported dtype '>f4'");
  expect(npy_bytes("<f4", "(2, 3)", raw(f), 1, "True"), "Fortran order");
  expect(npy_bytes("<f4", "(6,)", raw(f)), "expected a 2-D array");
  expect(npy_bytes("<f4", "(2, 3, 1)", raw(f)), "expected a 2-D array");
  expect(npy_bytes("<f4", "(0, 3)", {}), "empty");
  expect(npy_bytes("<f4", "(3, 3)", raw(f)), "truncated data");
  auto longer = raw(f);
  longer.push_back(0);
  expect(npy_bytes("<f4", "(2, 3)", longer), "trailing bytes");
  expect(npy_bytes("<f4", "(99999999999, 99999999999)", raw(f)), "truncated data");
  auto bad = f;
  bad[4] = std::nanf("");
  expect(npy_bytes("<f4", "(2, 3)", raw(bad)), "row 1 (column 1) holds NaN");
  bad[4] = std::numeric_limits<float>::infinity();
  expect(npy_bytes("<f4", "(2, 3)", raw(bad)), "row 1 (column 1) holds an infinity");
  expect(npy_bytes("<f8", "(1, 1)", raw(std::vector<double>{1e300})), "beyond float32's range");
  auto cut = npy_bytes("<f4", "(2, 3)", raw(f));
  cut.resize(20);
  expect(cut, "truncated .npy header");
  EXPECT_NE(rbm_test::error_of([] { rbm::read_npy_matrix("/nonexistent/x.npy"); }).find("cannot open"),
            std::string::npos);
  // Files are mapped: a directory and an empty file are refused by name too; a mapped file of a whole
  // matrix reads like its bytes.
  const auto dir = rbm_test::fresh_dir();
  EXPECT_NE(rbm_test::error_of([&] { rbm::read_npy_matrix(dir.string()); }).find(dir.string() + ": not a regular file"),
            std::string::npos);
  rbm_test::write_bytes(dir / "empty.npy", {});
  EXPECT_NE(rbm_test::error_of([&] { rbm::read_npy_matrix((dir / "empty.npy").string()); }).find("empty.npy: not a .npy file"),
            std::string::npos);
  rbm_test::write_bytes(dir / "whole.npy", npy_bytes("<f4", "(2, 3)", raw(f)));
  EXPECT_EQ(rbm::read_npy_matrix((dir / "whole.npy").string()).values, f);
}

// Class labels: a vector [N] or a column [N, 1] of whole numbers in [0, 255], of any dtype; anything
// else refused naming the file and the row.
TEST(Npy, ReadsLabelVectorsAndRefusesWhatIsNotAClass) {
  auto labels = [](const std::vector<std::uint8_t>& bytes) { return rbm::parse_npy_labels("y.npy", bytes.data(), bytes.size()); };
  EXPECT_EQ(labels(npy_bytes("<i8", "(3,)", raw(std::vector<std::int64_t>{0, 255, 7}))), (std::vector<std::uint8_t>{0, 255, 7}));
  EXPECT_EQ(labels(npy_bytes("|u1", "(2, 1)", {4, 1})), (std::vector<std::uint8_t>{4, 1}));
  EXPECT_EQ(labels(npy_bytes("<f8", "(2,)", raw(std::vector<double>{2.0, 9.0}))), (std::vector<std::uint8_t>{2, 9}));
  auto refused = [&](const std::vector<std::uint8_t>& bytes, const std::string& what) {
    const std::string e = rbm_test::error_of([&] { labels(bytes); });
    EXPECT_NE(e.find("y.npy"), std::string::npos) << e;
    EXPECT_NE(e.find(what), std::string::npos) << e;
  };
  refused(npy_bytes("<i4", "(3,)", raw(std::vector<std::int32_t>{1, -1, 2})), "row 1 holds -1, not a class label in [0, 255]");
  refused(npy_bytes("<i4", "(2,)", raw(std::vector<std::int32_t>{1, 256})), "row 1 holds 256");
  refused(npy_bytes("<f4", "(2,)", raw(std::vector<float>{1.5f, 2.0f})), "row 0 holds 1.5");
  refused(npy_bytes("<i8", "(2, 2)", raw(std::vector<std::int64_t>{1, 2, 3, 4})), "expected a vector of labels [samples]");
  refused(npy_bytes("<i8", "(1, 1, 1)", raw(std::vector<std::int64_t>{1})), "expected a vector of labels");
  // A data matrix is still 2-D.
  const std::string e = error_of(npy_bytes("<f4", "(2,)", raw(std::vector<float>{1, 2})));
  EXPECT_NE(e.find("expected a 2-D array"), std::string::npos) << e;
}

TEST(Npy, ReadsWhatNumpyWrites) {
  const auto dir = rbm_test::fresh_dir();
  const std::string script = "import numpy as np; d = '" + dir.string() +
                             "'; a = np.arange(12, dtype=np.float64).reshape(3, 4) / 8 - 0.5; "
                             "np.save(d + '/f8.npy', a); np.save(d + '/f4.npy', a.astype(np.float32)); "
                             "np.save(d + '/u1.npy', np.arange(12, dtype=np.uint8).reshape(3, 4)); "
                             "np.save(d + '/fortran.npy', np.asfortranarray(a))";
  if (std::system(("python3 -c \"" + script + "\" 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "python3 with numpy is not available here";
  for (const char* f : {"f8", "f4"}) {
    const auto m = rbm::read_npy_matrix((dir / (std::string(f) + ".npy")).string());
    ASSERT_EQ(m.rows, 3);
    ASSERT_EQ(m.cols, 4);
    for (int i = 0; i < 12; ++i) EXPECT_EQ(m.values[i], float(i / 8.0 - 0.5)) << f << " " << i;
  }
  const auto u = rbm::read_npy_matrix((dir / "u1.npy").string());
  EXPECT_EQ(u.values[11], 11.0f);
  EXPECT_NE(rbm_test::error_of([&] { rbm::read_npy_matrix((dir / "fortran.npy").string()); }).find("Fortran order"),
            std::string::npos);
}

}  // namespace
