// admit-listing-bench: ListRegistrations latency at every page and
// ExportRegistrations throughput and server RSS, against a running
// admit-registration (loadtest/listing_bench.sh sets it up with 1,000,000
// registrations and prints pgbench's figure next to these).
//
//   admit-listing-bench <grpc target> <api key> <event id> <server pid>
//
// Prints one line per measurement: latencies of every page of a walk
// through the whole event (page_size 100), of the first pages of filtered
// listings, and the export's rows/s and the server's peak VmRSS (sampled
// from /proc/<pid>/status every 20 ms during the export).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "admit/v1/organizer.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t RssKb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

struct Stats {
  std::vector<double> ms;
  void Print(const char* what) {
    if (ms.empty()) {
      std::printf("%-44s no samples\n", what);
      return;
    }
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) {
      return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
    };
    std::printf("%-44s n=%-6zu p50=%6.2f ms  p99=%6.2f ms  max=%6.2f ms\n",
                what, ms.size(), at(0.5), at(0.99), ms.back());
  }
};

class Bench {
 public:
  Bench(const std::string& target, std::string key, std::string event)
      : stub_(admit::v1::OrganizerService::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))),
        key_(std::move(key)),
        event_(std::move(event)) {}

  // One page; its latency in ms, or < 0 on error.
  double Page(admit::v1::ListRegistrationsRequest request,
              admit::v1::ListRegistrationsResponse* response) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + key_);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    request.set_event_id(event_);
    const auto start = Clock::now();
    grpc::Status status = stub_->ListRegistrations(&context, request, response);
    const double ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (!status.ok()) {
      std::fprintf(stderr, "ListRegistrations: %d %s\n", status.error_code(),
                   status.error_message().c_str());
      return -1;
    }
    return ms;
  }

  // Walks `max_pages` pages (0 = all) of `request`; every page's latency.
  Stats Walk(admit::v1::ListRegistrationsRequest request, int max_pages,
             int64_t* rows = nullptr) {
    Stats stats;
    int64_t n = 0;
    for (int page = 0; max_pages == 0 || page < max_pages; ++page) {
      admit::v1::ListRegistrationsResponse response;
      const double ms = Page(request, &response);
      if (ms < 0) std::exit(1);
      stats.ms.push_back(ms);
      n += response.registrations_size();
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    if (rows != nullptr) *rows = n;
    return stats;
  }

  void Export(int pid) {
    std::atomic<bool> done{false};
    int64_t peak_kb = RssKb(pid);
    const int64_t before_kb = peak_kb;
    std::thread sampler([&] {
      while (!done.load()) {
        peak_kb = std::max(peak_kb, RssKb(pid));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + key_);
    admit::v1::ExportRegistrationsRequest request;
    request.set_event_id(event_);
    const auto start = Clock::now();
    auto reader = stub_->ExportRegistrations(&context, request);
    admit::v1::ExportChunk chunk;
    int64_t rows = 0, bytes = 0, chunks = 0;
    while (reader->Read(&chunk)) {
      rows += chunk.rows();
      bytes += static_cast<int64_t>(chunk.csv().size());
      ++chunks;
    }
    grpc::Status status = reader->Finish();
    const double s =
        std::chrono::duration<double>(Clock::now() - start).count();
    done = true;
    sampler.join();
    if (!status.ok()) {
      std::fprintf(stderr, "ExportRegistrations: %d %s\n", status.error_code(),
                   status.error_message().c_str());
      std::exit(1);
    }
    std::printf(
        "export: %lld rows, %lld chunks, %.1f MB in %.2f s = %.0f rows/s; "
        "server VmRSS %.1f MB before, peak %.1f MB during\n",
        static_cast<long long>(rows), static_cast<long long>(chunks),
        bytes / 1e6, s, rows / s, before_kb / 1024.0, peak_kb / 1024.0);
  }

 private:
  std::unique_ptr<admit::v1::OrganizerService::Stub> stub_;
  std::string key_;
  std::string event_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr,
                 "usage: %s <grpc target> <api key> <event id> <server pid>\n",
                 argv[0]);
    return 2;
  }
  Bench bench(argv[1], argv[2], argv[3]);
  const int pid = std::atoi(argv[4]);

  admit::v1::ListRegistrationsRequest all;
  all.set_page_size(100);
  bench.Walk(all, 20);  // warm-up
  int64_t rows = 0;
  Stats walk = bench.Walk(all, 0, &rows);
  std::printf("list: walked %lld rows\n", static_cast<long long>(rows));
  walk.Print("list page_size=100, every page (walk)");
  Stats first;
  for (int i = 0; i < 200; ++i) {
    admit::v1::ListRegistrationsResponse r;
    first.ms.push_back(bench.Page(all, &r));
  }
  first.Print("list page_size=100, first page x200");

  struct Filter {
    const char* name;
    admit::v1::ListRegistrationsRequest request;
  };
  std::vector<Filter> filters(5);
  filters[0].name = "filter status=WAITLISTED (rare), 50 pages";
  filters[0].request.set_status(admit::v1::REGISTRATION_STATUS_WAITLISTED);
  filters[1].name = "filter status=CONFIRMED, 50 pages";
  filters[1].request.set_status(admit::v1::REGISTRATION_STATUS_CONFIRMED);
  filters[2].name = "filter ticket_type_id=delegate, 50 pages";
  filters[2].request.set_ticket_type_id("delegate");
  filters[3].name = "filter organization='Org 7', 50 pages";
  filters[3].request.set_organization("Org 7");
  filters[4].name = "filter email_prefix=user12, 50 pages";
  filters[4].request.set_email_prefix("user12");
  for (Filter& f : filters) {
    f.request.set_page_size(100);
    bench.Walk(f.request, 50).Print(f.name);
  }
  bench.Export(pid);
  return 0;
}
