#include "services/gateway/gateway.h"

#include <httplib.h>
#include <sys/socket.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/log/log.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "services/gateway/transcoder.h"

namespace admit::gateway {

namespace {

constexpr char kJson[] = "application/json";
constexpr char kAllowedHeaders[] =
    "authorization, content-type, x-manage-token, x-request-id";
constexpr char kExposedHeaders[] = "retry-after, content-disposition";

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  out.reserve(buffer.Length());
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// A google.rpc.Status JSON body for errors the gateway raises itself.
std::string StatusJson(int grpc_code, absl::string_view message) {
  return ErrorFromGrpc(grpc_code, message, "").json;
}

std::string ContentTypeFor(const std::filesystem::path& path) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"}};
  auto it = kTypes.find(path.extension().string());
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

bool SplitHostPort(const std::string& listen, std::string* host, int* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = listen.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::SimpleAtoi(listen.substr(colon + 1), port) && *port >= 0 &&
         *port <= 65535;
}

}  // namespace

void AddGatewaySettings(config::Settings& settings, GatewayOptions* options,
                        std::string* allowed_origins_text) {
  settings.AddString("ADMIT_GATEWAY_LISTEN", options->listen,
                     "HTTP listen address of the gateway, host:port (the "
                     "pages and the /v1 API).",
                     &options->listen);
  settings.AddString(
      "ADMIT_GATEWAY_ALLOWED_ORIGINS", "",
      "Origins allowed to call the API from other sites' pages (CORS), "
      "comma-separated, exact (\"https://tickets.example.org\"); \"*\" = "
      "any; empty = none (the gateway's own pages need no CORS).",
      allowed_origins_text);
  settings.AddInt("ADMIT_GATEWAY_MAX_BODY_BYTES", options->max_body_bytes,
                  "Largest request body accepted; larger ones get 413.",
                  &options->max_body_bytes, 1, 64 << 20);
  settings.AddDuration("ADMIT_GATEWAY_READ_TIMEOUT", options->read_timeout,
                       "A client that sends nothing for this long while its "
                       "request (headers or body) is incomplete is "
                       "disconnected.",
                       &options->read_timeout);
  settings.AddDuration("ADMIT_GATEWAY_WRITE_TIMEOUT", options->write_timeout,
                       "A client that reads nothing of the answer for this "
                       "long is disconnected.",
                       &options->write_timeout);
  settings.AddDuration("ADMIT_GATEWAY_IDLE_TIMEOUT", options->idle_timeout,
                       "An idle keep-alive connection is closed after this.",
                       &options->idle_timeout);
  settings.AddInt("ADMIT_GATEWAY_THREADS", options->threads,
                  "Connection threads: each open connection (and each live "
                  "SSE stream) holds one while it is served.",
                  &options->threads, 2, 4096);
  settings.AddInt("ADMIT_GATEWAY_MAX_IN_FLIGHT", options->max_in_flight,
                  "API requests (streams included) served at once; beyond "
                  "it 503 with Retry-After: 1.",
                  &options->max_in_flight, 1, 1000000);
  settings.AddDuration("ADMIT_GATEWAY_TIMEOUT", options->unary_timeout,
                       "Deadline of a forwarded call (504 when it passes).",
                       &options->unary_timeout);
  settings.AddDuration("ADMIT_GATEWAY_STREAM_TIMEOUT", options->stream_timeout,
                       "Deadline of a forwarded stream (live counts, "
                       "export); clients reconnect.",
                       &options->stream_timeout);
  settings.AddDuration("ADMIT_GATEWAY_SSE_HEARTBEAT", options->sse_heartbeat,
                       "A comment line on a quiet SSE stream this often.",
                       &options->sse_heartbeat);
  settings.AddString("ADMIT_GATEWAY_WEB_DIR", options->web_dir,
                     "Directory of the static pages served at /; empty = no "
                     "pages.",
                     &options->web_dir);
}

absl::Status SetAllowedOrigins(const std::string& text,
                               GatewayOptions* options) {
  options->allowed_origins.clear();
  for (absl::string_view part :
       absl::StrSplit(text, absl::ByAnyChar(", "), absl::SkipEmpty())) {
    if (part != "*" && !absl::StartsWith(part, "http://") &&
        !absl::StartsWith(part, "https://")) {
      return absl::InvalidArgumentError(
          absl::StrCat("ADMIT_GATEWAY_ALLOWED_ORIGINS: \"", part,
                       "\" is not an origin (scheme://host[:port]) nor \"*\""));
    }
    std::string origin(part);
    while (!origin.empty() && origin.back() == '/') origin.pop_back();
    options->allowed_origins.push_back(origin);
  }
  return absl::OkStatus();
}

struct Gateway::Impl {
  GatewayOptions options;
  const RouteTable* routes;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  std::map<std::string, std::unique_ptr<grpc::GenericStub>> stubs;
  httplib::Server server;
  std::map<std::string, std::pair<std::string, std::string>> pages;

  std::atomic<bool> serving{true};
  std::atomic<int64_t> in_flight{0};

  prometheus::Family<prometheus::Counter>* requests_total;
  prometheus::Family<prometheus::Histogram>* latency;
  prometheus::Gauge* in_flight_gauge;

  // Open streams, so that Shutdown can end them.
  std::mutex streams_mu;
  std::set<grpc::ClientContext*> streams;

  Impl(GatewayOptions o, const RouteTable* r,
       std::map<std::string, std::shared_ptr<grpc::Channel>> c,
       prometheus::Registry* registry)
      : options(std::move(o)), routes(r), channels(std::move(c)) {
    requests_total = &prometheus::BuildCounter()
                          .Name("http_requests_total")
                          .Help(
                              "HTTP requests answered by the gateway, by "
                              "route template, method and status code.")
                          .Register(*registry);
    latency = &prometheus::BuildHistogram()
                   .Name("http_request_duration_seconds")
                   .Help(
                       "Time from the request's arrival to its answer "
                       "(to the stream's first message for streams), by "
                       "route template and method.")
                   .Register(*registry);
    in_flight_gauge = &prometheus::BuildGauge()
                           .Name("http_requests_in_flight")
                           .Help(
                               "API requests being served, streams "
                               "included.")
                           .Register(*registry)
                           .Add({});
  }

  void Record(const std::string& route, const std::string& method, int code,
              std::chrono::steady_clock::time_point start) {
    requests_total
        ->Add({{"route", route},
               {"method", method},
               {"code", std::to_string(code)}})
        .Increment();
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    latency->Add({{"route", route}, {"method", method}}, kBuckets)
        .Observe(std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - start)
                     .count());
  }

  // The allowed origin to echo for this request, "" when none.
  std::string AllowedOrigin(const httplib::Request& req) const {
    std::string origin = req.get_header_value("Origin");
    if (origin.empty()) return "";
    for (const std::string& allowed : options.allowed_origins) {
      if (allowed == "*" || allowed == origin) return origin;
    }
    return "";
  }

  void SetError(httplib::Response& res, int http_status,
                const std::string& json) {
    res.status = http_status;
    res.set_content(json, kJson);
  }

  absl::Status LoadPages() {
    if (options.web_dir.empty()) return absl::OkStatus();
    std::error_code ec;
    std::filesystem::path root(options.web_dir);
    auto it = std::filesystem::recursive_directory_iterator(root, ec);
    if (ec) {
      return absl::NotFoundError(
          absl::StrCat("ADMIT_GATEWAY_WEB_DIR: cannot read ", options.web_dir,
                       ": ", ec.message()));
    }
    for (const auto& entry : it) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream content;
      content << in.rdbuf();
      std::string rel =
          "/" + std::filesystem::relative(entry.path(), root).generic_string();
      pages[rel] = {content.str(), ContentTypeFor(entry.path())};
      if (entry.path().extension() == ".html") {
        std::string bare = rel.substr(0, rel.size() - 5);
        if (absl::EndsWith(bare, "/index")) {
          bare = bare.substr(0, bare.size() - 5);
        }
        pages[bare] = pages[rel];
      }
    }
    return absl::OkStatus();
  }

  void ServePage(const httplib::Request& req, httplib::Response& res) {
    auto start = std::chrono::steady_clock::now();
    auto it = pages.find(req.path);
    if (it == pages.end()) {
      SetError(res, 404,
               StatusJson(5, absl::StrCat("no such page: ", req.path)));
      Record("unmatched", req.method, res.status, start);
      return;
    }
    res.status = 200;
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-cache");
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; img-src 'self' data: blob:; "
                   "frame-ancestors 'none'");
    res.set_header("Referrer-Policy", "no-referrer");
    if (req.method == "HEAD") {
      res.set_header("Content-Length", std::to_string(it->second.first.size()));
    } else {
      res.set_content(it->second.first, it->second.second);
    }
    Record("static", req.method, 200, start);
  }

  void Handle(const httplib::Request& req, httplib::Response& res);
  void HandleApi(const httplib::Request& req, httplib::Response& res,
                 std::chrono::steady_clock::time_point start);
  void Forward(const RouteMatch& match, const httplib::Request& req,
               httplib::Response& res, std::string request_bytes,
               std::chrono::steady_clock::time_point start,
               std::shared_ptr<void> in_flight_slot);
  void Stream(const RouteMatch& match, const httplib::Request& req,
              httplib::Response& res, std::string request_bytes,
              std::chrono::steady_clock::time_point start,
              std::shared_ptr<void> in_flight_slot);
  void SetCallMetadata(const httplib::Request& req,
                       grpc::ClientContext* context);
  void WriteGrpcError(httplib::Response& res, const grpc::Status& status);
};

void Gateway::Impl::Handle(const httplib::Request& req,
                           httplib::Response& res) {
  auto start = std::chrono::steady_clock::now();
  std::string origin = AllowedOrigin(req);
  if (!origin.empty()) {
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Access-Control-Expose-Headers", kExposedHeaders);
  }
  if (!options.allowed_origins.empty()) res.set_header("Vary", "Origin");

  if (req.path == "/healthz") {
    bool ok = serving.load();
    res.status = ok ? 200 : 503;
    res.set_content(
        ok ? "{\"status\":\"SERVING\"}\n" : "{\"status\":\"NOT_SERVING\"}\n",
        kJson);
    Record("/healthz", req.method, res.status, start);
    return;
  }
  if (req.path == "/qr.png" && req.method == "POST" && options.qr_png) {
    if (req.body.empty() || req.body.size() > 256) {
      SetError(res, 400, StatusJson(3, "the text must be 1-256 bytes"));
    } else if (absl::StatusOr<std::string> png = options.qr_png(req.body);
               png.ok()) {
      res.status = 200;
      res.set_header("Cache-Control", "no-store");
      res.set_content(*png, "image/png");
    } else {
      SetError(res, 400, StatusJson(3, png.status().message()));
    }
    Record("/qr.png", req.method, res.status, start);
    return;
  }
  if (req.method == "OPTIONS") {
    if (req.has_header("Access-Control-Request-Method")) {
      if (origin.empty()) {
        SetError(res, 403,
                 StatusJson(7, "this origin may not call the API (CORS)"));
      } else {
        res.status = 204;
        res.set_header("Access-Control-Allow-Methods",
                       "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        res.set_header("Access-Control-Allow-Headers", kAllowedHeaders);
        res.set_header("Access-Control-Max-Age", "600");
      }
      Record("preflight", req.method, res.status, start);
      return;
    }
    res.status = 204;
    res.set_header("Allow", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    Record("preflight", req.method, res.status, start);
    return;
  }
  if (!absl::StartsWith(req.path, "/v1/")) {
    if (req.method == "GET" || req.method == "HEAD") {
      ServePage(req, res);
    } else {
      SetError(res, 404, StatusJson(5, "no such route"));
      Record("unmatched", req.method, res.status, start);
    }
    return;
  }
  HandleApi(req, res, start);
}

void Gateway::Impl::HandleApi(const httplib::Request& req,
                              httplib::Response& res,
                              std::chrono::steady_clock::time_point start) {
  RouteMatch match = routes->Match(req.method, req.path);
  if (match.route == nullptr) {
    if (!match.allowed_methods.empty()) {
      res.set_header("Allow", absl::StrJoin(match.allowed_methods, ", "));
      SetError(res, 405,
               StatusJson(12, absl::StrCat("method ", req.method,
                                           " not allowed on this path")));
    } else {
      SetError(res, 404, StatusJson(5, "no such route"));
    }
    Record("unmatched", req.method, res.status, start);
    return;
  }
  const Route& route = *match.route;
  int64_t now_in_flight = in_flight.fetch_add(1) + 1;
  in_flight_gauge->Increment();
  std::shared_ptr<void> slot(nullptr, [this](void*) {
    in_flight.fetch_sub(1);
    in_flight_gauge->Decrement();
  });
  if (now_in_flight > options.max_in_flight || !serving.load()) {
    res.set_header("Retry-After", "1");
    SetError(res, 503,
             StatusJson(14, serving.load() ? "the gateway is at its limit of "
                                             "requests in flight; retry"
                                           : "the gateway is shutting down"));
    Record(route.path_template, req.method, res.status, start);
    return;
  }
  if (!route.body.empty() && !absl::StripAsciiWhitespace(req.body).empty()) {
    std::string type =
        absl::AsciiStrToLower(req.get_header_value("Content-Type"));
    if (!absl::StartsWith(type, "application/json")) {
      SetError(res, 415,
               StatusJson(3, "request bodies must be application/json"));
      Record(route.path_template, req.method, res.status, start);
      return;
    }
  }
  HttpRequestParts parts;
  parts.bindings = match.bindings;
  for (const auto& [name, value] : req.params)
    parts.query.emplace_back(name, value);
  parts.body = req.body;
  if (req.has_header("X-Manage-Token")) {
    parts.manage_token = req.get_header_value("X-Manage-Token");
  }
  absl::StatusOr<std::string> request_bytes = BuildRequest(route, parts);
  if (!request_bytes.ok()) {
    SetError(res, 400,
             StatusJson(static_cast<int>(request_bytes.status().code()),
                        request_bytes.status().message()));
    Record(route.path_template, req.method, res.status, start);
    return;
  }
  if (route.server_streaming) {
    Stream(match, req, res, *std::move(request_bytes), start, std::move(slot));
  } else {
    Forward(match, req, res, *std::move(request_bytes), start, std::move(slot));
  }
}

void Gateway::Impl::SetCallMetadata(const httplib::Request& req,
                                    grpc::ClientContext* context) {
  std::string authorization = req.get_header_value("Authorization");
  if (!authorization.empty()) {
    context->AddMetadata("authorization", authorization);
  }
  // The client's address for the services' per-address rate limits; they
  // believe it only from proxies in their ADMIT_TRUSTED_PROXIES.
  std::string forwarded = req.get_header_value("X-Forwarded-For");
  context->AddMetadata("x-forwarded-for",
                       forwarded.empty()
                           ? req.remote_addr
                           : absl::StrCat(forwarded, ", ", req.remote_addr));
  std::string request_id = req.get_header_value("X-Request-Id");
  if (!request_id.empty() && request_id.size() <= 128) {
    context->AddMetadata("x-request-id", request_id);
  }
}

void Gateway::Impl::WriteGrpcError(httplib::Response& res,
                                   const grpc::Status& status) {
  HttpError error =
      ErrorFromGrpc(static_cast<int>(status.error_code()),
                    status.error_message(), status.error_details());
  if (error.retry_after_seconds.has_value()) {
    res.set_header("Retry-After", std::to_string(*error.retry_after_seconds));
  }
  SetError(res, error.http_status, error.json);
}

void Gateway::Impl::Forward(const RouteMatch& match,
                            const httplib::Request& req, httplib::Response& res,
                            std::string request_bytes,
                            std::chrono::steady_clock::time_point start,
                            std::shared_ptr<void> /*in_flight_slot*/) {
  const Route& route = *match.route;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       options.unary_timeout);
  SetCallMetadata(req, &context);
  grpc::ByteBuffer request = ToByteBuffer(request_bytes);
  grpc::ByteBuffer response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stubs.at(route.method->service()->full_name())
      ->UnaryCall(&context, route.grpc_path, grpc::StubOptions(), &request,
                  &response, [&](grpc::Status s) {
                    std::lock_guard<std::mutex> lock(mu);
                    status = std::move(s);
                    done = true;
                    cv.notify_one();
                  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  if (!status.ok()) {
    WriteGrpcError(res, status);
  } else {
    absl::StatusOr<std::string> body =
        ResponseBody(route, FromByteBuffer(response));
    if (!body.ok()) {
      log::Error("cannot map an answer", {{"route", route.path_template},
                                          {"error", body.status().ToString()}});
      SetError(res, 500, StatusJson(13, "cannot map the service's answer"));
    } else {
      res.status = 200;
      res.set_content(*body, route.response_body.empty()
                                 ? kJson
                                 : "application/octet-stream");
    }
  }
  Record(route.path_template, req.method, res.status, start);
}

namespace {

// One forwarded server stream, driven from the connection's thread with a
// completion queue of its own; one operation outstanding at a time.
class StreamCall {
 public:
  StreamCall() = default;
  ~StreamCall() {
    if (call_ != nullptr && !finished_) {
      context_.TryCancel();
      if (read_pending_) Next(nullptr);
      grpc::Status ignored;
      call_->Finish(&ignored, this);
      Next(nullptr);
    }
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  grpc::ClientContext& context() { return context_; }

  // Starts the call and sends the one request. false: the call failed at
  // once (Finish() has the status).
  bool Start(grpc::GenericStub* stub, const std::string& method,
             const std::string& request_bytes) {
    call_ = stub->PrepareCall(&context_, method, &cq_);
    call_->StartCall(this);
    if (!Next(nullptr)) return false;
    grpc::ByteBuffer request = ToByteBuffer(request_bytes);
    call_->Write(request, this);
    if (!Next(nullptr)) return false;
    call_->WritesDone(this);
    return Next(nullptr);
  }

  enum class ReadResult { kMessage, kEnd, kTimeout };
  // Waits up to `wait` for the next message (kept across kTimeout: the read
  // stays outstanding). kEnd: the stream ended, see Finish().
  ReadResult Read(std::chrono::milliseconds wait, std::string* message) {
    if (!read_pending_) {
      call_->Read(&buffer_, this);
      read_pending_ = true;
    }
    void* tag;
    bool ok = false;
    auto deadline = std::chrono::system_clock::now() + wait;
    grpc::CompletionQueue::NextStatus got = cq_.AsyncNext(&tag, &ok, deadline);
    if (got == grpc::CompletionQueue::TIMEOUT) return ReadResult::kTimeout;
    read_pending_ = false;
    if (got != grpc::CompletionQueue::GOT_EVENT || !ok) return ReadResult::kEnd;
    *message = FromByteBuffer(buffer_);
    return ReadResult::kMessage;
  }

  grpc::Status Finish() {
    if (!finished_) {
      if (read_pending_) {
        Next(nullptr);
        read_pending_ = false;
      }
      call_->Finish(&status_, this);
      Next(nullptr);
      finished_ = true;
    }
    return status_;
  }

 private:
  bool Next(void**) {
    void* tag;
    bool ok = false;
    if (!cq_.Next(&tag, &ok)) return false;
    return ok;
  }

  grpc::ClientContext context_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  grpc::ByteBuffer buffer_;
  grpc::Status status_;
  bool read_pending_ = false;
  bool finished_ = false;
};

std::string AttachmentName(const RouteMatch& match, const Route& route) {
  std::string name;
  for (const auto& [field, value] : match.bindings) {
    for (char c : value) {
      name += absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                      c == '_'
                  ? c
                  : '_';
    }
    name += '-';
  }
  std::string method = route.method->name();
  for (size_t i = 0; i < method.size(); ++i) {
    char c = method[i];
    if (absl::ascii_isupper(static_cast<unsigned char>(c))) {
      if (i > 0) name += '-';
      name += absl::ascii_tolower(static_cast<unsigned char>(c));
    } else {
      name += c;
    }
  }
  return name;
}

}  // namespace

void Gateway::Impl::Stream(const RouteMatch& match, const httplib::Request& req,
                           httplib::Response& res, std::string request_bytes,
                           std::chrono::steady_clock::time_point start,
                           std::shared_ptr<void> in_flight_slot) {
  const Route& route = *match.route;
  auto call = std::make_shared<StreamCall>();
  call->context().set_deadline(std::chrono::system_clock::now() +
                               options.stream_timeout);
  SetCallMetadata(req, &call->context());
  {
    std::lock_guard<std::mutex> lock(streams_mu);
    streams.insert(&call->context());
  }
  auto unregister = std::shared_ptr<void>(nullptr, [this, call](void*) {
    std::lock_guard<std::mutex> lock(streams_mu);
    streams.erase(&call->context());
  });
  if (!serving.load()) call->context().TryCancel();

  // The first message (or the final status) decides the HTTP status: an
  // error before any message is an ordinary HTTP error.
  std::string first;
  bool have_first = false;
  if (call->Start(stubs.at(route.method->service()->full_name()).get(),
                  route.grpc_path, request_bytes)) {
    for (;;) {
      StreamCall::ReadResult r = call->Read(std::chrono::seconds(1), &first);
      if (r == StreamCall::ReadResult::kTimeout) continue;
      have_first = r == StreamCall::ReadResult::kMessage;
      break;
    }
  }
  if (!have_first) {
    grpc::Status status = call->Finish();
    if (!status.ok()) {
      WriteGrpcError(res, status);
      Record(route.path_template, req.method, res.status, start);
      return;
    }
  }
  const bool sse = route.response_body.empty();
  std::string content_type = "text/event-stream";
  if (!sse) {
    content_type = route.response_body == "csv" ? "text/csv; charset=utf-8"
                                                : "application/octet-stream";
    std::string extension = route.response_body == "csv" ? ".csv" : ".bin";
    res.set_header("Content-Disposition",
                   absl::StrCat("attachment; filename=\"",
                                AttachmentName(match, route), extension, "\""));
  } else {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
  }
  res.status = 200;
  Record(route.path_template, req.method, 200, start);

  // Chunk producer: called by cpp-httplib until done() or false.
  struct State {
    std::string pending;
    bool have_pending = false;
    bool ended = false;
    std::chrono::steady_clock::time_point last_write;
  };
  auto state = std::make_shared<State>();
  state->pending = std::move(first);
  state->have_pending = have_first;
  state->ended = !have_first;
  state->last_write = std::chrono::steady_clock::now();
  const Route* route_ptr = &route;
  auto heartbeat = options.sse_heartbeat;
  res.set_chunked_content_provider(
      content_type,
      [this, call, state, route_ptr, sse, heartbeat](size_t,
                                                     httplib::DataSink& sink) {
        auto emit = [&](const std::string& message) -> bool {
          absl::StatusOr<std::string> body = ResponseBody(*route_ptr, message);
          if (!body.ok()) return false;
          std::string chunk =
              sse ? absl::StrCat("data: ", *body, "\n\n") : *std::move(body);
          if (chunk.empty()) return true;
          state->last_write = std::chrono::steady_clock::now();
          return sink.write(chunk.data(), chunk.size());
        };
        if (state->have_pending) {
          state->have_pending = false;
          return emit(state->pending);
        }
        if (!state->ended) {
          std::string message;
          StreamCall::ReadResult r =
              call->Read(std::chrono::seconds(1), &message);
          if (r == StreamCall::ReadResult::kMessage) return emit(message);
          if (r == StreamCall::ReadResult::kTimeout) {
            if (sse && std::chrono::steady_clock::now() - state->last_write >=
                           heartbeat) {
              state->last_write = std::chrono::steady_clock::now();
              static const char kPing[] = ": ping\n\n";
              if (!sink.write(kPing, sizeof(kPing) - 1)) {
                call->context().TryCancel();
                return false;
              }
            } else if (!sink.is_writable()) {
              call->context().TryCancel();
              return false;
            }
            return true;
          }
          state->ended = true;
        }
        grpc::Status status = call->Finish();
        if (!status.ok()) {
          if (!sse) return false;  // cut the body: the file is incomplete
          HttpError error =
              ErrorFromGrpc(static_cast<int>(status.error_code()),
                            status.error_message(), status.error_details());
          std::string chunk =
              absl::StrCat("event: error\ndata: ", error.json, "\n\n");
          sink.write(chunk.data(), chunk.size());
        }
        sink.done();
        return true;
      },
      [call, unregister, in_flight_slot](bool) {});
}

Gateway::Gateway(GatewayOptions options, const RouteTable* routes,
                 std::map<std::string, std::shared_ptr<grpc::Channel>> backends,
                 prometheus::Registry* registry)
    : impl_(std::make_unique<Impl>(std::move(options), routes,
                                   std::move(backends), registry)) {}

Gateway::~Gateway() { Shutdown(); }

absl::Status Gateway::Start() {
  Impl& impl = *impl_;
  for (const Route& route : impl.routes->routes()) {
    const std::string& service = route.method->service()->full_name();
    auto it = impl.channels.find(service);
    if (it == impl.channels.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("no backend for ", service));
    }
    if (impl.stubs.find(service) == impl.stubs.end()) {
      impl.stubs[service] = std::make_unique<grpc::GenericStub>(it->second);
    }
  }
  if (absl::Status s = impl.LoadPages(); !s.ok()) return s;
  std::string host;
  int port = 0;
  if (!SplitHostPort(impl.options.listen, &host, &port)) {
    return absl::InvalidArgumentError(absl::StrCat("ADMIT_GATEWAY_LISTEN: \"",
                                                   impl.options.listen,
                                                   "\" is not host:port"));
  }
  httplib::Server& server = impl.server;
  size_t threads = static_cast<size_t>(impl.options.threads);
  server.new_task_queue = [threads] {
    return new httplib::ThreadPool(threads);
  };
  server.set_payload_max_length(
      static_cast<size_t>(impl.options.max_body_bytes));
  server.set_read_timeout(impl.options.read_timeout);
  server.set_write_timeout(impl.options.write_timeout);
  // Connections are reused until idle (the default of 5 requests would make
  // browsers and load balancers reconnect all the time).
  // SO_REUSEADDR only. cpp-httplib 0.11 sets SO_REUSEPORT instead, which
  // lets a second gateway (or anything else) bind the same port and take
  // half of its connections, and whose accepted connections, once in
  // TIME_WAIT, keep the port from being bound again after a stop.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.set_keep_alive_max_count(100000);
  server.set_keep_alive_timeout(
      std::max<time_t>(1, std::chrono::duration_cast<std::chrono::seconds>(
                              impl.options.idle_timeout)
                              .count()));
  auto handler = [&impl](const httplib::Request& req, httplib::Response& res) {
    impl.Handle(req, res);
  };
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Patch(".*", handler);
  server.Delete(".*", handler);
  server.Options(".*", handler);
  // Answers cpp-httplib makes itself (413, 400 for a malformed request, 414)
  // get a google.rpc.Status body too.
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [&impl](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        int code = 2;  // UNKNOWN
        std::string message = "request refused";
        if (res.status == 413) {
          code = 3;
          message = absl::StrCat("request body larger than ",
                                 impl.options.max_body_bytes, " bytes");
        } else if (res.status == 400) {
          code = 3;
          message = "malformed HTTP request";
        } else if (res.status == 414) {
          code = 3;
          message = "request URI too long";
        }
        res.set_content(StatusJson(code, message), kJson);
        impl.Record("unmatched", req.method, res.status,
                    std::chrono::steady_clock::now());
        return httplib::Server::HandlerResponse::Handled;
      }));
  bool bound = port == 0 ? (port = server.bind_to_any_port(host)) > 0
                         : server.bind_to_port(host, port);
  if (!bound) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", impl.options.listen));
  }
  port_ = port;
  listener_ = std::thread([&server] { server.listen_after_bind(); });
  return absl::OkStatus();
}

void Gateway::Shutdown() {
  if (!impl_) return;
  impl_->serving.store(false);
  {
    std::lock_guard<std::mutex> lock(impl_->streams_mu);
    for (grpc::ClientContext* context : impl_->streams) context->TryCancel();
  }
  impl_->server.stop();
  if (listener_.joinable()) listener_.join();
}

}  // namespace admit::gateway
