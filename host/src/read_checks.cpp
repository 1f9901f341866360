// Checked sizes and bounded reads for every reader of a file (read_checks.hpp).
#include "rbm/host/read_checks.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rbm/host/idx.hpp"

namespace rbm {

std::uint64_t checked_product(const std::string& path, const std::string& what, const std::vector<std::uint64_t>& dims,
                              std::uint64_t limit) {
  std::uint64_t p = 1;
  bool over = false;
  for (std::uint64_t d : dims) {
    if (d != 0 && p > limit / d) over = true;
    if (!over) p *= d;
  }
  if (over || p > limit) {
    std::string shape;
    for (std::uint64_t d : dims) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
    throw data_error(path + ": " + what + " (" + shape + ") exceeds " + std::to_string(limit));
  }
  return p;
}

std::vector<std::uint8_t> read_regular_file(const std::string& path, std::uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block the open
  if (fd < 0) throw data_error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw data_error(path + ": not a regular file" + (S_ISDIR(st.st_mode) ? " (a directory)" : ""));
  }
  if (std::uint64_t(st.st_size) > max_bytes) {
    ::close(fd);
    throw data_error(path + ": " + std::to_string(st.st_size) + " bytes, more than the " + std::to_string(max_bytes) +
                     " this reader takes");
  }
  std::vector<std::uint8_t> bytes(std::size_t(st.st_size));
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      throw data_error(path + ": read error (" + (n < 0 ? std::strerror(e) : "the file shrank while read") + ")");
    }
    got += std::size_t(n);
  }
  ::close(fd);
  return bytes;
}

}  // namespace rbm
