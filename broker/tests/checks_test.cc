// The refusal mapping: every check of a Submit and of a receipt yields its
// named code, the right "recorded" decision and a decodable ledger entry.
#include "checks.h"

#include <gtest/gtest.h>

#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/random.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/envelope/receipt.h"
#include "mlahub/storage/ledger_entry.h"

namespace mlahub::broker {
namespace {

constexpr UnixMillis kNow = 1795824000000;
const char* kMlaBody = R"({"summary_of_facts": "Request for bank records"})";

class ChecksTest : public ::testing::Test {
 protected:
  ChecksTest()
      : clock_(kNow),
        it_(identity::GenerateNodeKeys(*NodeId::Parse("IT-MOJ"), identity::Role::kAuthority, kNow)),
        ng_(identity::GenerateNodeKeys(*NodeId::Parse("NG-AGF"), identity::Role::kAuthority, kNow)),
        th_(identity::GenerateNodeKeys(*NodeId::Parse("TH-OAG"), identity::Role::kAuthority, kNow)),
        ghost_(identity::GenerateNodeKeys(*NodeId::Parse("ZZ-GHO"), identity::Role::kAuthority,
                                          kNow)) {
    dir_ = directory::Directory("test-net", 1, kNow);
    EXPECT_TRUE(dir_.Add(Entry(it_)).ok());
    directory::Entry ng = Entry(ng_);
    ng.accepts = {wire::MessageKind::Acknowledgement, wire::MessageKind::MlaRequest};
    EXPECT_TRUE(dir_.Add(ng).ok());
    directory::Entry th = Entry(th_);
    th.accepts = {wire::MessageKind::Acknowledgement};
    EXPECT_TRUE(dir_.Add(th).ok());
  }
  static directory::Entry Entry(const identity::NodeKeys& k) {
    directory::Entry e;
    e.identity = k.Public();
    e.name = k.id.str();
    return e;
  }
  Bytes Seal(const identity::NodeKeys& from, const identity::NodeKeys& to,
             wire::MessageKind kind = wire::MessageKind::MlaRequest, envelope::SealParams p = {}) {
    p.kind = kind;
    auto payload = envelope::BuildPayloadFromJson(
        kind, kind == wire::MessageKind::MlaRequest ? kMlaBody : "{}");
    EXPECT_TRUE(payload.ok()) << payload.status().ToString();
    auto env = envelope::Seal(p, from, to.Public(), *payload, clock_);
    EXPECT_TRUE(env.ok()) << env.status().ToString();
    return *env;
  }
  SubmitVerdict Judge(std::string_view node, ByteView env, UnixMillis now = kNow,
                      std::optional<MessageRecord> first = std::nullopt) {
    SubmitLimits limits;
    limits.max_envelope_bytes = 64 * 1024;
    return EvaluateSubmit(
        node, env, dir_, now, limits,
        [&](std::string_view) -> Result<std::optional<MessageRecord>> { return first; });
  }
  static void ExpectRejectedEntry(const SubmitVerdict& v, Code code) {
    auto e = storage::DecodeLedgerEntry(v.entry);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ((*e)->event(), wire::LedgerEvent::Rejected);
    EXPECT_EQ(static_cast<Code>((*e)->error()), code);
    EXPECT_EQ((*e)->origin_signature(), nullptr);  // never kept for a refusal
  }

  FakeClock clock_;
  identity::NodeKeys it_, ng_, th_, ghost_;
  directory::Directory dir_;
};

TEST_F(ChecksTest, AcceptsAGoodEnvelopeWithAFullEntry) {
  Bytes env = Seal(it_, ng_);
  SubmitVerdict v = Judge("IT-MOJ", env);
  ASSERT_EQ(v.kind, VerdictKind::kAccept) << v.refusal.ToString();
  auto parsed = envelope::Parse(env);
  EXPECT_EQ(v.message_id, std::string(parsed->message_id()));
  EXPECT_EQ(v.recipient, "NG-AGF");
  EXPECT_GT(v.verify_seconds, 0);
  auto e = storage::DecodeLedgerEntry(v.entry);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->event(), wire::LedgerEvent::Accepted);
  EXPECT_EQ((*e)->sender()->str(), "IT-MOJ");
  EXPECT_EQ((*e)->recipient()->str(), "NG-AGF");
  EXPECT_EQ((*e)->envelope_size(), env.size());
  crypto::Digest32 h = envelope::EnvelopeHash(env);
  EXPECT_TRUE(std::equal(h.begin(), h.end(), (*e)->envelope_hash()->begin()));
  ASSERT_NE((*e)->origin_signature(), nullptr);
  EXPECT_EQ((*e)->origin_signature()->size(), 64u);
  EXPECT_EQ((*e)->state(), wire::MessageState::Queued);
  EXPECT_EQ(OwnMessageId("IT-MOJ", env, 64 * 1024), v.message_id);
  EXPECT_EQ(OwnMessageId("NG-AGF", env, 64 * 1024), std::nullopt);
}

TEST_F(ChecksTest, StructuralRefusalsAreNotRecorded) {
  Bytes junk = crypto::RandomBytes(500);
  SubmitVerdict v = Judge("IT-MOJ", junk);
  EXPECT_EQ(v.refusal.code(), Code::kMalformed);
  EXPECT_FALSE(v.recorded);
  EXPECT_TRUE(v.message_id.empty());
  ExpectRejectedEntry(v, Code::kMalformed);

  Bytes big(64 * 1024 + 1, 0);
  v = Judge("IT-MOJ", big);
  EXPECT_EQ(v.refusal.code(), Code::kOversize);
  ExpectRejectedEntry(v, Code::kOversize);

  Bytes env = Seal(it_, ng_);
  Bytes truncated(env.begin(), env.begin() + static_cast<std::ptrdiff_t>(env.size() / 2));
  v = Judge("IT-MOJ", truncated);
  EXPECT_EQ(v.refusal.code(), Code::kMalformed);

  // Submitted by NG-AGF but naming IT-MOJ as sender.
  v = Judge("NG-AGF", env);
  EXPECT_EQ(v.refusal.code(), Code::kSenderMismatch);
  EXPECT_FALSE(v.recorded);
  auto e = storage::DecodeLedgerEntry(v.entry);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->sender()->str(), "NG-AGF");  // who submitted it, not the claim
}

TEST_F(ChecksTest, DirectoryRefusals) {
  // Unknown sender (authenticated, but not in this directory version).
  SubmitVerdict v = Judge("ZZ-GHO", Seal(ghost_, ng_));
  EXPECT_EQ(v.refusal.code(), Code::kUnknownSender);
  EXPECT_TRUE(v.recorded);
  ExpectRejectedEntry(v, Code::kUnknownSender);
  // Unknown recipient.
  v = Judge("IT-MOJ", Seal(it_, ghost_));
  EXPECT_EQ(v.refusal.code(), Code::kUnknownRecipient);
  EXPECT_TRUE(v.recorded);
  // Kind the recipient does not accept.
  v = Judge("IT-MOJ", Seal(it_, th_));
  EXPECT_EQ(v.refusal.code(), Code::kKindNotAccepted);
  // Revoked sender and revoked recipient.
  directory::Directory d2 = dir_;
  ASSERT_TRUE(d2.Revoke("NG-AGF", "compromised", kNow).ok());
  std::swap(dir_, d2);
  v = Judge("NG-AGF", Seal(ng_, it_));
  EXPECT_EQ(v.refusal.code(), Code::kRevoked);
  v = Judge("IT-MOJ", Seal(it_, ng_));
  EXPECT_EQ(v.refusal.code(), Code::kRevoked);
  std::swap(dir_, d2);
  // A rotated-out signing key.
  Bytes old_key_env = Seal(it_, ng_);
  identity::NodeKeys it2 =
      identity::GenerateNodeKeys(*NodeId::Parse("IT-MOJ"), identity::Role::kAuthority, kNow);
  ASSERT_TRUE(dir_.Rotate(it2.Public()).ok());
  v = Judge("IT-MOJ", old_key_env);
  EXPECT_EQ(v.refusal.code(), Code::kRevoked);
  EXPECT_EQ(Judge("IT-MOJ", Seal(it2, ng_)).kind, VerdictKind::kAccept);
}

TEST_F(ChecksTest, TimeAndSignatureRefusals) {
  Bytes env = Seal(it_, ng_);
  auto parsed = envelope::Parse(env);
  SubmitVerdict v = Judge("IT-MOJ", env, parsed->header->expires_ms() + 1);
  EXPECT_EQ(v.refusal.code(), Code::kExpired);
  EXPECT_TRUE(v.recorded);
  v = Judge("IT-MOJ", env, kNow - envelope::kDefaultMaxClockSkewMs - 60000);
  EXPECT_EQ(v.refusal.code(), Code::kExpired);

  Bytes bad_sig = env;
  bad_sig.back() ^= 0x01;
  v = Judge("IT-MOJ", bad_sig);
  EXPECT_EQ(v.refusal.code(), Code::kBadSignature);
  EXPECT_TRUE(v.recorded);
  ExpectRejectedEntry(v, Code::kBadSignature);

  Bytes bad_ct = env;
  bad_ct[bad_ct.size() - 64 - 32 - 1] ^= 0x01;  // last ciphertext byte
  v = Judge("IT-MOJ", bad_ct);
  EXPECT_EQ(v.refusal.code(), Code::kTamperedCiphertext);
}

TEST_F(ChecksTest, DuplicateIds) {
  Bytes env = Seal(it_, ng_);
  MessageRecord first;
  first.accepted = true;
  first.ledger_index = 17;
  first.sender = "IT-MOJ";
  first.recipient = "NG-AGF";
  first.seq = 4;
  auto hash = envelope::EnvelopeHash(env);
  std::copy(hash.begin(), hash.end(), first.envelope_hash.begin());
  SubmitVerdict v = Judge("IT-MOJ", env, kNow, first);
  ASSERT_EQ(v.kind, VerdictKind::kDuplicate);
  EXPECT_EQ(v.first, first);
  // The same id on another envelope (here: one signature byte changed) is not
  // a resend: refused as a duplicate, not recorded, the first answer kept.
  Bytes other = env;
  other.back() ^= 0x01;
  v = Judge("IT-MOJ", other, kNow, first);
  EXPECT_EQ(v.kind, VerdictKind::kRefuse);
  EXPECT_EQ(v.refusal.code(), Code::kDuplicate);
  EXPECT_NE(v.refusal.message().find("another envelope"), std::string::npos) << v.refusal.message();
  EXPECT_FALSE(v.recorded);
  ExpectRejectedEntry(v, Code::kDuplicate);
  // The same id used by someone else is a duplicate refusal, not recorded
  // (it must not overwrite the owner's answer).
  first.sender = "TH-OAG";
  v = Judge("IT-MOJ", env, kNow, first);
  EXPECT_EQ(v.kind, VerdictKind::kRefuse);
  EXPECT_EQ(v.refusal.code(), Code::kDuplicate);
  EXPECT_FALSE(v.recorded);
}

TEST_F(ChecksTest, Receipts) {
  Bytes env = Seal(it_, ng_);
  auto parsed = envelope::Parse(env);
  envelope::ReceiptInfo info;
  info.message_id = std::string(parsed->message_id());
  info.envelope_hash = envelope::EnvelopeHash(env);
  info.sender = "IT-MOJ";
  info.recipient = "NG-AGF";
  info.received_ms = kNow;
  Bytes receipt = envelope::SignReceipt(info, ng_.sign);
  ReceiptExpectation expect;
  expect.message_id = info.message_id;
  expect.sender = "IT-MOJ";
  expect.recipient = "NG-AGF";
  expect.kind = 1;
  expect.envelope_hash = info.envelope_hash;

  ReceiptVerdict v = EvaluateReceipt(receipt, ng_.sign.public_key(), expect, kNow);
  ASSERT_TRUE(v.status.ok()) << v.status.ToString();
  auto e = storage::DecodeLedgerEntry(v.entry);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->event(), wire::LedgerEvent::Receipt);
  EXPECT_EQ((*e)->receipt_signature()->size(), 64u);
  crypto::Digest32 rh = crypto::Sha256(receipt);
  EXPECT_TRUE(std::equal(rh.begin(), rh.end(), (*e)->receipt_hash()->begin()));

  EXPECT_EQ(EvaluateReceipt(receipt, it_.sign.public_key(), expect, kNow).status.code(),
            Code::kBadSignature);
  EXPECT_EQ(
      EvaluateReceipt(crypto::RandomBytes(80), ng_.sign.public_key(), expect, kNow).status.code(),
      Code::kMalformed);
  ReceiptExpectation other = expect;
  other.message_id = "00112233445566778899aabbccddeeff";
  EXPECT_EQ(EvaluateReceipt(receipt, ng_.sign.public_key(), other, kNow).status.code(),
            Code::kMalformed);
  other = expect;
  other.envelope_hash.fill(0);
  EXPECT_EQ(EvaluateReceipt(receipt, ng_.sign.public_key(), other, kNow).status.code(),
            Code::kMalformed);
  // A receipt that names another sender than the message's is not evidence
  // of this message; one that names none is accepted.
  envelope::ReceiptInfo wrong = info;
  wrong.sender = "TH-OAG";
  ReceiptVerdict w = EvaluateReceipt(envelope::SignReceipt(wrong, ng_.sign), ng_.sign.public_key(), expect, kNow);
  EXPECT_EQ(w.status.code(), Code::kMalformed);
  EXPECT_NE(w.status.message().find("names sender 'TH-OAG'"), std::string::npos) << w.status.ToString();
  envelope::ReceiptInfo none = info;
  none.sender.clear();
  EXPECT_TRUE(EvaluateReceipt(envelope::SignReceipt(none, ng_.sign), ng_.sign.public_key(), expect, kNow).status.ok());

  // received_ms must lie in the message's window, within the clock skew:
  // [created_ms - skew, min(expires_ms, now) + skew].
  ReceiptExpectation timed = expect;
  timed.created_ms = parsed->header->created_ms();
  timed.expires_ms = parsed->header->expires_ms();
  timed.max_clock_skew_ms = 60'000;
  auto at = [&](int64_t received_ms, UnixMillis now) {
    envelope::ReceiptInfo r = info;
    r.received_ms = received_ms;
    return EvaluateReceipt(envelope::SignReceipt(r, ng_.sign), ng_.sign.public_key(), timed, now).status;
  };
  const int64_t created = timed.created_ms;
  const int64_t expires = timed.expires_ms;
  ASSERT_LT(created + 120'000, expires);
  EXPECT_TRUE(at(created, kNow).ok());
  EXPECT_TRUE(at(created - 60'000, kNow).ok()) << "an agent's clock may be behind by the skew";
  Status early = at(created - 60'001, kNow);
  EXPECT_EQ(early.code(), Code::kExpired);
  EXPECT_NE(early.message().find("before the message was created"), std::string::npos) << early.ToString();
  EXPECT_EQ(at(0, kNow).code(), Code::kExpired);
  EXPECT_EQ(at(-5, kNow).code(), Code::kExpired);
  // Later than the hub's clock by more than the skew: dated ahead.
  EXPECT_TRUE(at(kNow + 60'000, kNow).ok());
  Status ahead = at(kNow + 60'001, kNow);
  EXPECT_EQ(ahead.code(), Code::kExpired);
  EXPECT_NE(ahead.message().find("later than the hub's clock"), std::string::npos) << ahead.ToString();
  // After the message expired (a late receipt, the hub's clock past it).
  EXPECT_TRUE(at(expires + 60'000, expires + 3'600'000).ok());
  Status after = at(expires + 60'001, expires + 3'600'000);
  EXPECT_EQ(after.code(), Code::kExpired);
  EXPECT_NE(after.message().find("after the message expired"), std::string::npos) << after.ToString();
  // Unknown bounds are not checked (a repeat of a recorded receipt).
  EXPECT_TRUE(EvaluateReceipt(envelope::SignReceipt(info, ng_.sign), ng_.sign.public_key(), expect, 0).status.ok());
}

}  // namespace
}  // namespace mlahub::broker
