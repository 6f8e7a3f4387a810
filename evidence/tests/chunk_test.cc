// Chunk frames, the hash chain, manifests and the small helpers.
#include "mlahub/evidence/chunk.h"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include "mlahub/evidence/errors.h"
#include "mlahub/evidence/manifest.h"
#include "mlahub/evidence/progress.h"
#include "mlahub/schemas/evidence_generated.h"
#include "test_util.h"

namespace mlahub::evidence {
namespace {

ChunkFrame SampleFrame() {
  ChunkFrame f;
  f.transfer_id = std::string(32, 'a');
  f.chunk_index = 3;
  f.chunk_count = 9;
  f.ciphertext = Bytes(100, 0x5a);
  f.ciphertext_hash = HashCiphertext(f.ciphertext);
  f.next_link.fill(7);
  return f;
}

TEST(ChunkFrameTest, RoundTrip) {
  ChunkFrame f = SampleFrame();
  Bytes enc = EncodeChunk(f);
  auto dec = DecodeChunk(enc);
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  EXPECT_EQ(*dec, f);
  EXPECT_LE(enc.size(), f.ciphertext.size() + kChunkFrameOverhead);
}

TEST(ChunkFrameTest, LargestFrameFitsTheBound) {
  ChunkFrame f = SampleFrame();
  f.ciphertext = Bytes(kMaxChunkSize + kChunkOverhead, 1);
  f.ciphertext_hash = HashCiphertext(f.ciphertext);
  Bytes enc = EncodeChunk(f);
  EXPECT_LE(enc.size(), kMaxChunkFrameSize);
  EXPECT_TRUE(DecodeChunk(enc).ok());
}

TEST(ChunkFrameTest, RefusesMalformedFrames) {
  Bytes good = EncodeChunk(SampleFrame());
  EXPECT_ERRC(DecodeChunk(Bytes()).status(), Errc::kMalformedChunk);
  EXPECT_ERRC(DecodeChunk(ByteView(good.data(), good.size() / 2)).status(), Errc::kMalformedChunk);
  Bytes wrong_id = good;
  wrong_id[4] = 'X';  // file identifier
  EXPECT_ERRC(DecodeChunk(wrong_id).status(), Errc::kMalformedChunk);
  EXPECT_EQ(DecodeChunk(Bytes(kMaxChunkFrameSize + 1, 0)).status().code(), Code::kMalformed);

  auto with = [](auto mutate) {
    ChunkFrame f = SampleFrame();
    mutate(f);
    return DecodeChunk(EncodeChunk(f)).status();
  };
  EXPECT_ERRC(with([](ChunkFrame& f) { f.transfer_id = "../../etc"; }), Errc::kMalformedChunk);
  EXPECT_ERRC(with([](ChunkFrame& f) { f.transfer_id = std::string(32, 'A'); }),
              Errc::kMalformedChunk);
  EXPECT_ERRC(with([](ChunkFrame& f) { f.chunk_index = 9; }), Errc::kMalformedChunk);
  EXPECT_ERRC(with([](ChunkFrame& f) {
                f.chunk_count = 0;
                f.chunk_index = 0;
              }),
              Errc::kMalformedChunk);
  EXPECT_ERRC(with([](ChunkFrame& f) {
                f.ciphertext = Bytes(16, 1);
                f.ciphertext_hash = HashCiphertext(f.ciphertext);
              }),
              Errc::kMalformedChunk);
  // A damaged ciphertext: the frame's own hash catches it.
  EXPECT_ERRC(with([](ChunkFrame& f) { f.ciphertext[10] ^= 1; }), Errc::kTamperedChunk);

  // Hashes of the wrong length, built by hand.
  flatbuffers::FlatBufferBuilder b;
  auto id = b.CreateString(std::string(32, 'b'));
  Bytes ct(20, 0);
  auto ctv = b.CreateVector(ct);
  Bytes short_hash(31, 0);
  auto h = b.CreateVector(short_hash);
  auto n = b.CreateVector(short_hash);
  b.Finish(wire::CreateEvidenceChunk(b, id, 0, 1, ctv, h, n), wire::EvidenceChunkIdentifier());
  EXPECT_ERRC(DecodeChunk(ByteView(b.GetBufferPointer(), b.GetSize())).status(),
              Errc::kMalformedChunk);
}

TEST(ChainTest, LinksBindIndexHashAndNext) {
  Link h = HashCiphertext(AsBytes("ct"));
  Link zero{};
  Link base = ChainLink(0, h, zero);
  EXPECT_NE(base, ChainLink(1, h, zero));
  Link other_next = zero;
  other_next[0] = 1;
  EXPECT_NE(base, ChainLink(0, h, other_next));
  EXPECT_NE(base, ChainLink(0, HashCiphertext(AsBytes("cT")), zero));
  EXPECT_EQ(base, ChainLink(0, h, zero));
}

TEST(GeometryTest, CountsAndLengths) {
  EXPECT_EQ(ChunkCountFor(0, 1024), 1u);
  EXPECT_EQ(ChunkCountFor(1, 1024), 1u);
  EXPECT_EQ(ChunkCountFor(1024, 1024), 1u);
  EXPECT_EQ(ChunkCountFor(1025, 1024), 2u);
  EXPECT_EQ(PlainLengthOf(1025, 1024, 0), 1024u);
  EXPECT_EQ(PlainLengthOf(1025, 1024, 1), 1u);
  EXPECT_EQ(PlainLengthOf(0, 1024, 0), 0u);
  EXPECT_EQ(ChunkCountFor(uint64_t{2} << 30, kDefaultChunkSize), 8192u);
}

TEST(ErrorsTest, NamesRoundTripThroughStatus) {
  for (Errc e : {Errc::kTamperedChunk, Errc::kOutOfOrder, Errc::kMissingChunk,
                 Errc::kDuplicateChunk, Errc::kFileHashMismatch, Errc::kMalformedChunk,
                 Errc::kWrongTransfer, Errc::kSourceChanged}) {
    Status s = MakeError(e, "details");
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(ErrcOf(s), e) << s.ToString();
  }
  EXPECT_EQ(MakeError(Errc::kTamperedChunk, "x").code(), Code::kTamperedCiphertext);
  EXPECT_EQ(MakeError(Errc::kFileHashMismatch, "x").code(), Code::kCorruption);
  EXPECT_EQ(ErrcOf(Status::Corruption("tampered_chunk: but a corruption code")), Errc::kNone);
  EXPECT_EQ(ErrcOf(Status::Ok()), Errc::kNone);
}

TEST(ManifestTest, MediaTypesAndFileNames) {
  EXPECT_EQ(GuessMediaType("cctv.MP4"), "video/mp4");
  EXPECT_EQ(GuessMediaType("statement.pdf"), "application/pdf");
  EXPECT_EQ(GuessMediaType("extraction"), "application/octet-stream");
  EXPECT_EQ(GuessMediaType("x."), "application/octet-stream");
  EXPECT_OK(CheckFileName("A1-statement-W1.pdf"));
  for (const char* bad : {"", ".", "..", ".hidden", "a/b", "..\\x", "a\nb"})
    EXPECT_EQ(CheckFileName(bad).code(), Code::kInvalidArgument) << bad;
  EXPECT_EQ(CheckFileName(std::string(256, 'a')).code(), Code::kInvalidArgument);
}

TEST(ManifestTest, SpecRoundTripsThroughTheWireTable) {
  StreamSpec s;
  s.transfer_id = NewTransferId();
  s.file_name = "video.mp4";
  s.size_bytes = 5000;
  s.sha256.fill(3);
  s.media_type = "video/mp4";
  s.chain_of_custody = "seized 2026-01-02 by officer 7, copied with write blocker";
  s.chunk_size = 1024;
  s.chunk_count = 5;
  s.chunks_root.fill(9);
  s.stream_header.fill(4);
  s.stream_key = crypto::NewSecretStreamKey();
  Bytes enc = EncodeSpec(s);
  auto back = DecodeSpec(enc);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->SameAs(s));
  // Inconsistent geometry and unsafe names are refused.
  StreamSpec bad = s.Clone();
  bad.chunk_count = 4;
  EXPECT_EQ(DecodeSpec(EncodeSpec(bad)).status().code(), Code::kMalformed);
  bad = s.Clone();
  bad.file_name = "../evil";
  EXPECT_EQ(DecodeSpec(EncodeSpec(bad)).status().code(), Code::kMalformed);
  bad = s.Clone();
  bad.chunk_size = 512;
  bad.chunk_count = ChunkCountFor(bad.size_bytes, 512);
  EXPECT_EQ(DecodeSpec(EncodeSpec(bad)).status().code(), Code::kMalformed);
  // Free texts and the size within their bounds for a spec that arrives (it
  // is stored and read back whole; a custody text of a megabyte made a
  // received file unfetchable). One stored before the bounds still decodes.
  bad = s.Clone();
  bad.chain_of_custody.assign(kMaxChainOfCustodyBytes, 'c');
  EXPECT_TRUE(CheckSpecBounds(bad).ok());
  bad.chain_of_custody.push_back('c');
  EXPECT_EQ(CheckSpecBounds(bad).code(), Code::kMalformed);
  EXPECT_TRUE(DecodeSpec(EncodeSpec(bad)).ok()) << "read back as stored";
  bad = s.Clone();
  bad.media_type.assign(kMaxMediaTypeBytes + 1, 'm');
  EXPECT_EQ(CheckSpecBounds(bad).code(), Code::kMalformed);
  bad = s.Clone();
  bad.size_bytes = ~uint64_t{0};  // its chunk count wraps
  bad.chunk_count = ChunkCountFor(bad.size_bytes, bad.chunk_size);
  EXPECT_EQ(CheckSpecBounds(bad).code(), Code::kMalformed);
  // A file described without a stream has no key: not a StreamSpec.
  FileDescription d{"a.pdf", 10, {}, "application/pdf", ""};
  flatbuffers::FlatBufferBuilder b;
  b.Finish(BuildEvidenceFile(b, d));
  EXPECT_EQ(DecodeSpec(ByteView(b.GetBufferPointer(), b.GetSize())).status().code(),
            Code::kMalformed);
}

TEST(ManifestTest, DescribeFileHashesTheBytes) {
  testing::TempDir dir;
  std::string path = dir.path() + "/records.csv";
  auto sha = testing::WritePatternFile(path, 3 * 1024 * 1024 + 7);
  auto d = DescribeFile(path, "bank records, produced under order 12");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->file_name, "records.csv");
  EXPECT_EQ(d->size_bytes, 3u * 1024 * 1024 + 7);
  EXPECT_EQ(d->sha256, sha);
  EXPECT_EQ(d->media_type, "text/csv");
  EXPECT_EQ(DescribeFile(dir.path() + "/missing").status().code(), Code::kNotFound);
}

TEST(ProgressTest, JsonAndBar) {
  Progress p;
  p.bytes_done = 50;
  p.bytes_total = 100;
  p.chunks_done = 1;
  p.chunks_total = 2;
  p.bytes_per_second = 1024 * 1024;
  p.eta_seconds = 75;
  EXPECT_EQ(ProgressJson(p),
            "{\"bytes\":50,\"total\":100,\"chunks\":1,\"chunk_count\":2,\"rate_bps\":1048576,"
            "\"eta_s\":75.0,\"done\":false}");
  EXPECT_EQ(ProgressBar(p, 10), "[#####.....]  50.0%  1.0 MiB/s  ETA 0:01:15");
  int calls = 0;
  Progress last;
  ProgressMeter m(100, 2, [&](const Progress& q) {
    ++calls;
    last = q;
  });
  m.Update(50, 1);
  m.Finish(100, 2);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(last.finished);
  EXPECT_EQ(last.bytes_done, 100u);
  EXPECT_EQ(last.eta_seconds, 0);
}

}  // namespace
}  // namespace mlahub::evidence
