#include "services/confirmation/templates.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace admit::confirmation {
namespace {

constexpr std::array<MessageKind, 4> kKinds = {
    MessageKind::kConfirmation, MessageKind::kPromotion, MessageKind::kWaitlist,
    MessageKind::kTicket};

size_t Index(MessageKind kind) { return static_cast<size_t>(kind); }

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

const std::set<std::string, std::less<>>& TemplateSet::Placeholders(
    MessageKind kind) {
  static const auto* const kSets = [] {
    const std::set<std::string, std::less<>> common = {
        "attendee_name", "event_name",      "event_starts",
        "event_ends",    "event_time_zone", "ticket_type"};
    auto with = [&common](std::initializer_list<const char*> extra) {
      auto s = common;
      for (const char* name : extra) s.insert(name);
      return s;
    };
    return new std::array<std::set<std::string, std::less<>>, 4>{
        with({"confirmation_link", "confirm_by"}),
        with({"confirmation_link", "confirm_by"}),
        with({"waitlist_position"}),
        with({"ticket_code", "qr_image_src"}),
    };
  }();
  return (*kSets)[Index(kind)];
}

absl::StatusOr<TemplateSet::Template> TemplateSet::Parse(
    absl::string_view file, absl::string_view content,
    const std::set<std::string, std::less<>>& allowed) {
  Template t;
  size_t pos = 0;
  while (pos < content.size()) {
    const size_t open = content.find("{{", pos);
    if (open == absl::string_view::npos) {
      t.push_back({false, std::string(content.substr(pos))});
      break;
    }
    if (open > pos)
      t.push_back({false, std::string(content.substr(pos, open - pos))});
    const size_t close = content.find("}}", open + 2);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("template ", file, ": \"{{\" without \"}}\""));
    }
    std::string name(
        absl::StripAsciiWhitespace(content.substr(open + 2, close - open - 2)));
    if (!allowed.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "template ", file, ": unknown placeholder {{", name, "}}"));
    }
    t.push_back({true, std::move(name)});
    pos = close + 2;
  }
  return t;
}

absl::StatusOr<TemplateSet> TemplateSet::FromFiles(
    const std::map<std::string, std::string>& files) {
  TemplateSet set;
  for (MessageKind kind : kKinds) {
    const auto& allowed = Placeholders(kind);
    KindTemplates& k = set.kinds_[Index(kind)];
    const std::string base(KindName(kind));
    struct Part {
      std::string file;
      Template* target;
    };
    for (const Part& part :
         {Part{base + ".subject.txt", &k.subject}, Part{base + ".txt", &k.text},
          Part{base + ".html", &k.html}}) {
      auto it = files.find(part.file);
      if (it == files.end()) {
        return absl::NotFoundError(
            absl::StrCat("template ", part.file, " is missing"));
      }
      absl::string_view content = it->second;
      if (part.target == &k.subject) {
        content = absl::StripAsciiWhitespace(content);
        if (content.find('\n') != absl::string_view::npos) {
          return absl::InvalidArgumentError(
              absl::StrCat("template ", part.file, ": more than one line"));
        }
      }
      auto parsed = Parse(part.file, content, allowed);
      if (!parsed.ok()) return parsed.status();
      *part.target = *std::move(parsed);
    }
    if (kind == MessageKind::kTicket) {
      bool has_image = false;
      for (const Segment& s : k.html) {
        has_image |= s.placeholder && s.text == "qr_image_src";
      }
      if (!has_image) {
        return absl::InvalidArgumentError(
            "template ticket.html: must show the QR code ({{qr_image_src}})");
      }
    }
  }
  return set;
}

absl::StatusOr<TemplateSet> TemplateSet::Load(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (MessageKind kind : kKinds) {
    const std::string base(KindName(kind));
    for (const char* suffix : {".subject.txt", ".txt", ".html"}) {
      const std::string name = base + suffix;
      std::ifstream in(dir + "/" + name, std::ios::binary);
      if (!in) {
        return absl::NotFoundError(
            absl::StrCat("cannot read template ", dir, "/", name));
      }
      std::ostringstream content;
      content << in.rdbuf();
      files[name] = content.str();
    }
  }
  return FromFiles(files);
}

std::string TemplateSet::Expand(const Template& t, const TemplateValues& values,
                                bool html) {
  std::string out;
  for (const Segment& s : t) {
    if (!s.placeholder) {
      out += s.text;
      continue;
    }
    auto it = values.find(s.text);
    if (it == values.end()) continue;
    out += html ? HtmlEscape(it->second) : it->second;
  }
  return out;
}

RenderedEmail TemplateSet::Render(MessageKind kind,
                                  const TemplateValues& values) const {
  const KindTemplates& k = kinds_[Index(kind)];
  return {Expand(k.subject, values, false), Expand(k.text, values, false),
          Expand(k.html, values, true)};
}

}  // namespace admit::confirmation
