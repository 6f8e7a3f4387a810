#include "append_memtable.h"

#include <rocksdb/slice.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <mutex>
#include <new>
#include <set>
#include <shared_mutex>
#include <vector>

namespace mlahub::storage {
namespace {

using rocksdb::KeyHandle;
using rocksdb::MemTableRep;
using rocksdb::Slice;

// A memtable entry starts with varint32(internal key length) || internal key.
const char* DecodeVarint32(const char* p, const char* limit, uint32_t* v) {
  uint32_t result = 0;
  for (uint32_t shift = 0; shift <= 28 && p < limit; shift += 7) {
    uint32_t byte = static_cast<uint8_t>(*p++);
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return p;
    }
  }
  return nullptr;
}

// MemTableRep::Get receives a rocksdb::LookupKey, a class of RocksDB's
// internal headers whose accessors are inline. Its layout has been the same
// since LevelDB: three pointers, start_ (the memtable key: varint32 length ||
// internal key), kstart_ (the internal key) and end_. RocksDB's own default
// Get (which would leak the iterator it creates in 7.8) reads them the same
// way. The layout is checked on every call: a RocksDB that changed it stops
// the process instead of reading the wrong key.
const char* LookupMemtableKey(const void* lookup_key) {
  const char* const* p = static_cast<const char* const*>(lookup_key);
  const char* start = p[0];
  const char* kstart = p[1];
  const char* end = p[2];
  uint32_t len = 0;
  const char* after = start == nullptr ? nullptr : DecodeVarint32(start, start + 5, &len);
  if (after == nullptr || after != kstart || kstart + len != end || len < 8) {
    std::fprintf(stderr, "mlahub: unexpected rocksdb::LookupKey layout (RocksDB version not supported)\n");
    std::abort();
  }
  return start;
}

class AppendRep final : public MemTableRep {
 public:
  AppendRep(const KeyComparator& compare, rocksdb::Allocator* allocator)
      : MemTableRep(allocator), compare_(compare), chunks_(new std::atomic<const char**>[kMaxChunks]) {
    for (size_t i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr, std::memory_order_relaxed);
  }
  ~AppendRep() override {
    for (size_t i = 0; i < kMaxChunks; ++i) delete[] chunks_[i].load(std::memory_order_relaxed);
  }

  // One writer at a time (allow_concurrent_memtable_write = false).
  void Insert(KeyHandle handle) override {
    const char* key = static_cast<const char*>(handle);
    const size_t n = count_.load(std::memory_order_relaxed);
    if (n < kMaxChunks * kChunk && (n == 0 || compare_(At(n - 1), key) < 0)) {
      const size_t c = n / kChunk;
      const char** chunk = chunks_[c].load(std::memory_order_relaxed);
      if (chunk == nullptr) {
        chunk = new const char*[kChunk];
        chunks_[c].store(chunk, std::memory_order_release);
        memory_.fetch_add(kChunk * sizeof(const char*), std::memory_order_relaxed);
      }
      chunk[n % kChunk] = key;
      count_.store(n + 1, std::memory_order_release);
      return;
    }
    std::unique_lock<std::shared_mutex> lk(side_mu_);
    side_.insert(key);
    has_side_.store(true, std::memory_order_release);
    memory_.fetch_add(64, std::memory_order_relaxed);
  }

  bool Contains(const char* key) const override {
    const size_t n = count_.load(std::memory_order_acquire);
    size_t pos = LowerBound(n, [&](const char* e) { return compare_(e, key) < 0; });
    if (pos < n && compare_(At(pos), key) == 0) return true;
    if (!has_side_.load(std::memory_order_acquire)) return false;
    std::shared_lock<std::shared_mutex> lk(side_mu_);
    return side_.count(key) > 0;
  }

  size_t ApproximateMemoryUsage() override {
    return kMaxChunks * sizeof(std::atomic<const char**>) + memory_.load(std::memory_order_relaxed);
  }

  void Get(const rocksdb::LookupKey& k, void* callback_args,
           bool (*callback_func)(void* arg, const char* entry)) override {
    const char* target = LookupMemtableKey(&k);
    if (has_side_.load(std::memory_order_acquire)) {
      MergedIter it(*this);
      for (it.Seek(Slice(), target); it.Valid() && callback_func(callback_args, it.key()); it.Next()) {
      }
      return;
    }
    const size_t n = count_.load(std::memory_order_acquire);
    for (size_t pos = LowerBound(n, [&](const char* e) { return compare_(e, target) < 0; });
         pos < n && callback_func(callback_args, At(pos)); ++pos) {
    }
  }

  Iterator* GetIterator(rocksdb::Arena* arena) override {
    const bool merged = has_side_.load(std::memory_order_acquire);
    if (arena == nullptr) {
      if (merged) return new MergedIter(*this);
      return new ArrayIter(*this);
    }
    // RocksDB destroys an iterator made "in its arena" with ~Iterator()
    // only, and RocksDB's Arena is not a public type: such iterators get
    // storage kept by this memtable and freed with it (a few per iterator
    // over the database while the memtable lives; not counted in its size,
    // which RocksDB requires to stay fixed once the memtable is immutable).
    std::lock_guard<std::mutex> lk(iter_storage_mu_);
    iter_storage_.push_back(std::make_unique<IterStorage>());
    void* mem = iter_storage_.back().get();
    if (merged) return new (mem) MergedIter(*this);
    return new (mem) ArrayIter(*this);
  }

 private:
  static constexpr size_t kChunk = 4096;
  static constexpr size_t kMaxChunks = 8192;  // 32M entries; more go to side_

  const char* At(size_t i) const {
    return chunks_[i / kChunk].load(std::memory_order_acquire)[i % kChunk];
  }
  // First position in [0, n) whose entry is not `less`.
  template <typename Less>
  size_t LowerBound(size_t n, Less less) const {
    size_t lo = 0, hi = n;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (less(At(mid))) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
  int CompareTarget(const char* entry, const Slice& internal_key, const char* memtable_key) const {
    return memtable_key != nullptr ? compare_(entry, memtable_key) : compare_(entry, internal_key);
  }

  // The ascending array, lock-free: positions never move. It sees entries
  // appended after its creation too (RocksDB filters by sequence number).
  class ArrayIter final : public Iterator {
   public:
    explicit ArrayIter(const AppendRep& rep) : rep_(rep), n_(rep.count_.load(std::memory_order_acquire)) {}
    bool Valid() const override { return pos_ < n_; }
    const char* key() const override { return rep_.At(pos_); }
    void Next() override {
      if (++pos_ >= n_) Refresh();
    }
    void Prev() override { pos_ = pos_ == 0 ? kInvalid : pos_ - 1; }
    void Seek(const Slice& internal_key, const char* memtable_key) override {
      Refresh();
      pos_ = rep_.LowerBound(n_, [&](const char* e) { return rep_.CompareTarget(e, internal_key, memtable_key) < 0; });
    }
    void SeekForPrev(const Slice& internal_key, const char* memtable_key) override {
      Refresh();
      // Last entry <= target.
      size_t after = rep_.LowerBound(n_, [&](const char* e) { return rep_.CompareTarget(e, internal_key, memtable_key) <= 0; });
      pos_ = after == 0 ? kInvalid : after - 1;
    }
    void SeekToFirst() override {
      Refresh();
      pos_ = 0;
    }
    void SeekToLast() override {
      Refresh();
      pos_ = n_ == 0 ? kInvalid : n_ - 1;
    }

   private:
    static constexpr size_t kInvalid = ~size_t{0};
    void Refresh() { n_ = rep_.count_.load(std::memory_order_acquire); }
    const AppendRep& rep_;
    size_t n_;
    size_t pos_ = kInvalid;
  };

  // After an out-of-order insert: a sorted copy of the array and the side set.
  class MergedIter final : public Iterator {
   public:
    explicit MergedIter(const AppendRep& rep) : rep_(rep) {
      const size_t n = rep.count_.load(std::memory_order_acquire);
      std::vector<const char*> side;
      {
        std::shared_lock<std::shared_mutex> lk(rep.side_mu_);
        side.assign(rep.side_.begin(), rep.side_.end());
      }
      std::vector<const char*> array;
      array.reserve(n);
      for (size_t i = 0; i < n; ++i) array.push_back(rep.At(i));
      all_.resize(n + side.size());
      std::merge(array.begin(), array.end(), side.begin(), side.end(), all_.begin(),
                 [&](const char* a, const char* b) { return rep.compare_(a, b) < 0; });
    }
    bool Valid() const override { return pos_ < all_.size(); }
    const char* key() const override { return all_[pos_]; }
    void Next() override { ++pos_; }
    void Prev() override { pos_ = pos_ == 0 ? kInvalid : pos_ - 1; }
    void Seek(const Slice& internal_key, const char* memtable_key) override {
      pos_ = static_cast<size_t>(
          std::partition_point(all_.begin(), all_.end(),
                               [&](const char* e) { return rep_.CompareTarget(e, internal_key, memtable_key) < 0; }) -
          all_.begin());
    }
    void SeekForPrev(const Slice& internal_key, const char* memtable_key) override {
      size_t after = static_cast<size_t>(
          std::partition_point(all_.begin(), all_.end(),
                               [&](const char* e) { return rep_.CompareTarget(e, internal_key, memtable_key) <= 0; }) -
          all_.begin());
      pos_ = after == 0 ? kInvalid : after - 1;
    }
    void SeekToFirst() override { pos_ = 0; }
    void SeekToLast() override { pos_ = all_.empty() ? kInvalid : all_.size() - 1; }

   private:
    static constexpr size_t kInvalid = ~size_t{0};
    const AppendRep& rep_;
    std::vector<const char*> all_;
    size_t pos_ = kInvalid;
  };

  struct alignas(std::max_align_t) IterStorage {
    char bytes[std::max(sizeof(ArrayIter), sizeof(MergedIter))];
  };

  struct SideLess {
    const KeyComparator* compare;
    bool operator()(const char* a, const char* b) const { return (*compare)(a, b) < 0; }
  };

  const KeyComparator& compare_;
  std::unique_ptr<std::atomic<const char**>[]> chunks_;
  std::atomic<size_t> count_{0};
  std::atomic<size_t> memory_{0};
  mutable std::shared_mutex side_mu_;
  std::multiset<const char*, SideLess> side_{SideLess{&compare_}};
  std::atomic<bool> has_side_{false};
  std::mutex iter_storage_mu_;
  std::vector<std::unique_ptr<IterStorage>> iter_storage_;
};

}  // namespace

rocksdb::MemTableRep* AppendMemTableRepFactory::CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                                                  rocksdb::Allocator* allocator,
                                                                  const rocksdb::SliceTransform*, rocksdb::Logger*) {
  return new AppendRep(compare, allocator);
}

}  // namespace mlahub::storage
