// RFC 4180 CSV for ExportRegistrations: CRLF line endings; a field with a
// comma, a double quote, CR or LF is enclosed in double quotes with its
// double quotes doubled; a field starting with '=', '+', '-' or '@' gets a
// leading single quote (') so that spreadsheets show it instead of running
// it as a formula (the quote is part of the field, so the quoting rule then
// applies to the prefixed text). Bytes are copied as they are (UTF-8 in,
// UTF-8 out).
#ifndef ADMIT_SERVICES_REGISTRATION_CSV_WRITER_H_
#define ADMIT_SERVICES_REGISTRATION_CSV_WRITER_H_

#include <initializer_list>
#include <string>
#include <string_view>

namespace admit::registration {

// Appends `field`, escaped as above, to `out`.
void AppendCsvField(std::string& out, std::string_view field);

// Appends the fields separated by commas, then CRLF.
void AppendCsvRow(std::string& out,
                  std::initializer_list<std::string_view> fields);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_CSV_WRITER_H_
