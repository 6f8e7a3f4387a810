// The local API of a real Agent (no broker running: it keeps connecting):
// bearer token (401 without), submission into the durable outbox, listings,
// errors as JSON with their code names, ready.json, the token file.
#include <gtest/gtest.h>
#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mlahub/agents/agent.h"
#include "mlahub/agents/api_client.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/random.h"
#include "mlahub/envelope/envelope.h"
#include "test_bodies.h"
#include "test_network.h"

namespace mlahub::agents {
namespace {

using nlohmann::json;

class AgentApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("agents-api");
    auto net = testing::BuildTestNetwork(dir_ + "/net", {"IT-MOJ", "NG-AGF"}, testing::PickFreePorts(20));
    ASSERT_TRUE(net.ok()) << net.status().ToString();
    net_ = *net;
    StartAgent();
  }
  void TearDown() override {
    agent_.reset();
    testing::RemoveTree(dir_);
  }
  void StartAgent() {
    agent_.reset();
    auto cfg = config::LoadAgentConfig(net_.agent_config("IT-MOJ"));
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    auto a = Agent::Create(*cfg);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    agent_ = std::move(*a);
    ASSERT_TRUE(agent_->Start().ok());
  }
  ApiClient Client() {
    auto c = ApiClient::FromConfigFile(net_.agent_config("IT-MOJ"));
    MLAHUB_CHECK_MSG(c.ok(), c.status().ToString());
    return *c;
  }
  json Message(const std::string& to = "NG-AGF") {
    return {{"to", to},
            {"kind", "InformationExchange"},
            {"body", json::parse(workflow::testing::CompleteBody("InformationExchange").dump())},
            {"case_ref", "IT/2026/17"},
            {"legal_basis", "PalermoProtocol"}};
  }

  std::string dir_;
  testing::TestNetwork net_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentApiTest, NoTokenNoAccess) {
  httplib::Client c("127.0.0.1", agent_->api_port());
  for (const char* path : {"/v1/health", "/v1/messages?box=out", "/v1/alarms", "/v1/audit", "/v1/nothing"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    json j = json::parse(r->body, nullptr, false);
    EXPECT_EQ(j["error"], "permission_denied") << path;
  }
  auto post = c.Post("/v1/messages", Message().dump(), "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401);
  c.set_bearer_token_auth(std::string(64, 'a'));
  auto wrong = c.Get("/v1/health");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  c.set_bearer_token_auth(agent_->api_token());
  auto right = c.Get("/v1/health");
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
  EXPECT_EQ(json::parse(right->body)["node_id"], "IT-MOJ");
  // Nothing was submitted by the refused requests.
  EXPECT_EQ(json::parse(right->body)["outbox"], 0);
}

TEST_F(AgentApiTest, TokenFileIsPrivateAndReadyFileNamesTheApi) {
  struct stat st {};
  ASSERT_EQ(::stat((net_.agent_data("IT-MOJ") + "/api.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto ready = ReadFile(net_.agent_data("IT-MOJ") + "/ready.json");
  ASSERT_TRUE(ready.ok());
  json j = json::parse(ready->begin(), ready->end());
  EXPECT_EQ(j["pid"], static_cast<int64_t>(::getpid()));
  EXPECT_EQ(j["node_id"], "IT-MOJ");
  EXPECT_EQ(j["api"], "http://127.0.0.1:" + std::to_string(agent_->api_port()));
  agent_->Stop();
  EXPECT_FALSE(FileExists(net_.agent_data("IT-MOJ") + "/ready.json")) << "deleted on a clean stop";
}

TEST_F(AgentApiTest, SubmitListShowStatusAndErrors) {
  ApiClient c = Client();
  auto sent = c.PostJson("/v1/messages", Message());
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  std::string id = (*sent)["message_id"];
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ((*sent)["message"]["state"], "submitted");

  auto list = c.Get("/v1/messages?box=out");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ((*list)["messages"].size(), 1u);
  EXPECT_EQ((*list)["messages"][0]["message_id"], id);
  EXPECT_EQ((*list)["messages"][0]["legal_basis"], "PalermoProtocol");
  EXPECT_FALSE((*list)["messages"][0].contains("timeline")) << "listings carry metadata only";

  auto status = c.Get("/v1/messages/" + id + "/status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)["state"], "submitted");
  EXPECT_EQ((*status)["timeline"][0]["event"], "submitted");
  auto show = c.Get("/v1/messages/" + id);
  ASSERT_TRUE(show.ok());
  EXPECT_EQ((*show)["message"]["case_ref"], "IT/2026/17");

  auto health = c.Get("/v1/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ((*health)["outbox"], 1);
  EXPECT_EQ((*health)["connection"], "connecting");

  // An idempotent retry with a chosen id.
  json m = Message();
  m["message_id"] = "00112233445566778899aabbccddeeff";
  auto a = c.PostJson("/v1/messages", m);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE((*a)["duplicate"].get<bool>());
  auto b = c.PostJson("/v1/messages", m);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE((*b)["duplicate"].get<bool>());

  // Errors carry the protocol's code names.
  EXPECT_EQ(c.PostJson("/v1/messages", Message("ZZ-NOBODY")).status().code(), Code::kUnknownRecipient);
  json bad_kind = Message();
  bad_kind["kind"] = "Teleportation";
  EXPECT_EQ(c.PostJson("/v1/messages", bad_kind).status().code(), Code::kInvalidArgument);
  json bad_body = Message();
  bad_body["body"] = json{{"no_such_field", 1}};
  EXPECT_EQ(c.PostJson("/v1/messages", bad_body).status().code(), Code::kMalformed);
  EXPECT_EQ(c.PostJson("/v1/messages", json{{"kind", "MlaRequest"}}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c.Get("/v1/messages/ffffffffffffffffffffffffffffffff").status().code(), Code::kNotFound);
  EXPECT_EQ(c.Get("/v1/messages/not-an-id").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c.Get("/v1/messages?box=sideways").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c.Get("/v1/nothing").status().code(), Code::kNotFound);
  // A body nested 200,000 levels deep (about 400 KB of brackets): refused by
  // name, and the agent serves on (dumping it would have overflowed the
  // HTTP thread's stack).
  std::string deep = R"({"to":"NG-AGF","kind":"MlaRequest","body":{"a":)" + std::string(200000, '[') +
                     std::string(200000, ']') + "}}";
  auto d = c.PostBytes("/v1/messages", AsBytes(deep));
  EXPECT_EQ(d.status().code(), Code::kInvalidArgument) << d.status().ToString();
  EXPECT_NE(d.status().message().find("deeper than 64"), std::string::npos) << d.status().ToString();
  std::string deep_paths = R"({"paths":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(c.PostBytes("/v1/evidence", AsBytes(deep_paths)).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(c.Get("/v1/health").ok());

  // The outbox survives a restart of the agent.
  StartAgent();
  ApiClient c2 = Client();
  auto h2 = c2.Get("/v1/health");
  ASSERT_TRUE(h2.ok());
  EXPECT_EQ((*h2)["outbox"], 2);
  EXPECT_EQ((*h2)["sent"], 2);
}

TEST_F(AgentApiTest, BadBytesInAPathAndOversizeBodiesGetNamedErrorsAndTheAgentServesOn) {
  httplib::Client c("127.0.0.1", agent_->api_port());
  c.set_bearer_token_auth(agent_->api_token());
  // "%FF" decodes to a byte that is not UTF-8; the 404's message quotes the
  // path. Its JSON used to throw in httplib's error handler and end the agent.
  for (const char* path : {"/%FF", "/v1/%FF%FE", "/v1/cases/%FF", "/v1/messages/%C3%28"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path << ": the agent no longer answers";
    EXPECT_GE(r->status, 400) << path;
    EXPECT_LT(r->status, 500) << path;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << path << ": " << r->body;
    EXPECT_TRUE(j["error"].is_string()) << path;
  }
  auto nf = c.Get("/%FF");
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->status, 404);
  EXPECT_EQ(json::parse(nf->body)["error"], "not_found");

  // A body above the API's limit: 413 with the protocol's name for it.
  std::string big((16u << 20) + (64u << 10) + 1, ' ');
  auto tl = c.Post("/v1/messages", big, "application/json");
  ASSERT_TRUE(tl);
  EXPECT_EQ(tl->status, 413);
  json tj = json::parse(tl->body, nullptr, false);
  ASSERT_FALSE(tj.is_discarded()) << tl->body;
  EXPECT_EQ(tj["error"], "too_large") << tl->body;

  auto h = c.Get("/v1/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

// FlatBuffers' JSON parser takes comments, nlohmann's does not. A body sent
// as text with a comment used to pass the case logic as "no body": here its
// evidence entry got no route (the file would never have been shipped) and
// the message was taken. It is now read from FlatBuffers' print, so the
// entry naming a file this agent does not hold is refused, as without the
// comment.
TEST_F(AgentApiTest, ABodyWithACommentIsReadAsTheRecipientWillReadIt) {
  ApiClient c = Client();
  json body = json::parse(workflow::testing::CompleteBody("MlaRequest").dump());
  body["attachments"] = json::array({json{{"file_name", "statement.pdf"},
                                          {"size_bytes", 1000},
                                          {"sha256", std::vector<int>(32, 7)},
                                          {"transfer_id", "00112233445566778899aabbccddeeff"},
                                          {"stream_key", std::vector<int>(32, 1)},
                                          {"stream_header", std::vector<int>(24, 2)},
                                          {"chunk_size", 65536},
                                          {"chunk_count", 1},
                                          {"chunks_root", std::vector<int>(32, 3)}}});
  for (bool comment : {false, true}) {
    json m = {{"to", "NG-AGF"}, {"kind", "MlaRequest"}, {"legal_basis", "Untoc"}};
    m["body"] = comment ? "/* drafted by hand */ " + body.dump() : body.dump();
    auto r = c.PostJson("/v1/messages", m);
    EXPECT_EQ(r.status().code(), Code::kNotFound) << comment << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find("no spool"), std::string::npos) << r.status().ToString();
  }
  auto h = c.Get("/v1/health");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)["outbox"], 0);
}

// A message's evidence entries must be the spool's own, and a refused
// submission writes no route: before, an entry with a changed hash was taken
// (the recipient would have refused the file after it had travelled whole),
// and a submission refused on its second entry left the first file bound to
// a message id that was never sent.
TEST_F(AgentApiTest, EvidenceEntriesMustBeTheSpoolsOwnAndARefusalBindsNoFile) {
  ApiClient c = Client();
  json entries = json::array();
  for (int i = 0; i < 2; ++i) {
    const std::string path = dir_ + "/statement-" + std::to_string(i) + ".txt";
    ASSERT_TRUE(WriteFileAtomic(path, AsBytes("witness statement " + std::to_string(i)), 0600).ok());
    auto added = c.PostJson("/v1/evidence", json{{"paths", json::array({path})}});
    ASSERT_TRUE(added.ok()) << added.status().ToString();
    entries.push_back((*added)["files"][0]);
  }
  auto send = [&](const json& attachments, const std::string& id) {
    json body = json::parse(workflow::testing::CompleteBody("MlaRequest").dump());
    body["attachments"] = attachments;
    json m = {{"to", "NG-AGF"}, {"kind", "MlaRequest"}, {"legal_basis", "Untoc"}, {"body", body}, {"message_id", id}};
    return c.PostJson("/v1/messages", m);
  };
  json changed = entries[1];
  changed["sha256"][0] = (changed["sha256"][0].get<int>() + 1) % 256;
  auto r = send(json::array({entries[0], changed}), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("differs from the file"), std::string::npos) << r.status().ToString();
  // The first file is not bound to the refused id: another message takes it.
  auto ok = send(json::array({entries[0], entries[1]}), "fedcba9876543210fedcba9876543210");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  auto ev = c.Get("/v1/evidence/fedcba9876543210fedcba9876543210");
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ((*ev)["files"].size(), 2u) << ev->dump();
}

TEST_F(AgentApiTest, TheApiPortIsNotShared) {
  // httplib's default SO_REUSEPORT would let a second process bind the same
  // port and take some of the connections; without it the bind fails.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  int yes = 1;
  ASSERT_EQ(::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes), 0);
  ASSERT_EQ(::setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes), 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(agent_->api_port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  int err = errno;
  ::close(s);
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(err, EADDRINUSE);
}

TEST_F(AgentApiTest, PreSealedEnvelopes) {
  ApiClient c = Client();
  auto me = identity::LoadKeyDir(net_.agent_keys("IT-MOJ"), "");
  auto ng = identity::LoadIdentity(net_.agent_keys("NG-AGF"));
  ASSERT_TRUE(me.ok() && ng.ok());
  auto payload = envelope::BuildPayloadFromJson(wire::MessageKind::InformationExchange, "{}");
  ASSERT_TRUE(payload.ok());
  envelope::SealParams p;
  p.kind = wire::MessageKind::InformationExchange;
  auto env = envelope::Seal(p, *me, *ng, *payload);
  ASSERT_TRUE(env.ok());
  auto r = c.PostBytes("/v1/envelopes", *env);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE((*r)["duplicate"].get<bool>());
  auto again = c.PostBytes("/v1/envelopes", *env);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)["duplicate"].get<bool>()) << "the same bytes again are a duplicate";
  // Sealed by another node: not this agent's to send.
  auto other = identity::LoadKeyDir(net_.agent_keys("NG-AGF"), "");
  auto it = identity::LoadIdentity(net_.agent_keys("IT-MOJ"));
  ASSERT_TRUE(other.ok() && it.ok());
  auto foreign = envelope::Seal(p, *other, *it, *payload);
  ASSERT_TRUE(foreign.ok());
  EXPECT_EQ(c.PostBytes("/v1/envelopes", *foreign).status().code(), Code::kSenderMismatch);
  Bytes tampered = *env;
  tampered[tampered.size() - 1] ^= 1;
  EXPECT_EQ(c.PostBytes("/v1/envelopes", tampered).status().code(), Code::kBadSignature);
  EXPECT_EQ(c.PostBytes("/v1/envelopes", crypto::RandomBytes(300)).status().code(), Code::kMalformed);
}

}  // namespace
}  // namespace mlahub::agents
