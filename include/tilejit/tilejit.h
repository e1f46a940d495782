// tilejit — eager C++ tensor code with the speed of a compiled graph.
//
//   #include <tilejit/tilejit.h>
//   auto x = tj::randn({1024, 4096});
//   auto y = tj::softmax(x * 2.0f, -1);     // traced, not yet computed
//   std::cout << y.sum().item<float>();     // fused, compiled, run here
#pragma once

#include "tilejit/autocast.h"
#include "tilejit/autograd.h"
#include "tilejit/config.h"
#include "tilejit/device.h"
#include "tilejit/dtype.h"
#include "tilejit/error.h"
#include "tilejit/nn.h"
#include "tilejit/ops.h"
#include "tilejit/optim.h"
#include "tilejit/tensor.h"
#include "tilejit/warmup.h"
