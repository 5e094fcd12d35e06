#include "services/gateway/route_table.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/api/annotations.pb.h"
#include "google/api/http.pb.h"

namespace admit::gateway {

namespace {

namespace pb = google::protobuf;

// Resolves a dotted field path against `message`; every segment but the last
// must be a singular message field.
const pb::FieldDescriptor* ResolveFieldPath(const pb::Descriptor* message,
                                            absl::string_view path) {
  const pb::FieldDescriptor* field = nullptr;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (message == nullptr) return nullptr;
    field = message->FindFieldByName(std::string(part));
    if (field == nullptr) return nullptr;
    message = field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE &&
                      !field->is_repeated()
                  ? field->message_type()
                  : nullptr;
  }
  return field;
}

absl::Status AddRule(const pb::MethodDescriptor* method,
                     const google::api::HttpRule& rule,
                     std::vector<Route>* routes) {
  Route route;
  std::string path;
  switch (rule.pattern_case()) {
    case google::api::HttpRule::kGet:
      route.http_method = "GET";
      path = rule.get();
      break;
    case google::api::HttpRule::kPut:
      route.http_method = "PUT";
      path = rule.put();
      break;
    case google::api::HttpRule::kPost:
      route.http_method = "POST";
      path = rule.post();
      break;
    case google::api::HttpRule::kDelete:
      route.http_method = "DELETE";
      path = rule.delete_();
      break;
    case google::api::HttpRule::kPatch:
      route.http_method = "PATCH";
      path = rule.patch();
      break;
    case google::api::HttpRule::kCustom:
      route.http_method = rule.custom().kind();
      path = rule.custom().path();
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          method->full_name(), ": google.api.http without a path"));
  }
  route.path_template = path;
  route.body = rule.body();
  route.response_body = rule.response_body();
  route.method = method;
  route.grpc_path =
      absl::StrCat("/", method->service()->full_name(), "/", method->name());
  route.server_streaming = method->server_streaming();
  if (method->client_streaming()) {
    return absl::InvalidArgumentError(absl::StrCat(
        method->full_name(), ": client streams are not served over HTTP"));
  }
  if (absl::Status s = ParsePathTemplate(path, &route); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(method->full_name(), ": ", s.message()));
  }
  for (const Route::Segment& segment : route.segments) {
    if (segment.kind != Route::Segment::Kind::kVariable) continue;
    const pb::FieldDescriptor* field =
        ResolveFieldPath(method->input_type(), segment.text);
    if (field == nullptr || field->is_repeated() ||
        field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::InvalidArgumentError(
          absl::StrCat(method->full_name(), ": path variable {", segment.text,
                       "} is not a singular scalar field of ",
                       method->input_type()->full_name()));
    }
  }
  if (!route.body.empty() && route.body != "*" &&
      method->input_type()->FindFieldByName(route.body) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        method->full_name(), ": body \"", route.body, "\" names no field"));
  }
  if (!route.response_body.empty() &&
      method->output_type()->FindFieldByName(route.response_body) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(method->full_name(), ": response_body \"",
                     route.response_body, "\" names no field"));
  }
  routes->push_back(std::move(route));
  for (const google::api::HttpRule& extra : rule.additional_bindings()) {
    if (absl::Status s = AddRule(method, extra, routes); !s.ok()) return s;
  }
  return absl::OkStatus();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool PercentDecode(absl::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = HexValue(in[i + 1]);
    int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return false;
    out->push_back(c);
    i += 2;
  }
  return true;
}

absl::Status ParsePathTemplate(absl::string_view path_template, Route* route) {
  route->segments.clear();
  route->verb.clear();
  if (path_template.empty() || path_template[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "path template \"", path_template, "\" does not start with '/'"));
  }
  absl::string_view rest = path_template.substr(1);
  // The verb follows the last ':' that is not inside a variable.
  size_t last_slash = rest.rfind('/');
  size_t tail_start =
      last_slash == absl::string_view::npos ? 0 : last_slash + 1;
  size_t close = rest.rfind('}');
  size_t colon = rest.rfind(':');
  if (colon != absl::string_view::npos && colon >= tail_start &&
      (close == absl::string_view::npos || colon > close)) {
    route->verb = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (route->verb.empty()) {
      return absl::InvalidArgumentError("empty verb after ':'");
    }
  }
  for (absl::string_view part : absl::StrSplit(rest, '/')) {
    Route::Segment segment;
    if (part.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "path template \"", path_template, "\" has an empty segment"));
    }
    if (part == "**") {
      return absl::InvalidArgumentError("\"**\" is not supported");
    }
    if (part == "*") {
      segment.kind = Route::Segment::Kind::kWildcard;
    } else if (part.front() == '{') {
      if (part.back() != '}') {
        return absl::InvalidArgumentError(
            absl::StrCat("variable \"", part, "\" spans several segments"));
      }
      absl::string_view inner = part.substr(1, part.size() - 2);
      size_t eq = inner.find('=');
      if (eq != absl::string_view::npos) {
        if (inner.substr(eq + 1) != "*") {
          return absl::InvalidArgumentError(
              absl::StrCat("variable \"", part,
                           "\": only {field} and {field=*} are supported"));
        }
        inner = inner.substr(0, eq);
      }
      if (inner.empty()) {
        return absl::InvalidArgumentError("a variable without a field");
      }
      segment.kind = Route::Segment::Kind::kVariable;
      segment.text = std::string(inner);
    } else {
      if (part.find_first_of("{}*") != absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("segment \"", part, "\" is not supported"));
      }
      segment.kind = Route::Segment::Kind::kLiteral;
      segment.text = std::string(part);
    }
    route->segments.push_back(std::move(segment));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RouteTable>> RouteTable::FromServices(
    const std::vector<std::string>& service_names) {
  auto table = std::unique_ptr<RouteTable>(new RouteTable());
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  for (const std::string& name : service_names) {
    const pb::ServiceDescriptor* service = pool->FindServiceByName(name);
    if (service == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("service ", name, " is not in the descriptor pool"));
    }
    for (int i = 0; i < service->method_count(); ++i) {
      const pb::MethodDescriptor* method = service->method(i);
      if (!method->options().HasExtension(google::api::http)) continue;
      if (absl::Status s =
              AddRule(method, method->options().GetExtension(google::api::http),
                      &table->routes_);
          !s.ok()) {
        return s;
      }
    }
  }
  std::set<std::string> seen;
  for (const Route& route : table->routes_) {
    std::string key = route.http_method + " ";
    for (const Route::Segment& s : route.segments) {
      absl::StrAppend(&key, "/",
                      s.kind == Route::Segment::Kind::kLiteral ? s.text : "*");
    }
    absl::StrAppend(&key, ":", route.verb);
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(route.method->full_name(), ": ", route.http_method, " ",
                       route.path_template, " is also another method's route"));
    }
  }
  return table;
}

RouteMatch RouteTable::Match(absl::string_view http_method,
                             absl::string_view path) const {
  RouteMatch result;
  if (path.empty() || path[0] != '/') return result;
  path.remove_prefix(1);
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  std::string decoded;
  for (const Route& route : routes_) {
    if (route.segments.size() != parts.size()) continue;
    std::vector<std::pair<std::string, std::string>> bindings;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      absl::string_view part = parts[i];
      if (i + 1 == parts.size()) {
        // The last segment carries the verb, if the route has one; a route
        // without a verb never matches a path that ends in ":something" of a
        // route with that verb (checked by trying every route).
        if (!route.verb.empty()) {
          std::string suffix = absl::StrCat(":", route.verb);
          if (part.size() <= suffix.size() ||
              part.substr(part.size() - suffix.size()) != suffix) {
            ok = false;
            break;
          }
          part.remove_suffix(suffix.size());
        }
      }
      const Route::Segment& segment = route.segments[i];
      switch (segment.kind) {
        case Route::Segment::Kind::kLiteral:
          ok = part == segment.text;
          break;
        case Route::Segment::Kind::kWildcard:
          ok = !part.empty();
          break;
        case Route::Segment::Kind::kVariable:
          ok = !part.empty() && PercentDecode(part, &decoded) &&
               decoded.find('/') == std::string::npos;
          // A verbless route must not swallow another route's verb.
          if (ok && route.verb.empty() && i + 1 == parts.size() &&
              part.find(':') != absl::string_view::npos) {
            ok = false;
          }
          if (ok) bindings.emplace_back(segment.text, decoded);
          break;
      }
    }
    if (!ok) continue;
    if (route.http_method != http_method) {
      result.allowed_methods.push_back(route.http_method);
      continue;
    }
    result.route = &route;
    result.bindings = std::move(bindings);
    result.allowed_methods.clear();
    return result;
  }
  return result;
}

}  // namespace admit::gateway
