// Email templates, loaded from files at start-up
// (ADMIT_CONFIRMATION_TEMPLATE_DIR).
//
// Per kind K (confirmation, promotion, waitlist, ticket) three files:
//   K.subject.txt   one line (trailing whitespace trimmed)
//   K.txt           the text/plain part
//   K.html          the text/html part
// with {{placeholder}} substitution: a name of [a-z_]. Values are inserted as
// is into the subject and text, HTML-escaped into the html part. Which names
// a kind may use is fixed (Placeholders()); an unknown name, an unclosed
// "{{", a missing file, or a ticket html without {{qr_image_src}} is an
// error at load time, so a bad template stops the service at start-up, not
// at the first email.
//
// Thread safety: a loaded TemplateSet is immutable.
#ifndef ADMIT_SERVICES_CONFIRMATION_TEMPLATES_H_
#define ADMIT_SERVICES_CONFIRMATION_TEMPLATES_H_

#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/confirmation/outbox_payload.h"

namespace admit::confirmation {

// Placeholder values by name.
using TemplateValues = std::map<std::string, std::string, std::less<>>;

struct RenderedEmail {
  std::string subject;
  std::string text;
  std::string html;
};

// Escapes & < > " ' for HTML text and attribute values.
std::string HtmlEscape(absl::string_view text);

class TemplateSet {
 public:
  // The names `kind`'s templates may use.
  static const std::set<std::string, std::less<>>& Placeholders(
      MessageKind kind);

  // Loads and checks every kind's three files from `dir`. INVALID_ARGUMENT
  // or NOT_FOUND naming the file (and the placeholder) otherwise.
  static absl::StatusOr<TemplateSet> Load(const std::string& dir);
  // The same from strings (tests): files[name] = content, names as above.
  static absl::StatusOr<TemplateSet> FromFiles(
      const std::map<std::string, std::string>& files);

  // Renders `kind`. A placeholder without a value renders as "" (the
  // composer supplies every name of Placeholders(kind)).
  RenderedEmail Render(MessageKind kind, const TemplateValues& values) const;

 private:
  struct Segment {
    bool placeholder = false;
    std::string text;  // literal text, or the placeholder's name
  };
  using Template = std::vector<Segment>;
  struct KindTemplates {
    Template subject, text, html;
  };

  static absl::StatusOr<Template> Parse(
      absl::string_view file, absl::string_view content,
      const std::set<std::string, std::less<>>& allowed);
  static std::string Expand(const Template& t, const TemplateValues& values,
                            bool html);

  std::array<KindTemplates, 4> kinds_;
};

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_TEMPLATES_H_
