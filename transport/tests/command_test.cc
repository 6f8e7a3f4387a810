#include "mlahub/transport/command.h"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include "mlahub/core/utf8.h"

#include <random>

#include "mlahub/schemas/transport_generated.h"

namespace mlahub::transport {
namespace {

Hash H(uint8_t b) {
  Hash h;
  h.fill(b);
  return h;
}

const std::string kTid = "0123456789abcdef0123456789abcdef";
Bytes ChunkBytes(size_t extra = 8) {
  Bytes b = {0, 0, 0, 0, 'M', 'L', 'E', 'C'};
  b.resize(8 + extra, 0x5a);
  return b;
}

std::vector<Command> AllCommands() {
  return {
      Hello{"NG-AGF", 7, 1234, 99, kTransportProtocolVersion},
      Submit{42, ToBytes("MLE1 an envelope")},
      SubmitResult{42, "00112233445566778899aabbccddeeff", true, Code::kOk, "", 17, 18, false},
      SubmitResult{43, "00112233445566778899aabbccddeef0", false, Code::kKindNotAccepted,
                   "NG-AGF does not accept ExtraditionRequest", 19, 20, true},
      Deliver{5, 17, ToBytes("MLE1 another envelope")},
      Deliver{9, 18, ToBytes("MLE1 after a gap"), 7},
      SubmitReceipt{8, 5, ToBytes("MLAR receipt")},
      ReceiptResult{8, "00112233445566778899aabbccddeeff", true, Code::kOk, "", 21, false},
      ReceiptResult{9, "", false, Code::kBadSignature, "receipt signature does not verify", 0, false},
      DirectoryUpdate{8, ToBytes("MLAD directory")},
      CheckpointUpdate{ToBytes("hub.example/ledger\n18\nAAAA\n\n— hub ...\n"), 12, {H(1), H(2), H(3)}},
      CheckpointUpdate{ToBytes("note"), 0, {}},
      ProofRequest{3, ProofKind::kInclusion, 17, 18, 0},
      ProofRequest{4, ProofKind::kConsistency, 0, 18, 12},
      ProofResponse{3, ProofKind::kInclusion, 17, 18, 0, ToBytes("entry bytes"), {H(9), H(8)}, Code::kOk, ""},
      ProofResponse{5, ProofKind::kInclusion, 99, 18, 0, {}, {}, Code::kNotFound, "index 99 beyond tree size 18"},
      Ping{77, 1795824000000},
      Pong{77, 1795824000000},
      ErrorReply{Code::kMalformed, "command frame fails the FlatBuffers verifier", 0},
      Notice{"00112233445566778899aabbccddeeff", {EventKind::kDelivered, 30, 1795824000123, Code::kOk, 2, 2}, {}},
      Notice{"00112233445566778899aabbccddeeff", {EventKind::kReceipt, 31, 1795824000456, Code::kOk, 0, 3},
             ToBytes("MLAR signed receipt")},
      StatusRequest{11, "00112233445566778899aabbccddeeff"},
      StatusResponse{11,
                     "00112233445566778899aabbccddeeff",
                     Code::kOk,
                     "",
                     {{EventKind::kAccepted, 17, 1795824000000, Code::kOk, 0, 1},
                      {EventKind::kDelivered, 30, 1795824000123, Code::kOk, 1, 2},
                      {EventKind::kReceipt, 31, 1795824000456, Code::kOk, 0, 3}},
                     ToBytes("MLAR signed receipt")},
      StatusResponse{12, "ffeeddccbbaa99887766554433221100", Code::kNotFound, "no such message for IT-MOJ", {}, {}},
      ChunkPut{kTid, "IT-MOJ", 3, "00112233445566778899aabbccddeeff", ChunkBytes()},
      ChunkPut{kTid, "IT-MOJ", 0, "", ChunkBytes(0)},
      ChunkAck{kTid, 4, 40, Code::kOk, ""},
      ChunkAck{kTid, 40, 40, Code::kOk, "", true},
      ChunkAck{kTid, 0, 0, Code::kMalformed, "chunk 7 out of order (stored 4)"},
      ChunkDeliver{kTid, "NG-AGF", 3, ChunkBytes()},
      ChunkDeliver{kTid, "NG-AGF", 4, ChunkBytes(), "00112233445566778899aabbccddeeff"},
      ChunkReceived{kTid, 16, Code::kOk},
      ChunkReceived{kTid, 16, Code::kTamperedCiphertext},
      ChunkStatus{kTid},
  };
}

TEST(CommandTest, EveryCommandRoundTrips) {
  for (const Command& c : AllCommands()) {
    auto frames = EncodeCommand(c);
    ASSERT_TRUE(frames.ok()) << CommandName(c) << ": " << frames.status().ToString();
    auto back = DecodeCommand(*frames);
    ASSERT_TRUE(back.ok()) << CommandName(c) << ": " << back.status().ToString();
    EXPECT_EQ(*back, c) << CommandName(c);
  }
}

TEST(CommandTest, AttachmentsTravelAsTheirOwnFrame) {
  Bytes envelope = ToBytes("MLE1 raw envelope bytes");
  auto frames = EncodeCommand(Submit{1, envelope});
  ASSERT_TRUE(frames.ok());
  ASSERT_EQ(frames->size(), 2u);
  EXPECT_EQ((*frames)[1], envelope);
  EXPECT_TRUE(flatbuffers::BufferHasIdentifier((*frames)[0].data(), "MLAT"));
  auto hello = EncodeCommand(Hello{"IT-MOJ"});
  ASSERT_TRUE(hello.ok());
  EXPECT_EQ(hello->size(), 1u);
}

TEST(CommandTest, EncodeRefusesWhatTheSchemaForbids) {
  EXPECT_EQ(EncodeCommand(SubmitResult{1, "x", true, Code::kDuplicate, ""}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeCommand(SubmitResult{1, "x", false, Code::kOk, ""}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeCommand(ReceiptResult{1, "x", false, Code::kOk, ""}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeCommand(ErrorReply{Code::kOk, "no"}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeCommand(ErrorReply{static_cast<Code>(77), "no such code"}).status().code(), Code::kInvalidArgument);
  CheckpointUpdate big{ToBytes("n"), 1, std::vector<Hash>(kMaxProofHashes + 1, H(0))};
  EXPECT_EQ(EncodeCommand(big).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeCommand(Deliver{5, 17, ToBytes("e"), 6}).status().code(), Code::kInvalidArgument);
  Hello huge{std::string(kMaxCommandFrameSize, 'A')};
  EXPECT_EQ(EncodeCommand(huge).status().code(), Code::kInvalidArgument);
}

TEST(CommandTest, WrongFrameCountsAreMalformed) {
  auto submit = *EncodeCommand(Submit{1, ToBytes("env")});
  auto ping = *EncodeCommand(Ping{1, 2});
  EXPECT_EQ(DecodeCommand(Frames{}).status().code(), Code::kMalformed);
  // Submit without its envelope; Ping with one; three frames.
  EXPECT_EQ(DecodeCommand(Frames{submit[0]}).status().code(), Code::kMalformed);
  EXPECT_EQ(DecodeCommand(Frames{ping[0], ToBytes("extra")}).status().code(), Code::kMalformed);
  EXPECT_EQ(DecodeCommand(Frames{submit[0], submit[1], submit[1]}).status().code(), Code::kMalformed);
  // The Error for them still names the request when its frame is readable.
  auto submit7 = *EncodeCommand(Submit{7, ToBytes("env")});
  EXPECT_EQ(RequestCorrelation(Frames{submit7[0]}), 7u);
  EXPECT_EQ(RequestCorrelation(Frames{submit7[0], submit7[1], submit7[1]}), 7u);
  EXPECT_EQ(RequestCorrelation(Frames{ping[0], ToBytes("extra")}), 0u) << "not a request";
  EXPECT_EQ(RequestCorrelation(Frames{ToBytes("random bytes, not a command")}), 0u);
  EXPECT_EQ(RequestCorrelation(Frames{Bytes(submit7[0].begin(), submit7[0].end() - 3)}), 0u);
  EXPECT_EQ(RequestCorrelation(Frames{}), 0u);
}

TEST(CommandTest, SizeLimitsApply) {
  auto submit = *EncodeCommand(Submit{1, Bytes(1000, 7)});
  DecodeLimits limits;
  limits.max_attachment_size = 999;
  EXPECT_EQ(DecodeCommand(submit, limits).status().code(), Code::kOversize);
  limits.max_attachment_size = 1000;
  EXPECT_TRUE(DecodeCommand(submit, limits).ok());
  limits.max_command_size = 8;
  EXPECT_EQ(DecodeCommand(submit, limits).status().code(), Code::kMalformed);
}

TEST(CommandTest, GarbageAndTruncationAreMalformed) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    Bytes junk(rng() % 200);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    auto r = DecodeCommand(Frames{junk});
    EXPECT_EQ(r.status().code(), Code::kMalformed) << i;
  }
  for (const Command& c : AllCommands()) {
    Frames frames = *EncodeCommand(c);
    for (size_t n = 0; n < frames[0].size(); ++n) {
      Frames cut = frames;
      cut[0].resize(n);
      auto r = DecodeCommand(cut);
      // Cutting only the builder's trailing alignment padding leaves the same
      // command; any other cut is refused.
      if (r.ok()) {
        EXPECT_EQ(*r, c) << CommandName(c) << " cut at " << n;
        EXPECT_GE(n + 8, frames[0].size()) << CommandName(c) << " cut at " << n;
      } else {
        EXPECT_EQ(r.status().code(), Code::kMalformed) << CommandName(c) << " cut at " << n;
      }
    }
  }
}

TEST(CommandTest, BitFlipsGiveANamedRefusalOrAConsistentCommand) {
  for (const Command& c : AllCommands()) {
    Frames frames = *EncodeCommand(c);
    for (size_t pos = 0; pos < frames[0].size(); ++pos) {
      for (uint8_t mask : {0x01, 0x80, 0xff}) {
        Frames f = frames;
        f[0][pos] ^= mask;
        auto r = DecodeCommand(f);
        // Either a (possibly different) valid command or a named refusal.
        if (!r.ok()) {
          Code code = r.status().code();
          EXPECT_TRUE(code == Code::kMalformed || code == Code::kUnknownKind) << r.status().ToString();
        } else {
          // Whatever decodes is a consistent value: it encodes again.
          EXPECT_TRUE(EncodeCommand(*r).ok()) << CommandName(*r);
        }
      }
    }
  }
}

TEST(CommandTest, ChunkCommandsCheckIdsAndAttachment) {
  // Encoding refuses bad ids, decoding refuses them too.
  EXPECT_EQ(EncodeCommand(ChunkPut{"ABC", "IT-MOJ", 0, "", ChunkBytes()}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeCommand(ChunkPut{kTid, "", 0, "", ChunkBytes()}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeCommand(ChunkPut{kTid, "IT MOJ", 0, "", ChunkBytes()}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeCommand(ChunkPut{kTid, "IT-MOJ", 0, "xyz", ChunkBytes()}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeCommand(ChunkStatus{"0123456789ABCDEF0123456789abcdef"}).status().code(), Code::kInvalidArgument);
  {
    flatbuffers::FlatBufferBuilder b;
    auto tid = b.CreateString("../../etc/passwd");
    auto body = wire::CreateChunkStatus(b, tid).Union();
    wire::FinishCommandBuffer(b, wire::CreateCommand(b, wire::CommandBody::ChunkStatus, body));
    Frames f{Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize())};
    EXPECT_EQ(DecodeCommand(f).status().code(), Code::kMalformed);
  }
  // The attachment must be an EvidenceChunk, within the chunk limit (not the
  // envelope limit).
  Frames put = *EncodeCommand(ChunkPut{kTid, "IT-MOJ", 0, "", ChunkBytes()});
  Frames wrong = put;
  wrong[1] = ToBytes("MLE1 an envelope, not a chunk");
  EXPECT_EQ(DecodeCommand(wrong).status().code(), Code::kMalformed);
  EXPECT_EQ(DecodeCommand(Frames{put[0]}).status().code(), Code::kMalformed);
  Frames big = *EncodeCommand(ChunkDeliver{kTid, "NG-AGF", 0, ChunkBytes(kMaxChunkAttachmentSize - 8)});
  DecodeLimits limits;
  limits.max_attachment_size = 1000;  // envelopes: does not apply to chunks
  EXPECT_TRUE(DecodeCommand(big, limits).ok());
  big[1].push_back(0);
  EXPECT_EQ(DecodeCommand(big, limits).status().code(), Code::kOversize);
  EXPECT_TRUE(IsBulk(ChunkPut{}));
  EXPECT_TRUE(IsBulk(ChunkDeliver{}));
  EXPECT_FALSE(IsBulk(Deliver{}));
  EXPECT_FALSE(IsBulk(ChunkAck{}));
}

TEST(CommandTest, WrongIdentifierIsMalformed) {
  Frames f = *EncodeCommand(Ping{1, 2});
  f[0][4] = 'X';  // "MLAT" -> "XLAT"
  EXPECT_EQ(DecodeCommand(f).status().code(), Code::kMalformed);
}

TEST(CommandTest, UnknownCommandTypeIsUnknownKind) {
  flatbuffers::FlatBufferBuilder b;
  auto ping = wire::CreatePing(b, 1, 2).Union();
  wire::FinishCommandBuffer(b, wire::CreateCommand(b, static_cast<wire::CommandBody>(200), ping));
  Frames f{Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize())};
  EXPECT_EQ(DecodeCommand(f).status().code(), Code::kUnknownKind);
}

TEST(CommandTest, StatusResponseEventsAreBounded) {
  StatusResponse r{1, "00112233445566778899aabbccddeeff", Code::kOk, "", {}, {}};
  r.events.assign(kMaxStatusEvents, TransportEvent{EventKind::kDelivered, 1, 2, Code::kOk, 1, 2});
  auto ok = EncodeCommand(r);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(DecodeCommand(*ok).ok());
  r.events.push_back(r.events.back());
  auto over = EncodeCommand(r);
  ASSERT_TRUE(over.ok());
  EXPECT_EQ(DecodeCommand(*over).status().code(), Code::kMalformed);
}

TEST(CommandTest, EventKindNamesAreStable) {
  EXPECT_EQ(EventKindName(EventKind::kAccepted), "accepted");
  EXPECT_EQ(EventKindName(EventKind::kReceipt), "receipt");
  EXPECT_EQ(EventKindName(static_cast<EventKind>(99)), "unspecified");
}

TEST(CommandTest, BodylessCommandIsMalformed) {
  flatbuffers::FlatBufferBuilder b;
  wire::FinishCommandBuffer(b, wire::CreateCommand(b));
  Frames f{Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize())};
  EXPECT_EQ(DecodeCommand(f).status().code(), Code::kMalformed);
}

TEST(CommandTest, ProofBytesMustBeWholeHashes) {
  flatbuffers::FlatBufferBuilder b;
  Bytes odd(33, 1);
  auto proof = b.CreateVector(odd);
  auto body = wire::CreateProofResponse(b, 1, wire::ProofKind::Inclusion, 0, 1, 0, 0, proof).Union();
  wire::FinishCommandBuffer(b, wire::CreateCommand(b, wire::CommandBody::ProofResponse, body));
  Frames f{Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize())};
  auto r = DecodeCommand(f);
  EXPECT_EQ(r.status().code(), Code::kMalformed);
  EXPECT_NE(r.status().message().find("32-byte"), std::string::npos) << r.status().ToString();
}

TEST(CommandTest, ResultsWhoseOutcomeDisagreesAreMalformed) {
  flatbuffers::FlatBufferBuilder b;
  auto body = wire::CreateSubmitResult(b, 1, 0, /*accepted=*/false, wire::ErrorCode::Ok).Union();
  wire::FinishCommandBuffer(b, wire::CreateCommand(b, wire::CommandBody::SubmitResult, body));
  Frames f{Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize())};
  EXPECT_EQ(DecodeCommand(f).status().code(), Code::kMalformed);
}

TEST(CommandTest, DeliverSettledAboveItsOwnSequenceIsMalformed) {
  flatbuffers::FlatBufferBuilder b;
  auto body = wire::CreateDeliver(b, /*delivery_seq=*/5, 17, /*settled_below=*/6).Union();
  wire::FinishCommandBuffer(b, wire::CreateCommand(b, wire::CommandBody::Deliver, body));
  Frames f{Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()), ToBytes("MLE1 e")};
  EXPECT_EQ(DecodeCommand(f).status().code(), Code::kMalformed);
}

TEST(CommandTest, AStringThatIsNotUtf8IsMalformed) {
  // The hub's message texts reach the agent's stored records and its JSON
  // API; bytes that are not UTF-8 are refused where they arrive.
  for (std::string text : {std::string("rate limited"), std::string("caf\xC3\xA9"), std::string("\xFF"),
                           std::string("ok\xE2\x82"), std::string("\xED\xA0\x80")}) {
    flatbuffers::FlatBufferBuilder b;
    auto body = wire::CreateSubmitResultDirect(b, 1, "0123456789abcdef0123456789abcdef", false,
                                               wire::ErrorCode::Malformed, text.c_str()).Union();
    wire::FinishCommandBuffer(b, wire::CreateCommand(b, wire::CommandBody::SubmitResult, body));
    Frames f{Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize())};
    auto r = DecodeCommand(f);
    if (IsValidUtf8(text)) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(std::get<SubmitResult>(*r).message, text);
    } else {
      EXPECT_EQ(r.status().code(), Code::kMalformed);
      EXPECT_NE(r.status().message().find("not valid UTF-8"), std::string::npos) << r.status().ToString();
    }
  }
  flatbuffers::FlatBufferBuilder b;
  auto body = wire::CreateErrorDirect(b, wire::ErrorCode::Unavailable, "\xC0\x80", 3).Union();
  wire::FinishCommandBuffer(b, wire::CreateCommand(b, wire::CommandBody::Error, body));
  Frames f{Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize())};
  EXPECT_EQ(DecodeCommand(f).status().code(), Code::kMalformed);
}

TEST(CommandTest, UnknownErrorCodeIsNeverReadAsOk) {
  flatbuffers::FlatBufferBuilder b;
  auto body = wire::CreateSubmitResult(b, 1, 0, false, static_cast<wire::ErrorCode>(60)).Union();
  wire::FinishCommandBuffer(b, wire::CreateCommand(b, wire::CommandBody::SubmitResult, body));
  Frames f{Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize())};
  auto r = DecodeCommand(f);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& sr = std::get<SubmitResult>(*r);
  EXPECT_FALSE(sr.accepted);
  EXPECT_EQ(sr.error, Code::kInternal);
}

}  // namespace
}  // namespace mlahub::transport
