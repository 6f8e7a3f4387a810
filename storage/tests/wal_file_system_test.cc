// PrezeroedWalEnv: WAL files are written over zeros laid down ahead of them;
// a writer that dies without closing leaves a zero tail, and the database
// reopens with every synced write (point-in-time recovery, paranoid checks);
// a clean close trims the tail.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "wal_file_system.h"

namespace mlahub::storage {
namespace {

namespace fs = std::filesystem;

rocksdb::Options WalOptions() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.paranoid_checks = true;
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.env = PrezeroedWalEnv();
  return o;
}

std::string Key(int i) { return "k" + std::to_string(1000000 + i); }
std::string Value(int i) { return std::string(2500, static_cast<char>('a' + i % 26)) + std::to_string(i); }

// Synced writes of keys [from, to).
void WriteSynced(rocksdb::DB* db, int from, int to) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  for (int i = from; i < to; ++i) {
    rocksdb::WriteBatch b;
    ASSERT_TRUE(b.Put(Key(i), Value(i)).ok());
    ASSERT_TRUE(db->Write(wo, &b).ok());
  }
}

void ExpectAll(rocksdb::DB* db, int n) {
  for (int i = 0; i < n; ++i) {
    std::string v;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), Key(i), &v).ok()) << "key " << i << " lost";
    ASSERT_EQ(v, Value(i));
  }
}

std::vector<fs::path> WalFiles(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".log") out.push_back(e.path());
  return out;
}

bool EndsInZeros(const fs::path& p, size_t n) {
  std::ifstream f(p, std::ios::binary);
  f.seekg(-static_cast<std::streamoff>(n), std::ios::end);
  std::string tail(n, '\1');
  f.read(tail.data(), static_cast<std::streamsize>(n));
  return f.good() && tail.find_first_not_of('\0') == std::string::npos;
}

class WalFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("mlahub-wal-" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(WalFileSystemTest, AWriterKilledOverTheZerosLosesNoSyncedWrite) {
  constexpr int kWrites = 1500;  // ~3.7 MiB of log: several extensions
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rocksdb::DB* db = nullptr;
    if (!rocksdb::DB::Open(WalOptions(), dir_, &db).ok()) ::_exit(2);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    for (int i = 0; i < kWrites; ++i) {
      rocksdb::WriteBatch b;
      if (!b.Put(Key(i), Value(i)).ok() || !db->Write(wo, &b).ok()) ::_exit(3);
    }
    ::_exit(0);  // no close: the log keeps its zero tail, as after a crash
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);

  // The log was written over zeros: its size is a whole number of chunks
  // and more than what was written, and it ends in zeros.
  auto logs = WalFiles(dir_);
  ASSERT_EQ(logs.size(), 1u);
  const auto size = fs::file_size(logs[0]);
  EXPECT_EQ(size % (uint64_t{1} << 20), 0u) << size;
  EXPECT_GT(size, uint64_t{kWrites} * 2500);
  EXPECT_TRUE(EndsInZeros(logs[0], 4096));

  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(WalOptions(), dir_, &db).ok());
  ExpectAll(db, kWrites);
  WriteSynced(db, kWrites, kWrites + 100);
  ASSERT_TRUE(db->Close().ok());
  delete db;

  // A clean close trims what was not written over.
  for (const auto& p : WalFiles(dir_)) EXPECT_FALSE(EndsInZeros(p, 4096)) << p;
  ASSERT_TRUE(rocksdb::DB::Open(WalOptions(), dir_, &db).ok());
  ExpectAll(db, kWrites + 100);
  ASSERT_TRUE(db->Close().ok());
  delete db;
}

TEST_F(WalFileSystemTest, TablesAndOtherFilesAreNotTouched) {
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(WalOptions(), dir_, &db).ok());
  WriteSynced(db, 0, 200);
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  ASSERT_TRUE(db->Close().ok());
  delete db;
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.path().extension() == ".log") continue;
    if (e.is_regular_file() && fs::file_size(e.path()) > 0) {
      EXPECT_FALSE(EndsInZeros(e.path(), 64)) << e.path();
    }
  }
  ASSERT_TRUE(rocksdb::DB::Open(WalOptions(), dir_, &db).ok());
  ExpectAll(db, 200);
  ASSERT_TRUE(db->Close().ok());
  delete db;
}

}  // namespace
}  // namespace mlahub::storage
