// The output directory's lock file (output_lock.hpp).
#include "rbm/host/output_lock.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "rbm/host/idx.hpp"
#include "rbm/host/safetensors.hpp"

namespace rbm {

output_lock::output_lock(const std::string& dir) : dir_(dir), path_(dir + "/.rbm.lock") {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = ::open(path_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      const bool ok = ::write(fd, pid.data(), pid.size()) == ssize_t(pid.size());
      ::close(fd);
      if (!ok) break;
      return;
    }
    if (errno != EEXIST) break;
    long other = 0;
    std::ifstream(path_) >> other;
    // kill(pid, 0): whether that process exists (EPERM: it does, under another user).
    if (other > 0 && (::kill(pid_t(other), 0) == 0 || errno == EPERM))
      throw data_error(dir + ": another rbm process (pid " + std::to_string(other) +
                       ") is writing this directory; wait for it, or give another output directory");
    ::unlink(path_.c_str());  // stale: its process is gone
  }
  throw data_error(dir + ": cannot create the lock file " + path_ + " (" + std::strerror(errno) + ")");
}

output_lock::~output_lock() { ::unlink(path_.c_str()); }

void output_lock::remove_stale_temporaries() const {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    if (is_atomic_temporary(e.path().filename().string())) std::filesystem::remove(e.path(), ec);
  }
}

}  // namespace rbm
