// The drainer against real Postgres and real SMTP sinks (integration):
// outbox rows are inserted as the registration service writes them (the v1
// payload is the contract), drainers deliver them, and the Maildir the sink
// writes is what is checked. Each test has a database of its own
// (ScratchDatabase: drainers take every pending row they can see) and marks
// its recipients with a random marker.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/sealer.h"
#include "common/crypto/token.h"
#include "common/metrics/metrics.h"
#include "common/metrics/metrics_testing.h"
#include "common/pg/migrations.h"
#include "gtest/gtest.h"
#include "pqxx/binarystring"
#include "pqxx/connection"
#include "pqxx/transaction"
#include "prometheus/registry.h"
#include "services/confirmation/drainer.h"
#include "services/confirmation/qr_png.h"
#include "tests/support/scratch_database.h"
#include "tests/support/test_support.h"

extern char** environ;

namespace admit::confirmation {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
namespace fs = std::filesystem;

std::string RandomMarker() {
  std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat("m", rng() % 1000000000000ull);
}

// One message the sink filed.
struct Filed {
  std::string message_id;  // with <>
  std::string content;
};

// Messages in `maildir`/new whose text contains `marker`.
std::vector<Filed> ReadMaildir(const std::string& maildir,
                               const std::string& marker) {
  std::vector<Filed> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(maildir + "/new", ec)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string content = buffer.str();
    if (!absl::StrContains(content, marker)) continue;
    Filed f;
    const size_t at = content.find("\nMessage-ID: ");
    if (at != std::string::npos) {
      const size_t end = content.find_first_of("\r\n", at + 13);
      f.message_id = content.substr(at + 13, end - at - 13);
    }
    f.content = std::move(content);
    out.push_back(std::move(f));
  }
  return out;
}

int64_t Count(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  return tx.exec1(sql)[0].as<int64_t>();
}

void Exec(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  tx.exec(sql);
  tx.commit();
}

// Inserts `n` rows of `kind` for event `event_id`, recipients
// u<i>.<marker>@example.org; returns their outbox ids in order.
std::vector<int64_t> InsertRows(const std::string& url, const std::string& kind,
                                const std::string& event_id,
                                const std::string& marker, int n) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  pqxx::result r = tx.exec_params(
      "INSERT INTO registration.outbox (kind, registration_id, event_id, "
      "payload) "
      "SELECT $1::text, 'r-' || $3::text || '-' || g, $2::text, "
      "jsonb_build_object("
      " 'v', 1, 'reason', 'registered', 'registration_id', "
      " 'r-' || $3 || '-' || g, 'event_id', $2, 'ticket_type_id', 'delegate',"
      " 'status', 1, 'attendee', jsonb_build_object('email', "
      "   'u' || g || '.' || $3 || '@example.org', 'full_name', "
      "   'Zoë Ünal ' || g), "
      " 'event', jsonb_build_object('name', 'Forum für Ärzte 2027', "
      "   'starts_at', '2027-03-01T08:00:00Z', 'ends_at', "
      "   '2027-03-03T16:00:00Z', 'time_zone', 'Europe/Zurich'), "
      " 'ticket_type_name', 'Delegate', 'hold_expires_at', "
      " to_char((now() + interval '1 hour') AT TIME ZONE 'UTC', "
      "   'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      " 'waitlist_position', CASE WHEN $1 = 'waitlist' THEN g ELSE 0 END, "
      " 'ticket_code', CASE WHEN $1 = 'ticket' "
      "   THEN 'TABCDEFGHIJKLMNOPQRSTUVWXY2' ELSE '' END) "
      "FROM generate_series(1, $4::int) g ORDER BY g RETURNING outbox_id",
      kind, event_id, marker, n);
  tx.commit();
  std::vector<int64_t> ids;
  for (size_t i = 0; i < r.size(); ++i) ids.push_back(r[i][0].as<int64_t>());
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string ExpectedMessageId(int64_t outbox_id, const std::string& event) {
  return absl::StrCat("<outbox-", outbox_id, ".", event, "@admit.localhost>");
}

class DrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(db_.url().empty());
    for (const auto& [schema, dir] :
         {std::pair<std::string, std::string>{"registration",
                                              ADMIT_REGISTRATION_SCHEMA_DIR},
          {"confirmation", ADMIT_CONFIRMATION_SCHEMA_DIR}}) {
      auto applied = pg::ApplyMigrations(db_.url(), schema, dir);
      ASSERT_TRUE(applied.ok()) << applied.status();
    }
    auto templates = TemplateSet::Load(ADMIT_CONFIRMATION_TEMPLATE_DIR);
    ASSERT_TRUE(templates.ok()) << templates.status();
    templates_ = std::make_unique<TemplateSet>(*std::move(templates));
    token_key_ = crypto::Sealer::NewBase64Key();
    auto sealer = crypto::Sealer::FromBase64Key(token_key_);
    ASSERT_TRUE(sealer.ok());
    sealer_ = std::make_unique<crypto::Sealer>(*sealer);
    marker_ = RandomMarker();
    event_ = absl::StrCat("ev-", marker_);
  }

  DrainerOptions Options(int batch = 50) {
    DrainerOptions o;
    o.pg_url = db_.url();
    o.batch_size = batch;
    o.poll_interval = milliseconds(50);
    o.gauge_interval = milliseconds(100);
    o.compose.from = {"no-reply@admit.localhost", "admit"};
    o.compose.link_base = "http://127.0.0.1:8080/confirm";
    return o;
  }

  std::unique_ptr<Drainer> MakeDrainer(const std::string& smtp_url,
                                       DrainerOptions options,
                                       ConfirmationMetrics* metrics = nullptr) {
    SmtpOptions smtp;
    smtp.url = smtp_url;
    smtp.envelope_from = "no-reply@admit.localhost";
    smtp.connect_timeout = seconds(2);
    smtp.message_timeout = seconds(10);
    auto sender = SmtpSender::Create(smtp);
    EXPECT_TRUE(sender.ok()) << sender.status();
    return std::make_unique<Drainer>(
        std::move(options), templates_.get(), sealer_.get(), *std::move(sender),
        [](std::string_view c) { return QrPng(c); }, metrics);
  }

  int64_t Pending() {
    return Count(db_.url(),
                 "SELECT count(*) FROM registration.outbox "
                 "WHERE processed_at IS NULL");
  }

  testing::ScratchDatabase db_;
  std::unique_ptr<TemplateSet> templates_;
  std::string token_key_;
  std::unique_ptr<crypto::Sealer> sealer_;
  std::string marker_;
  std::string event_;
};

TEST_F(DrainerTest, DeliversHeadersPartsAndAWorkingTokenLink) {
  const std::string maildir = testing::RequireEnv("ADMIT_TEST_MAILDIR");
  const std::string smtp = testing::RequireEnv("ADMIT_TEST_SMTP_URL");
  const std::vector<int64_t> confirmation =
      InsertRows(db_.url(), "confirmation", event_, marker_, 1);
  const std::vector<int64_t> ticket =
      InsertRows(db_.url(), "ticket", event_, marker_ + "t", 1);
  const std::vector<int64_t> waitlist =
      InsertRows(db_.url(), "waitlist", event_, marker_ + "w", 1);
  auto drainer = MakeDrainer(smtp, Options());
  auto batch = drainer->DrainBatch();
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->claimed, 3);
  EXPECT_EQ(batch->sent, 3);
  EXPECT_EQ(Pending(), 0);

  std::vector<Filed> filed;
  ASSERT_TRUE(testing::WaitFor(
      [&] { return (filed = ReadMaildir(maildir, marker_)).size() >= 3; },
      seconds(10)));
  ASSERT_EQ(filed.size(), 3u);
  std::map<std::string, std::string> by_id;
  for (Filed& f : filed) by_id[f.message_id] = f.content;

  // The confirmation email.
  const std::string& c = by_id[ExpectedMessageId(confirmation[0], event_)];
  ASSERT_FALSE(c.empty());
  EXPECT_TRUE(absl::StrContains(c, "\r\nTo: =?UTF-8?B?"));
  EXPECT_TRUE(
      absl::StrContains(c, absl::StrCat("<u1.", marker_, "@example.org>")));
  EXPECT_TRUE(absl::StrContains(c, "\r\nSubject: =?UTF-8?B?"));
  EXPECT_TRUE(absl::StrContains(c, "\r\nDate: "));
  EXPECT_TRUE(absl::StrContains(c, "\r\nMIME-Version: 1.0\r\n"));
  EXPECT_TRUE(absl::StrContains(c, "Content-Type: multipart/alternative;"));
  EXPECT_TRUE(absl::StrContains(c, "Content-Type: text/plain; charset=UTF-8"));
  EXPECT_TRUE(absl::StrContains(c, "Content-Type: text/html; charset=UTF-8"));
  EXPECT_TRUE(absl::StrContains(c, "(Europe/Zurich)"));
  // The link: "#token=" is "#token=3D" in quoted-printable.
  const size_t at = c.find("confirm#token=3D");
  ASSERT_NE(at, std::string::npos);
  const std::string token = c.substr(at + 16, crypto::kTokenLength);
  ASSERT_TRUE(crypto::IsWellFormedToken(token)) << token;
  {
    pqxx::connection conn(db_.url());
    pqxx::work tx(conn);
    const std::string hash = crypto::TokenHash(token);
    pqxx::result r = tx.exec_params(
        "SELECT outbox_id, token_sealed IS NULL, expires_at > now() "
        "FROM confirmation.tokens WHERE token_hash = $1",
        pqxx::binarystring(hash.data(), hash.size()));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0][0].as<int64_t>(), confirmation[0]);
    EXPECT_TRUE(r[0][1].as<bool>()) << "sealed copy erased once sent";
    EXPECT_TRUE(r[0][2].as<bool>());
    pqxx::result o = tx.exec(
        "SELECT count(*) FROM registration.outbox WHERE processed_at IS NOT "
        "NULL AND payload = '{\"v\":1,\"scrubbed\":true}'::jsonb");
    EXPECT_EQ(o[0][0].as<int64_t>(), 3);
  }

  // The ticket: related html + inline PNG referenced by cid.
  const std::string& t = by_id[ExpectedMessageId(ticket[0], event_)];
  ASSERT_FALSE(t.empty());
  EXPECT_TRUE(absl::StrContains(t, "Content-Type: multipart/related;"));
  EXPECT_TRUE(absl::StrContains(t, "Content-Type: image/png"));
  const std::string cid =
      absl::StrCat("qr.outbox-", ticket[0], ".", event_, "@admit.localhost");
  EXPECT_TRUE(absl::StrContains(t, absl::StrCat("Content-ID: <", cid, ">")));
  EXPECT_TRUE(absl::StrContains(t, "cid:qr.outbox-"));
  EXPECT_TRUE(absl::StrContains(t, "TABCDEFGHIJKLMNOPQRSTUVWXY2"));

  // The waitlist email shows the position.
  const std::string& w = by_id[ExpectedMessageId(waitlist[0], event_)];
  EXPECT_TRUE(absl::StrContains(w, "position 1")) << w;
}

TEST_F(DrainerTest, LibcurlDotStuffsBodyLines) {
  const std::string maildir = testing::RequireEnv("ADMIT_TEST_MAILDIR");
  SmtpOptions smtp;
  smtp.url = testing::RequireEnv("ADMIT_TEST_SMTP_URL");
  smtp.envelope_from = "no-reply@admit.localhost";
  auto sender = SmtpSender::Create(smtp);
  ASSERT_TRUE(sender.ok());
  const std::string body =
      absl::StrCat("Subject: dots ", marker_, "\r\nMessage-ID: <dots.", marker_,
                   "@admit.localhost>\r\n\r\n.\r\n..two\r\n.one\r\nend\r\n");
  SendResult sent = (*sender)->Send("dots@example.org", body);
  ASSERT_EQ(sent.outcome, SendOutcome::kSent) << sent.detail;
  std::vector<Filed> filed;
  ASSERT_TRUE(testing::WaitFor(
      [&] { return !(filed = ReadMaildir(maildir, marker_)).empty(); },
      seconds(10)));
  // The sink undoes the stuffing: the lines arrive as written.
  EXPECT_TRUE(
      absl::StrContains(filed[0].content, "\n.\r\n..two\r\n.one\r\nend\r\n"))
      << filed[0].content;
}

TEST_F(DrainerTest, SinkDownDuringABurstEveryMessageArrivesOnce) {
  testing::PrivateServer sink("smtp-sink.sh");
  ASSERT_TRUE(sink.Start().ok());
  const std::string url = absl::StrCat("smtp://127.0.0.1:", sink.port());
  const std::vector<int64_t> ids =
      InsertRows(db_.url(), "confirmation", event_, marker_, 200);
  DrainerOptions options = Options(20);
  options.max_attempts = 1000;
  options.backoff = {milliseconds(50), milliseconds(400)};
  auto drainer = MakeDrainer(url, options);
  drainer->Start();
  const std::string maildir = sink.dir() + "/maildir";
  ASSERT_TRUE(testing::WaitFor(
      [&] { return ReadMaildir(maildir, marker_).size() >= 20; }, seconds(60)));
  ASSERT_TRUE(sink.Stop().ok());
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return Count(db_.url(),
                     "SELECT count(*) FROM confirmation.deliveries "
                     "WHERE state = 'retrying'") > 0;
      },
      seconds(30)));
  ASSERT_TRUE(sink.Start().ok());
  ASSERT_TRUE(testing::WaitFor([&] { return Pending() == 0; }, seconds(120)));
  drainer->Stop();

  const std::vector<Filed> filed = ReadMaildir(maildir, marker_);
  std::multiset<std::string> seen;
  for (const Filed& f : filed) seen.insert(f.message_id);
  for (int64_t id : ids) {
    EXPECT_EQ(seen.count(ExpectedMessageId(id, event_)), 1u) << id;
  }
  EXPECT_EQ(filed.size(), ids.size());
  EXPECT_GT(Count(db_.url(),
                  "SELECT count(*) FROM confirmation.deliveries "
                  "WHERE state = 'sent' AND attempts >= 2"),
            0);
  EXPECT_EQ(Count(db_.url(),
                  "SELECT count(*) FROM confirmation.deliveries "
                  "WHERE state = 'parked'"),
            0);
}

// A child process with `env` added to ours; returns its pid.
pid_t Spawn(const std::string& binary,
            const std::map<std::string, std::string>& env,
            const std::string& log_path) {
  std::vector<std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string var(*e);
    if (!env.contains(var.substr(0, var.find('=')))) vars.push_back(var);
  }
  for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::string arg0 = binary;
  char* argv[] = {arg0.data(), nullptr};
  pid_t pid = -1;
  const int rc =
      posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

TEST_F(DrainerTest, TwoProcessesOneKilledMidwayEveryMessageArrives) {
  testing::PrivateServer sink("smtp-sink.sh");
  ASSERT_TRUE(sink.Start().ok());
  const int kRows = 2000;
  const std::vector<int64_t> ids =
      InsertRows(db_.url(), "confirmation", event_, marker_, kRows);
  std::map<std::string, std::string> env = {
      {"ADMIT_PG_URL", db_.url()},
      {"ADMIT_SMTP_URL", absl::StrCat("smtp://127.0.0.1:", sink.port())},
      {"ADMIT_CONFIRMATION_TOKEN_KEY", token_key_},
      {"ADMIT_TICKET_KEY", crypto::Sealer::NewBase64Key()},
      {"ADMIT_CONFIRMATION_BATCH", "25"},
      {"ADMIT_CONFIRMATION_POLL_INTERVAL", "50ms"},
      {"ADMIT_PG_POOL_SIZE", "2"},
      {"ADMIT_LOG_LEVEL", "warn"}};
  std::vector<pid_t> pids;
  std::vector<int> metrics_ports;
  for (int i = 0; i < 2; ++i) {
    env["ADMIT_GRPC_LISTEN"] = absl::StrCat("127.0.0.1:", testing::FreePort());
    metrics_ports.push_back(testing::FreePort());
    env["ADMIT_METRICS_LISTEN"] =
        absl::StrCat("127.0.0.1:", metrics_ports.back());
    pids.push_back(
        Spawn(ADMIT_CONFIRMATION_BINARY, env,
              absl::StrCat(sink.dir(), "/confirmation-", i, ".log")));
    ASSERT_GT(pids.back(), 0);
  }
  // Both processes are draining (each has sent) and a quarter is done.
  auto sent_by = [&](int i) -> double {
    auto text = metrics::testing::HttpGet(metrics_ports[i], "/metrics");
    if (!text.ok()) return 0;
    auto value = metrics::testing::SampleValue(
        *text, "admit_emails_sent_total",
        {{"kind", "confirmation"}, {"result", "sent"}});
    return value.ok() ? *value : 0;
  };
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return sent_by(0) > 0 && sent_by(1) > 0 &&
               Count(db_.url(),
                     "SELECT count(*) FROM registration.outbox "
                     "WHERE processed_at IS NOT NULL") >= kRows / 4;
      },
      seconds(120), milliseconds(100)));
  int status = 0;
  ASSERT_EQ(waitpid(pids[0], &status, WNOHANG), 0) << "process 0 exited";
  ASSERT_EQ(kill(pids[0], SIGKILL), 0);
  waitpid(pids[0], &status, 0);
  const bool drained =
      testing::WaitFor([&] { return Pending() == 0; }, seconds(240));
  auto survivor = metrics::testing::HttpGet(metrics_ports[1], "/metrics");
  ASSERT_TRUE(survivor.ok()) << survivor.status();
  EXPECT_TRUE(metrics::testing::PromtoolCheckMetrics(*survivor).ok());
  kill(pids[1], SIGTERM);
  waitpid(pids[1], &status, 0);
  ASSERT_TRUE(drained) << Pending() << " rows still pending";

  const std::vector<Filed> filed =
      ReadMaildir(sink.dir() + "/maildir", marker_);
  std::set<std::string> seen;
  for (const Filed& f : filed) seen.insert(f.message_id);
  int missing = 0;
  for (int64_t id : ids)
    missing += seen.contains(ExpectedMessageId(id, event_)) ? 0 : 1;
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(seen.size(), ids.size());
  std::cout << "[ info ] " << filed.size() << " messages filed for " << kRows
            << " rows (" << filed.size() - seen.size()
            << " duplicates from the killed batch)\n";
}

TEST_F(DrainerTest, ParksAfterMaxAttemptsWhenNobodyListens) {
  const std::string dead =
      absl::StrCat("smtp://127.0.0.1:", testing::FreePort());
  InsertRows(db_.url(), "confirmation", event_, marker_, 5);
  prometheus::Registry registry;
  ConfirmationMetrics metrics(registry);
  DrainerOptions options = Options();
  options.max_attempts = 3;
  options.backoff = {milliseconds(5), milliseconds(20)};
  auto drainer = MakeDrainer(dead, options, &metrics);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        EXPECT_TRUE(drainer->DrainBatch().ok());
        return Pending() == 0;
      },
      seconds(30)));
  EXPECT_EQ(
      Count(db_.url(),
            "SELECT count(*) FROM confirmation.deliveries "
            "WHERE state = 'parked' AND attempts = 3 AND last_error <> ''"),
      5);
  EXPECT_EQ(Count(db_.url(),
                  "SELECT count(*) FROM confirmation.tokens "
                  "WHERE token_sealed IS NOT NULL"),
            0);
  ASSERT_TRUE(drainer->RefreshGauges().ok());
  const std::string text = metrics::SerializeText(registry);
  EXPECT_TRUE(absl::StrContains(
      text,
      "admit_emails_sent_total{kind=\"confirmation\",result=\"parked\"} 5"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text,
      "admit_emails_sent_total{kind=\"confirmation\",result=\"retry\"} 10"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "admit_outbox_parked 5")) << text;
  EXPECT_TRUE(absl::StrContains(text, "admit_outbox_pending 0")) << text;
}

TEST_F(DrainerTest, UnknownKindAndUnreadablePayloadAreParkedNotSent) {
  // A kind from a newer registration service than this drainer knows.
  Exec(db_.url(),
       "ALTER TABLE registration.outbox DROP CONSTRAINT outbox_kind_check");
  const std::string maildir = testing::RequireEnv("ADMIT_TEST_MAILDIR");
  InsertRows(db_.url(), "newsletter", event_, marker_, 2);
  Exec(db_.url(),
       absl::StrCat("INSERT INTO registration.outbox (kind, "
                    "registration_id, event_id, payload) VALUES "
                    "('confirmation', 'r1', '",
                    event_, "', '{\"v\":2}'), ('waitlist', 'r2', '", event_,
                    "', '{\"v\":1,\"attendee\":{\"email\":\"x.", marker_,
                    "@example.org\"}}')"));
  prometheus::Registry registry;
  ConfirmationMetrics metrics(registry);
  auto drainer = MakeDrainer(testing::RequireEnv("ADMIT_TEST_SMTP_URL"),
                             Options(), &metrics);
  auto batch = drainer->DrainBatch();
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->claimed, 4);
  EXPECT_EQ(batch->parked, 4);
  EXPECT_EQ(Pending(), 0);
  EXPECT_EQ(Count(db_.url(),
                  "SELECT count(*) FROM confirmation.deliveries "
                  "WHERE state = 'parked' AND last_error <> ''"),
            4);
  EXPECT_EQ(Count(db_.url(),
                  "SELECT count(*) FROM registration.outbox WHERE payload = "
                  "'{\"v\":1,\"scrubbed\":true}'::jsonb"),
            4);
  EXPECT_TRUE(absl::StrContains(
      metrics::SerializeText(registry),
      "admit_emails_sent_total{kind=\"unknown\",result=\"parked\"} 2"));
  EXPECT_TRUE(ReadMaildir(maildir, marker_).empty());
}

TEST_F(DrainerTest, MissingRegistrationSchemaIsNothingToDo) {
  testing::ScratchDatabase empty;
  ASSERT_TRUE(pg::ApplyMigrations(empty.url(), "confirmation",
                                  ADMIT_CONFIRMATION_SCHEMA_DIR)
                  .ok());
  DrainerOptions options = Options();
  options.pg_url = empty.url();
  auto drainer = MakeDrainer("smtp://127.0.0.1:1", options);
  auto batch = drainer->DrainBatch();
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->claimed, 0);
}

}  // namespace
}  // namespace admit::confirmation
