// CPU and memory of the processes under test, from /proc (Linux only).
// A watched process counts together with its descendants (Postgres does its
// work in backends, children of the postmaster).
#ifndef ADMIT_LOADTEST_PROC_STATS_H_
#define ADMIT_LOADTEST_PROC_STATS_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace admit::loadtest {

struct ProcReport {
  pid_t pid = 0;
  bool found = false;       // the process existed at Start
  double cpu_seconds = 0;   // user + system between Start and Stop, tree
  double cpu_percent = 0;   // cpu_seconds / wall, 100 = one core
  int64_t peak_rss_kb = 0;  // highest sampled VmRSS of the tree
  int64_t hwm_rss_kb = 0;   // the root's VmHWM (peak over its whole life)
  // CPU % of the tree per sampling interval (for the report's chart).
  std::vector<double> cpu_percent_series;
};

// Samples every `interval` on its own thread between Start and Stop.
class ProcWatcher {
 public:
  ProcWatcher(std::map<std::string, pid_t> pids,
              std::chrono::milliseconds interval);
  ~ProcWatcher();
  void Start();
  // Stops sampling; returns name -> report.
  std::map<std::string, ProcReport> Stop();
  std::chrono::milliseconds interval() const { return interval_; }

 private:
  struct Sample {
    double cpu_seconds;
    int64_t rss_kb;
  };
  // The tree's CPU time and RSS now; false if the root is gone.
  static bool Read(pid_t root, Sample& out);
  void Loop();

  std::map<std::string, pid_t> pids_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::map<std::string, ProcReport> reports_;
  std::map<std::string, Sample> first_, last_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_PROC_STATS_H_
