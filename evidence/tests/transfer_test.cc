// Spool -> frames -> Assembler -> Fetch, in one process: round trips of the
// sizes around a chunk boundary, every named integrity error, and resume of
// both sides from their durable marks (reopening from disk).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "mlahub/evidence/assembler.h"
#include "mlahub/evidence/chunk.h"
#include "mlahub/evidence/errors.h"
#include "mlahub/evidence/spool.h"
#include "mlahub/evidence/store.h"
#include "test_util.h"

namespace mlahub::evidence {
namespace {
using testing::TempDir;
using testing::TestKey;

constexpr uint32_t kSmallChunk = 4096;

template <typename T>
T Take(Result<T> r) {
  MLAHUB_CHECK_MSG(r.ok(), r.status().ToString());
  return std::move(r).value();
}

class TransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sender_ = Take(EvidenceStore::Open(dir_.path() + "/sender", TestKey(1)));
    receiver_ = Take(EvidenceStore::Open(dir_.path() + "/receiver", TestKey(2)));
    ASSERT_OK(MakeDirs(dir_.path() + "/out"));
  }

  std::string Source(const std::string& name, uint64_t size, uint64_t seed = 1) {
    std::string path = dir_.path() + "/" + name;
    source_sha_ = testing::WritePatternFile(path, size, seed);
    return path;
  }

  std::unique_ptr<Spool> SpoolFile(const std::string& path, uint32_t chunk_size = kSmallChunk,
                                   uint32_t sync_every = 4) {
    SpoolOptions o;
    o.chunk_size = chunk_size;
    o.sync_every = sync_every;
    o.chain_of_custody = "seized by unit 4, imaged with write blocker";
    auto spool = Take(sender_->CreateSpool(path, o));
    MLAHUB_CHECK(spool->Run().ok());
    return spool;
  }

  // The spec as the receiver gets it: written into an EvidenceManifest (as
  // in the sealed body), verified and read back.
  StreamSpec ThroughManifest(const Spool& spool) {
    StreamSpec spec = Take(spool.Spec());
    flatbuffers::FlatBufferBuilder b;
    b.Finish(BuildEvidenceManifest(b, {&spec}, "test"));
    flatbuffers::Verifier v(b.GetBufferPointer(), b.GetSize());
    MLAHUB_CHECK(v.VerifyBuffer<wire::EvidenceManifest>(nullptr));
    const auto* m = flatbuffers::GetRoot<wire::EvidenceManifest>(b.GetBufferPointer());
    MLAHUB_CHECK(m->files()->size() == 1 && m->total_size_bytes() == spec.size_bytes);
    return Take(SpecFromWire(*m->files()->Get(0)));
  }

  void Ship(const Spool& spool, Assembler& a, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i < to; ++i) {
      Bytes frame = Take(spool.ReadChunkFrame(i));
      auto r = a.Accept(frame);
      ASSERT_TRUE(r.ok()) << "chunk " << i << ": " << r.status().ToString();
    }
  }

  std::string Fetched(const std::string& file_name) { return dir_.path() + "/out/" + file_name; }

  TempDir dir_;
  std::unique_ptr<EvidenceStore> sender_, receiver_;
  crypto::Digest32 source_sha_{};
};

class RoundTripTest : public TransferTest, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(RoundTripTest, SpoolAssembleFetch) {
  const uint64_t size = GetParam();
  std::string path = Source("item.bin", size);
  auto spool = SpoolFile(path);
  ASSERT_TRUE(spool->sealed());
  StreamSpec spec = ThroughManifest(*spool);
  EXPECT_EQ(spec.size_bytes, size);
  EXPECT_EQ(spec.sha256, source_sha_);
  EXPECT_EQ(spec.chunk_count, ChunkCountFor(size, kSmallChunk));
  EXPECT_EQ(spec.chain_of_custody, "seized by unit 4, imaged with write blocker");
  auto a = Take(receiver_->Receive(spec));
  for (uint64_t i = 0; i < spec.chunk_count; ++i) {
    auto r = a->Accept(Take(spool->ReadChunkFrame(i)));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, i + 1 == spec.chunk_count ? Assembler::Outcome::kComplete
                                            : Assembler::Outcome::kStored);
  }
  EXPECT_EQ(a->state(), TransferState::kComplete);
  EXPECT_EQ(a->durable(), spec.chunk_count);
  // Encrypted at rest: the receiver holds ciphertext only.
  EXPECT_EQ(testing::FileSizeOf(receiver_->IncomingDir(spec.transfer_id) + "/chunks"),
            size + spec.chunk_count * kChunkOverhead);
  ASSERT_OK(receiver_->Fetch(spec.transfer_id, dir_.path() + "/out"));
  auto got = Take(DescribeFile(Fetched("item.bin")));
  EXPECT_EQ(got.size_bytes, size);
  EXPECT_EQ(got.sha256, source_sha_);
}

// A node's key rotation changes its at-rest key: transfers written before
// keep theirs and are still read (and finished) with the earlier key given;
// without it they do not open; new transfers use the new key.
TEST_F(TransferTest, TransfersWrittenBeforeAKeyRotationStayReadable) {
  const uint64_t size = 3 * kSmallChunk + 5;
  auto spool = SpoolFile(Source("before.bin", size));
  StreamSpec spec = ThroughManifest(*spool);
  {
    auto a = Take(receiver_->Receive(spec));
    ASSERT_NO_FATAL_FAILURE(Ship(*spool, *a, 0, 2));  // half of it before the rotation
  }
  // The rotation: both stores reopened under new keys.
  sender_.reset();
  receiver_.reset();
  {
    auto without = Take(EvidenceStore::Open(dir_.path() + "/receiver", TestKey(4)));
    EXPECT_FALSE(without->Info(spec.transfer_id).ok()) << "another key does not open it";
    auto sender_without = Take(EvidenceStore::Open(dir_.path() + "/sender", TestKey(3)));
    EXPECT_FALSE(sender_without->OpenSpool(spec.transfer_id).ok());
  }
  std::vector<AtRestKey> r_earlier, s_earlier;
  r_earlier.push_back(TestKey(2));
  s_earlier.push_back(TestKey(1));
  receiver_ = Take(EvidenceStore::Open(dir_.path() + "/receiver", TestKey(4), std::move(r_earlier)));
  sender_ = Take(EvidenceStore::Open(dir_.path() + "/sender", TestKey(3), std::move(s_earlier)));
  auto reopened = Take(sender_->OpenSpool(spec.transfer_id));
  auto info = Take(receiver_->Info(spec.transfer_id));
  EXPECT_LE(info.chunks_done, 2u);  // its durable mark (synced every few chunks)
  auto a = Take(receiver_->OpenIncoming(spec.transfer_id));
  ASSERT_NO_FATAL_FAILURE(Ship(*reopened, *a, a->durable(), spec.chunk_count));
  EXPECT_EQ(a->state(), TransferState::kComplete);
  ASSERT_OK(receiver_->Fetch(spec.transfer_id, dir_.path() + "/out"));
  EXPECT_EQ(Take(DescribeFile(Fetched("before.bin"))).sha256, source_sha_);
  EXPECT_EQ(Take(receiver_->List()).size(), 1u);
  EXPECT_EQ(Take(sender_->List()).size(), 1u);
  // A new transfer is written with the new key: the old key alone does not open it.
  auto fresh = SpoolFile(Source("after.bin", 10));
  StreamSpec fresh_spec = Take(fresh->Spec());
  EXPECT_FALSE(Spool::Peek(sender_->OutgoingDir(fresh_spec.transfer_id), TestKey(1)).ok());
  EXPECT_TRUE(Spool::Peek(sender_->OutgoingDir(fresh_spec.transfer_id), TestKey(3)).ok());
}

INSTANTIATE_TEST_SUITE_P(Sizes, RoundTripTest,
                         ::testing::Values(0, 1, kSmallChunk - 1, kSmallChunk, kSmallChunk + 1,
                                           3 * 1024 * 1024 + 321));

TEST_F(TransferTest, DefaultChunkSizeRoundTrip) {
  const uint64_t size = 5 * 1024 * 1024 + 17;
  std::string path = Source("cctv.mp4", size, 7);
  auto spool = SpoolFile(path, kDefaultChunkSize);
  StreamSpec spec = ThroughManifest(*spool);
  EXPECT_EQ(spec.media_type, "video/mp4");
  EXPECT_EQ(spec.chunk_count, 21u);
  auto a = Take(receiver_->Receive(spec));
  Ship(*spool, *a, 0, spec.chunk_count);
  ASSERT_EQ(a->state(), TransferState::kComplete);
  int reports = 0;
  Progress last;
  ASSERT_OK(receiver_->Fetch(spec.transfer_id, dir_.path() + "/out", [&](const Progress& p) {
    ++reports;
    last = p;
  }));
  EXPECT_GE(reports, 1);
  EXPECT_TRUE(last.finished);
  EXPECT_EQ(last.bytes_done, size);
  EXPECT_EQ(Take(DescribeFile(Fetched("cctv.mp4"))).sha256, source_sha_);
}

TEST_F(TransferTest, TamperedChunkIsRefusedWithoutAdvancingAndRefetched) {
  auto spool = SpoolFile(Source("phone.e01", 10 * kSmallChunk + 5));
  StreamSpec spec = ThroughManifest(*spool);
  auto a = Take(receiver_->Receive(spec));
  Ship(*spool, *a, 0, 3);
  ChunkFrame genuine = Take(DecodeChunk(Take(spool->ReadChunkFrame(3))));

  // Altered on the way, with its frame hash recomputed: the chain catches it.
  ChunkFrame altered = genuine;
  altered.ciphertext[100] ^= 0x20;
  altered.ciphertext_hash = HashCiphertext(altered.ciphertext);
  EXPECT_ERRC(a->Accept(EncodeChunk(altered)).status(), Errc::kTamperedChunk);
  // Altered without fixing the frame hash: the frame check catches it.
  ChunkFrame damaged = genuine;
  damaged.ciphertext[0] ^= 1;
  EXPECT_ERRC(a->Accept(EncodeChunk(damaged)).status(), Errc::kTamperedChunk);
  EXPECT_ERRC(a->Accept(damaged).status(), Errc::kTamperedChunk);
  // A forged next link (to smuggle later chunks) breaks this chunk's link.
  ChunkFrame forged_link = genuine;
  forged_link.next_link[5] ^= 1;
  EXPECT_ERRC(a->Accept(EncodeChunk(forged_link)).status(), Errc::kTamperedChunk);
  // Truncated or extended ciphertext.
  ChunkFrame shorter = genuine;
  shorter.ciphertext.pop_back();
  shorter.ciphertext_hash = HashCiphertext(shorter.ciphertext);
  EXPECT_ERRC(a->Accept(EncodeChunk(shorter)).status(), Errc::kTamperedChunk);

  EXPECT_EQ(a->next(), 3u) << "a refused chunk must not advance the transfer";
  // The genuine chunk, fetched again, goes through; so does the rest.
  ASSERT_TRUE(a->Accept(EncodeChunk(genuine)).ok());
  Ship(*spool, *a, 4, spec.chunk_count);
  EXPECT_EQ(a->state(), TransferState::kComplete);
  ASSERT_OK(receiver_->Fetch(spec.transfer_id, dir_.path() + "/out"));
  EXPECT_EQ(Take(DescribeFile(Fetched("phone.e01"))).sha256, source_sha_);
}

TEST_F(TransferTest, ChunkThatPassesTheChainButNotTheMacIsRefused) {
  // A sender-side inconsistency (or a forger who knows the manifest but not
  // the key): a chunk whose link is right for its bytes but whose bytes are
  // not an authentic stream message. Build the chain over altered bytes.
  auto spool = SpoolFile(Source("x.bin", 2 * kSmallChunk));
  StreamSpec spec = ThroughManifest(*spool);
  ChunkFrame c0 = Take(DecodeChunk(Take(spool->ReadChunkFrame(0))));
  ChunkFrame c1 = Take(DecodeChunk(Take(spool->ReadChunkFrame(1))));
  c1.ciphertext[40] ^= 1;
  c1.ciphertext_hash = HashCiphertext(c1.ciphertext);
  Link l1 = ChainLink(1, c1.ciphertext_hash, Link{});
  c0.next_link = l1;
  spec.chunks_root = ChainLink(0, c0.ciphertext_hash, l1);
  auto a = Take(receiver_->Receive(spec));
  ASSERT_TRUE(a->Accept(c0).ok());
  EXPECT_ERRC(a->Accept(c1).status(), Errc::kTamperedChunk);
  EXPECT_EQ(a->next(), 1u);
}

TEST_F(TransferTest, OutOfOrderDuplicateMissingAndWrongTransfer) {
  auto spool = SpoolFile(Source("records.csv", 6 * kSmallChunk));
  StreamSpec spec = ThroughManifest(*spool);
  auto a = Take(receiver_->Receive(spec));
  EXPECT_EQ(a->state(), TransferState::kPending);
  Ship(*spool, *a, 0, 2);
  // Reordered: chunk 3 before 2.
  EXPECT_ERRC(a->Accept(Take(spool->ReadChunkFrame(3))).status(), Errc::kOutOfOrder);
  // Duplicated: chunk 1 again.
  EXPECT_ERRC(a->Accept(Take(spool->ReadChunkFrame(1))).status(), Errc::kDuplicateChunk);
  // Another transfer's chunk.
  auto other = SpoolFile(Source("other.csv", 6 * kSmallChunk, 9));
  EXPECT_ERRC(a->Accept(Take(other->ReadChunkFrame(2))).status(), Errc::kWrongTransfer);
  EXPECT_EQ(a->next(), 2u);
  // Missing: the file cannot be fetched before it is complete.
  ASSERT_OK(a->Flush());
  EXPECT_ERRC(receiver_->Fetch(spec.transfer_id, dir_.path() + "/out"), Errc::kMissingChunk);
  auto info = Take(receiver_->Info(spec.transfer_id));
  EXPECT_EQ(DescribeState(info), "receiving 2/6");
  EXPECT_EQ(info.bytes_done, 2u * kSmallChunk);
  Ship(*spool, *a, 2, 6);
  EXPECT_EQ(DescribeState(Take(receiver_->Info(spec.transfer_id))), "complete");
  EXPECT_EQ(a->Accept(Take(spool->ReadChunkFrame(5))).status().code(), Code::kInvalidArgument);
}

TEST_F(TransferTest, WholeFileHashMismatchFailsTheTransfer) {
  auto spool = SpoolFile(Source("a.pdf", 3 * kSmallChunk + 1));
  StreamSpec spec = ThroughManifest(*spool);
  spec.sha256[0] ^= 1;  // the manifest disagrees with the stream
  auto a = Take(receiver_->Receive(spec));
  Ship(*spool, *a, 0, 3);
  auto last = a->Accept(Take(spool->ReadChunkFrame(3)));
  EXPECT_ERRC(last.status(), Errc::kFileHashMismatch);
  EXPECT_EQ(a->state(), TransferState::kFailed);
  auto info = Take(receiver_->Info(spec.transfer_id));
  EXPECT_EQ(info.state, TransferState::kFailed);
  EXPECT_NE(info.failure.find("file_hash_mismatch"), std::string::npos) << info.failure;
  EXPECT_EQ(receiver_->Fetch(spec.transfer_id, dir_.path() + "/out").code(), Code::kCorruption);
  EXPECT_FALSE(FileExists(Fetched("a.pdf")));
}

TEST_F(TransferTest, StoreAlteredAtRestIsCaughtByFetchAndLeavesNoOutput) {
  auto spool = SpoolFile(Source("b.bin", 5 * kSmallChunk));
  StreamSpec spec = ThroughManifest(*spool);
  auto a = Take(receiver_->Receive(spec));
  Ship(*spool, *a, 0, spec.chunk_count);
  std::string chunks = receiver_->IncomingDir(spec.transfer_id) + "/chunks";
  {
    // Flip one bit (a fixed byte would leave random data unchanged 1 time in 256).
    std::fstream f(chunks, std::ios::in | std::ios::out | std::ios::binary);
    const std::streamoff at = 2 * (kSmallChunk + kChunkOverhead) + 10;
    f.seekg(at);
    char c = 0;
    f.get(c);
    f.seekp(at);
    f.put(static_cast<char>(c ^ 0x01));
  }
  EXPECT_ERRC(receiver_->Fetch(spec.transfer_id, dir_.path() + "/out"), Errc::kTamperedChunk);
  EXPECT_FALSE(FileExists(Fetched("b.bin")));
  for (const auto& e : std::filesystem::directory_iterator(dir_.path() + "/out"))
    ADD_FAILURE() << "left behind: " << e.path();
}

TEST_F(TransferTest, FetchDoesNotOverwrite) {
  auto spool = SpoolFile(Source("c.txt", 100));
  StreamSpec spec = ThroughManifest(*spool);
  auto a = Take(receiver_->Receive(spec));
  Ship(*spool, *a, 0, 1);
  ASSERT_OK(receiver_->Fetch(spec.transfer_id, dir_.path() + "/out"));
  EXPECT_EQ(receiver_->Fetch(spec.transfer_id, dir_.path() + "/out").code(), Code::kAlreadyExists);
}

TEST_F(TransferTest, ReceiverResumesFromItsLastDurableMark) {
  auto spool = SpoolFile(Source("video.mov", 23 * kSmallChunk + 99));
  StreamSpec spec = ThroughManifest(*spool);
  AssemblerOptions o;
  o.sync_every = 4;
  {
    auto a = Take(receiver_->Receive(spec, o));
    Ship(*spool, *a, 0, 10);  // durable mark at 8; 8 and 9 are not durable
    EXPECT_EQ(a->durable(), 8u);
    // The Assembler dies here without Flush (as in a crash).
  }
  auto chunks = receiver_->IncomingDir(spec.transfer_id) + "/chunks";
  EXPECT_EQ(testing::FileSizeOf(chunks), 10u * (kSmallChunk + kChunkOverhead));
  // Receive again with the same manifest entry: resumes, does not restart.
  auto a = Take(receiver_->Receive(spec, o));
  EXPECT_EQ(a->next(), 8u);
  EXPECT_EQ(a->durable(), 8u);
  EXPECT_EQ(testing::FileSizeOf(chunks), 8u * (kSmallChunk + kChunkOverhead));
  EXPECT_ERRC(a->Accept(Take(spool->ReadChunkFrame(10))).status(), Errc::kOutOfOrder);
  Ship(*spool, *a, 8, 13);
  ASSERT_OK(a->Flush());
  a.reset();
  // And again through OpenIncoming.
  a = Take(receiver_->OpenIncoming(spec.transfer_id, o));
  EXPECT_EQ(a->next(), 13u);
  Ship(*spool, *a, 13, spec.chunk_count);
  EXPECT_EQ(a->state(), TransferState::kComplete);
  ASSERT_OK(receiver_->Fetch(spec.transfer_id, dir_.path() + "/out"));
  EXPECT_EQ(Take(DescribeFile(Fetched("video.mov"))).sha256, source_sha_);
  // A different manifest entry under the same id is refused.
  StreamSpec other = spec.Clone();
  other.sha256[1] ^= 1;
  EXPECT_EQ(receiver_->Receive(other).status().code(), Code::kAlreadyExists);
}

TEST_F(TransferTest, SenderResumesEncryptionFromItsLastDurableMark) {
  std::string path = Source("extraction.tar", 37 * kSmallChunk + 3);
  SpoolOptions o;
  o.chunk_size = kSmallChunk;
  o.sync_every = 5;
  std::string id;
  {
    auto spool = Take(sender_->CreateSpool(path, o));
    id = spool->transfer_id();
    EXPECT_EQ(DescribeState(Take(sender_->Info(id))), "pending");
    ASSERT_OK(spool->RunFor(13));  // marks at 5 and 10
    EXPECT_EQ(spool->encrypted_chunks(), 13u);
    EXPECT_EQ(spool->durable_chunks(), 10u);
    EXPECT_FALSE(spool->sealed());
    EXPECT_EQ(spool->Spec().status().code(), Code::kUnavailable);
  }
  EXPECT_EQ(DescribeState(Take(sender_->Info(id))), "encrypting 10/38");
  auto spool = Take(sender_->OpenSpool(id));
  EXPECT_EQ(spool->durable_chunks(), 10u);
  EXPECT_EQ(spool->encrypted_chunks(), 10u) << "resumes at the mark, not at 0";
  ASSERT_OK(spool->Run());
  ASSERT_TRUE(spool->sealed());
  StreamSpec spec = ThroughManifest(*spool);
  EXPECT_EQ(spec.sha256, source_sha_);
  auto a = Take(receiver_->Receive(spec));
  Ship(*spool, *a, 0, spec.chunk_count);
  ASSERT_EQ(a->state(), TransferState::kComplete);
  ASSERT_OK(spool->MarkShipped(spec.chunk_count));
  EXPECT_EQ(DescribeState(Take(sender_->Info(id))), "ready, shipped 38/38");
  ASSERT_OK(receiver_->Fetch(spec.transfer_id, dir_.path() + "/out"));
  EXPECT_EQ(Take(DescribeFile(Fetched("extraction.tar"))).sha256, source_sha_);
  // A sealed spool reopens sealed, with its shipped mark.
  spool.reset();
  spool = Take(sender_->OpenSpool(id));
  EXPECT_TRUE(spool->sealed());
  EXPECT_EQ(spool->shipped(), 38u);
}

TEST_F(TransferTest, SourceChangedWhileSpooledIsRefused) {
  std::string path = Source("d.bin", 20 * kSmallChunk);
  SpoolOptions o;
  o.chunk_size = kSmallChunk;
  auto spool = Take(sender_->CreateSpool(path, o));
  ASSERT_OK(spool->RunFor(3));
  {
    std::ofstream f(path, std::ios::app | std::ios::binary);
    f << "appended";
  }
  EXPECT_ERRC(spool->Run(), Errc::kSourceChanged);
  EXPECT_FALSE(spool->sealed());
}

TEST_F(TransferTest, StateIsSealedAtRest) {
  auto spool = SpoolFile(Source("e.bin", 3 * kSmallChunk));
  StreamSpec spec = ThroughManifest(*spool);
  auto a = Take(receiver_->Receive(spec));
  Ship(*spool, *a, 0, 1);
  ASSERT_OK(a->Flush());
  a.reset();
  // The key and states are nowhere in clear on disk.
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path() + "/receiver")) {
    if (!e.is_regular_file()) continue;
    std::ifstream f(e.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::string key(reinterpret_cast<const char*>(spec.stream_key.data()), spec.stream_key.size());
    EXPECT_EQ(data.find(key), std::string::npos) << e.path() << " holds the stream key in clear";
  }
  // Another at-rest key cannot open the transfer; an altered record is refused.
  auto stranger = Take(EvidenceStore::Open(dir_.path() + "/receiver", TestKey(3)));
  EXPECT_EQ(stranger->OpenIncoming(spec.transfer_id).status().code(), Code::kCorruption);
  std::string state = receiver_->IncomingDir(spec.transfer_id) + "/state";
  {
    std::fstream f(state, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    char c;
    f.seekg(30);
    f.get(c);
    f.seekp(30);
    f.put(static_cast<char>(c ^ 1));
  }
  EXPECT_EQ(receiver_->OpenIncoming(spec.transfer_id).status().code(), Code::kCorruption);
}

TEST_F(TransferTest, ListShowsEveryTransferAndPurgeRemovesIt) {
  auto s1 = SpoolFile(Source("one.bin", 4 * kSmallChunk));
  auto s2 = SpoolFile(Source("two.bin", 4 * kSmallChunk, 2));
  StreamSpec spec1 = ThroughManifest(*s1);
  StreamSpec spec2 = ThroughManifest(*s2);
  auto a1 = Take(receiver_->Receive(spec1));
  auto a2 = Take(receiver_->Receive(spec2, AssemblerOptions{1}));
  Ship(*s1, *a1, 0, 4);
  Ship(*s2, *a2, 0, 2);
  auto list = Take(receiver_->List());
  ASSERT_EQ(list.size(), 2u);
  std::map<std::string, std::string> states;
  for (const auto& i : list) states[i.file_name] = DescribeState(i);
  EXPECT_EQ(states["one.bin"], "complete");
  EXPECT_EQ(states["two.bin"], "receiving 2/4");
  auto sent = Take(sender_->List());
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_FALSE(sent[0].incoming);
  EXPECT_EQ(sent[0].state, TransferState::kComplete);
  ASSERT_OK(receiver_->Purge(spec1.transfer_id));
  EXPECT_EQ(Take(receiver_->List()).size(), 1u);
  EXPECT_EQ(receiver_->Purge(spec1.transfer_id).code(), Code::kNotFound);
  EXPECT_EQ(receiver_->Info("../../etc/passwd").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace mlahub::evidence
