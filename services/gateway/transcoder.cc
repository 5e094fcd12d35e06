#include "services/gateway/transcoder.h"

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/code.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace admit::gateway {

namespace {

namespace pb = google::protobuf;

constexpr char kManageTokenField[] = "manage_token";

std::unique_ptr<pb::Message> NewMessage(const pb::Descriptor* type) {
  const pb::Message* prototype =
      pb::MessageFactory::generated_factory()->GetPrototype(type);
  return std::unique_ptr<pb::Message>(prototype->New());
}

pb::util::JsonParseOptions ParseOptions() {
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  return options;
}

// `text` as a JSON string literal.
std::string JsonQuote(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20) {
          static const char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  return out;
}

const pb::FieldDescriptor* FindField(const pb::Descriptor* message,
                                     absl::string_view name) {
  for (int i = 0; i < message->field_count(); ++i) {
    const pb::FieldDescriptor* f = message->field(i);
    if (f->name() == name || f->json_name() == name) return f;
  }
  return nullptr;
}

// The JSON value for a query/path string bound to `field`.
std::string JsonValueFor(const pb::FieldDescriptor* field,
                         absl::string_view value) {
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      if (value == "true" || value == "1") return "true";
      if (value == "false" || value == "0") return "false";
      return JsonQuote(value);  // refused by the parser, with its message
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      if (!value.empty() &&
          value.find_first_not_of("0123456789") == absl::string_view::npos &&
          value.size() < 10) {
        return std::string(value);
      }
      return JsonQuote(value);
    default:
      // Numbers as strings are valid in the JSON mapping; strings, bytes
      // (base64) and well-known types (Duration "2s", Timestamp) are strings.
      return JsonQuote(value);
  }
}

// Merges `value` into the field at the dotted `path` of `root`, through the
// JSON mapping. NOT_FOUND when the path names no field.
absl::Status MergeField(pb::Message* root, absl::string_view path,
                        absl::string_view value) {
  const pb::Descriptor* type = root->GetDescriptor();
  std::vector<absl::string_view> parts = absl::StrSplit(path, '.');
  std::string open;
  std::string close;
  const pb::FieldDescriptor* field = nullptr;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (type == nullptr) return absl::NotFoundError("no such field");
    field = FindField(type, parts[i]);
    if (field == nullptr) return absl::NotFoundError("no such field");
    absl::StrAppend(&open, "{", JsonQuote(field->name()), ":");
    close += "}";
    bool last = i + 1 == parts.size();
    if (!last) {
      if (field->is_repeated() ||
          field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        return absl::NotFoundError("no such field");
      }
      type = field->message_type();
    }
  }
  if (field->is_map()) return absl::NotFoundError("map fields not supported");
  std::string leaf = JsonValueFor(field, value);
  if (field->is_repeated()) leaf = absl::StrCat("[", leaf, "]");
  std::string json = absl::StrCat(open, leaf, close);
  std::unique_ptr<pb::Message> part = NewMessage(root->GetDescriptor());
  pb::util::Status parsed =
      pb::util::JsonStringToMessage(json, part.get(), ParseOptions());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid value for \"", path, "\": ", parsed.message().as_string()));
  }
  root->MergeFrom(*part);
  return absl::OkStatus();
}

absl::Status ParseJsonInto(absl::string_view body, pb::Message* message) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(body);
  if (trimmed.empty()) return absl::OkStatus();
  pb::util::Status parsed = pb::util::JsonStringToMessage(
      std::string(trimmed), message, ParseOptions());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request body is not a valid ", message->GetDescriptor()->full_name(),
        " in JSON: ", parsed.message().as_string()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> BuildRequest(const Route& route,
                                         const HttpRequestParts& parts) {
  const pb::Descriptor* input = route.method->input_type();
  std::unique_ptr<pb::Message> request = NewMessage(input);
  if (route.body == "*") {
    if (absl::Status s = ParseJsonInto(parts.body, request.get()); !s.ok()) {
      return s;
    }
  } else {
    if (!route.body.empty()) {
      const pb::FieldDescriptor* field = input->FindFieldByName(route.body);
      if (field == nullptr || field->is_repeated() ||
          field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        return absl::InternalError("body field is not a singular message");
      }
      std::unique_ptr<pb::Message> sub = NewMessage(field->message_type());
      if (absl::Status s = ParseJsonInto(parts.body, sub.get()); !s.ok()) {
        return s;
      }
      request->GetReflection()
          ->MutableMessage(request.get(), field)
          ->CopyFrom(*sub);
    } else if (!absl::StripAsciiWhitespace(parts.body).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(route.http_method, " ",
                                                     route.path_template,
                                                     " takes no request body"));
    }
    for (const auto& [name, value] : parts.query) {
      if (name == kManageTokenField || name == "manageToken") continue;
      if (!route.body.empty()) {
        // Fields under the body field come from the body only.
        absl::string_view head = name;
        head = head.substr(0, head.find('.'));
        const pb::FieldDescriptor* top = FindField(input, head);
        if (top != nullptr && top->name() == route.body) continue;
      }
      absl::Status s = MergeField(request.get(), name, value);
      if (absl::IsNotFound(s)) continue;  // unknown parameters are ignored
      if (!s.ok()) return s;
    }
  }
  for (const auto& [path, value] : parts.bindings) {
    if (absl::Status s = MergeField(request.get(), path, value); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("path variable {", path, "}: ", s.message()));
    }
  }
  if (parts.manage_token.has_value()) {
    const pb::FieldDescriptor* field =
        input->FindFieldByName(kManageTokenField);
    if (field != nullptr &&
        field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING &&
        !field->is_repeated()) {
      request->GetReflection()->SetString(request.get(), field,
                                          *parts.manage_token);
    }
  }
  std::string bytes;
  if (!request->SerializeToString(&bytes)) {
    return absl::InternalError("cannot serialize the request");
  }
  return bytes;
}

absl::StatusOr<std::string> ResponseBody(const Route& route,
                                         absl::string_view message_bytes) {
  std::unique_ptr<pb::Message> response =
      NewMessage(route.method->output_type());
  if (!response->ParseFromArray(message_bytes.data(),
                                static_cast<int>(message_bytes.size()))) {
    return absl::InternalError(
        absl::StrCat("the service's answer is not a ",
                     route.method->output_type()->full_name()));
  }
  const pb::Message* printed = response.get();
  if (!route.response_body.empty()) {
    const pb::FieldDescriptor* field =
        route.method->output_type()->FindFieldByName(route.response_body);
    if (field == nullptr) return absl::InternalError("no response_body field");
    if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING &&
        !field->is_repeated()) {
      return response->GetReflection()->GetString(*response, field);
    }
    if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE &&
        !field->is_repeated()) {
      printed = &response->GetReflection()->GetMessage(*response, field);
    }
  }
  std::string json;
  pb::util::Status s = pb::util::MessageToJsonString(*printed, &json);
  if (!s.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print the answer: ", s.message().as_string()));
  }
  return json;
}

int HttpStatusForCode(int grpc_code) {
  switch (static_cast<google::rpc::Code>(grpc_code)) {
    case google::rpc::OK:
      return 200;
    case google::rpc::CANCELLED:
      return 499;
    case google::rpc::UNKNOWN:
      return 500;
    case google::rpc::INVALID_ARGUMENT:
      return 400;
    case google::rpc::DEADLINE_EXCEEDED:
      return 504;
    case google::rpc::NOT_FOUND:
      return 404;
    case google::rpc::ALREADY_EXISTS:
      return 409;
    case google::rpc::PERMISSION_DENIED:
      return 403;
    case google::rpc::UNAUTHENTICATED:
      return 401;
    case google::rpc::RESOURCE_EXHAUSTED:
      return 429;
    case google::rpc::FAILED_PRECONDITION:
      return 412;
    case google::rpc::ABORTED:
      return 409;
    case google::rpc::OUT_OF_RANGE:
      return 400;
    case google::rpc::UNIMPLEMENTED:
      return 501;
    case google::rpc::INTERNAL:
      return 500;
    case google::rpc::UNAVAILABLE:
      return 503;
    case google::rpc::DATA_LOSS:
      return 500;
    default:
      return 500;
  }
}

HttpError ErrorFromGrpc(int grpc_code, absl::string_view message,
                        absl::string_view status_details_bin) {
  HttpError error;
  error.http_status = HttpStatusForCode(grpc_code);
  google::rpc::Status status;
  if (!status_details_bin.empty() &&
      !status.ParseFromArray(status_details_bin.data(),
                             static_cast<int>(status_details_bin.size()))) {
    status.Clear();
  }
  status.set_code(grpc_code);
  if (!message.empty() || status.message().empty()) {
    status.set_message(std::string(message));
  }
  // Keep only details this binary can print (the JSON of an Any needs its
  // type); read RetryInfo on the way.
  google::rpc::Status kept;
  kept.set_code(status.code());
  kept.set_message(status.message());
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  for (const pb::Any& detail : status.details()) {
    absl::string_view url = detail.type_url();
    absl::string_view type = url.substr(url.rfind('/') + 1);
    if (pool->FindMessageTypeByName(std::string(type)) == nullptr) continue;
    google::rpc::RetryInfo retry;
    if (detail.Is<google::rpc::RetryInfo>() && detail.UnpackTo(&retry)) {
      int64_t seconds = retry.retry_delay().seconds();
      if (retry.retry_delay().nanos() > 0) ++seconds;
      error.retry_after_seconds = seconds < 1 ? 1 : seconds;
    }
    *kept.add_details() = detail;
  }
  std::string json;
  if (!pb::util::MessageToJsonString(kept, &json).ok()) {
    // A detail that names a known type but does not parse as it.
    kept.clear_details();
    json.clear();
    (void)pb::util::MessageToJsonString(kept, &json);
  }
  error.json = std::move(json);
  return error;
}

}  // namespace admit::gateway
