// Buffers: memory that holds computed tensor values, and strided views of it.
//
// A Storage is an allocation on one device, released through the allocator
// that made it. A BufferView addresses elements of a Storage with a shape,
// element strides and an element offset; several views may share a storage
// (values are never modified after they are computed, so sharing is safe).
#pragma once

#include <cstdint>
#include <memory>

#include "ir/shape.h"
#include "tilejit/device.h"
#include "tilejit/dtype.h"

namespace tj {

struct Storage {
  using Release = void (*)(void* data, size_t bytes, void* ctx);

  void* data = nullptr;
  size_t bytes = 0;
  Device device;
  Release release = nullptr;
  void* release_ctx = nullptr;

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release) release(data, bytes, release_ctx);
  }
};

struct BufferView {
  std::shared_ptr<Storage> storage;
  DType dtype = DType::f32;
  Shape shape;
  Strides strides;
  int64_t offset = 0;  // in elements

  int64_t numel() const { return shape_numel(shape); }
  bool contiguous() const { return is_contiguous(shape, strides); }
  /// Address of the element at offset 0 of this view.
  void* data() const { return static_cast<char*>(storage->data) + offset * dtype_size(dtype); }
};

}  // namespace tj
