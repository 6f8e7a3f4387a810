// `mlahub request check` and `request new` end to end: runs the built binary
// on the example request files and checks exit codes (0 complete, 3
// incomplete or refused, 2 usage), the JSON report, and the directory rules.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mlahub/directory/directory.h"
#include "process.h"  // tests/support

namespace mlahub {
namespace {

namespace fs = std::filesystem;

using CliRun = support::CommandRun;



directory::Entry Node(const char* id, bool untoc, std::vector<std::string> langs, uint8_t key) {
  directory::Entry e;
  e.identity.id = *NodeId::Parse(id);
  e.name = id;
  e.languages = std::move(langs);
  e.untoc_party = untoc;
  e.protocol_party = untoc;
  e.identity.sign_key[0] = key;
  e.identity.enc_key[0] = key;
  e.identity.curve_key[0] = key;
  return e;
}

class RequestCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() /
           ("mlahub_reqcheck_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  CliRun Mlahub(const std::string& args) {
    return support::RunCapturing(std::string(MLAHUB_BIN_DIR) + "/mlahub", args, tmp_, "/dev/null");
  }

  static std::string Example(const char* name) {
    return support::ShellQuote(std::string(MLAHUB_SOURCE_DIR) + "/examples/requests/" + name);
  }

  // A directory (as JSON) where NG-AGF accepts `ng_langs` and IT-MOJ is a party or not.
  std::string WriteDirectory(std::vector<std::string> ng_langs, bool it_party = true) {
    directory::Directory d("test", 1, 0);
    EXPECT_TRUE(d.Add(Node("IT-MOJ", it_party, {"it", "en"}, 1)).ok());
    EXPECT_TRUE(d.Add(Node("NG-AGF", true, std::move(ng_langs), 2)).ok());
    fs::path p = tmp_ / "directory.json";
    std::ofstream(p) << d.ToJson();
    return support::ShellQuote(p.string());
  }

  fs::path tmp_;
};

TEST_F(RequestCheckTest, CompleteExamplePassesWithExitZero) {
  CliRun r = Mlahub("request check " + Example("mla-trafficking-complete.json") + " --directory " +
                    WriteDirectory({"en"}));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Complete"), std::string::npos) << r.out;
}

TEST_F(RequestCheckTest, IncompleteExampleListsEachMissingItemAndExitsThree) {
  CliRun r = Mlahub("request check " + Example("mla-trafficking-incomplete.json"));
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("MISSING"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("UNTOC Art. 18(15)(c)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("UNTOC Art. 18(15)(f)"), std::string::npos) << r.out;

  r = Mlahub("request check --json " + Example("mla-trafficking-incomplete.json"));
  EXPECT_EQ(r.code, 3) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["complete"], false);
  EXPECT_EQ(j["kind"], "MlaRequest");
  EXPECT_EQ(j["counts"]["missing"], 3);
  std::vector<std::string> missing;
  for (const auto& f : j["findings"])
    if (f["severity"] == "missing")
      missing.push_back(f["path"].get<std::string>() + " " + f["citation"].get<std::string>());
  EXPECT_EQ(missing, (std::vector<std::string>{"trafficking.means Protocol Art. 3(a)",
                                               "summary_of_facts UNTOC Art. 18(15)(c)",
                                               "purpose UNTOC Art. 18(15)(f)"}));
}

TEST_F(RequestCheckTest, LanguageAndPartyStatusFromTheDirectory) {
  CliRun r = Mlahub("request check --json " + Example("mla-trafficking-complete.json") +
                    " --directory " + WriteDirectory({"fr"}));
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["counts"]["refused"], 1);
  bool found = false;
  for (const auto& f : j["findings"])
    found = found || (f["severity"] == "refused" && f["path"] == "language" &&
                      f["citation"] == "UNTOC Art. 18(14)");
  EXPECT_TRUE(found) << r.out;

  r = Mlahub("request check --json " + Example("mla-trafficking-complete.json") + " --directory " +
             WriteDirectory({"en"}, /*it_party=*/false));
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("IT-MOJ as a party"), std::string::npos) << r.out;

  r = Mlahub("request check " + Example("mla-trafficking-complete.json") +
             " --to TH-OAG --directory " + WriteDirectory({"en"}));
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("TH-OAG"), std::string::npos) << r.out;
}

TEST_F(RequestCheckTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Mlahub("request check").code, 2);  // no FILE
  fs::path notreq = tmp_ / "x.json";
  std::ofstream(notreq) << R"({"colour": "red"})";
  CliRun r = Mlahub("request check " + support::ShellQuote(notreq.string()));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("body"), std::string::npos) << r.err;
  std::ofstream(notreq) << "not json";
  EXPECT_EQ(Mlahub("request check " + support::ShellQuote(notreq.string())).code, 2);
}

TEST_F(RequestCheckTest, NewFromJsonWritesADraftAndChecksIt) {
  fs::path out = tmp_ / "draft.json";
  CliRun r = Mlahub("request new --kind mla --to NG-AGF --from-json " +
                    Example("mla-trafficking-incomplete.json") + " --out " + support::ShellQuote(out.string()) +
                    " --json");
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  ASSERT_TRUE(fs::exists(out));
  EXPECT_EQ(fs::status(out).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // The draft is itself a request file that check reads.
  CliRun again = Mlahub("request check " + support::ShellQuote(out.string()));
  EXPECT_EQ(again.code, 3) << again.out;
  // A complete one exits 0.
  r = Mlahub("request new --kind mla --to NG-AGF --from-json " +
             Example("mla-trafficking-complete.json") + " --out " + support::ShellQuote(out.string()));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  // The kind must match the file's.
  r = Mlahub("request new --kind extradition --to NG-AGF --from-json " +
             Example("mla-trafficking-complete.json"));
  EXPECT_EQ(r.code, 2) << r.err;
}

}  // namespace
}  // namespace mlahub
