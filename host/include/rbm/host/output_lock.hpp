// One writer per output directory: a run holds `<dir>/.rbm.lock` (its pid) while it writes there, so a
// second run on the same directory is refused, naming the first one's pid, instead of both writing.
// A lock left by a process that no longer exists (a SIGKILL) is taken over. Released when destroyed.
#pragma once

#include <string>

namespace rbm {

class output_lock {
 public:
  // Throws data_error "<dir>: another rbm process (pid N) is writing this directory".
  explicit output_lock(const std::string& dir);
  ~output_lock();
  // Removes `.<name>.tmp.<pid>` files (write_file_atomic's temporaries) from the directory: left by a
  // process killed mid-write. Safe because the lock holder is the directory's only writer.
  void remove_stale_temporaries() const;
  output_lock(const output_lock&) = delete;
  output_lock& operator=(const output_lock&) = delete;

 private:
  std::string dir_, path_;
};

}  // namespace rbm
