#include "loadtest/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace admit::loadtest {
namespace {

// Fields of /proc/PID/stat after the command (which may hold spaces).
bool StatFields(pid_t pid, std::vector<std::string>& fields) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  fields.clear();
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields.size() > 20;
}

int64_t StatusKb(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0)
      return std::atoll(line.c_str() + key.size() + 1);
  }
  return 0;
}

// pid -> parent pid of every process.
std::map<pid_t, pid_t> Parents() {
  std::map<pid_t, pid_t> out;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return out;
  std::vector<std::string> f;
  while (dirent* e = readdir(dir)) {
    const pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    if (StatFields(pid, f))
      out[pid] = std::atoi(f[1].c_str());  // field 4: ppid
  }
  closedir(dir);
  return out;
}

}  // namespace

ProcWatcher::ProcWatcher(std::map<std::string, pid_t> pids,
                         std::chrono::milliseconds interval)
    : pids_(std::move(pids)), interval_(interval) {}

ProcWatcher::~ProcWatcher() {
  if (thread_.joinable()) Stop();
}

bool ProcWatcher::Read(pid_t root, Sample& out) {
  std::vector<std::string> f;
  if (!StatFields(root, f)) return false;
  std::set<pid_t> tree = {root};
  const auto parents = Parents();
  // Parents are listed in pid order, mostly before children; repeat until
  // no new descendant appears.
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [pid, ppid] : parents) {
      if (tree.contains(ppid) && tree.insert(pid).second) grew = true;
    }
  }
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  out = {0, 0};
  for (pid_t pid : tree) {
    if (!StatFields(pid, f)) continue;
    // Fields 14, 15 (utime, stime) are at 11, 12 after the command.
    out.cpu_seconds +=
        (std::atof(f[11].c_str()) + std::atof(f[12].c_str())) / tick;
    out.rss_kb += StatusKb(pid, "VmRSS");
  }
  return true;
}

void ProcWatcher::Start() {
  start_ = std::chrono::steady_clock::now();
  for (const auto& [name, pid] : pids_) {
    ProcReport& r = reports_[name];
    r.pid = pid;
    Sample s;
    r.found = Read(pid, s);
    if (r.found) {
      first_[name] = last_[name] = s;
      r.peak_rss_kb = s.rss_kb;
    }
  }
  thread_ = std::thread([this] { Loop(); });
}

void ProcWatcher::Loop() {
  auto next = std::chrono::steady_clock::now() + interval_;
  while (!stop_.load()) {
    std::this_thread::sleep_until(next);
    next += interval_;
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, pid] : pids_) {
      ProcReport& r = reports_[name];
      Sample s;
      if (!r.found || !Read(pid, s)) continue;
      const double secs = std::chrono::duration<double>(interval_).count();
      r.cpu_percent_series.push_back(std::max(
          0.0, 100.0 * (s.cpu_seconds - last_[name].cpu_seconds) / secs));
      r.peak_rss_kb = std::max(r.peak_rss_kb, s.rss_kb);
      last_[name] = s;
    }
  }
}

std::map<std::string, ProcReport> ProcWatcher::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
          .count();
  for (auto& [name, r] : reports_) {
    Sample s;
    if (!r.found) continue;
    if (Read(r.pid, s)) {
      last_[name] = s;
      r.peak_rss_kb = std::max(r.peak_rss_kb, s.rss_kb);
    }
    r.cpu_seconds = last_[name].cpu_seconds - first_[name].cpu_seconds;
    r.cpu_percent = wall > 0 ? 100.0 * r.cpu_seconds / wall : 0;
    r.hwm_rss_kb = StatusKb(r.pid, "VmHWM");
  }
  return reports_;
}

}  // namespace admit::loadtest
