// dictlearn: the whole public API in one include.
#pragma once

#include "dictlearn/adam.hpp"
#include "dictlearn/dictionary.hpp"
#include "dictlearn/error.hpp"
#include "dictlearn/figures.hpp"
#include "dictlearn/encoders.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/metrics.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/plot.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "dictlearn/toy.hpp"
#include "dictlearn/trainer.hpp"
#include "dictlearn/training_log.hpp"
#include "dictlearn/types.hpp"
