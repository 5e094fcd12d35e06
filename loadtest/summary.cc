#include "loadtest/summary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace admit::loadtest {
namespace {

// Expected answers per kind of attempt (see plan.h). A duplicate email may
// win the race against its original, so OK is expected for it and
// ALREADY_EXISTS for the original (and its retries) when `contested`.
bool Expected(AttemptKind kind, bool contested, grpc::StatusCode code) {
  switch (kind) {
    case AttemptKind::kNew:
    case AttemptKind::kRetry:
      return code == grpc::StatusCode::OK ||
             (contested && code == grpc::StatusCode::ALREADY_EXISTS);
    case AttemptKind::kDuplicateEmail:
      return code == grpc::StatusCode::OK ||
             code == grpc::StatusCode::ALREADY_EXISTS;
    case AttemptKind::kInvalid:
      return code == grpc::StatusCode::INVALID_ARGUMENT;
  }
  return false;
}

std::vector<Window> Windows(const std::vector<Timing>& timings,
                            const std::vector<Outcome>& outcomes,
                            int64_t width_us, bool with_latency) {
  int64_t last = 0;
  for (const Timing& t : timings) last = std::max(last, t.done_us);
  const size_t n = static_cast<size_t>(last / width_us) + 1;
  std::vector<Window> out(n);
  std::vector<Histogram> hist(with_latency ? n : 0);
  for (size_t i = 0; i < timings.size(); ++i) {
    if (!outcomes[i].answered || timings[i].done_us < 0) continue;
    const auto w = static_cast<size_t>(timings[i].done_us / width_us);
    ++out[w].answers;
    if (with_latency) hist[w].Record(timings[i].latency_us());
  }
  for (size_t w = 0; w < n; ++w) {
    out[w].start_ms = static_cast<int64_t>(w) * width_us / 1000;
    if (with_latency) {
      out[w].p50_us = hist[w].ValueAt(50);
      out[w].p99_us = hist[w].ValueAt(99);
      out[w].max_us = hist[w].max();
    }
  }
  return out;
}

double Ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

nlohmann::json ExportJson(const ExportFacts& e) {
  return {{"ran", e.ran},
          {"code", e.code},
          {"chunks", e.chunks},
          {"rows", e.rows},
          {"csv_rows", e.csv_rows},
          {"distinct_ids", e.distinct_ids},
          {"duplicate_ids", e.duplicate_ids},
          {"header_ok", e.header_ok},
          {"bytes", e.bytes},
          {"seconds", e.seconds},
          {"rows_per_s", e.rows_per_s}};
}

void AppendExport(std::string& t, const char* label, const ExportFacts& e) {
  if (!e.ran) {
    absl::StrAppendFormat(&t, "  %-15s not run\n", label);
    return;
  }
  absl::StrAppendFormat(
      &t,
      "  %-15s %s  %d rows (%d distinct ids) in %d chunks, %.1f KiB, "
      "%.2f s: %.0f rows/s\n",
      label, e.code, e.rows, e.distinct_ids, e.chunks,
      static_cast<double>(e.bytes) / 1024.0, e.seconds, e.rows_per_s);
}

}  // namespace

const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int c = static_cast<int>(code);
  return c >= 0 && c <= 16 ? kNames[c] : "?";
}

const char* StatusName(int s) {
  static const char* const kNames[] = {"UNSPECIFIED", "PENDING_CONFIRMATION",
                                       "CONFIRMED",   "WAITLISTED",
                                       "CANCELLED",   "EXPIRED"};
  return s >= 0 && s <= 5 ? kNames[s] : "?";
}

RunSummary Summarize(const RunConfig& config, const std::vector<Attempt>& plan,
                     const std::vector<Timing>& timings,
                     const std::vector<Outcome>& outcomes) {
  RunSummary s;
  s.config = config;
  // kNew attempts whose email a kDuplicateEmail attempt reuses.
  std::vector<bool> contested(plan.size(), false);
  for (const Attempt& a : plan) {
    if (a.kind == AttemptKind::kDuplicateEmail)
      contested[static_cast<size_t>(a.original)] = true;
  }
  int64_t first = INT64_MAX, last = 0;
  for (size_t i = 0; i < timings.size(); ++i) {
    const Outcome& o = outcomes[i];
    if (!o.answered) continue;
    ++s.answered;
    first = std::min(first, timings[i].intended_us);
    last = std::max(last, timings[i].done_us);
    s.latency.Record(timings[i].latency_us());
    ++s.by_code[CodeName(o.code)];
    const AttemptKind kind = plan.empty() ? AttemptKind::kNew : plan[i].kind;
    ++s.by_kind[absl::StrCat(plan.empty() ? "call" : KindName(kind), " ",
                             CodeName(o.code))];
    bool is_contested = false;
    if (!plan.empty()) {
      const int64_t key = kind == AttemptKind::kRetry ? plan[i].original
                                                      : static_cast<int64_t>(i);
      is_contested = key >= 0 && contested[static_cast<size_t>(key)];
    }
    if (!Expected(kind, is_contested, o.code)) ++s.unexpected;
    if (o.code == grpc::StatusCode::OK) {
      ++s.ok;
      if (!plan.empty()) ++s.by_status[StatusName(o.status)];
    }
  }
  s.unexpected += static_cast<int64_t>(timings.size()) - s.answered;
  if (s.answered > 0) {
    s.wall_seconds = static_cast<double>(last - first) / 1e6;
    if (s.wall_seconds > 0) {
      s.answers_per_s = static_cast<double>(s.answered) / s.wall_seconds;
      s.ok_per_s = static_cast<double>(s.ok) / s.wall_seconds;
    }
  }
  s.per_100ms = Windows(timings, outcomes, 100'000, false);
  s.per_second = Windows(timings, outcomes, 1'000'000, true);
  return s;
}

nlohmann::json ToJson(const RunSummary& s) {
  using nlohmann::json;
  json j;
  j["config"] = {
      {"scenario", s.config.scenario}, {"target", s.config.target},
      {"event_id", s.config.event_id}, {"capacity", s.config.capacity},
      {"attempts", s.config.attempts}, {"clients", s.config.clients},
      {"rate_per_s", s.config.rate},   {"channels", s.config.channels}};
  j["answered"] = s.answered;
  j["ok"] = s.ok;
  j["unexpected"] = s.unexpected;
  j["wall_seconds"] = s.wall_seconds;
  j["answers_per_s"] = s.answers_per_s;
  j["ok_per_s"] = s.ok_per_s;
  j["latency_ms"] = {{"p50", Ms(s.latency.ValueAt(50))},
                     {"p90", Ms(s.latency.ValueAt(90))},
                     {"p99", Ms(s.latency.ValueAt(99))},
                     {"p99_9", Ms(s.latency.ValueAt(99.9))},
                     {"max", Ms(s.latency.max())},
                     {"mean", s.latency.mean() / 1000.0},
                     {"relative_error", Histogram::RelativeError()}};
  j["by_code"] = s.by_code;
  j["by_status"] = s.by_status;
  j["by_kind"] = s.by_kind;
  json tp = json::array();
  for (const Window& w : s.per_100ms) tp.push_back(w.answers);
  j["answers_per_100ms"] = tp;
  json sec = json::array();
  for (const Window& w : s.per_second) {
    sec.push_back({{"t_s", w.start_ms / 1000},
                   {"answers", w.answers},
                   {"p50_ms", Ms(w.p50_us)},
                   {"p99_ms", Ms(w.p99_us)},
                   {"max_ms", Ms(w.max_us)}});
  }
  j["per_second"] = sec;
  json v = json::array();
  for (const Violation& x : s.violations)
    v.push_back({{"check", x.check}, {"detail", x.detail}});
  j["violations"] = v;
  j["database_checked"] = s.database_checked;
  if (s.database_checked) {
    json rows;
    for (const auto& [st, n] : s.database.rows_by_status)
      rows[StatusName(st)] = n;
    j["database"] = {
        {"rows_by_status", rows},
        {"held_without_registration", s.database.held_without_registration},
        {"quotas_checked", s.database.quotas_checked}};
  }
  if (s.follow.enabled) {
    const FollowFacts& f = s.follow;
    j["confirmation"] = {{"confirm_fraction", f.confirm_fraction},
                         {"pending", f.pending},
                         {"waitlisted", f.waitlisted},
                         {"messages", f.messages},
                         {"delivered", f.delivered},
                         {"all_delivered", f.all_delivered},
                         {"delivery_seconds", f.delivery_seconds},
                         {"delivered_per_s", f.delivered_per_s},
                         {"confirm_calls", f.confirm_calls},
                         {"confirmed", f.confirmed},
                         {"confirmed_stored", f.confirmed_stored},
                         {"confirm_seconds", f.confirm_seconds},
                         {"confirm_latency_ms",
                          {{"p50", Ms(f.confirm_latency.ValueAt(50))},
                           {"p99", Ms(f.confirm_latency.ValueAt(99))},
                           {"max", Ms(f.confirm_latency.max())}}},
                         {"confirm_codes", f.confirm_codes},
                         {"tickets_checked", f.tickets_checked},
                         {"tickets_delivered", f.tickets_delivered},
                         {"ticket_seconds", f.ticket_seconds}};
  }
  if (s.organizer.enabled) {
    const OrganizerFacts& o = s.organizer;
    j["organizer"] = {{"pollers", o.pollers},
                      {"count_calls", o.count_calls},
                      {"count_latency_ms",
                       {{"p50", Ms(o.count_latency.ValueAt(50))},
                        {"p99", Ms(o.count_latency.ValueAt(99))},
                        {"max", Ms(o.count_latency.max())}}},
                      {"count_codes", o.count_codes},
                      {"watchers", o.watchers},
                      {"watchers_with_message", o.watchers_with_message},
                      {"watchers_final", o.watchers_final},
                      {"watch_messages", o.watch_messages},
                      {"messages_per_watcher_min", o.messages_min},
                      {"messages_per_watcher_max", o.messages_max},
                      {"first_message_ms",
                       {{"p50", Ms(o.first_message.ValueAt(50))},
                        {"p99", Ms(o.first_message.ValueAt(99))},
                        {"max", Ms(o.first_message.max())}}},
                      {"watch_ended_early", o.watch_end_codes},
                      {"settle_seconds", o.settle_seconds},
                      {"export_during", ExportJson(o.export_during)},
                      {"export_after", ExportJson(o.export_after)},
                      {"counts_checked", o.counts_checked},
                      {"counts_match", o.counts_match},
                      {"registrations", o.registrations},
                      {"counts_total", o.counts_total},
                      {"count_groups", o.count_groups}};
  }
  json procs = json::object();
  for (const auto& [name, p] : s.processes) {
    procs[name] = {{"pid", p.pid},
                   {"found", p.found},
                   {"cpu_seconds", p.cpu_seconds},
                   {"cpu_percent", p.cpu_percent},
                   {"peak_rss_kb", p.peak_rss_kb},
                   {"hwm_rss_kb", p.hwm_rss_kb},
                   {"cpu_percent_series", p.cpu_percent_series}};
  }
  j["processes"] = procs;
  j["proc_interval_ms"] = s.proc_interval_ms;
  return j;
}

std::string Table(const RunSummary& s) {
  std::string t;
  const RunConfig& c = s.config;
  absl::StrAppendFormat(&t, "scenario %s  target %s", c.scenario, c.target);
  if (!c.event_id.empty())
    absl::StrAppendFormat(&t, "  event %s capacity %d", c.event_id, c.capacity);
  absl::StrAppendFormat(&t, "\n  attempts %d", c.attempts);
  if (c.clients > 0) absl::StrAppendFormat(&t, "  clients %d", c.clients);
  if (c.rate > 0)
    absl::StrAppendFormat(&t, "  rate %.0f/s (open loop)", c.rate);
  absl::StrAppendFormat(&t, "  channels %d\n\n", c.channels);
  absl::StrAppendFormat(
      &t, "  answered        %d of %d (%d unexpected or unanswered)\n",
      s.answered, c.attempts, s.unexpected);
  absl::StrAppendFormat(&t, "  wall time       %.2f s\n", s.wall_seconds);
  absl::StrAppendFormat(&t, "  throughput      %.0f answers/s, %.0f OK/s\n",
                        s.answers_per_s, s.ok_per_s);
  absl::StrAppendFormat(
      &t,
      "  latency ms      p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
      Ms(s.latency.ValueAt(50)), Ms(s.latency.ValueAt(90)),
      Ms(s.latency.ValueAt(99)), Ms(s.latency.ValueAt(99.9)),
      Ms(s.latency.max()));
  t += "  by code        ";
  for (const auto& [k, v] : s.by_code)
    absl::StrAppendFormat(&t, " %s %d", k, v);
  t += "\n";
  if (!s.by_status.empty()) {
    t += "  by status      ";
    for (const auto& [k, v] : s.by_status)
      absl::StrAppendFormat(&t, " %s %d", k, v);
    t += "\n";
  }
  t += "  by attempt     ";
  for (const auto& [k, v] : s.by_kind)
    absl::StrAppendFormat(&t, " [%s] %d", k, v);
  t += "\n";
  for (const auto& [name, p] : s.processes) {
    if (!p.found) {
      absl::StrAppendFormat(&t, "  %-14s pid %d not found\n", name, p.pid);
      continue;
    }
    absl::StrAppendFormat(
        &t,
        "  %-14s pid %d  cpu %.1f s (%.0f%% of a core)  peak rss %.1f MiB\n",
        name, p.pid, p.cpu_seconds, p.cpu_percent,
        static_cast<double>(p.peak_rss_kb) / 1024.0);
  }
  if (s.database_checked) {
    t += "  stored rows    ";
    for (const auto& [st, n] : s.database.rows_by_status)
      absl::StrAppendFormat(&t, " %s %d", StatusName(st), n);
    absl::StrAppendFormat(&t, "  (held seats without a row: %d)\n",
                          s.database.held_without_registration);
  }
  if (s.follow.enabled) {
    const FollowFacts& f = s.follow;
    absl::StrAppendFormat(
        &t,
        "  emails          %d of %d (%d pending, %d waitlisted) in the "
        "Maildir %.2f s after the last answer: %.0f messages/s%s\n",
        f.delivered, f.pending + f.waitlisted, f.pending, f.waitlisted,
        f.delivery_seconds, f.delivered_per_s,
        f.all_delivered ? "" : " (deadline passed)");
    absl::StrAppendFormat(
        &t,
        "  confirmed       %d of %d calls (fraction %.2f of pending) in "
        "%.2f s; %d CONFIRMED rows stored\n",
        f.confirmed, f.confirm_calls, f.confirm_fraction, f.confirm_seconds,
        f.confirmed_stored);
    absl::StrAppendFormat(
        &t, "  confirm ms      p50 %.2f  p99 %.2f  max %.2f  codes",
        Ms(f.confirm_latency.ValueAt(50)), Ms(f.confirm_latency.ValueAt(99)),
        Ms(f.confirm_latency.max()));
    for (const auto& [k, v] : f.confirm_codes)
      absl::StrAppendFormat(&t, " %s %d", k, v);
    t += "\n";
    if (f.tickets_checked) {
      absl::StrAppendFormat(&t, "  ticket emails   %d of %d within %.2f s\n",
                            f.tickets_delivered, f.confirmed, f.ticket_seconds);
    }
  }
  if (s.organizer.enabled) {
    const OrganizerFacts& o = s.organizer;
    absl::StrAppendFormat(
        &t,
        "  counts ms       p50 %.2f  p99 %.2f  max %.2f  (%d calls from "
        "%d pollers) codes",
        Ms(o.count_latency.ValueAt(50)), Ms(o.count_latency.ValueAt(99)),
        Ms(o.count_latency.max()), o.count_calls, o.pollers);
    for (const auto& [k, v] : o.count_codes)
      absl::StrAppendFormat(&t, " %s %d", k, v);
    t += "\n";
    absl::StrAppendFormat(
        &t,
        "  watchers        %d: %d got messages (%d in all, %d-%d each), %d "
        "ended on the final counts %.2f s after the last answer\n",
        o.watchers, o.watchers_with_message, o.watch_messages, o.messages_min,
        o.messages_max, o.watchers_final, o.settle_seconds);
    absl::StrAppendFormat(&t, "  first msg ms    p50 %.2f  p99 %.2f  max %.2f",
                          Ms(o.first_message.ValueAt(50)),
                          Ms(o.first_message.ValueAt(99)),
                          Ms(o.first_message.max()));
    if (!o.watch_end_codes.empty()) {
      t += "  ended early:";
      for (const auto& [k, v] : o.watch_end_codes)
        absl::StrAppendFormat(&t, " %s %d", k, v);
    }
    t += "\n";
    AppendExport(t, "export during", o.export_during);
    AppendExport(t, "export after", o.export_after);
    if (o.counts_checked) {
      absl::StrAppendFormat(
          &t,
          "  final counts    total %d; %s the scan of %d registrations "
          "(%d groups)\n",
          o.counts_total, o.counts_match ? "equal to" : "DIFFER from",
          o.registrations, o.count_groups);
    }
  }
  if (c.event_id.empty()) {
    // grpc-ceiling: no registrations, nothing to check.
  } else if (s.violations.empty()) {
    t += s.database_checked
             ? "\n  invariants: all hold (answers and database)\n"
             : "\n  invariants: answers checked; database NOT checked\n";
  } else {
    absl::StrAppendFormat(&t, "\n  INVARIANT VIOLATIONS: %d\n",
                          s.violations.size());
    size_t shown = 0;
    for (const Violation& v : s.violations) {
      if (++shown > 20) break;
      absl::StrAppendFormat(&t, "    %s: %s\n", v.check, v.detail);
    }
  }
  return t;
}

namespace {

// One line chart as inline SVG: `series` (name, colour, values), x in
// seconds with `step_s` per point.
std::string Chart(
    const std::string& title, const std::string& unit, double step_s,
    const std::vector<
        std::tuple<std::string, std::string, std::vector<double>>>& series) {
  constexpr double kW = 860, kH = 240, kL = 60, kR = 140, kT = 30, kB = 30;
  double ymax = 0;
  size_t n = 0;
  for (const auto& [name, colour, v] : series) {
    for (double x : v) ymax = std::max(ymax, x);
    n = std::max(n, v.size());
  }
  if (ymax <= 0) ymax = 1;
  const double xmax = std::max(1.0, static_cast<double>(n) * step_s);
  auto X = [&](double s) { return kL + (kW - kL - kR) * s / xmax; };
  auto Y = [&](double v) { return kT + (kH - kT - kB) * (1 - v / ymax); };
  std::string svg = absl::StrFormat(
      "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
      "font-family='sans-serif' font-size='12'>"
      "<text x='%.0f' y='18' font-weight='bold'>%s</text>",
      kW, kH, kL, title);
  for (int g = 0; g <= 4; ++g) {
    const double v = ymax * g / 4;
    absl::StrAppendFormat(
        &svg,
        "<line x1='%.0f' x2='%.0f' y1='%.1f' y2='%.1f' stroke='#ddd'/>"
        "<text x='%.0f' y='%.1f' text-anchor='end'>%.4g</text>",
        kL, kW - kR, Y(v), Y(v), kL - 4, Y(v) + 4, v);
  }
  for (int g = 0; g <= 5; ++g) {
    const double s = xmax * g / 5;
    absl::StrAppendFormat(
        &svg, "<text x='%.1f' y='%.0f' text-anchor='middle'>%.3g s</text>",
        X(s), kH - 8, s);
  }
  absl::StrAppendFormat(&svg, "<text x='4' y='%.0f'>%s</text>", kT - 8, unit);
  int legend = 0;
  for (const auto& [name, colour, v] : series) {
    std::string points;
    for (size_t i = 0; i < v.size(); ++i) {
      absl::StrAppendFormat(&points, "%.1f,%.1f ",
                            X((static_cast<double>(i) + 0.5) * step_s),
                            Y(v[i]));
    }
    absl::StrAppendFormat(
        &svg,
        "<polyline fill='none' stroke='%s' stroke-width='1.5' points='%s'/>"
        "<rect x='%.0f' y='%d' width='12' height='3' fill='%s'/>"
        "<text x='%.0f' y='%d'>%s</text>",
        colour, points, kW - kR + 10, kT + 16 * legend, colour, kW - kR + 26,
        kT + 16 * legend + 5, name);
    ++legend;
  }
  return svg + "</svg>";
}

}  // namespace

std::string HtmlReport(const RunSummary& s) {
  std::vector<double> tp;
  for (const Window& w : s.per_100ms)
    tp.push_back(static_cast<double>(w.answers) * 10);
  std::vector<double> p50, p99, mx;
  for (const Window& w : s.per_second) {
    p50.push_back(Ms(w.p50_us));
    p99.push_back(Ms(w.p99_us));
    mx.push_back(Ms(w.max_us));
  }
  std::string html =
      "<!doctype html><html><head><meta "
      "charset='utf-8'><title>admit-loadtest " +
      s.config.scenario +
      "</title></head><body style='font-family:sans-serif'>";
  std::string table;
  for (char c : Table(s)) {
    if (c == '<')
      table += "&lt;";
    else if (c == '>')
      table += "&gt;";
    else if (c == '&')
      table += "&amp;";
    else
      table += c;
  }
  html += "<h2>admit-loadtest: " + s.config.scenario + "</h2><pre>" + table +
          "</pre>";
  html += Chart("Answers per second (100 ms windows)", "answers/s", 0.1,
                {{"answers/s", "#1f77b4", tp}});
  html += "<br>" + Chart("Latency of calls answered in each second", "ms", 1.0,
                         {{"p50", "#2ca02c", p50},
                          {"p99", "#ff7f0e", p99},
                          {"max", "#d62728", mx}});
  std::vector<std::tuple<std::string, std::string, std::vector<double>>> cpu;
  const char* colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c",
                           "#d62728", "#9467bd", "#8c564b"};
  size_t k = 0;
  for (const auto& [name, p] : s.processes) {
    if (p.found) cpu.emplace_back(name, colours[k++ % 6], p.cpu_percent_series);
  }
  if (!cpu.empty()) {
    html +=
        "<br>" + Chart("CPU per process (100 = one core)", "%",
                       static_cast<double>(s.proc_interval_ms) / 1000.0, cpu);
  }
  return html + "</body></html>\n";
}

}  // namespace admit::loadtest
