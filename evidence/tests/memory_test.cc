// Bounded memory: a generated file (256 MiB; MLAHUB_EVIDENCE_TEST_MIB sets
// another size, e.g. 2048) through Spool, Assembler and Fetch in this one
// process, default 256 KiB chunks; the peak resident set (VmHWM) is printed
// and must stay below 64 MiB. Memory does not depend on the size (5.9 MiB
// peak at 1 GiB). Skipped under AddressSanitizer, whose shadow memory and
// quarantine of freed blocks make RSS meaningless.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "mlahub/evidence/store.h"
#include "test_util.h"

namespace mlahub::evidence {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

uint64_t TestFileBytes() {
  const char* mib = std::getenv("MLAHUB_EVIDENCE_TEST_MIB");
  uint64_t n = 256;
  if (mib != nullptr && *mib != '\0') n = std::strtoull(mib, nullptr, 10);
  return (n == 0 ? 256 : n) << 20;
}

TEST(MemoryTest, LargeFileStaysUnder64MiB) {
  if (kAddressSanitizer) GTEST_SKIP() << "RSS is not meaningful under AddressSanitizer";
  testing::TempDir dir;
  const uint64_t size = TestFileBytes();
  const std::string source = dir.path() + "/large.mp4";
  auto sha = testing::WritePatternFile(source, size, 11);
  auto sender = EvidenceStore::Open(dir.path() + "/sender", testing::TestKey(1));
  auto receiver = EvidenceStore::Open(dir.path() + "/receiver", testing::TestKey(2));
  ASSERT_TRUE(sender.ok() && receiver.ok());

  SpoolOptions so;
  so.sync_every = 64;  // a durable mark every 16 MiB
  auto spool = (*sender)->CreateSpool(source, so);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  ASSERT_OK((*spool)->Run());
  auto spec = (*spool)->Spec();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->sha256, sha);
  EXPECT_EQ(spec->chunk_count, size / (uint64_t{256} << 10));
  const uint64_t after_spool = testing::PeakRssBytes();

  AssemblerOptions ao;
  ao.sync_every = 64;
  auto a = (*receiver)->Receive(*spec, ao);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  for (uint64_t i = 0; i < spec->chunk_count; ++i) {
    auto frame = (*spool)->ReadChunkFrame(i);
    ASSERT_TRUE(frame.ok()) << frame.status().ToString();
    auto r = (*a)->Accept(*frame);
    ASSERT_TRUE(r.ok()) << "chunk " << i << ": " << r.status().ToString();
  }
  ASSERT_EQ((*a)->state(), TransferState::kComplete);
  const uint64_t after_receive = testing::PeakRssBytes();
  // The spool is no longer needed once the receiver holds every chunk.
  ASSERT_OK((*sender)->Purge(spec->transfer_id));
  ASSERT_EQ(::unlink(source.c_str()), 0);

  ASSERT_OK(MakeDirs(dir.path() + "/out"));
  ASSERT_OK((*receiver)->Fetch(spec->transfer_id, dir.path() + "/out"));
  EXPECT_EQ(testing::FileSizeOf(dir.path() + "/out/large.mp4"), size);
  const uint64_t peak = testing::PeakRssBytes();
  std::cout << (size >> 20) << " MiB file, peak RSS (VmHWM): after spool " << after_spool / 1024 << " KiB, after receive "
            << after_receive / 1024 << " KiB, after fetch " << peak / 1024 << " KiB\n";
  ASSERT_GT(peak, 0u) << "VmHWM not readable";
  EXPECT_LT(peak, uint64_t{64} << 20);
}

}  // namespace
}  // namespace mlahub::evidence
