#include "services/registration/csv_writer.h"

namespace admit::registration {

void AppendCsvField(std::string& out, std::string_view field) {
  const bool formula = !field.empty() && (field[0] == '=' || field[0] == '+' ||
                                          field[0] == '-' || field[0] == '@');
  const bool quote = field.find_first_of(",\"\r\n") != std::string_view::npos;
  if (!quote && !formula) {
    out.append(field);
    return;
  }
  if (quote) out.push_back('"');
  if (formula) out.push_back('\'');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  if (quote) out.push_back('"');
}

void AppendCsvRow(std::string& out,
                  std::initializer_list<std::string_view> fields) {
  bool first = true;
  for (std::string_view field : fields) {
    if (!first) out.push_back(',');
    first = false;
    AppendCsvField(out, field);
  }
  out.append("\r\n");
}

}  // namespace admit::registration
