// admit-counts-bench: GetRegistrationCounts latency and a
// WatchRegistrationCounts fan-out figure, against running admit-quota and
// admit-registration binaries (loadtest/counts_bench.sh sets them up with
// 1,000,000 registrations and prints pgbench's figure next to these).
//
//   admit-counts-bench create <target> <api key> <event id>
//   admit-counts-bench get    <target> <api key> <event id> <calls>
//   admit-counts-bench watch  <target> <api key> <event id> <streams>
//                             <seconds> <server pid>
//
// create: CreateEvent with capacity 1,000,000 and ticket types t0..t4.
// get: <calls> sequential calls, then the same number from 4 threads;
//   p50/p99/max of each.
// watch: opens <streams> streams on the event (callback client), then
//   registers from 8 threads for <seconds>; prints the messages received
//   (total, per stream min/max), the registrations made, and the server's
//   CPU time over the run (/proc/<pid>/stat utime+stime).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "admit/v1/organizer.grpc.pb.h"
#include "admit/v1/registration.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = admit::v1;

double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  // Fields after the ")" of the command name: state is field 3; utime 14,
  // stime 15.
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::atof(field.c_str());
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

void PrintStats(const char* what, std::vector<double> ms) {
  if (ms.empty()) {
    std::printf("%-40s no samples\n", what);
    return;
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  std::printf("%-40s n=%-6zu p50=%6.2f ms  p99=%6.2f ms  max=%6.2f ms\n", what,
              ms.size(), at(0.5), at(0.99), ms.back());
}

int Create(v1::OrganizerService::Stub& stub, const std::string& key,
           const std::string& event_id) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + key);
  v1::CreateEventRequest request;
  v1::Event* e = request.mutable_event();
  e->set_id(event_id);
  e->set_name("Counts bench");
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  e->mutable_starts_at()->set_seconds(now + 30 * 86400);
  e->mutable_ends_at()->set_seconds(now + 31 * 86400);
  e->set_time_zone("UTC");
  e->mutable_registration_opens_at()->set_seconds(now - 60);
  e->mutable_registration_closes_at()->set_seconds(now + 29 * 86400);
  e->mutable_hold_ttl()->set_seconds(1800);
  e->set_capacity(1000000);
  for (int i = 0; i < 5; ++i) {
    v1::TicketType* t = e->add_ticket_types();
    t->set_id("t" + std::to_string(i));
    t->set_name("Type " + std::to_string(i));
  }
  v1::CreateEventResponse response;
  grpc::Status s = stub.CreateEvent(&context, request, &response);
  if (!s.ok()) {
    std::fprintf(stderr, "CreateEvent: %d %s\n", s.error_code(),
                 s.error_message().c_str());
    return 1;
  }
  return 0;
}

int Get(v1::OrganizerService::Stub& stub, const std::string& key,
        const std::string& event_id, int calls) {
  auto one = [&](std::vector<double>* ms) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + key);
    v1::GetRegistrationCountsRequest request;
    request.set_event_id(event_id);
    v1::RegistrationCounts response;
    const auto start = Clock::now();
    grpc::Status s = stub.GetRegistrationCounts(&context, request, &response);
    const double took =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (!s.ok()) {
      std::fprintf(stderr, "GetRegistrationCounts: %d %s\n", s.error_code(),
                   s.error_message().c_str());
      std::exit(1);
    }
    ms->push_back(took);
    return response;
  };
  std::vector<double> warm;
  v1::RegistrationCounts last;
  for (int i = 0; i < 50; ++i) last = one(&warm);
  std::printf(
      "event %s: total %d registrations, %d ticket types, %d organizations, "
      "%d countries\n",
      event_id.c_str(), last.total().total(), last.by_ticket_type_size(),
      last.by_organization_size(), last.by_country_size());
  std::vector<double> sequential;
  for (int i = 0; i < calls; ++i) one(&sequential);
  PrintStats("GetRegistrationCounts, 1 client", sequential);
  std::vector<std::vector<double>> per(4);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < calls / 4; ++i) one(&per[t]);
    });
  }
  for (auto& t : threads) t.join();
  const double secs =
      std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& p : per) all.insert(all.end(), p.begin(), p.end());
  PrintStats("GetRegistrationCounts, 4 clients", all);
  std::printf("GetRegistrationCounts, 4 clients: %.0f calls/s\n",
              static_cast<double>(all.size()) / secs);
  return 0;
}

class Watcher : public grpc::ClientReadReactor<v1::RegistrationCounts> {
 public:
  Watcher(v1::OrganizerService::Stub& stub, const std::string& key,
          const std::string& event_id) {
    context_.AddMetadata("authorization", "Bearer " + key);
    request_.set_event_id(event_id);
    stub.async()->WatchRegistrationCounts(&context_, &request_, this);
    StartRead(&message_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    messages_.fetch_add(1);
    last_total_.store(message_.total().total());
    StartRead(&message_);
  }
  void OnDone(const grpc::Status& s) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }
  void Cancel() { context_.TryCancel(); }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
  }
  int64_t messages() const { return messages_.load(); }
  int32_t last_total() const { return last_total_.load(); }
  const grpc::Status& status() const { return status_; }

 private:
  grpc::ClientContext context_;
  v1::WatchRegistrationCountsRequest request_;
  v1::RegistrationCounts message_;
  std::atomic<int64_t> messages_{0};
  std::atomic<int32_t> last_total_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
};

int Watch(const std::string& target, const std::string& key,
          const std::string& event_id, int streams, int seconds, int pid) {
  // Streams spread over a few channels (HTTP/2 connections).
  std::vector<std::unique_ptr<v1::OrganizerService::Stub>> stubs;
  for (int i = 0; i < 8; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("admit.bench.channel", i);  // distinct connections
    stubs.push_back(v1::OrganizerService::NewStub(grpc::CreateCustomChannel(
        target, grpc::InsecureChannelCredentials(), args)));
  }
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < streams; ++i) {
    watchers.push_back(
        std::make_unique<Watcher>(*stubs[i % stubs.size()], key, event_id));
  }
  const auto opened = Clock::now();
  while (Clock::now() - opened < std::chrono::seconds(30)) {
    int with_first = 0;
    for (auto& w : watchers) with_first += w->messages() > 0 ? 1 : 0;
    if (with_first == streams) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double first_s =
      std::chrono::duration<double>(Clock::now() - opened).count();
  int64_t before = 0;
  for (auto& w : watchers) before += w->messages();
  std::printf("%d streams open, %lld first messages in %.2f s\n", streams,
              static_cast<long long>(before), first_s);

  auto reg = v1::RegistrationService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  std::atomic<int64_t> registered{0};
  std::atomic<int64_t> failed{0};
  const double cpu0 = CpuSeconds(pid);
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  std::vector<std::thread> load;
  for (int t = 0; t < 8; ++t) {
    load.emplace_back([&, t] {
      for (int i = 0; Clock::now() < end; ++i) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(5));
        v1::RegisterRequest r;
        const std::string id = std::to_string(getpid()) + "-" +
                               std::to_string(t) + "-" + std::to_string(i);
        r.set_request_id("watch-bench-" + id);
        r.set_event_id(event_id);
        r.set_ticket_type_id("t" + std::to_string(i % 5));
        r.mutable_attendee()->set_email("w" + id + "@example.org");
        r.mutable_attendee()->set_full_name("Watch Bench");
        r.mutable_attendee()->set_organization("Org " + std::to_string(i % 50));
        r.mutable_attendee()->set_country_code("CH");
        v1::RegisterResponse response;
        if (reg->Register(&context, r, &response).ok()) {
          registered.fetch_add(1);
        } else {
          failed.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : load) t.join();
  const double secs =
      std::chrono::duration<double>(Clock::now() - start).count();
  // Let the last change reach every stream (one interval + a tick).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const double cpu = CpuSeconds(pid) - cpu0;
  int64_t total = 0, lo = INT64_MAX, hi = 0;
  int32_t final_min = INT32_MAX, final_max = 0;
  for (auto& w : watchers) {
    const int64_t n = w->messages();
    total += n;
    lo = std::min(lo, n);
    hi = std::max(hi, n);
    final_min = std::min(final_min, w->last_total());
    final_max = std::max(final_max, w->last_total());
  }
  for (auto& w : watchers) w->Cancel();
  int ok_end = 0;
  for (auto& w : watchers) {
    w->Wait();
    ok_end += w->status().error_code() == grpc::StatusCode::CANCELLED;
  }
  std::printf(
      "registrations during the watch: %lld in %.1f s (%.0f/s), %lld "
      "failed\n",
      static_cast<long long>(registered.load()), secs,
      static_cast<double>(registered.load()) / secs,
      static_cast<long long>(failed.load()));
  std::printf(
      "messages received: %lld (per stream min %lld max %lld, = %.2f/s per "
      "stream); last total seen %d..%d\n",
      static_cast<long long>(total), static_cast<long long>(lo),
      static_cast<long long>(hi),
      static_cast<double>(total) / streams / (secs + 1.5), final_min,
      final_max);
  std::printf(
      "server CPU over the run: %.2f s in %.1f s = %.0f%% of one core "
      "(registrations and %d streams)\n",
      cpu, secs + 1.5, 100.0 * cpu / (secs + 1.5), streams);
  std::printf("streams ended CANCELLED by the client: %d of %d\n", ok_end,
              streams);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: admit-counts-bench create|get|watch <target> <key> "
                 "<event> [calls | streams seconds pid]\n");
    return 2;
  }
  const std::string mode = argv[1], target = argv[2], key = argv[3],
                    event = argv[4];
  auto stub = v1::OrganizerService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  if (mode == "create") return Create(*stub, key, event);
  if (mode == "get" && argc >= 6) {
    return Get(*stub, key, event, std::atoi(argv[5]));
  }
  if (mode == "watch" && argc >= 8) {
    return Watch(target, key, event, std::atoi(argv[5]), std::atoi(argv[6]),
                 std::atoi(argv[7]));
  }
  std::fprintf(stderr, "bad arguments\n");
  return 2;
}
